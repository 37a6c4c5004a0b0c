// A load generator of bench/ping.ts, in a child process of its own: it plays a slice of the
// devices, as phones do. It primes each device (Provision when it has no policy key yet,
// FolderSync, Sync of the Contacts folder from key 0 to the end), then holds one Ping per device on
// the Contacts folder. When a Ping answers that the folder changed, the device syncs it and, while
// the round lasts, sends its next Ping. The parent hears, for each device, when its Ping was sent
// and when the answer arrived, on the monotonic clock it shares with every process of the machine
// (process.hrtime) and on the wall clock (for a peer whose changes carry a Unix time).

import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { EasClient, folderSync, provision, sync, type SyncCollectionResult } from '../src/client/index.ts';
import { WBXML_MEDIA_TYPE } from '../src/http/activesync.ts';
import { child, childText, children, decode, el, encode } from '../src/wbxml/index.ts';

export interface DeviceSpec {
  /** The device's number in the whole bench. */
  index: number;
  user: string;
  deviceId: string;
  /** The final policy key, when the device was provisioned without the server's help. */
  policyKey?: string;
}

export type LoadCommand =
  | {
      kind: 'setup';
      url: string;
      password: string;
      protocolVersion: string;
      deviceType: string;
      userAgent: string;
      heartbeatSeconds: number;
      devices: DeviceSpec[];
    }
  /** The server moved (a new process on another port): the devices keep their state. */
  | { kind: 'url'; url: string }
  | { kind: 'prime'; concurrency: number }
  /**
   * Sends these devices' Pings, `perSecond` of them a second. `ping`: after a change, sync and Ping
   * again; `sync`: sync and stop (a warm-up).
   */
  | { kind: 'hold'; indices: number[]; perSecond: number; afterChange: 'ping' | 'sync' }
  /** Stops every Ping and waits for the syncs under way. */
  | { kind: 'release' };

/** Times are ms: `mono` on the machine's monotonic clock, `wall` since the Unix epoch. */
export type PingEvent =
  /** The Ping request has been written to the socket. */
  | { kind: 'sent'; index: number; mono: number }
  /** The Ping answered: Ping Status 1 (nothing changed) or 2 (changes), or something else. */
  | {
      kind: 'answer';
      index: number;
      status: number | undefined;
      httpStatus: number;
      mono: number;
      wall: number;
    }
  /** A Ping or the sync after it got no answer, or a wrong one. */
  | { kind: 'failure'; index: number; what: string };

export type LoadReport =
  | { kind: 'ready' }
  | { kind: 'primed'; failures: string[] }
  | { kind: 'events'; events: PingEvent[] }
  | { kind: 'released' };

/** Contacts, as FolderSync types it (MS-ASCMD 2.2.3.186.3). */
const CONTACTS_FOLDER_TYPE = 9;
/** Requests other than Ping must answer within this. */
const REQUEST_TIMEOUT_MS = 60_000;
/** Events go to the parent in batches, at most this long after they happened. */
const EVENT_FLUSH_MS = 20;
/** Pings are sent in a batch every this many ms, to keep to the rate asked for. */
const SEND_TICK_MS = 10;
/**
 * Pings have connections of their own, without the global agent's 5 s idle timeout, which would end
 * a Ping still connecting to a busy server. A socket goes back to the pool when its Ping answers.
 */
const pingAgent = new http.Agent({ keepAlive: true });

interface Device {
  spec: DeviceSpec;
  client: EasClient;
  folderId?: string;
  syncKey?: string;
  /** The Ping waiting for its answer. */
  ping?: http.ClientRequest;
  /** A sync under way after a Ping's answer. */
  syncing?: Promise<void>;
}

let settings: Extract<LoadCommand, { kind: 'setup' }> | undefined;
const devices = new Map<number, Device>();
/** What to do after a change while a round lasts; undefined once released. */
let afterChange: 'ping' | 'sync' | undefined;
let pending: PingEvent[] = [];
let flushTimer: NodeJS.Timeout | undefined;

/** Reports go after the events before them, so the parent never sees an event after a later report. */
function report(message: LoadReport): void {
  flushEvents();
  process.send?.(message);
}
const monoNow = () => Number(process.hrtime.bigint()) / 1e6;
const wallNow = () => performance.timeOrigin + performance.now();

function emit(event: PingEvent): void {
  pending.push(event);
  flushTimer ??= setTimeout(flushEvents, EVENT_FLUSH_MS);
}

function flushEvents(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (pending.length === 0) return;
  const events = pending;
  pending = [];
  process.send?.({ kind: 'events', events } satisfies LoadReport);
}

function clientFor(spec: DeviceSpec, url: string): EasClient {
  if (settings === undefined) throw new Error('setup first');
  return new EasClient({
    url,
    user: spec.user,
    password: settings.password,
    deviceId: spec.deviceId,
    deviceType: settings.deviceType,
    userAgent: settings.userAgent,
    protocolVersion: settings.protocolVersion,
    policyKey: spec.policyKey,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
}

/** Provision (when needed), FolderSync, and Sync of the Contacts folder until nothing more is available. */
async function prime(device: Device): Promise<void> {
  const { client } = device;
  if (client.policyKey === undefined) {
    const outcome = await provision(client);
    if (outcome.kind !== 'provisioned' && outcome.kind !== 'no-policy') {
      throw new Error(`Provision: ${outcome.kind}`);
    }
  }
  const folders = await folderSync(client);
  const contacts = folders.changes.find((folder) => folder.type === CONTACTS_FOLDER_TYPE);
  if (folders.status !== 1 || contacts === undefined) {
    throw new Error(
      `FolderSync: HTTP ${folders.response.status}, Status ${folders.status}, no Contacts folder`,
    );
  }
  device.folderId = contacts.serverId;
  device.syncKey = '0';
  await syncToEnd(device);
}

async function syncToEnd(device: Device): Promise<void> {
  const collectionId = device.folderId as string;
  for (;;) {
    const syncKey = device.syncKey as string;
    const answer = await sync(device.client, [
      { collectionId, syncKey, getChanges: syncKey === '0' ? undefined : true, windowSize: 100 },
    ]);
    const collection: SyncCollectionResult | undefined = answer.collections[0];
    if (collection?.status !== 1 || collection.syncKey === undefined) {
      throw new Error(
        `Sync: HTTP ${answer.response.status}, Status ${collection?.status ?? answer.status ?? 'none'}`,
      );
    }
    device.syncKey = collection.syncKey;
    // Key 0 only gets a key: the changes come with the next request.
    if (syncKey !== '0' && !collection.moreAvailable) return;
  }
}

function pingRequest(device: Device): Buffer {
  const heartbeat = String(settings?.heartbeatSeconds);
  return encode(
    el('Ping', 'Ping', [
      el('Ping', 'HeartbeatInterval', heartbeat),
      el('Ping', 'Folders', [
        el('Ping', 'Folder', [el('Ping', 'Id', device.folderId as string), el('Ping', 'Class', 'Contacts')]),
      ]),
    ]),
  );
}

/**
 * Sends the device's Ping. Written with node:http directly rather than through EasClient, to know
 * when the request has left and to be able to abort it.
 */
function sendPing(device: Device): void {
  if (settings === undefined) return;
  const { spec, client } = device;
  const url = new URL(client.url);
  url.search = new URLSearchParams({
    Cmd: 'Ping',
    User: spec.user,
    DeviceId: spec.deviceId,
    DeviceType: settings.deviceType,
  }).toString();
  const body = pingRequest(device);
  const request = http.request(url, {
    agent: pingAgent,
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${spec.user}:${settings.password}`).toString('base64')}`,
      'User-Agent': settings.userAgent,
      'MS-ASProtocolVersion': settings.protocolVersion,
      'Content-Type': WBXML_MEDIA_TYPE,
      'Content-Length': String(body.length),
    },
  });
  device.ping = request;
  // The server may take the whole heartbeat and then some to answer.
  request.setTimeout((settings.heartbeatSeconds + 120) * 1000, () => request.destroy(new Error('timed out')));
  request.on('finish', () => emit({ kind: 'sent', index: spec.index, mono: monoNow() }));
  request.on('response', (response) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => {
      const mono = monoNow();
      const wall = wallNow();
      device.ping = undefined;
      const raw = Buffer.concat(chunks);
      let status: number | undefined;
      try {
        const tree = raw.length > 0 ? decode(raw) : undefined;
        const text = tree && childText(tree, 'Status', 'Ping');
        status = text === undefined ? undefined : Number(text);
      } catch {
        status = undefined;
      }
      const httpStatus = response.statusCode ?? 0;
      emit({ kind: 'answer', index: spec.index, status, httpStatus, mono, wall });
      afterAnswer(device, status, changedFolders(raw));
    });
  });
  request.on('error', (error) => {
    if (device.ping !== request) return; // aborted on release
    device.ping = undefined;
    emit({ kind: 'failure', index: spec.index, what: `Ping: ${error.message}` });
  });
  request.end(body);
}

function changedFolders(raw: Buffer): string[] {
  try {
    const folders = raw.length > 0 ? child(decode(raw), 'Folders', 'Ping') : undefined;
    return folders === undefined
      ? []
      : children(folders, 'Folder', 'Ping').map((folder) => folder.text ?? '');
  } catch {
    return [];
  }
}

function afterAnswer(device: Device, status: number | undefined, folders: string[]): void {
  if (afterChange === undefined) return;
  if (status === 1) {
    // The heartbeat ended without a change: a phone asks again at once.
    sendPing(device);
    return;
  }
  // Any other answer is in the event already; a phone would pause before trying again.
  if (status !== 2) return;
  if (!folders.includes(device.folderId as string)) {
    emit({ kind: 'failure', index: device.spec.index, what: `Ping Status 2 without the Contacts folder` });
    return;
  }
  const again = afterChange === 'ping';
  device.syncing = syncToEnd(device).then(
    () => {
      device.syncing = undefined;
      if (again && afterChange === 'ping') sendPing(device);
    },
    (error: unknown) => {
      device.syncing = undefined;
      emit({ kind: 'failure', index: device.spec.index, what: (error as Error).message });
    },
  );
}

/** Runs `work` for every device, `concurrency` at a time; the failures as text. */
async function forEachDevice(
  concurrency: number,
  work: (device: Device) => Promise<void>,
): Promise<string[]> {
  const queue = [...devices.values()];
  const failures: string[] = [];
  const worker = async () => {
    for (let device = queue.shift(); device !== undefined; device = queue.shift()) {
      try {
        await work(device);
      } catch (error) {
        failures.push(`${device.spec.deviceId}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures;
}

/** Sends the Pings of these devices at `perSecond`, as phones reconnecting over time rather than all at once. */
async function sendPings(indices: readonly number[], perSecond: number): Promise<void> {
  const perTick = Math.max(1, Math.round((perSecond * SEND_TICK_MS) / 1000));
  for (let start = 0; start < indices.length && afterChange !== undefined; start += perTick) {
    for (const index of indices.slice(start, start + perTick)) {
      const device = devices.get(index);
      if (device !== undefined) sendPing(device);
    }
    await sleep(SEND_TICK_MS);
  }
}

async function release(): Promise<void> {
  afterChange = undefined;
  for (const device of devices.values()) {
    const ping = device.ping;
    device.ping = undefined;
    ping?.destroy();
  }
  await Promise.all([...devices.values()].map((device) => device.syncing));
}

async function handle(command: LoadCommand): Promise<void> {
  switch (command.kind) {
    case 'setup':
      settings = command;
      for (const spec of command.devices)
        devices.set(spec.index, { spec, client: clientFor(spec, command.url) });
      report({ kind: 'ready' });
      break;
    case 'url':
      for (const device of devices.values()) {
        const policyKey = device.client.policyKey;
        device.client = clientFor({ ...device.spec, policyKey }, command.url);
      }
      report({ kind: 'ready' });
      break;
    case 'prime':
      report({ kind: 'primed', failures: await forEachDevice(command.concurrency, prime) });
      break;
    case 'hold':
      afterChange = command.afterChange;
      await sendPings(command.indices, command.perSecond);
      break;
    case 'release':
      await release();
      report({ kind: 'released' });
      break;
  }
}

process.on('message', (command: LoadCommand) => {
  handle(command).catch((error: unknown) => {
    process.stderr.write(`ping load generator: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
});
// Ends with the parent.
process.on('disconnect', () => process.exit(0));
