// Collection SyncKeys. On the wire a key is opaque; here it is `{epoch}:{n}`: the epoch is random per
// SyncKey 0, so a key from before a reset (or from another collection) never matches, and n counts
// the answers since. The server keeps generation n and n-1, so a phone that lost an answer and sends
// its previous key again gets the same answer.

import { randomBytes } from 'node:crypto';

export interface SyncKey {
  epoch: string;
  generation: number;
}

/** What a phone sends to start over. */
export const INITIAL_SYNC_KEY = '0';

const KEY = /^([0-9a-f]{8}):([1-9][0-9]{0,8})$/;

export function newEpoch(): string {
  return randomBytes(4).toString('hex');
}

export function formatSyncKey(key: SyncKey): string {
  return `${key.epoch}:${key.generation}`;
}

/** The key a phone sent; undefined for anything this server never handed out (also '0'). */
export function parseSyncKey(text: string): SyncKey | undefined {
  const match = KEY.exec(text);
  if (match === null) return undefined;
  return { epoch: match[1] as string, generation: Number(match[2]) };
}

/** A hierarchy key: a plain counter, `0` to start over. */
export function parseHierarchyKey(text: string | undefined): number | undefined {
  if (text === undefined || !/^(0|[1-9][0-9]{0,8})$/.test(text)) return undefined;
  return Number(text);
}
