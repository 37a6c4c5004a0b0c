// A change as it travels between processes (a PostgreSQL NOTIFY payload, a Redis message): JSON
// with the publishing process's instance id, so that the publisher can skip its own echo.

import type { FolderChange } from './bus.ts';

/** The default channel, on PostgreSQL and on Redis. */
export const DEFAULT_CHANNEL = 'airsync_changes';

export interface ReceivedChange {
  /** The instance id of the publishing bus. */
  source: string;
  change: FolderChange;
}

export function encodeChange(source: string, change: FolderChange): string {
  const { userId, backend, folderId, origin, hierarchy, seq } = change;
  return JSON.stringify({ source, userId, backend, folderId, origin, hierarchy, seq });
}

/** The change a payload carries; undefined for anything else that arrives on the channel. */
export function decodeChange(payload: string): ReceivedChange | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { source, userId, backend, folderId, origin, hierarchy, seq } = value as Record<string, unknown>;
  if (typeof source !== 'string' || !Number.isSafeInteger(userId)) return undefined;
  if (typeof backend !== 'string' || typeof folderId !== 'string') return undefined;
  if (origin !== undefined && typeof origin !== 'string') return undefined;
  if (hierarchy !== undefined && typeof hierarchy !== 'boolean') return undefined;
  if (seq !== undefined && !Number.isSafeInteger(seq)) return undefined;

  const change: FolderChange = { userId: userId as number, backend, folderId };
  if (origin !== undefined) change.origin = origin;
  if (hierarchy !== undefined) change.hierarchy = hierarchy;
  if (seq !== undefined) change.seq = seq as number;
  return { source, change };
}
