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
export type { ChangeBus, ChangeListener, FolderChange, FolderRef, SubscribeOptions } from './bus.ts';
export type { HistoryChange, HistoryPage, HistoryReader } from './history-poller.ts';

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
 * to a PostgreSQL database (an import) opens the same bus and publishes its changes; on SQLite the
 * servers' pollers find them in the history.
 */
export function changeBusKindFor(
  config: { database?: string; redisUrl?: string; pollIntervalMs?: number },
  readHistory: HistoryReader,
): ChangeBusKind {
  if (config.redisUrl !== undefined) return { kind: 'redis', url: config.redisUrl };
  if (config.database !== undefined) return { kind: 'postgres', connectionString: config.database };
  return { kind: 'poll', read: readHistory, intervalMs: config.pollIntervalMs };
}
