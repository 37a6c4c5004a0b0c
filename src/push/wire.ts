// What travels between processes (a PostgreSQL NOTIFY payload, a Redis message): JSON with the
// publishing process's instance id, so that the publisher can skip its own echo. A message is a
// change, or word that a device account now waits in the publishing process.

import type { FolderChange } from './bus.ts';

/** The default channel, on PostgreSQL and on Redis. */
export const DEFAULT_CHANNEL = 'airsync_changes';

export type BusMessage =
  | { kind: 'change'; change: FolderChange }
  /**
   * A request of this device account waits in the publishing process since `at` (ms since the
   * epoch): others end theirs if it is older.
   */
  | { kind: 'supersede'; account: number; at: number };

export interface ReceivedMessage {
  /** The instance id of the publishing bus. */
  source: string;
  message: BusMessage;
}

export function encodeMessage(source: string, message: BusMessage): string {
  if (message.kind === 'supersede') {
    return JSON.stringify({ source, supersede: message.account, at: message.at });
  }
  const { userId, backend, folderId, origin, hierarchy, seq } = message.change;
  return JSON.stringify({ source, userId, backend, folderId, origin, hierarchy, seq });
}

/** The message a payload carries; undefined for anything else that arrives on the channel. */
export function decodeMessage(payload: string): ReceivedMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const fields = value as Record<string, unknown>;
  if (typeof fields.source !== 'string') return undefined;
  if (fields.supersede !== undefined) {
    const { supersede: account, at } = fields;
    if (!Number.isSafeInteger(account) || !Number.isSafeInteger(at)) return undefined;
    return {
      source: fields.source,
      message: { kind: 'supersede', account: account as number, at: at as number },
    };
  }
  const change = decodeChange(fields);
  return change && { source: fields.source, message: { kind: 'change', change } };
}

function decodeChange(fields: Record<string, unknown>): FolderChange | undefined {
  const { userId, backend, folderId, origin, hierarchy, seq } = fields;
  if (!Number.isSafeInteger(userId)) return undefined;
  if (typeof backend !== 'string' || typeof folderId !== 'string') return undefined;
  if (origin !== undefined && typeof origin !== 'string') return undefined;
  if (hierarchy !== undefined && typeof hierarchy !== 'boolean') return undefined;
  if (seq !== undefined && !Number.isSafeInteger(seq)) return undefined;

  const change: FolderChange = { userId: userId as number, backend, folderId };
  if (origin !== undefined) change.origin = origin;
  if (hierarchy !== undefined) change.hierarchy = hierarchy;
  if (seq !== undefined) change.seq = seq as number;
  return change;
}
