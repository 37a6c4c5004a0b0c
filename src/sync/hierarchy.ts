// The folder hierarchy of one device account: FolderSync and the folder commands.
//
// Each backend folder gets a short ServerId from a per-account counter, never reused, and keeps it
// for good — also across a FolderSync with SyncKey 0, which reports every folder again as an Add
// under its old ServerId. A folder row remembers what the device was last told of the folder, so a
// FolderSync reports only what really changed, and which answer told it, so the previous key gets
// the same answer again. The hierarchy key is a counter; FolderCreate, FolderUpdate and FolderDelete
// advance it too and record their change as known to the device, so its next FolderSync does not
// repeat it.
//
// The backends are asked before any transaction opens: on SQLite the database has one connection,
// and a backend that writes to it from inside an engine transaction would wait for itself.

import type {
  Backend,
  ChangeOrigin,
  FolderOperationResult,
  FolderType,
  Owner,
} from '../backends/contract.ts';
import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import type { PimClass } from '../model/types.ts';
import type { Db } from '../state/db.ts';
import { userFolderClass, type Backends, type NamedFolder } from './backends.ts';
import type { KeyedMutex } from './mutex.ts';
import type { SyncFoldersTable } from './schema.ts';

/** How a folder row was last reported: to a FolderSync answer, or by the device's own folder command. */
type FolderReport = 'add' | 'update' | 'delete' | 'device';

/** ParentId of a folder at the top of the hierarchy. */
export const ROOT_PARENT_ID = '0';

/** Notes folders exist on the wire from EAS 14.0. */
const NOTES_VERSION: ProtocolVersion = '14.0';

export type FolderChange =
  | { kind: 'add' | 'update'; serverId: string; parentId: string; name: string; type: number }
  | { kind: 'delete'; serverId: string };

export type FolderSyncOutcome =
  { status: 'ok'; syncKey: number; changes: FolderChange[] } | { status: 'invalid-key' };

export type FolderCommandOutcome =
  | { status: 'ok'; syncKey: number; serverId: string }
  | { status: 'invalid-key' | 'not-found' | 'exists' | 'special' | 'parent-not-found' | 'invalid' };

/** A folder of the map, as the sync engine resolves a CollectionId. */
export interface MappedFolder {
  serverId: string;
  backend: Backend;
  folderId: string;
  pimClass: PimClass;
  type: number;
}

type FolderRow = SyncFoldersTable;

export class Hierarchy {
  constructor(
    private readonly db: Db,
    private readonly backends: Backends,
    private readonly mutex: KeyedMutex,
  ) {}

  /** FolderSync with `key` (0: start over). */
  folderSync(
    account: number,
    owner: Owner,
    key: number,
    version: ProtocolVersion,
  ): Promise<FolderSyncOutcome> {
    return this.mutex.run([hierarchyLock(account)], async () => {
      if (key === 0) return this.reset(account, await this.visibleFolders(owner, version));
      const current = await this.currentKey(account);
      if (current === 0 || (key !== current && key !== current - 1)) return { status: 'invalid-key' };
      if (key === current - 1)
        return { status: 'ok', syncKey: current, changes: await this.replay(account, current) };
      return this.update(account, current, await this.visibleFolders(owner, version));
    });
  }

  /** A live folder of the map by ServerId. */
  async resolve(account: number, serverId: string): Promise<MappedFolder | undefined> {
    const row = await this.db
      .selectFrom('sync_folders')
      .selectAll()
      .where('account_id', '=', account)
      .where('server_id', '=', serverId)
      .where('deleted', '=', 0)
      .executeTakeFirst();
    return row && this.mapped(row);
  }

  mapped(
    row: Pick<FolderRow, 'server_id' | 'backend' | 'folder_id' | 'class' | 'type'>,
  ): MappedFolder | undefined {
    const backend = this.backends.named(row.backend);
    if (backend === undefined) return undefined;
    return {
      serverId: row.server_id,
      backend,
      folderId: row.folder_id,
      pimClass: row.class as PimClass,
      type: row.type,
    };
  }

  /** The folders a GetHierarchy lists (it has no key): everything the backends serve at this version. */
  async allFolders(owner: Owner, version: ProtocolVersion): Promise<NamedFolder[]> {
    return this.visibleFolders(owner, version);
  }

  async createFolder(
    account: number,
    owner: Owner,
    request: { key: number; parentId: string; name: string; type: number; version: ProtocolVersion },
  ): Promise<FolderCommandOutcome> {
    return this.mutex.run([hierarchyLock(account)], async () => {
      if (!(await this.isCurrentKey(account, request.key))) return { status: 'invalid-key' };
      const pimClass = userFolderClass(request.type);
      if (
        pimClass === undefined ||
        (pimClass === 'Notes' && !isVersionAtLeast(request.version, NOTES_VERSION))
      ) {
        return { status: 'invalid' };
      }
      const parent = await this.parentOf(account, request.parentId);
      if (parent === null) return { status: 'parent-not-found' };
      const backend = parent?.backend ?? this.backends.forClass(pimClass);
      if (backend === undefined) return { status: 'invalid' };
      const result = await backend.createFolder(
        owner,
        parent?.folderId ?? null,
        request.name,
        // userFolderClass knew the type, so it is one of the user-created folder types.
        request.type as FolderType,
        origin(account),
      );
      return this.recordCommand(account, backend.name, result, parent?.serverId ?? null);
    });
  }

  async updateFolder(
    account: number,
    owner: Owner,
    request: { key: number; serverId: string; parentId: string; name: string },
  ): Promise<FolderCommandOutcome> {
    return this.mutex.run([hierarchyLock(account)], async () => {
      if (!(await this.isCurrentKey(account, request.key))) return { status: 'invalid-key' };
      const folder = await this.resolve(account, request.serverId);
      if (folder === undefined) return { status: 'not-found' };
      const parent = await this.parentOf(account, request.parentId);
      if (parent === null || (parent !== undefined && parent.backend !== folder.backend)) {
        return { status: 'parent-not-found' };
      }
      const result = await folder.backend.renameFolder(
        owner,
        folder.folderId,
        parent?.folderId ?? null,
        request.name,
        origin(account),
      );
      return this.recordCommand(account, folder.backend.name, result, parent?.serverId ?? null);
    });
  }

  async deleteFolder(
    account: number,
    owner: Owner,
    request: { key: number; serverId: string },
  ): Promise<FolderCommandOutcome> {
    return this.mutex.run([hierarchyLock(account)], async () => {
      if (!(await this.isCurrentKey(account, request.key))) return { status: 'invalid-key' };
      const folder = await this.resolve(account, request.serverId);
      if (folder === undefined) return { status: 'not-found' };
      const result = await folder.backend.deleteFolder(owner, folder.folderId, origin(account));
      if (result.status !== 'ok') return { status: result.status };
      const syncKey = await this.db.transaction().execute(async (trx) => {
        const next = await advanceKey(trx, account);
        await trx
          .updateTable('sync_folders')
          .set({ deleted: 1, reported_key: next, reported_as: 'device' satisfies FolderReport })
          .where('account_id', '=', account)
          .where('server_id', '=', folder.serverId)
          .execute();
        await trx
          .deleteFrom('sync_collections')
          .where('account_id', '=', account)
          .where('collection_id', '=', folder.serverId)
          .execute();
        return next;
      });
      return { status: 'ok', syncKey, serverId: folder.serverId };
    });
  }

  // --- FolderSync ----------------------------------------------------------------------------------

  private async visibleFolders(owner: Owner, version: ProtocolVersion): Promise<NamedFolder[]> {
    const lists = await Promise.all(
      this.backends.all.map(async (backend) =>
        (await backend.folders(owner)).map((folder) => ({ ...folder, backend: backend.name })),
      ),
    );
    const notes = isVersionAtLeast(version, NOTES_VERSION);
    return lists.flat().filter((folder) => notes || folder.dataClass !== 'Notes');
  }

  private async currentKey(account: number): Promise<number> {
    const row = await this.db
      .selectFrom('sync_hierarchy')
      .select('sync_key')
      .where('account_id', '=', account)
      .executeTakeFirst();
    return row?.sync_key ?? 0;
  }

  private async isCurrentKey(account: number, key: number): Promise<boolean> {
    const current = await this.currentKey(account);
    return current !== 0 && key === current;
  }

  /** undefined: the top; null: no such live folder. */
  private async parentOf(account: number, parentId: string): Promise<MappedFolder | undefined | null> {
    if (parentId === ROOT_PARENT_ID) return undefined;
    return (await this.resolve(account, parentId)) ?? null;
  }

  /** Key 0: every visible folder is reported as an Add under the ServerId it already has. */
  private async reset(account: number, folders: NamedFolder[]): Promise<FolderSyncOutcome> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sync_hierarchy')
        .values({ account_id: account, sync_key: 1, next_folder: 1 })
        .onConflict((conflict) => conflict.column('account_id').doUpdateSet({ sync_key: 1 }))
        .execute();
      const rows = await mapFolders(trx, account, folders);
      // Nothing of an earlier epoch is replayed: only what this answer reports carries its key.
      await trx
        .updateTable('sync_folders')
        .set({ reported_key: null, reported_as: null })
        .where('account_id', '=', account)
        .execute();
      const changes: FolderChange[] = [];
      const visible = new Set<string>();
      for (const folder of parentsFirst(folders)) {
        const row = rows.get(mapKey(folder.backend, folder.id)) as FolderRow;
        visible.add(row.server_id);
        const view = deviceView(folder, rows);
        changes.push(reported('add', row.server_id, view));
        await writeFolder(trx, account, row.server_id, {
          ...view,
          deleted: 0,
          reported_key: 1,
          reported_as: 'add',
        });
      }
      const gone = [...rows.values()].filter((row) => row.deleted === 0 && !visible.has(row.server_id));
      if (gone.length > 0) {
        await trx
          .updateTable('sync_folders')
          .set({ deleted: 1 })
          .where('account_id', '=', account)
          .where(
            'server_id',
            'in',
            gone.map((row) => row.server_id),
          )
          .execute();
      }
      return { status: 'ok' as const, syncKey: 1, changes };
    });
  }

  /** What the answer with key `current` reported, for a phone that lost it. */
  private async replay(account: number, current: number): Promise<FolderChange[]> {
    const rows = await this.db
      .selectFrom('sync_folders')
      .selectAll()
      .where('account_id', '=', account)
      .where('reported_key', '=', current)
      .where('reported_as', 'in', ['add', 'update', 'delete'])
      .execute();
    const ordered = parentsFirstRows(rows);
    return ordered.map((row) =>
      row.reported_as === 'delete'
        ? { kind: 'delete', serverId: row.server_id }
        : {
            kind: row.reported_as as 'add' | 'update',
            serverId: row.server_id,
            parentId: row.parent_id ?? ROOT_PARENT_ID,
            name: row.name,
            type: row.type,
          },
    );
  }

  /** What changed since the device's current key; no write when nothing did. */
  private async update(account: number, current: number, folders: NamedFolder[]): Promise<FolderSyncOutcome> {
    const existing = await this.db
      .selectFrom('sync_folders')
      .selectAll()
      .where('account_id', '=', account)
      .execute();
    const byBackendId = new Map(existing.map((row) => [mapKey(row.backend, row.folder_id), row]));
    const unmapped = folders.filter(
      (folder) => byBackendId.get(mapKey(folder.backend, folder.id))?.deleted !== 0,
    );
    const visible = new Set(folders.map((folder) => mapKey(folder.backend, folder.id)));
    const gone = existing.filter(
      (row) => row.deleted === 0 && !visible.has(mapKey(row.backend, row.folder_id)),
    );
    const changed = folders.filter((folder) => {
      const row = byBackendId.get(mapKey(folder.backend, folder.id));
      if (row === undefined || row.deleted !== 0) return false;
      const view = deviceView(folder, byBackendId);
      return row.name !== view.name || row.parent_id !== view.parent_id || row.type !== view.type;
    });
    if (unmapped.length === 0 && gone.length === 0 && changed.length === 0) {
      return { status: 'ok', syncKey: current, changes: [] };
    }

    return this.db.transaction().execute(async (trx) => {
      const next = current + 1;
      const advanced = await trx
        .updateTable('sync_hierarchy')
        .set({ sync_key: next })
        .where('account_id', '=', account)
        .where('sync_key', '=', current)
        .executeTakeFirst();
      // Another process answered this key first: this request now holds the previous key.
      if (advanced.numUpdatedRows === 0n) return { status: 'invalid-key' as const };
      const rows = await mapFolders(trx, account, unmapped, byBackendId);
      const changes: FolderChange[] = [];
      const added = new Set(unmapped.map((folder) => mapKey(folder.backend, folder.id)));
      for (const folder of parentsFirst([...unmapped, ...changed])) {
        const key = mapKey(folder.backend, folder.id);
        const row = rows.get(key) as FolderRow;
        const kind = added.has(key) ? 'add' : 'update';
        const view = deviceView(folder, rows);
        changes.push(reported(kind, row.server_id, view));
        await writeFolder(trx, account, row.server_id, {
          ...view,
          deleted: 0,
          reported_key: next,
          reported_as: kind,
        });
      }
      for (const row of gone) {
        changes.push({ kind: 'delete', serverId: row.server_id });
        await writeFolder(trx, account, row.server_id, {
          deleted: 1,
          reported_key: next,
          reported_as: 'delete',
        });
      }
      const goneIds = gone.map((row) => row.server_id);
      if (goneIds.length > 0) {
        await trx
          .deleteFrom('sync_collections')
          .where('account_id', '=', account)
          .where('collection_id', 'in', goneIds)
          .execute();
      }
      return { status: 'ok' as const, syncKey: next, changes };
    });
  }

  /** Records a folder command's success as known to the device, under a new hierarchy key. */
  private async recordCommand(
    account: number,
    backend: string,
    result: FolderOperationResult,
    parentServerId: string | null,
  ): Promise<FolderCommandOutcome> {
    if (result.status !== 'ok') return { status: result.status };
    const { folder } = result;
    return this.db.transaction().execute(async (trx) => {
      const next = await advanceKey(trx, account);
      const named = { ...folder, backend };
      const rows = await mapFolders(trx, account, [named]);
      const row = rows.get(mapKey(backend, folder.id)) as FolderRow;
      await writeFolder(trx, account, row.server_id, {
        parent_id: parentServerId,
        name: folder.name,
        type: folder.type,
        class: folder.dataClass,
        deleted: 0,
        reported_key: next,
        reported_as: 'device',
      });
      return { status: 'ok' as const, syncKey: next, serverId: row.server_id };
    });
  }
}

export function hierarchyLock(account: number): string {
  return `hierarchy:${account}`;
}

function origin(account: number): ChangeOrigin {
  return { account };
}

function mapKey(backend: string, folderId: string): string {
  return `${backend}\u0000${folderId}`;
}

/** What the device is told of a folder: ParentId as a ServerId (null at the top or under a hidden parent). */
function deviceView(folder: NamedFolder, rows: ReadonlyMap<string, FolderRow>) {
  const parent = folder.parentId === null ? undefined : rows.get(mapKey(folder.backend, folder.parentId));
  return {
    parent_id: parent !== undefined && parent.deleted === 0 ? parent.server_id : null,
    name: folder.name,
    type: folder.type,
    class: folder.dataClass,
  };
}

function reported(
  kind: 'add' | 'update',
  serverId: string,
  view: ReturnType<typeof deviceView>,
): FolderChange {
  return { kind, serverId, parentId: view.parent_id ?? ROOT_PARENT_ID, name: view.name, type: view.type };
}

async function advanceKey(trx: Db, account: number): Promise<number> {
  const row = await trx
    .updateTable('sync_hierarchy')
    .set((eb) => ({ sync_key: eb('sync_key', '+', 1) }))
    .where('account_id', '=', account)
    .returning('sync_key')
    .executeTakeFirstOrThrow();
  return row.sync_key;
}

async function writeFolder(
  trx: Db,
  account: number,
  serverId: string,
  values: Partial<FolderRow>,
): Promise<void> {
  await trx
    .updateTable('sync_folders')
    .set(values)
    .where('account_id', '=', account)
    .where('server_id', '=', serverId)
    .execute();
}

/**
 * Gives every folder a row, allocating ServerIds from the account's counter for those without one.
 * The map's unique constraint settles a race with another process: the row already there wins, and
 * the numbers allocated here are skipped (ServerIds are never reused, gaps are harmless).
 */
async function mapFolders(
  trx: Db,
  account: number,
  folders: readonly NamedFolder[],
  known: ReadonlyMap<string, FolderRow> = new Map(),
): Promise<Map<string, FolderRow>> {
  const rows = new Map(known);
  const missing = folders.filter((folder) => !rows.has(mapKey(folder.backend, folder.id)));
  if (missing.length > 0 || known.size === 0) {
    const existing = await trx
      .selectFrom('sync_folders')
      .selectAll()
      .where('account_id', '=', account)
      .execute();
    for (const row of existing) rows.set(mapKey(row.backend, row.folder_id), row);
  }
  const unallocated = folders.filter((folder) => !rows.has(mapKey(folder.backend, folder.id)));
  if (unallocated.length === 0) return rows;
  const { next_folder: end } = await trx
    .updateTable('sync_hierarchy')
    .set((eb) => ({ next_folder: eb('next_folder', '+', unallocated.length) }))
    .where('account_id', '=', account)
    .returning('next_folder')
    .executeTakeFirstOrThrow();
  const first = end - unallocated.length;
  await trx
    .insertInto('sync_folders')
    .values(
      unallocated.map((folder, index) => ({
        account_id: account,
        server_id: String(first + index),
        backend: folder.backend,
        folder_id: folder.id,
        parent_id: null,
        name: folder.name,
        type: folder.type,
        class: folder.dataClass,
        deleted: 0,
        reported_key: null,
        reported_as: null,
        next_item: 1,
      })),
    )
    .onConflict((conflict) => conflict.columns(['account_id', 'backend', 'folder_id']).doNothing())
    .execute();
  const inserted = await trx
    .selectFrom('sync_folders')
    .selectAll()
    .where('account_id', '=', account)
    .where(
      'folder_id',
      'in',
      unallocated.map((folder) => folder.id),
    )
    .execute();
  for (const row of inserted) rows.set(mapKey(row.backend, row.folder_id), row);
  return rows;
}

/** Folders ordered so that each parent comes before its children (phones add them in order). */
function parentsFirst(folders: readonly NamedFolder[]): NamedFolder[] {
  const ids = new Set(folders.map((folder) => mapKey(folder.backend, folder.id)));
  const depth = new Map<string, number>();
  const byKey = new Map(folders.map((folder) => [mapKey(folder.backend, folder.id), folder]));
  const depthOf = (folder: NamedFolder, seen = 0): number => {
    const key = mapKey(folder.backend, folder.id);
    const known = depth.get(key);
    if (known !== undefined) return known;
    const parentKey = folder.parentId === null ? undefined : mapKey(folder.backend, folder.parentId);
    const parent = parentKey !== undefined && ids.has(parentKey) ? byKey.get(parentKey) : undefined;
    // A cycle (a broken backend) must not recurse forever.
    const value = parent === undefined || seen > folders.length ? 0 : depthOf(parent, seen + 1) + 1;
    depth.set(key, value);
    return value;
  };
  return [...folders].sort((a, b) => depthOf(a) - depthOf(b));
}

function parentsFirstRows(rows: readonly FolderRow[]): FolderRow[] {
  const byId = new Map(rows.map((row) => [row.server_id, row]));
  const depthOf = (row: FolderRow, seen = 0): number => {
    const parent = row.parent_id === null ? undefined : byId.get(row.parent_id);
    return parent === undefined || seen > rows.length ? 0 : depthOf(parent, seen + 1) + 1;
  };
  const deletes = rows.filter((row) => row.reported_as === 'delete');
  const others = rows.filter((row) => row.reported_as !== 'delete').sort((a, b) => depthOf(a) - depthOf(b));
  return [...others, ...deletes];
}
