// The change bus of a process, and how it reaches the server's other processes: not at all
// (`memory`), PostgreSQL LISTEN/NOTIFY, Redis pub/sub, or, on SQLite, a poller of the history table.

import { randomUUID } from 'node:crypto';
import { LocalChangeBus, type ChangeBus, type ChangeTransport } from './bus.ts';
import { DEFAULT_POLL_INTERVAL_MS, HistoryPoller, type HistoryReader } from './history-poller.ts';
import { DEFAULT_BACKOFF, type Backoff } from './keep-connected.ts';
import { PostgresTransport } from './postgres.ts';
import { RedisTransport } from './redis.ts';
import { DEFAULT_CHANNEL } from './wire.ts';

export { folderKey, originText } from './bus.ts';
export type {
  ChangeBus,
  ChangeListener,
  FolderChange,
  FolderRef,
  SubscribeOptions,
  SupersedeListener,
} from './bus.ts';
export type { HistoryChange, HistoryPage, HistoryReader } from './history-poller.ts';
export {
  WaitingRequests,
  type ClientConnection,
  type Wake,
  type WaitOptions,
  type Waiter,
} from './waiting.ts';

export type ChangeBusKind =
  /** One process, nothing else writes: subscribers hear what this process publishes. */
  | { kind: 'memory' }
  | { kind: 'postgres'; connectionString: string; channel?: string }
  /** redis://[[user]:password@]host[:port] */
  | { kind: 'redis'; url: string; channel?: string }
  | { kind: 'poll'; read: HistoryReader; intervalMs?: number };

export type ChangeBusOptions = ChangeBusKind & {
  /** Failures the bus recovers from (a lost connection, a throwing listener); default: a process warning. */
  onError?: (error: Error) => void;
  /** How this process's connections show in pg_stat_activity or CLIENT LIST; default 'airsync-push'. */
  connectionName?: string;
  /** Pauses between reconnection attempts. */
  backoff?: Backoff;
};

/**
 * Opens the bus; with a transport, resolves once it receives from other processes and rejects when
 * its first connection (or first history read) fails, so that a wrong address stops the server at
 * startup. Later failures are retried for as long as the bus is open.
 */
export async function createChangeBus(options: ChangeBusOptions): Promise<ChangeBus> {
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
  const bus = new LocalChangeBus(onError);
  const instanceId = randomUUID();
  const connectionName = options.connectionName ?? 'airsync-push';
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  let transport: ChangeTransport | undefined;
  switch (options.kind) {
    case 'memory':
      break;
    case 'postgres':
      transport = await PostgresTransport.start(
        instanceId,
        {
          connectionString: options.connectionString,
          channel: options.channel ?? DEFAULT_CHANNEL,
          connectionName,
          backoff,
        },
        bus.sink,
      );
      break;
    case 'redis':
      transport = await RedisTransport.start(
        instanceId,
        { url: options.url, channel: options.channel ?? DEFAULT_CHANNEL, connectionName, backoff },
        bus.sink,
      );
      break;
    case 'poll':
      transport = await HistoryPoller.start(
        { read: options.read, intervalMs: options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS },
        bus.sink,
      );
      break;
  }
  if (transport !== undefined) bus.attach(transport);
  return bus;
}

/**
 * The bus a server runs with: Redis when it has a URL for it; otherwise LISTEN/NOTIFY on its
 * PostgreSQL database; otherwise (SQLite) the history poller over `readHistory`. A tool that writes
 * to the store publishes on the bus of toolBusKindFor.
 */
export function changeBusKindFor(
  config: { database?: string; push: { bus?: string; channel: string; pollIntervalMs: number } },
  readHistory: HistoryReader,
): ChangeBusKind {
  const { bus, channel, pollIntervalMs } = config.push;
  if (bus !== undefined) return { kind: 'redis', url: bus, channel };
  if (config.database !== undefined) return { kind: 'postgres', connectionString: config.database, channel };
  return { kind: 'poll', read: readHistory, intervalMs: pollIntervalMs };
}

/**
 * The bus a tool that writes to the store (an import, the CLI) publishes on, so that the servers'
 * waiting requests hear of its changes: the servers' own on Redis or PostgreSQL. On SQLite the
 * servers find the changes in the history, and an in-process bus is all the tool needs.
 */
export function toolBusKindFor(config: {
  database?: string;
  push: { bus?: string; channel: string };
}): ChangeBusKind {
  const { bus, channel } = config.push;
  if (bus !== undefined) return { kind: 'redis', url: bus, channel };
  if (config.database !== undefined) return { kind: 'postgres', connectionString: config.database, channel };
  return { kind: 'memory' };
}
