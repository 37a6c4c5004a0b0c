// What a request about to wait (a Ping) asks before it waits: are the folders it names in the device's
// hierarchy, has that hierarchy changed since the device's last FolderSync, and does any folder hold
// changes the device has not synced yet. Each answer is a few indexed queries, asked once per request;
// after that the change bus wakes the request, and nothing is asked again while it waits.

import type { Owner } from '../backends/contract.ts';
import type { ProtocolVersion } from '../http/query.ts';
import type { Db } from '../state/db.ts';
import type { CollectionState, SyncEngine } from './engine.ts';
import type { MappedFolder } from './hierarchy.ts';

/** A folder a request watches, with the sync state of its collection on the device account. */
export interface WatchedFolder extends MappedFolder {
  state: CollectionState;
}

/**
 * The live folders of the account's map with these ServerIds, from `states` (SyncEngine.collections);
 * undefined when one of them is not, or no longer, in it: the device's hierarchy is out of date.
 */
export function watchedFolders(
  engine: SyncEngine,
  states: ReadonlyMap<string, CollectionState>,
  serverIds: readonly string[],
): WatchedFolder[] | undefined {
  const folders: WatchedFolder[] = [];
  for (const serverId of serverIds) {
    const state = states.get(serverId);
    const folder =
      state === undefined || state.folder.deleted !== 0 ? undefined : engine.hierarchy.mapped(state.folder);
    if (state === undefined || folder === undefined) return undefined;
    folders.push({ ...folder, state });
  }
  return folders;
}

/**
 * The ServerIds of the folders with changes the device has not synced (MS-ASCMD 3.1.5.8: as of the
 * last SyncKey it was given): a folder it never synced, or synced only to key 1, and one whose backend
 * cursor moved past the collection's. One query per folder, at most one connection at a time.
 */
export async function foldersWithChanges(owner: Owner, folders: readonly WatchedFolder[]): Promise<string[]> {
  const changed: string[] = [];
  for (const folder of folders) {
    const cursor = folder.state.collection?.cursor ?? null;
    if (cursor === null || (await folder.backend.cursor(owner, folder.folderId)) !== cursor) {
      changed.push(folder.serverId);
    }
  }
  return changed;
}

/**
 * Whether a FolderSync would report anything to the device account: it never ran one, or a folder was
 * added, removed, renamed or moved since. The same comparison FolderSync makes, without writing.
 */
export async function hierarchyChanged(
  db: Db,
  engine: SyncEngine,
  account: number,
  owner: Owner,
  version: ProtocolVersion,
): Promise<boolean> {
  const hierarchy = await db
    .selectFrom('sync_hierarchy')
    .select('sync_key')
    .where('account_id', '=', account)
    .executeTakeFirst();
  if (hierarchy === undefined || hierarchy.sync_key === 0) return true;
  const rows = await db
    .selectFrom('sync_folders')
    .select(['server_id', 'backend', 'folder_id', 'parent_id', 'name', 'type', 'deleted'])
    .where('account_id', '=', account)
    .execute();
  const folders = await engine.hierarchy.allFolders(owner, version);

  const key = (backend: string, folderId: string) => `${backend}\u0000${folderId}`;
  const rowOf = new Map(rows.map((row) => [key(row.backend, row.folder_id), row]));
  const visible = new Set<string>();
  for (const folder of folders) {
    visible.add(key(folder.backend, folder.id));
    const row = rowOf.get(key(folder.backend, folder.id));
    if (row === undefined || row.deleted !== 0) return true;
    const parent = folder.parentId === null ? undefined : rowOf.get(key(folder.backend, folder.parentId));
    // A parent the device was never given counts as the top, as FolderSync reports it.
    const parentId = parent !== undefined && parent.deleted === 0 ? parent.server_id : null;
    if (row.name !== folder.name || row.type !== folder.type || row.parent_id !== parentId) return true;
  }
  return rows.some((row) => row.deleted === 0 && !visible.has(key(row.backend, row.folder_id)));
}
