// `airsync probe`: looks at a server from a phone's side and says in plain words what it saw, so that
// a failing account can be diagnosed without capturing its traffic.
import { readFile } from 'node:fs/promises';
import { EasClient, EasConnectionError } from '../client/index.ts';
import type { EasOptionsResponse, EasResponse } from '../client/index.ts';
import type { Config } from '../config.ts';
import { ACTIVESYNC_PATH } from '../http/activesync.ts';
import { WbxmlError, children, childText, el } from '../wbxml/index.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine } from './options.ts';
import { readPasswordLine } from './password.ts';

export const PROBE_USAGE = `Usage: airsync probe [URL] --user NAME [options]

Checks an ActiveSync server the way a phone would: is it reachable, which protocol versions and
commands does it offer, are the credentials accepted, and what does an authenticated request get.
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

${COMMON_USAGE}`;

const PROBE_OPTIONS = {
  user: { type: 'string' },
  'device-id': { type: 'string' },
  version: { type: 'string' },
  ca: { type: 'string' },
  timeout: { type: 'string' },
} as const;

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
    return await probeWith(client, values.version);
  } catch (error) {
    if (!(error instanceof EasConnectionError)) throw error;
    say('reachable', `no: ${unreachableInWords(error)}`);
    return 1;
  }
}

async function probeWith(client: EasClient, requestedVersion: string | undefined): Promise<number> {
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
  const folderSync = el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]);
  let answer: EasResponse;
  try {
    answer = await client.send('FolderSync', folderSync);
  } catch (error) {
    if (!(error instanceof WbxmlError)) throw error;
    say('request', `FolderSync got an answer that is not valid WBXML: ${error.message}`);
    return 1;
  }
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
  return 0;
}

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
      const provisioning = status === '142' || status === '143' || status === '144';
      return `status ${status ?? 'missing'}${provisioning ? ', the device must be provisioned first' : ''}`;
    }
    case 449:
      return 'the device must be provisioned (accept the policies) first; a phone does that by itself';
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
