// The client half of bench/sync.ts, the same for every server: what a phone does when it adds an
// Exchange account (Provision, FolderSync, Sync key 0, then Sync windows of the address book until
// MoreAvailable is absent), then empty incremental Syncs. Each request's round trip is timed here;
// its server-side duration comes from the server's own log, through a ServerClock.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FOLDER_TYPES } from '../src/backends/contract.ts';
import { EasClient, provision, type EasResponse, type SendOptions } from '../src/client/index.ts';
import { folderSync, sync, type FolderSyncResult, type SyncResult } from '../src/client/sync.ts';
import type { CommandName } from '../src/http/query.ts';
import type { WbxmlElement } from '../src/wbxml/index.ts';

/** Horde speaks EAS up to 14.1: both servers are measured at that version. */
export const PROTOCOL_VERSION = '14.1';
const SETTLE_MS = 200;

/** One request as the server measured it. */
export interface ServerRequest {
  command: string;
  ms: number;
}

export interface ServerClock {
  /** The CPU time (user and system) the server's processes have used so far. */
  cpuMs(): Promise<number>;
  /**
   * The server-side durations of the requests `deviceId` sent since the previous call, oldest first.
   * Waits for `count` of them: a server may write its log line after the answer went out.
   */
  take(deviceId: string, count: number): Promise<ServerRequest[]>;
}

/** One request as the client saw it, with the server's duration of it. */
export interface Exchange {
  command: CommandName;
  /** From the request's first byte out to the answer's last byte in, the client's codec included. */
  roundTripMs: number;
  serverMs: number;
  responseBytes: number;
}

export interface WorkloadResult {
  items: number;
  /** Provision ×2, FolderSync and Sync key 0. */
  setup: Exchange[];
  /** The Syncs that brought the items. */
  windows: Exchange[];
  /** The wall time of the initial sync, from the first Provision to the last window's answer. */
  initialWallMs: number;
  /** The server's CPU time over the same span. */
  initialCpuMs: number;
  emptySyncs: Exchange[];
  emptySyncsCpuMs: number;
}

export interface WorkloadOptions {
  url: string;
  user: string;
  password: string;
  windowSize: number;
  emptySyncs: number;
  clock: ServerClock;
}

/** Runs the workload as a new device; throws when a server answers anything but success. */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const client = new TimedClient({
    url: options.url,
    user: options.user,
    password: options.password,
    deviceId: `SYNCBENCH${randomBytes(4).toString('hex').toUpperCase()}`,
    deviceType: 'SyncBench',
    protocolVersion: PROTOCOL_VERSION,
  });

  const { clock } = options;
  const cpuAtStart = await clock.cpuMs();
  const started = performance.now();
  const provisioned = await provision(client);
  if (provisioned.kind !== 'provisioned') throw new Error(`Provision: ${provisioned.kind}`);
  const collectionId = await contactsFolder(client);
  let syncKey = await firstSyncKey(client, collectionId);
  const setupCount = client.sentCount;
  let items = 0;
  for (let more = true; more;) {
    const window = await syncChanges(client, { collectionId, syncKey, windowSize: options.windowSize });
    items += window.adds;
    syncKey = window.syncKey;
    more = window.more;
  }
  const initialWallMs = performance.now() - started;
  const initialCount = client.sentCount;
  const cpuAfterInitial = await settledCpuMs(clock);

  for (let i = 0; i < options.emptySyncs; i++) {
    const answer = await syncChanges(client, { collectionId, syncKey, windowSize: options.windowSize });
    if (answer.adds > 0 || answer.more) throw new Error(`an incremental Sync found ${answer.adds} new items`);
    syncKey = answer.syncKey;
  }
  const emptySyncsCpuMs = (await settledCpuMs(clock)) - cpuAfterInitial;
  const exchanges = await client.measured(clock);
  return {
    items,
    setup: exchanges.slice(0, setupCount),
    windows: exchanges.slice(setupCount, initialCount),
    initialWallMs,
    initialCpuMs: cpuAfterInitial - cpuAtStart,
    emptySyncs: exchanges.slice(initialCount),
    emptySyncsCpuMs,
  };
}

/** The server's CPU time once it has finished what it does after its last answer (logs, mostly). */
async function settledCpuMs(clock: ServerClock): Promise<number> {
  await sleep(SETTLE_MS);
  return clock.cpuMs();
}

/** An EasClient that times every request it sends; the server's durations are asked for at the end. */
class TimedClient extends EasClient {
  private readonly sent: Omit<Exchange, 'serverMs'>[] = [];

  get sentCount(): number {
    return this.sent.length;
  }

  override async send(
    command: CommandName,
    tree?: WbxmlElement,
    options?: SendOptions,
  ): Promise<EasResponse> {
    const started = performance.now();
    const response = await super.send(command, tree, options);
    this.sent.push({ command, roundTripMs: performance.now() - started, responseBytes: response.raw.length });
    return response;
  }

  /** Every exchange, with the server's duration of it. */
  async measured(clock: ServerClock): Promise<Exchange[]> {
    const measured = await clock.take(this.deviceId, this.sent.length);
    if (measured.length !== this.sent.length) {
      throw new Error(`sent ${this.sent.length} requests, the server logged ${measured.length}`);
    }
    return this.sent.map((exchange, i) => {
      const server = measured[i] as ServerRequest;
      if (server.command !== exchange.command) {
        throw new Error(`request ${i + 1} was ${exchange.command}, the server logged ${server.command}`);
      }
      return { ...exchange, serverMs: server.ms };
    });
  }
}

async function contactsFolder(client: EasClient): Promise<string> {
  const answer = await folderSync(client);
  if (answer.status !== 1) throw new Error(`FolderSync: ${describe(answer)}`);
  const contacts = answer.changes.find(
    (change) => change.kind === 'add' && change.type === FOLDER_TYPES.defaultContacts,
  );
  if (contacts === undefined) throw new Error('FolderSync: no default Contacts folder');
  return contacts.serverId;
}

async function firstSyncKey(client: EasClient, collectionId: string): Promise<string> {
  const answer = await sync(client, [{ collectionId, syncKey: '0' }]);
  const collection = answer.collections[0];
  if (collection?.status !== 1 || collection.syncKey === undefined)
    throw new Error(`Sync key 0: ${describe(answer)}`);
  return collection.syncKey;
}

/** The request a phone repeats: changes of one folder, plain-text bodies up to 512 bytes. */
async function syncChanges(
  client: EasClient,
  request: { collectionId: string; syncKey: string; windowSize: number },
): Promise<{ syncKey: string; adds: number; more: boolean }> {
  const answer = await sync(client, [
    {
      ...request,
      deletesAsMoves: true,
      getChanges: true,
      options: { bodyPreferences: [{ type: 1, truncationSize: 512 }] },
    },
  ]);
  // An empty answer means no changes (MS-ASCMD 2.2.3.166): the key stays.
  if (answer.response.status === 200 && answer.response.raw.length === 0) {
    return { syncKey: request.syncKey, adds: 0, more: false };
  }
  const collection = answer.collections[0];
  if (collection?.status !== 1 || collection.syncKey === undefined)
    throw new Error(`Sync: ${describe(answer)}`);
  return {
    syncKey: collection.syncKey,
    adds: collection.commands.filter((command) => command.kind === 'add').length,
    more: collection.moreAvailable,
  };
}

function describe(answer: FolderSyncResult | SyncResult): string {
  const { response } = answer;
  const collection = 'collections' in answer ? answer.collections[0] : undefined;
  const status = collection?.status ?? answer.status;
  return `HTTP ${response.status}, Status ${status ?? 'none'}`;
}
