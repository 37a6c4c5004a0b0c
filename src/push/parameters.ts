// The push parameters cached per device account (table push_parameters): read once per Ping or
// waiting Sync, written only when a request brings values other than the cached ones.

import type { Db } from '../state/db.ts';
import type { PushParametersTable } from './schema.ts';

export interface PushParameters {
  /** Seconds; null: no Ping gave one yet. */
  pingHeartbeat: number | null;
  /** ServerIds; null: no Ping gave a folder list yet. */
  pingFolders: string[] | null;
  /** Seconds the cached Sync request waits; null: it does not wait. */
  syncHeartbeat: number | null;
}

const NOTHING_CACHED: PushParameters = { pingHeartbeat: null, pingFolders: null, syncHeartbeat: null };

export async function readPushParameters(db: Db, account: number): Promise<PushParameters> {
  const row = await db
    .selectFrom('push_parameters')
    .selectAll()
    .where('account_id', '=', account)
    .executeTakeFirst();
  if (row === undefined) return NOTHING_CACHED;
  return {
    pingHeartbeat: row.ping_heartbeat,
    pingFolders: row.ping_folders === null ? null : (JSON.parse(row.ping_folders) as string[]),
    syncHeartbeat: row.sync_heartbeat,
  };
}

/** Stores the values given that differ from `cached` (what readPushParameters returned); no write when none does. */
export async function savePushParameters(
  db: Db,
  account: number,
  cached: PushParameters,
  values: Partial<PushParameters>,
): Promise<void> {
  const changed: Partial<Omit<PushParametersTable, 'account_id'>> = {};
  if (values.pingHeartbeat !== undefined && values.pingHeartbeat !== cached.pingHeartbeat) {
    changed.ping_heartbeat = values.pingHeartbeat;
  }
  if (values.pingFolders !== undefined) {
    const folders = values.pingFolders === null ? null : JSON.stringify(values.pingFolders);
    const before = cached.pingFolders === null ? null : JSON.stringify(cached.pingFolders);
    if (folders !== before) changed.ping_folders = folders;
  }
  if (values.syncHeartbeat !== undefined && values.syncHeartbeat !== cached.syncHeartbeat) {
    changed.sync_heartbeat = values.syncHeartbeat;
  }
  if (Object.keys(changed).length === 0) return;
  await db
    .insertInto('push_parameters')
    .values({
      ping_heartbeat: null,
      ping_folders: null,
      sync_heartbeat: null,
      ...changed,
      account_id: account,
    })
    .onConflict((conflict) => conflict.column('account_id').doUpdateSet(changed))
    .execute();
}
