// `airsync policy`: the named policy sets — the security settings (MS-ASPROV) devices must apply.
import { readFile } from 'node:fs/promises';
import { PolicyStore, type PolicySet } from '../device/policy-store.ts';
import { defaultPolicySettings, type PolicySettingName } from '../device/policy-settings.ts';
import { openDatabase } from '../state/db.ts';
import { normalizeUserName } from '../state/users.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine, refuseOtherOptions } from './options.ts';
import { printFields, printJson, printTable } from './output.ts';

export const POLICY_USAGE = `Usage: airsync policy <action> [options]

A device account gets its device's policy set, else its user's, else the default set, else the
built-in defaults, which restrict nothing. Devices provision again on their next request after
their policy changed.

Actions:
  list                                  the policy sets
  show NAME                             every setting of a set; * marks those that differ from the
                                        defaults
  set NAME --file FILE                  create a set, or replace all its settings, from a JSON object
                                        such as {"DevicePasswordEnabled": true} (FILE - reads standard
                                        input); settings left out keep their defaults
  set NAME SETTING=VALUE...             create a set, or change only these settings of it; VALUE is JSON:
                                        true, 6, null (no limit), '["app.exe"]'
  assign NAME (--user U | --device ID)  give a user, or a device (its DeviceId), this set
  unassign (--user U | --device ID)     the user follows the default set again, the device its users'
  default NAME                          make a set the default
  default --none                        go back to the built-in defaults
  remove NAME                           delete a set; its users and devices fall back to the default

Options:
  --json         list, show: print JSON
  --file FILE    set: the settings as a JSON object
  --user NAME    assign, unassign: the user
  --device ID    assign, unassign: the device
  --none         default: no default set

${COMMON_USAGE}`;

const POLICY_OPTIONS = {
  json: { type: 'boolean' },
  file: { type: 'string' },
  user: { type: 'string' },
  device: { type: 'string' },
  none: { type: 'boolean' },
} as const;

type PolicyOptions = { json?: boolean; file?: string; user?: string; device?: string; none?: boolean };

/** Whom an assignment is for. */
type Assignee = { user: string } | { device: string };

type PolicyAction =
  | { action: 'list'; json: boolean }
  | { action: 'show'; name: string; json: boolean }
  /** `replace`: the settings are the whole set; otherwise they change only the settings named. */
  | { action: 'set'; name: string; settings: Record<string, unknown>; replace: boolean }
  | { action: 'assign'; name: string; to: Assignee }
  | { action: 'unassign'; to: Assignee }
  | { action: 'default'; name: string | undefined }
  | { action: 'remove'; name: string };

export async function policy(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, POLICY_OPTIONS, POLICY_USAGE);
  if (values.help) {
    process.stdout.write(`${POLICY_USAGE}\n`);
    return 0;
  }
  const request = await policyAction(positionals, values);
  const database = await openDatabase(configFor(values));
  try {
    await run(new PolicyStore(database.db), request);
  } finally {
    await database.close();
  }
  return 0;
}

async function run(policies: PolicyStore, request: PolicyAction): Promise<void> {
  switch (request.action) {
    case 'list': {
      const sets = await policies.list();
      if (request.json) return printJson({ policies: sets });
      if (sets.length === 0) {
        process.stdout.write('no policy sets: every device gets the built-in defaults\n');
        return;
      }
      printTable(
        ['NAME', 'DEFAULT', 'CHANGED SETTINGS', 'UPDATED'],
        sets.map((set) => [
          set.name,
          set.isDefault ? 'yes' : '',
          set.settings === undefined ? 'invalid' : String(Object.keys(set.overrides).length),
          set.updatedAt,
        ]),
      );
      return;
    }
    case 'show': {
      const set = await policies.find(request.name);
      if (set === undefined) throw noSuchSet(request.name);
      return request.json ? printJson(set) : printPolicySet(set);
    }
    case 'set': {
      const current = request.replace ? undefined : await policies.find(request.name);
      const saved = await policies.save(request.name, { ...current?.overrides, ...request.settings });
      const changed = Object.keys(saved.overrides).length;
      process.stdout.write(
        `saved policy set ${saved.name}: ${changed} setting${changed === 1 ? ' differs' : 's differ'} from the defaults\n`,
      );
      return;
    }
    case 'assign':
      if ('user' in request.to) await policies.assignToUser(request.to.user, request.name);
      else await policies.assignToDevice(request.to.device, request.name);
      process.stdout.write(`assigned policy set ${request.name} to ${assigneeInWords(request.to)}\n`);
      return;
    case 'unassign':
      if ('user' in request.to) {
        await policies.assignToUser(request.to.user, undefined);
        process.stdout.write(`${assigneeInWords(request.to)} follows the default policy set\n`);
      } else {
        await policies.assignToDevice(request.to.device, undefined);
        process.stdout.write(`${assigneeInWords(request.to)} follows its users' policy sets\n`);
      }
      return;
    case 'default':
      await policies.setDefault(request.name);
      process.stdout.write(
        request.name === undefined
          ? 'no default policy set: devices without a set get the built-in defaults\n'
          : `${request.name} is the default policy set\n`,
      );
      return;
    case 'remove':
      if (!(await policies.remove(request.name))) throw noSuchSet(request.name);
      process.stdout.write(`removed policy set ${request.name}\n`);
      return;
  }
}

function printPolicySet(set: PolicySet): void {
  printFields([
    ['name', set.name],
    ['default', set.isDefault ? 'yes' : 'no'],
    ['updated', set.updatedAt],
  ]);
  process.stdout.write('\n');
  if (set.settings === undefined) {
    // Written by hand or by another version: show what is stored, so that it can be mended.
    process.stdout.write('the stored settings are invalid; save the set again to mend it. Stored:\n');
    for (const [name, value] of Object.entries(set.overrides)) {
      process.stdout.write(`* ${name} = ${JSON.stringify(value)}\n`);
    }
    return;
  }
  for (const name of Object.keys(defaultPolicySettings) as PolicySettingName[]) {
    const marker = name in set.overrides ? '*' : ' ';
    process.stdout.write(`${marker} ${name} = ${JSON.stringify(set.settings[name])}\n`);
  }
}

/** Checks the command line, and reads the settings of `set`, before the database is opened. */
async function policyAction(positionals: string[], values: PolicyOptions): Promise<PolicyAction> {
  const [action, ...rest] = positionals;
  const allow = (...options: (keyof PolicyOptions)[]) =>
    refuseOtherOptions(values, options, `policy ${action}`, POLICY_USAGE);
  const onlyName = (): string => {
    const [name, extra] = rest;
    if (name === undefined) throw new UsageError(`policy ${action} needs a policy set name`, POLICY_USAGE);
    if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`, POLICY_USAGE);
    return name;
  };
  switch (action) {
    case undefined:
      throw new UsageError('no action given', POLICY_USAGE);
    case 'list':
      allow('json');
      if (rest[0] !== undefined) throw new UsageError(`unexpected argument: ${rest[0]}`, POLICY_USAGE);
      return { action, json: values.json === true };
    case 'show':
      allow('json');
      return { action, name: onlyName(), json: values.json === true };
    case 'set':
      allow('file');
      return setAction(rest, values.file);
    case 'assign':
      allow('user', 'device');
      return { action, name: onlyName(), to: assignee(action, values) };
    case 'unassign':
      allow('user', 'device');
      if (rest[0] !== undefined) throw new UsageError(`unexpected argument: ${rest[0]}`, POLICY_USAGE);
      return { action, to: assignee(action, values) };
    case 'default':
      allow('none');
      if (values.none === true) {
        if (rest[0] !== undefined)
          throw new UsageError('give a policy set name or --none, not both', POLICY_USAGE);
        return { action, name: undefined };
      }
      return { action, name: onlyName() };
    case 'remove':
      allow();
      return { action, name: onlyName() };
    default:
      throw new UsageError(`unknown action: policy ${action}`, POLICY_USAGE);
  }
}

async function setAction(rest: string[], file: string | undefined): Promise<PolicyAction> {
  const [name, ...pairs] = rest;
  if (name === undefined) throw new UsageError('policy set needs a policy set name', POLICY_USAGE);
  if (file !== undefined) {
    if (pairs.length > 0)
      throw new UsageError('give either --file or SETTING=VALUE pairs, not both', POLICY_USAGE);
    return { action: 'set', name, settings: await readSettingsFile(file), replace: true };
  }
  if (pairs.length === 0) {
    throw new UsageError('policy set needs --file FILE or SETTING=VALUE pairs', POLICY_USAGE);
  }
  return { action: 'set', name, settings: Object.fromEntries(pairs.map(settingPair)), replace: false };
}

/** `SETTING=VALUE`, the value in JSON; the setting's name and value are checked by the policy store. */
function settingPair(pair: string): [string, unknown] {
  const equals = pair.indexOf('=');
  if (equals <= 0) throw new UsageError(`expected SETTING=VALUE, not ${pair}`, POLICY_USAGE);
  const text = pair.slice(equals + 1);
  try {
    return [pair.slice(0, equals), JSON.parse(text)];
  } catch {
    throw new UsageError(
      `the value in ${pair} is not JSON (e.g. true, 6, null or '["app.exe"]')`,
      POLICY_USAGE,
    );
  }
}

async function readSettingsFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = file === '-' ? await readStandardInput() : await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${messageOf(error)}`, { cause: error });
  }
  let settings: unknown;
  try {
    settings = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON: ${messageOf(error)}`, { cause: error });
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new Error(`${file} must hold a JSON object of settings`);
  }
  return settings as Record<string, unknown>;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function readStandardInput(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function assignee(action: string, values: PolicyOptions): Assignee {
  if ((values.user === undefined) === (values.device === undefined)) {
    throw new UsageError(`policy ${action} needs either --user NAME or --device ID`, POLICY_USAGE);
  }
  return values.user !== undefined
    ? { user: normalizeUserName(values.user) }
    : { device: values.device as string };
}

function assigneeInWords(to: Assignee): string {
  return 'user' in to ? `user ${to.user}` : `device ${to.device}`;
}

function noSuchSet(name: string): Error {
  return new Error(`there is no policy set named ${name}`);
}
