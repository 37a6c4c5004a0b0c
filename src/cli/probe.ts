// `airsync probe`: looks at a server from a phone's side and says in plain words what it saw, so that
// a failing account can be diagnosed without capturing its traffic. It provisions like a phone, but
// never acknowledges a remote wipe: a probe must not make a server believe a phone erased itself.
import { readFile } from 'node:fs/promises';
import { EasClient, EasConnectionError, folderSync, provision, sync } from '../client/index.ts';
import type { EasOptionsResponse, EasResponse, ProvisionOutcome } from '../client/index.ts';
import type { Config } from '../config.ts';
import { ACTIVESYNC_PATH } from '../http/activesync.ts';
import { WbxmlError, child, children, childText, el, type WbxmlElement } from '../wbxml/index.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine } from './options.ts';
import { readPasswordLine } from './password.ts';

export const PROBE_USAGE = `Usage: airsync probe [URL] --user NAME [options]

Checks an ActiveSync server the way a phone would: is it reachable, which protocol versions and
commands does it offer, are the credentials accepted, what does an authenticated request get,
which security policy does the device get when it provisions, and which folders sync with how many
items. A pending remote wipe is reported,
never acknowledged: it stays pending.
URL is the server's address (https://mail.example.org) or its full endpoint URL; without it, the
server of the configuration (its public URL, else its listen address) is probed.
The password comes from AIRSYNC_PASSWORD or the first line of standard input.
Exits 0 when the server is reachable and accepts the credentials, 1 otherwise.

Options:
  --user NAME        user name as a phone sends it (alice, alice@example.org or EXAMPLE\\alice)
  --device-id ID     device id to send (default airsyncprobe)
  --version V        protocol version to use (default: the highest the server offers)
  --ca FILE          also trust this CA certificate (PEM), e.g. a self-signed server certificate
  --timeout SECONDS  how long to wait for each answer (default 15)
  --ping SECONDS     then hold a Ping on every folder that synced, with this heartbeat, and say
                     when and why it woke (a change made meanwhile, the heartbeat's end, …)

${COMMON_USAGE}`;

const PROBE_OPTIONS = {
  user: { type: 'string' },
  'device-id': { type: 'string' },
  version: { type: 'string' },
  ca: { type: 'string' },
  timeout: { type: 'string' },
  ping: { type: 'string' },
} as const;

/** How much longer than its heartbeat the probe waits for a Ping's answer. */
const PING_GRACE_SECONDS = 30;

export async function probe(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, PROBE_OPTIONS, PROBE_USAGE);
  if (values.help) {
    process.stdout.write(`${PROBE_USAGE}\n`);
    return 0;
  }
  const [target, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`, PROBE_USAGE);
  if (values.user === undefined) throw new UsageError('--user is required', PROBE_USAGE);
  const timeoutSeconds = Number(values.timeout ?? '15');
  if (!(timeoutSeconds > 0)) {
    throw new UsageError(`--timeout wants a positive number of seconds, not ${values.timeout}`, PROBE_USAGE);
  }
  const pingSeconds = values.ping === undefined ? undefined : Number(values.ping);
  if (pingSeconds !== undefined && !(Number.isInteger(pingSeconds) && pingSeconds > 0)) {
    throw new UsageError(`--ping wants a whole number of seconds, not ${values.ping}`, PROBE_USAGE);
  }
  const url = target === undefined ? configuredEndpoint(configFor(values)) : endpointUrl(target);

  const password = process.env.AIRSYNC_PASSWORD ?? (await readPasswordLine());
  if (password === '') throw new Error('no password: set AIRSYNC_PASSWORD or give it on standard input');
  const client = new EasClient({
    url: url.href,
    user: values.user,
    password,
    deviceId: values['device-id'] ?? 'airsyncprobe',
    deviceType: 'airsyncprobe',
    protocolVersion: values.version ?? '14.1',
    userAgent: 'airsync-probe',
    ca: values.ca === undefined ? undefined : await readFile(values.ca),
    timeoutMs: timeoutSeconds * 1000,
  });

  say('endpoint', url.href);
  try {
    return await probeWith(client, values.version, pingSeconds);
  } catch (error) {
    if (!(error instanceof EasConnectionError)) throw error;
    say('reachable', `no: ${unreachableInWords(error)}`);
    return 1;
  }
}

async function probeWith(
  client: EasClient,
  requestedVersion: string | undefined,
  pingSeconds: number | undefined,
): Promise<number> {
  const started = performance.now();
  const offered = await client.options();
  const ms = Math.round(performance.now() - started);
  const serverVersion = offered.headers['ms-server-activesync'];
  const server = serverVersion === undefined ? '' : ` (MS-Server-ActiveSync ${serverVersion})`;
  say('reachable', `yes: OPTIONS answered HTTP ${offered.status} in ${ms} ms${server}`);
  reportOffer(offered);
  const refused = credentialRefusal(offered);
  if (refused !== undefined) {
    say('credentials', refused);
    return 1;
  }

  if (requestedVersion === undefined) {
    client.protocolVersion = highestVersion(offered.versions) ?? client.protocolVersion;
  } else if (offered.versions.length > 0 && !offered.versions.includes(requestedVersion)) {
    say('note', `version ${requestedVersion} is not among the versions the server offers`);
  }
  const answer = await sendFolderSync(client);
  if (answer === undefined) return 1;
  const request = `FolderSync (SyncKey 0, EAS ${client.protocolVersion}) got HTTP ${answer.status}`;
  const rejected = credentialRefusal(answer);
  if (rejected !== undefined) {
    say('credentials', rejected);
    return 1;
  }
  if (answer.status === 404) {
    say(
      'request',
      `${request}: nothing answers ActiveSync at this path (check the URL or the proxy's routes)`,
    );
    return 1;
  }
  if (answer.status >= 500 && answer.status !== 501) {
    say('request', `${request}: the server failed; its log says why`);
    return 1;
  }
  say('credentials', `accepted for ${client.user}`);
  say('request', `${request}: ${folderSyncInWords(answer)}`);
  const retried = await probeProvisioning(client, sentToProvision(answer));
  if (isFolderSyncSuccess(retried ?? answer)) {
    const synced = await probeFolders(client);
    if (pingSeconds !== undefined) await probePing(client, synced, pingSeconds);
  }
  return 0;
}

function isFolderSyncSuccess(answer: EasResponse): boolean {
  return answer.status === 200 && answer.body !== undefined && childText(answer.body, 'Status') === '1';
}

/** A folder the probe synced to its end. */
interface SyncedFolder {
  serverId: string;
  name: string;
  className: string;
}

/**
 * Lists the folders a phone would see and syncs each one from SyncKey 0 to its end, counting items,
 * so that a folder that does not sync (or holds nothing) shows up by name. Returns those that synced.
 */
async function probeFolders(client: EasClient): Promise<SyncedFolder[]> {
  const hierarchy = await folderSync(client);
  const folders = hierarchy.changes.filter((entry) => entry.kind === 'add');
  const synced: SyncedFolder[] = [];
  for (const folder of folders) {
    const className = folder.type === undefined ? undefined : FOLDER_CLASSES[folder.type];
    const name = folder.name ?? '(no name)';
    const label = `${name} (${className ?? `type ${folder.type ?? '?'}`}, ServerId ${folder.serverId})`;
    if (className === undefined) {
      say('folder', `${label}: not synced by this probe`);
      continue;
    }
    const outcome = await syncToEnd(client, folder.serverId, className);
    say('folder', `${label}: ${outcome.words}`);
    if (outcome.synced) synced.push({ serverId: folder.serverId, name, className });
  }
  return synced;
}

/**
 * Holds a Ping on the folders, as a phone does between syncs, and says when and why it woke: a change
 * made meanwhile (by another device, an import), the heartbeat's end, or a refusal.
 */
async function probePing(
  client: EasClient,
  folders: readonly SyncedFolder[],
  seconds: number,
): Promise<void> {
  if (folders.length === 0) {
    say('ping', 'no folder synced: nothing to hold a Ping on');
    return;
  }
  const names = folders.map((folder) => folder.name).join(', ');
  say('ping', `holding a Ping on ${folders.length} folders (${names}) with a heartbeat of ${seconds} s`);
  const request = el('Ping', 'Ping', [
    el('Ping', 'HeartbeatInterval', String(seconds)),
    el(
      'Ping',
      'Folders',
      folders.map((folder) =>
        el('Ping', 'Folder', [el('Ping', 'Id', folder.serverId), el('Ping', 'Class', folder.className)]),
      ),
    ),
  ]);
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  try {
    const answer = await client.send('Ping', request, { timeoutMs: (seconds + PING_GRACE_SECONDS) * 1000 });
    say('ping', `answered after ${elapsed()}: ${pingInWords(answer, folders, seconds)}`);
  } catch (error) {
    if (!(error instanceof EasConnectionError)) throw error;
    say('ping', `no answer after ${elapsed()}: ${error.message} (does a proxy cut requests this long?)`);
  }
}

function pingInWords(answer: EasResponse, folders: readonly SyncedFolder[], seconds: number): string {
  if (answer.status !== 200 || answer.body === undefined) return `HTTP ${answer.status}`;
  const status = childText(answer.body, 'Status', 'Ping');
  switch (status) {
    case '1':
      return 'status 1, the heartbeat ended without changes';
    case '2': {
      const listed = children(child(answer.body, 'Folders', 'Ping') ?? answer.body, 'Folder', 'Ping');
      const changed = listed.map(({ text }) => {
        const folder = folders.find((candidate) => candidate.serverId === text);
        return folder === undefined ? `ServerId ${text}` : `${folder.name} (ServerId ${text})`;
      });
      return `status 2, changes in ${changed.join(', ')}`;
    }
    case '5': {
      const bound = Number(childText(answer.body, 'HeartbeatInterval', 'Ping'));
      return `status 5, the server accepts heartbeats of ${bound > seconds ? 'at least' : 'at most'} ${bound} s`;
    }
    case '6':
      return `status 6, the server watches at most ${childText(answer.body, 'MaxFolders', 'Ping') ?? '?'} folders per Ping`;
    case '7':
      return 'status 7, the folder list changed: a phone runs FolderSync and pings again';
    case '8':
      return 'status 8, the server failed; its log says why';
    default:
      return `status ${status ?? 'missing'}`;
  }
}

/** The EAS class of each folder type (MS-ASCMD 2.2.3.186.3) whose items the probe counts. */
const FOLDER_CLASSES: Record<number, string> = {
  2: 'Email',
  3: 'Email',
  4: 'Email',
  5: 'Email',
  6: 'Email',
  12: 'Email',
  7: 'Tasks',
  15: 'Tasks',
  8: 'Calendar',
  13: 'Calendar',
  9: 'Contacts',
  14: 'Contacts',
  10: 'Notes',
  17: 'Notes',
};

/** Syncs one folder from key 0 in windows of 100 until the server has nothing more. */
async function syncToEnd(
  client: EasClient,
  collectionId: string,
  className: string,
): Promise<{ synced: boolean; words: string }> {
  // 2.5 names the class of every collection; later versions know it from the folder.
  const classOf = client.protocolVersion === '2.5' ? { className } : {};
  let syncKey = '0';
  let items = 0;
  let requests = 0;
  for (;;) {
    const answer = await sync(client, [
      {
        ...classOf,
        collectionId,
        syncKey,
        ...(syncKey === '0' ? {} : { getChanges: true, windowSize: 100 }),
      },
    ]);
    requests += 1;
    const collection = answer.collections[0];
    const status = collection?.status ?? answer.status;
    if (answer.response.status !== 200 || status !== 1 || collection?.syncKey === undefined) {
      const words = `Sync failed after ${items} items: HTTP ${answer.response.status}, status ${status ?? 'missing'}`;
      return { synced: false, words };
    }
    items += collection.commands.filter((command) => command.kind === 'add').length;
    const first = syncKey === '0';
    syncKey = collection.syncKey;
    if (!first && !collection.moreAvailable) {
      return { synced: true, words: `${items} items in ${requests} Sync requests` };
    }
  }
}

/** FolderSync with SyncKey 0: the first thing a phone asks. Undefined (and said why) when it is not WBXML. */
async function sendFolderSync(client: EasClient): Promise<EasResponse | undefined> {
  const folderSync = el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]);
  try {
    return await client.send('FolderSync', folderSync);
  } catch (error) {
    if (!(error instanceof WbxmlError)) throw error;
    say('request', `FolderSync got an answer that is not valid WBXML: ${error.message}`);
    return undefined;
  }
}

/**
 * Runs both Provision phases and reports the policy and keys received; when the first request was
 * sent to provision, repeats it with the final key to show whether the device now gets through, and
 * returns that answer.
 */
async function probeProvisioning(
  client: EasClient,
  retryAfterwards: boolean,
): Promise<EasResponse | undefined> {
  let outcome: ProvisionOutcome;
  try {
    outcome = await provision(client, { wipeStatus: 'leave-pending' });
  } catch (error) {
    if (!(error instanceof WbxmlError)) throw error;
    say('provision', `the server answered with something that is not valid WBXML: ${error.message}`);
    return;
  }
  switch (outcome.kind) {
    case 'no-policy':
      say('provision', 'the server has no policy for this device (Policy Status 2): it syncs without one');
      return;
    case 'refused':
      say('provision', `${outcome.phase} refused: ${provisionRefusalInWords(outcome.response)}`);
      return;
    case 'wipe-pending':
      say('wipe', wipeInWords(outcome.scope));
      return;
    case 'wipe-acknowledged':
      throw new Error('probe acknowledged a remote wipe');
    case 'provisioned':
      say('provision', `policy downloaded with temporary key ${outcome.temporaryKey}`);
      sayLines('policy', policyLines(outcome.policy));
      say('provision', `policy acknowledged as applied; final policy key ${outcome.policyKey}`);
  }
  if (!retryAfterwards) return undefined;
  const again = await sendFolderSync(client);
  if (again === undefined) return undefined;
  say(
    'request',
    `FolderSync with policy key ${outcome.policyKey} got HTTP ${again.status}: ${folderSyncInWords(again)}`,
  );
  return again;
}

function wipeInWords(scope: 'device' | 'account'): string {
  const what =
    scope === 'device'
      ? 'a remote wipe is pending for this device (a phone would erase itself)'
      : 'an account-only remote wipe is pending for this account (a phone would remove the account and its data)';
  return `${what} — probe does NOT acknowledge it, so the wipe stays pending`;
}

/** The policy as `name = value` lines: the settings of an EASProvisionDoc, or the XML of EAS 2.5. */
function policyLines(policy: WbxmlElement | string | undefined): string[] {
  if (policy === undefined) return ['(none sent)'];
  if (typeof policy === 'string') return [policy];
  return policy.children.map((setting) => {
    const items = setting.children.map((item) => item.text ?? '');
    const value = setting.children.length > 0 ? items.join(', ') : (setting.text ?? '');
    return `${setting.name} = ${value === '' ? '(empty)' : value}`;
  });
}

/** Why a Provision phase failed, from its answer. */
function provisionRefusalInWords(response: EasResponse): string {
  const body = response.body;
  if (response.status !== 200) {
    if (response.status === 501) return 'the server does not implement Provision (HTTP 501)';
    if (response.status === 403) return 'the server does not let this device sync (HTTP 403)';
    return `HTTP ${response.status}`;
  }
  if (body === undefined || body.name !== 'Provision') return 'the answer is not a Provision response';
  const status = childText(body, 'Status', 'Provision');
  const policy = child(body, 'Policies', 'Provision')?.children[0];
  const policyStatus = policy && childText(policy, 'Status', 'Provision');
  switch (status) {
    case '1':
      return policyStatus === undefined
        ? 'the answer holds no policy'
        : `Policy Status ${policyStatus}: ${POLICY_STATUSES[policyStatus] ?? 'unknown'}`;
    case '2':
      return 'Status 2: the server found the request malformed';
    case '139':
      return 'Status 139: the server requires the whole policy to be applied';
    case '145':
      return 'Status 145: the server requires its own policy, not a third party’s';
    default:
      return `Status ${status ?? 'missing'}`;
  }
}

/** Status (Policy) in Provision responses, MS-ASPROV 2.2.2.54.1. */
const POLICY_STATUSES: Record<string, string> = {
  '2': 'the server has no policy for this device',
  '3': 'the server does not know the policy type asked for',
  '4': 'the policy is corrupt on the server; its log says which',
  '5': 'the server did not hand out the policy key acknowledged (another client may be provisioning with the same device ID)',
};

/** Whether an answer sends the device to Provision first. */
function sentToProvision(answer: EasResponse): boolean {
  if (answer.status === 449) return true;
  const status = answer.body && childText(answer.body, 'Status', 'FolderHierarchy');
  return status !== undefined && status in PROVISIONING_STATUSES;
}

/** The common statuses (MS-ASCMD 2.2.2) that send a device to Provision, in plain words. */
const PROVISIONING_STATUSES: Record<string, string> = {
  '140': 'a remote wipe is pending for this device — probe does NOT acknowledge it',
  '142': 'the server requires this device to accept its security policy first',
  '143': "the server's security policy has changed: the device must accept it again",
  '144': 'the policy key the device sent is not valid: the device must provision again',
};

function reportOffer(offered: EasOptionsResponse): void {
  if (offered.versions.length === 0) {
    say('versions', 'none: no MS-ASProtocolVersions header (not ActiveSync, or a proxy drops the header)');
    return;
  }
  say('versions', offered.versions.join(', '));
  say('commands', offered.commands.length === 0 ? 'none advertised' : offered.commands.join(', '));
}

/** Why an answer turns these credentials away, in plain words; undefined when it does not. */
function credentialRefusal(answer: { status: number; headers: Record<string, string> }): string | undefined {
  switch (answer.status) {
    case 401:
      return 'rejected: the server rejected the user name or password (HTTP 401)';
    case 403:
      return 'refused: the server does not let this user (or this device) sync (HTTP 403)';
    case 503: {
      const retryAfter = answer.headers['retry-after'];
      const when = retryAfter === undefined ? 'later' : `in ${retryAfter} s`;
      return `not checked: the server is throttling, often after repeated failed logins (HTTP 503); retry ${when}`;
    }
    default:
      return undefined;
  }
}

function folderSyncInWords(answer: EasResponse): string {
  switch (answer.status) {
    case 200: {
      const body = answer.body;
      const status = body && childText(body, 'Status', 'FolderHierarchy');
      if (status === '1') {
        const changes = body && children(body, 'Changes', 'FolderHierarchy')[0];
        const folders = changes ? children(changes, 'Add', 'FolderHierarchy').length : 0;
        return `status 1, success: ${folders} folders`;
      }
      const provisioning = status === undefined ? undefined : PROVISIONING_STATUSES[status];
      return `status ${status ?? 'missing'}${provisioning === undefined ? '' : `: ${provisioning}`}`;
    }
    case 449:
      return 'the server requires this device to provision first: to accept its security policy, or to learn of a pending remote wipe';
    case 451:
      return `the server sends this user elsewhere: ${answer.headers['x-ms-location'] ?? '(no X-MS-Location)'}`;
    case 501:
      return 'the server does not implement FolderSync yet';
    case 400:
      return 'the server refused the request as malformed; its log says why';
    default:
      return 'an answer this probe does not know';
  }
}

function unreachableInWords(error: EasConnectionError): string {
  switch (error.reason) {
    case 'refused':
      return `${error.message}: is the server running, and listening on that address and port?`;
    case 'timeout':
      return `${error.message}: a firewall may drop the packets, or the server hangs`;
    case 'tls':
      return tlsFailureInWords(error);
    case 'reset':
      return `${error.message}: does the server speak this scheme (http or https)?`;
    case 'dns':
    case 'other':
      return error.message;
  }
}

function tlsFailureInWords(error: EasConnectionError): string {
  switch (error.code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return 'TLS error: the certificate is self-signed; to trust it, pass it with --ca FILE';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return 'TLS error: the certificate is not signed by a trusted authority (is the intermediate certificate missing?)';
    case 'CERT_HAS_EXPIRED':
      return 'TLS error: the certificate has expired';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'TLS error: the certificate is for another host name';
    default:
      return /wrong version number/.test(error.message)
        ? 'TLS error: the server does not speak TLS on this port (is it http://?)'
        : `TLS error: ${error.message.split('\n')[0]} (${error.code ?? 'no code'})`;
  }
}

/** Accepts "host", "https://host" or the full endpoint URL. */
function endpointUrl(target: string): URL {
  let url: URL;
  try {
    url = new URL(target.includes('://') ? target : `https://${target}`);
  } catch {
    throw new UsageError(`not a URL: ${target}`, PROBE_USAGE);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`not an http(s) URL: ${target}`, PROBE_USAGE);
  }
  if (url.pathname === '/') url.pathname = ACTIVESYNC_PATH;
  return url;
}

/** The configured server: its public URL, else its listen address. */
function configuredEndpoint(config: Config): URL {
  if (config.publicUrl !== undefined) return endpointUrl(config.publicUrl);
  const { host, port } = config.listen;
  // A server listening on every address is reached from here through the loopback one.
  const local = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const hostPart = local.includes(':') ? `[${local}]` : local;
  return new URL(`${config.tls ? 'https' : 'http'}://${hostPart}:${port}${ACTIVESYNC_PATH}`);
}

function highestVersion(versions: string[]): string | undefined {
  return [...versions].sort((a, b) => Number(b) - Number(a))[0];
}

function say(label: string, text: string): void {
  process.stdout.write(`${`${label}:`.padEnd(13)} ${text}\n`);
}

/** Several lines under one label. */
function sayLines(label: string, lines: string[]): void {
  lines.forEach((line, i) =>
    i === 0 ? say(label, line) : process.stdout.write(`${' '.repeat(14)}${line}\n`),
  );
}
