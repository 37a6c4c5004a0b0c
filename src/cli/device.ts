// `airsync device`: the devices that synced, seen and managed by the server's operator, directly on
// the database (the server notices on each device's next request).
import { userInfo } from 'node:os';
import { DeviceAdmin, type DeviceDetails } from '../device/device-admin.ts';
import type { DeviceInformation } from '../device/device-information.ts';
import type { Device } from '../device/devices.ts';
import type { DeviceLogEntry } from '../device/protocol-log.ts';
import { openDatabase } from '../state/db.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine, refuseOtherOptions } from './options.ts';
import { printFields, printJson, printTable } from './output.ts';

export const DEVICE_USAGE = `Usage: airsync device <action> [options]

ID is a device's DeviceId, as "airsync device list" shows it. A phone may carry the accounts of
several users; --user U picks one of them.

Actions:
  list [--user U]                    the devices, most recently seen first; with --user, those of U
  show ID                            what a device reported, its accounts, policy, wipe state, history
  wipe ID                            reset the whole device to factory settings on its next request;
                                     it is wiped again whenever it reconnects, until it is removed
  wipe ID --account-only [--user U]  remove only U's account and its data from the device (EAS 16.1);
                                     --user may be left out when the device carries one account
  cancel-wipe ID [--user U]          cancel the wipes the device has not carried out yet (with --user,
                                     only the account-only wipe of U's account)
  remove ID [--user U]               forget the device, or U's account on it, with its state and any
                                     pending wipe (its history stays); if it returns, it is new
  resync ID [--user U]               make the device, or U's account on it, sync everything again
  reprovision ID [--user U]          make the device, or U's account, apply the security policy again
                                     before its next command
  log ID [--user U] [--limit N]      the newest N entries of the protocol log (default 20), oldest
                                     first: each request and answer, decoded
  log ID --full on|off               log message bodies and attachments unredacted from now on, or not

Options:
  --json       list, show, log: print JSON (as the /api answers)

${COMMON_USAGE}`;

const DEVICE_OPTIONS = {
  user: { type: 'string' },
  json: { type: 'boolean' },
  'account-only': { type: 'boolean' },
  limit: { type: 'string' },
  full: { type: 'string' },
} as const;

const DEFAULT_LOG_ENTRIES = 20;
const MAX_LOG_ENTRIES = 1000;

type DeviceOptions = {
  user?: string;
  json?: boolean;
  'account-only'?: boolean;
  limit?: string;
  full?: string;
};

type DeviceAction =
  | { action: 'list'; user?: string; json: boolean }
  | { action: 'show'; id: string; json: boolean }
  | { action: 'wipe'; id: string; user?: string; accountOnly: boolean }
  | { action: 'cancel-wipe' | 'remove' | 'resync' | 'reprovision'; id: string; user?: string }
  | { action: 'log'; id: string; user?: string; limit: number; json: boolean }
  | { action: 'full-log'; id: string; on: boolean };

export async function device(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, DEVICE_OPTIONS, DEVICE_USAGE);
  if (values.help) {
    process.stdout.write(`${DEVICE_USAGE}\n`);
    return 0;
  }
  const request = deviceAction(positionals, values);
  const database = await openDatabase(configFor(values));
  try {
    await run(new DeviceAdmin(database.db, { name: operatorName(), admin: true }), request);
  } finally {
    await database.close();
  }
  return 0;
}

async function run(devices: DeviceAdmin, request: DeviceAction): Promise<void> {
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  switch (request.action) {
    case 'list': {
      const list = await devices.list({ user: request.user });
      if (request.json) return printJson({ devices: list });
      if (list.length === 0) return say('no devices');
      return printTable(
        ['DEVICE ID', 'TYPE', 'MODEL', 'EAS', 'USERS', 'WIPE', 'LAST SEEN'],
        list.map((device) => [
          device.id,
          device.type,
          device.information.friendlyName ?? device.information.model ?? '',
          device.protocolVersion ?? '',
          device.accounts.map(({ user }) => user).join(', '),
          wipeSummary(device),
          device.lastSeen,
        ]),
      );
    }
    case 'show': {
      const details = await devices.show(request.id);
      return request.json ? printJson(details) : printDevice(details);
    }
    case 'wipe': {
      const { state, account } = await devices.wipe(request.id, {
        accountOnly: request.accountOnly,
        user: request.user,
      });
      const what = subject({ id: request.id, user: account });
      return say(
        state === 'wiped'
          ? `${what} is already wiped; it is wiped again whenever it reconnects, until it is removed`
          : `a wipe of ${what} is pending: it happens on the device's next request`,
      );
    }
    case 'cancel-wipe': {
      const cancelled = await devices.cancelWipe(request.id, { user: request.user });
      const what = [
        ...(cancelled.device ? ['the whole device'] : []),
        ...cancelled.accounts.map((user) => `${user}'s account`),
      ];
      return say(`cancelled the pending wipe of ${what.join(' and ')} on device ${request.id}`);
    }
    case 'remove': {
      const removed = await devices.remove(request.id, { user: request.user });
      return say(
        removed === 'device'
          ? `removed device ${request.id}`
          : `removed ${request.user}'s account from device ${request.id}`,
      );
    }
    case 'resync':
      await devices.resync(request.id, { user: request.user });
      return say(`${subject(request)} will sync everything again from the start`);
    case 'reprovision':
      await devices.reprovision(request.id, { user: request.user });
      return say(`${subject(request)} will apply the security policy again before its next command`);
    case 'log': {
      const entries = await devices.log(request.id, { user: request.user, limit: request.limit });
      if (request.json) return printJson({ entries });
      if (entries.length === 0) return say(`the protocol log of ${subject(request)} is empty`);
      return printLog(entries.reverse());
    }
    case 'full-log':
      await devices.setFullLogging(request.id, request.on);
      return say(
        request.on
          ? `device ${request.id}: message bodies and attachments are logged unredacted from now on`
          : `device ${request.id}: message bodies and attachments are redacted in the log from now on`,
      );
  }
}

function subject(request: { id: string; user?: string }): string {
  return request.user === undefined
    ? `device ${request.id}`
    : `${request.user}'s account on device ${request.id}`;
}

/** The wipe of the device, else those of its accounts; empty when none. */
function wipeSummary(device: Device): string {
  if (device.wipe !== 'none') return device.wipe;
  return device.accounts
    .filter(({ wipe }) => wipe !== 'none')
    .map(({ user, wipe }) => `${user}: ${wipe}`)
    .join(', ');
}

const INFORMATION_LABELS: Record<keyof DeviceInformation, string> = {
  model: 'model',
  imei: 'IMEI',
  friendlyName: 'friendly name',
  os: 'OS',
  osLanguage: 'OS language',
  phoneNumber: 'phone number',
  mobileOperator: 'mobile operator',
  userAgent: 'reported agent',
  enableOutboundSms: 'outbound SMS',
};

function printDevice(device: DeviceDetails): void {
  const information = Object.entries(device.information).map(([field, value]): [string, string] => [
    INFORMATION_LABELS[field as keyof DeviceInformation],
    String(value),
  ]);
  const lastRequest = [device.lastCommand, device.lastAddress && `from ${device.lastAddress}`].filter(
    Boolean,
  );
  printFields([
    ['device ID', device.id],
    ['type', device.type],
    ...information,
    ['user agent', device.userAgent ?? ''],
    ['EAS version', device.protocolVersion ?? ''],
    ['first seen', device.firstSeen],
    ['last seen', [device.lastSeen, ...lastRequest].join(' ')],
    [
      'policy',
      device.policy === undefined ? "its users' policy sets" : `${device.policy} (assigned to the device)`,
    ],
    ['wipe', device.wipe],
  ]);
  process.stdout.write('\naccounts:\n');
  printTable(
    ['USER', 'POLICY', 'PROVISIONED', 'POLICY KEY', 'WIPE', 'LAST SEEN'],
    device.accounts.map((account) => [
      account.user,
      `${account.policy.name ?? 'built-in defaults'} (${account.policy.source})`,
      account.provisionedAt === undefined
        ? 'no'
        : `${account.provisionedAt} ${account.acknowledgement ?? ''} (EAS ${account.policyVersion ?? '?'})`,
      account.policyKey === undefined ? '' : String(account.policyKey),
      account.wipe,
      account.lastSeen,
    ]),
  );
  if (device.history.length === 0) return;
  process.stdout.write('\nhistory:\n');
  printTable(
    ['AT', 'ACTION', 'ACCOUNT', 'BY', 'DETAIL'],
    device.history.map((event) => [
      event.at,
      event.action,
      event.user ?? '',
      event.actor,
      event.detail ?? '',
    ]),
  );
}

function printLog(entries: DeviceLogEntry[]): void {
  for (const entry of entries) {
    process.stdout.write(`--- ${entry.at} ${entry.user} ${entry.command}: HTTP ${entry.httpStatus}\n`);
    if (entry.request !== null) process.stdout.write(`request:\n${entry.request}\n`);
    if (entry.response !== null) process.stdout.write(`response:\n${entry.response}\n`);
  }
}

/** Checks the command line before the database is opened. */
function deviceAction(positionals: string[], values: DeviceOptions): DeviceAction {
  const [action, id, extra] = positionals;
  const takes = (...options: (keyof DeviceOptions)[]) =>
    refuseOtherOptions(values, options, `device ${action}`, DEVICE_USAGE);
  if (action === undefined) throw new UsageError('no action given', DEVICE_USAGE);
  if (action === 'list') {
    takes('user', 'json');
    if (id !== undefined) throw new UsageError(`unexpected argument: ${id}`, DEVICE_USAGE);
    return { action, user: values.user, json: values.json === true };
  }
  if (!['show', 'wipe', 'cancel-wipe', 'remove', 'resync', 'reprovision', 'log'].includes(action)) {
    throw new UsageError(`unknown action: device ${action}`, DEVICE_USAGE);
  }
  if (id === undefined) throw new UsageError(`device ${action} needs a device ID`, DEVICE_USAGE);
  if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`, DEVICE_USAGE);
  switch (action) {
    case 'show':
      takes('json');
      return { action, id, json: values.json === true };
    case 'wipe': {
      takes('account-only', 'user');
      const accountOnly = values['account-only'] === true;
      if (values.user !== undefined && !accountOnly) {
        throw new UsageError(
          '--user goes with --account-only: a whole-device wipe takes no user',
          DEVICE_USAGE,
        );
      }
      return { action, id, user: values.user, accountOnly };
    }
    case 'log':
      if (values.full !== undefined) {
        takes('full');
        if (values.full !== 'on' && values.full !== 'off') {
          throw new UsageError(`--full wants on or off, not ${values.full}`, DEVICE_USAGE);
        }
        return { action: 'full-log', id, on: values.full === 'on' };
      }
      takes('user', 'limit', 'json');
      return { action, id, user: values.user, limit: logLimit(values.limit), json: values.json === true };
    default:
      takes('user');
      return { action: action as 'cancel-wipe' | 'remove' | 'resync' | 'reprovision', id, user: values.user };
  }
}

function logLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LOG_ENTRIES;
  const limit = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(limit >= 1 && limit <= MAX_LOG_ENTRIES)) {
    throw new UsageError(
      `--limit wants a number of entries from 1 to ${MAX_LOG_ENTRIES}, not ${text}`,
      DEVICE_USAGE,
    );
  }
  return limit;
}

/** Who asks, for the device's history: the system account running the CLI (no user name holds a `:`). */
function operatorName(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}
