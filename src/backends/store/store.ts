// The built-in PIM store: contacts, calendars, task lists and notes kept in the state database.
//
// A user has one default collection of each class (created on first use) and any number of others;
// their phones sync the defaults and the collections marked synced. Every change appends a row to
// the history table, whose sequence is the store's clock: an item carries the sequence of its last
// change, a deleted or moved-away item leaves a tombstone carrying the sequence of its removal, and
// a folder's changes since a cursor are one indexed query over both. Versions and cursors are those
// sequences as decimal strings. Writes are serialized per user (see write-transaction.ts), so a
// folder's sequences become visible in order and a cursor never skips a change.
//
// Besides the backend contract, the store has the administrative side the CLI, the web pages,
// import/export and tests use. Each method finds collections among the owner's own: another user's
// collection is reported exactly like one that does not exist.

import { sql } from 'kysely';
import type { PimClass, PimItem } from '../../model/types.ts';
import type { FolderChange } from '../../push/bus.ts';
import { preparedQuery, type Db } from '../../state/db.ts';
import { isUniqueViolation } from '../../state/dialect.ts';
import type {
  ApplyResult,
  Backend,
  BackendFolder,
  ChangeOrigin,
  ChangePage,
  FolderOperationResult,
  FolderType,
  ItemChange,
  ItemOperation,
  ItemWindow,
  Owner,
  StoredItem,
} from '../contract.ts';
import {
  PIM_CLASSES,
  checkName,
  classOfUserFolderType,
  defaultClasses,
  insertCollection,
  isVisible,
  ownedCollection,
  ownedCollections,
  subtreeOf,
  toFolder,
  visibleAncestors,
  type CollectionRow,
} from './collections.ts';
import {
  appendHistory,
  changeItem,
  deleteItem,
  insertItem,
  insertItems,
  moveItem,
  type AppendedHistory,
  type Executor,
  type PreparedItem,
} from './history.ts';
import type { HistoryKind } from './schema.ts';
import { writeTransaction } from './write-transaction.ts';

export { PIM_CLASSES } from './collections.ts';

/** An item's JSON may not be larger: a phone gets Status 'invalid' for it, an import an error. */
export const MAX_ITEM_BYTES = 8 * 1024 * 1024;

/** Items per page when listing a collection, and ids per query when fetching. */
const PAGE_SIZE = 500;

/**
 * The history kinds of changes to collections, exactly as the predicate of the index
 * pim_history_folders (migration 0004) lists them: both databases use a partial index only for a
 * query that repeats its predicate.
 */
export const FOLDER_HISTORY_KINDS: readonly HistoryKind[] = ['folder-add', 'folder-change', 'folder-delete'];

/** Who changes collections when the caller does not say: the operator's tools. */
const ADMIN_ORIGIN: ChangeOrigin = { tool: 'admin' };

/** A collection as the administrative side sees it. */
export interface Collection {
  id: number;
  pimClass: PimClass;
  name: string;
  /** null: at the top of the hierarchy. */
  parentId: number | null;
  isDefault: boolean;
  /** The user's phones sync it; always true for a default. */
  synced: boolean;
  /** ISO-8601 UTC. */
  createdAt: string;
  itemCount: number;
}

/** An item as export sees it: with the UID an import matches it by. */
export interface CollectionItem extends StoredItem {
  uid: string;
}

export interface PutResult {
  id: string;
  version: string;
  /** Whether the item is new, replaced one with its UID, or was already exactly this. */
  outcome: 'created' | 'updated' | 'unchanged';
}

/**
 * A refused request of the administrative side, or a folder a contract method names that the owner
 * does not have; the message is for the person who asked.
 */
export class StoreError extends Error {
  constructor(
    /** default: not possible for a default collection; ambiguous: a name that several collections have. */
    readonly code: 'not-found' | 'exists' | 'default' | 'invalid' | 'ambiguous',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface PimStoreOptions {
  /**
   * How far in time an item reaches, computed when it is written (the model's itemWindow). Without
   * one: no end, and a task's completion.
   */
  windowOf?: (item: PimItem) => ItemWindow;
  /**
   * Told of every committed change, once per folder, kind (its items, or the folder list) and
   * origin of a write: the change bus's publish. It must not throw.
   */
  onChange?: (change: FolderChange) => void;
}

/** The store's name among a server's backends, as its folders in the folder map carry it. */
export const STORE_BACKEND = 'store';

export class PimStore implements Backend {
  readonly name = STORE_BACKEND;
  readonly classes = PIM_CLASSES;

  private readonly windowOf: (item: PimItem) => ItemWindow;
  private readonly onChange: ((change: FolderChange) => void) | undefined;
  /**
   * Users whose default collections are known to exist. Safe to keep per process: defaults are never
   * deleted (only with their user), and a user id is never handed out again.
   */
  private readonly defaultsExist = new Set<number>();

  constructor(
    private readonly db: Db,
    options: PimStoreOptions = {},
  ) {
    this.windowOf = options.windowOf ?? completionOnly;
    this.onChange = options.onChange;
  }

  // ---- Collections -------------------------------------------------------------------------

  /** Creates the user's missing default collections; once per user for the life of the process. */
  async ensureDefaults(owner: Owner): Promise<void> {
    if (this.defaultsExist.has(owner.id)) return;
    if ((await defaultClasses(this.db, owner)).size < PIM_CLASSES.length) {
      try {
        await this.write(owner, async (trx) => {
          const existing = await defaultClasses(trx, owner);
          for (const pimClass of PIM_CLASSES.filter((name) => !existing.has(name))) {
            const row = { pimClass, name: pimClass, parentId: null, isDefault: true, synced: true };
            await insertCollection(trx, owner, row, { tool: 'store' });
          }
        });
      } catch (error) {
        // The unique index on defaults caught a writer that does not take the user's lock (a server
        // of an older version): it created them, which is all that was wanted.
        if (!isUniqueViolation(error)) throw error;
        if ((await defaultClasses(this.db, owner)).size < PIM_CLASSES.length) throw error;
      }
    }
    this.defaultsExist.add(owner.id);
  }

  /** Every collection of the user, by class (in PIM_CLASSES order), the default first, then by name. */
  async collections(owner: Owner): Promise<Collection[]> {
    await this.ensureDefaults(owner);
    const rows = await this.db
      .selectFrom('pim_collections as c')
      .leftJoin('pim_items as i', 'i.collection_id', 'c.id')
      .selectAll('c')
      .select(({ fn }) => fn.count<number | string>('i.id').as('item_count'))
      .where('c.user_id', '=', owner.id)
      .groupBy('c.id')
      .execute();
    return rows
      .map((row) => toCollection(row, Number(row.item_count)))
      .sort(
        (a, b) =>
          PIM_CLASSES.indexOf(a.pimClass) - PIM_CLASSES.indexOf(b.pimClass) ||
          Number(b.isDefault) - Number(a.isDefault) ||
          a.name.localeCompare(b.name) ||
          a.id - b.id,
      );
  }

  /**
   * The collection with this id, else the one with this name, exactly or else in any letter case.
   * StoreError('ambiguous') when several collections (of different classes or parents) share it.
   */
  async findCollection(owner: Owner, nameOrId: string): Promise<Collection | undefined> {
    const all = await this.collections(owner);
    const byId = /^\d+$/.test(nameOrId) ? all.find(({ id }) => id === Number(nameOrId)) : undefined;
    if (byId !== undefined) return byId;
    const exact = all.filter(({ name }) => name === nameOrId);
    const folded = nameOrId.toLowerCase();
    const matches = exact.length > 0 ? exact : all.filter(({ name }) => name.toLowerCase() === folded);
    if (matches.length > 1) {
      const ids = matches.map(({ id, pimClass }) => `${id} (${pimClass})`).join(', ');
      throw new StoreError('ambiguous', `${owner.name} has several collections named "${nameOrId}": ${ids}`);
    }
    return matches[0];
  }

  async createCollection(
    owner: Owner,
    pimClass: PimClass,
    name: string,
    options: { synced?: boolean; origin?: ChangeOrigin } = {},
  ): Promise<Collection> {
    if (!PIM_CLASSES.includes(pimClass)) {
      throw new StoreError(
        'invalid',
        `unknown class "${String(pimClass)}": one of ${PIM_CLASSES.join(', ')}`,
      );
    }
    const checked = checkName(name);
    if (typeof checked !== 'string') throw new StoreError('invalid', checked.reason);
    await this.ensureDefaults(owner);
    const row = {
      pimClass,
      name: checked,
      parentId: null,
      isDefault: false,
      synced: options.synced ?? false,
    };
    try {
      const created = await this.write(owner, (trx) =>
        insertCollection(trx, owner, row, options.origin ?? ADMIN_ORIGIN),
      );
      return toCollection(created, 0);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new StoreError('exists', `${owner.name} already has a ${pimClass} collection named "${checked}"`);
    }
  }

  /**
   * Whether the user's phones sync the collection; false when it already was as asked. A default
   * collection is always synced.
   */
  async setSynced(
    owner: Owner,
    collectionId: number,
    synced: boolean,
    origin: ChangeOrigin = ADMIN_ORIGIN,
  ): Promise<boolean> {
    await this.ensureDefaults(owner);
    return this.write(owner, async (trx) => {
      const collection = await ownedCollection(trx, owner, collectionId);
      if (collection === undefined) throw noSuchCollection(owner, collectionId);
      if (collection.is_default === 1 && !synced) {
        throw new StoreError(
          'default',
          `"${collection.name}" is ${owner.name}'s default ${collection.class} collection: phones always sync it`,
        );
      }
      if (collection.synced === Number(synced)) return false;
      await trx
        .updateTable('pim_collections')
        .set({ synced: Number(synced) })
        .where('id', '=', collection.id)
        .execute();
      await appendHistory(
        trx,
        owner,
        [{ collectionId: collection.id, itemId: null, kind: 'folder-change' }],
        origin,
      );
      return true;
    });
  }

  /**
   * The sequence of the newest change to any of the user's collections (created, renamed, moved,
   * removed, synced or not): when it moved, the folder list phones see may have changed.
   */
  async hierarchyVersion(owner: Owner): Promise<string> {
    await this.ensureDefaults(owner);
    const row = await this.db
      .selectFrom('pim_history')
      .select(({ fn }) => fn.max('seq').as('seq'))
      .where('user_id', '=', owner.id)
      .where('kind', 'in', FOLDER_HISTORY_KINDS)
      .executeTakeFirst();
    return String(row?.seq ?? 0);
  }

  // ---- Items, administratively -------------------------------------------------------------

  /**
   * Adds the item, or with a UID (given, or an event's own) updates the collection's item that has
   * it. An update to exactly the stored content writes nothing, so importing the same file again
   * makes phones download nothing.
   */
  async putItem(
    owner: Owner,
    collectionId: number,
    item: PimItem,
    origin: ChangeOrigin,
    options: { uid?: string } = {},
  ): Promise<PutResult> {
    const prepared = this.prepare(item, options.uid);
    if ('reason' in prepared) throw new StoreError('invalid', prepared.reason);
    return this.write(owner, async (trx) => {
      const collection = await writableCollection(trx, owner, collectionId, [prepared]);
      if (prepared.uid !== null) {
        const existing = await trx
          .selectFrom('pim_items')
          .select(['id', 'data', 'seq'])
          .where('collection_id', '=', collection.id)
          .where('uid', '=', prepared.uid)
          .orderBy('id')
          .limit(1)
          .executeTakeFirst();
        if (existing !== undefined) {
          if (existing.data === prepared.data) {
            return { id: String(existing.id), version: String(existing.seq), outcome: 'unchanged' };
          }
          const seq = await changeItem(trx, owner, collection.id, existing.id, prepared, origin);
          return { id: String(existing.id), version: String(seq), outcome: 'updated' };
        }
      }
      const added = await insertItem(trx, owner, collection.id, prepared, origin);
      return { id: String(added.id), version: String(added.seq), outcome: 'created' };
    });
  }

  /**
   * Adds many items in one transaction, with multi-row inserts; the ids in the order given. Nothing
   * is added when one item is refused (StoreError 'invalid').
   */
  async addItems(
    owner: Owner,
    collectionId: number,
    items: readonly PimItem[],
    origin: ChangeOrigin,
  ): Promise<string[]> {
    const prepared = items.map((item, index) => {
      const result = this.prepare(item);
      if ('reason' in result) throw new StoreError('invalid', `item ${index + 1}: ${result.reason}`);
      return result;
    });
    return this.write(owner, async (trx) => {
      const collection = await writableCollection(trx, owner, collectionId, prepared);
      const added = await insertItems(trx, owner, collection.id, prepared, origin);
      return added.map(({ id }) => String(id));
    });
  }

  /** The collection's items, oldest first, read a page at a time (no transaction stays open). */
  async *items(owner: Owner, collectionId: number): AsyncGenerator<CollectionItem> {
    const collection = await ownedCollection(this.db, owner, collectionId);
    if (collection === undefined) throw noSuchCollection(owner, collectionId);
    for (let after = 0; ;) {
      const rows = await this.db
        .selectFrom('pim_items')
        .select(['id', 'uid', 'data', 'seq'])
        .where('collection_id', '=', collection.id)
        .where('id', '>', after)
        .orderBy('id')
        .limit(PAGE_SIZE)
        .execute();
      for (const row of rows) {
        yield { id: String(row.id), version: String(row.seq), uid: row.uid, item: parseItem(row.data) };
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < PAGE_SIZE) return;
      after = last.id;
    }
  }

  /** False when the collection holds no such item. */
  async deleteItem(
    owner: Owner,
    collectionId: number,
    itemId: string,
    origin: ChangeOrigin,
  ): Promise<boolean> {
    const id = parseId(itemId);
    if (id === undefined) return false;
    return this.write(owner, async (trx) => {
      const collection = await ownedCollection(trx, owner, collectionId);
      if (collection === undefined) throw noSuchCollection(owner, collectionId);
      return (await deleteItem(trx, owner, collection.id, id, origin)) !== undefined;
    });
  }

  // ---- The backend contract: folders -------------------------------------------------------

  /**
   * The defaults and the synced collections, parents before children. A synced collection under one
   * that is not synced appears under its nearest synced ancestor, or at the top.
   */
  async folders(owner: Owner): Promise<BackendFolder[]> {
    await this.ensureDefaults(owner);
    const rows = await ownedCollections(this.db, owner);
    return rows
      .filter(isVisible)
      .map((row) => ({ row, ancestors: visibleAncestors(rows, row) }))
      .sort((a, b) => a.ancestors.length - b.ancestors.length || a.row.id - b.row.id)
      .map(({ row, ancestors }) => toFolder(row, ancestors[0] ?? null));
  }

  /** A folder a phone creates: of a user-created type (13, 14, 15, 17), and synced. */
  async createFolder(
    owner: Owner,
    parentId: string | null,
    name: string,
    type: FolderType,
    origin: ChangeOrigin,
  ): Promise<FolderOperationResult> {
    const pimClass = classOfUserFolderType(type);
    if (pimClass === undefined) {
      return { status: 'invalid', reason: `this store creates no folder of type ${type}` };
    }
    const checked = checkName(name);
    if (typeof checked !== 'string') return { status: 'invalid', reason: checked.reason };
    const parent = parentId === null ? null : parseId(parentId);
    if (parent === undefined) return { status: 'parent-not-found' };
    await this.ensureDefaults(owner);
    try {
      return await this.write(owner, async (trx): Promise<FolderOperationResult> => {
        if (parent !== null && (await ownedCollection(trx, owner, parent)) === undefined) {
          return { status: 'parent-not-found' };
        }
        const row = { pimClass, name: checked, parentId: parent, isDefault: false, synced: true };
        return { status: 'ok', folder: toFolder(await insertCollection(trx, owner, row, origin), parent) };
      });
    } catch (error) {
      if (isUniqueViolation(error)) return { status: 'exists' };
      throw error;
    }
  }

  /**
   * Renames a folder and puts it under `parentId` (null: the top). The parent is the one phones see:
   * a folder whose real parent is not synced stays under it while the phone names its visible one.
   */
  async renameFolder(
    owner: Owner,
    folderId: string,
    parentId: string | null,
    name: string,
    origin: ChangeOrigin,
  ): Promise<FolderOperationResult> {
    const id = parseId(folderId);
    if (id === undefined) return { status: 'not-found' };
    const checked = checkName(name);
    if (typeof checked !== 'string') return { status: 'invalid', reason: checked.reason };
    const visibleParent = parentId === null ? null : parseId(parentId);
    if (visibleParent === undefined) return { status: 'parent-not-found' };
    try {
      return await this.write(owner, async (trx): Promise<FolderOperationResult> => {
        const rows = await ownedCollections(trx, owner);
        const folder = rows.find((row) => row.id === id);
        if (folder === undefined) return { status: 'not-found' };
        if (folder.is_default === 1) return { status: 'special' };
        if (visibleParent !== null && !rows.some((row) => row.id === visibleParent)) {
          return { status: 'parent-not-found' };
        }
        if (visibleParent !== null && subtreeOf(rows, id).includes(visibleParent)) {
          return { status: 'invalid', reason: 'a folder cannot move under itself' };
        }
        const stays = visibleParent === (visibleAncestors(rows, folder)[0] ?? null);
        const parent = stays ? folder.parent_id : visibleParent;
        const renamed = { ...folder, name: checked, parent_id: parent };
        if (folder.name !== checked || folder.parent_id !== parent) {
          await trx
            .updateTable('pim_collections')
            .set({ name: checked, parent_id: parent })
            .where('id', '=', id)
            .execute();
          await appendHistory(
            trx,
            owner,
            [{ collectionId: id, itemId: null, kind: 'folder-change' }],
            origin,
          );
        }
        return { status: 'ok', folder: toFolder(renamed, visibleParent) };
      });
    } catch (error) {
      if (isUniqueViolation(error)) return { status: 'exists' };
      throw error;
    }
  }

  /** Deletes a folder with its subfolders and every item in them. */
  async deleteFolder(owner: Owner, folderId: string, origin: ChangeOrigin): Promise<FolderOperationResult> {
    const id = parseId(folderId);
    if (id === undefined) return { status: 'not-found' };
    return this.write(owner, async (trx): Promise<FolderOperationResult> => {
      const rows = await ownedCollections(trx, owner);
      const folder = rows.find((row) => row.id === id);
      if (folder === undefined) return { status: 'not-found' };
      if (folder.is_default === 1) return { status: 'special' };
      const removed = subtreeOf(rows, id);
      const entries = removed.map((collectionId) => ({
        collectionId,
        itemId: null,
        kind: 'folder-delete' as const,
      }));
      await appendHistory(trx, owner, entries, origin);
      // Items and tombstones go with their collection (ON DELETE CASCADE).
      await trx.deleteFrom('pim_collections').where('id', 'in', removed).execute();
      return { status: 'ok', folder: toFolder(folder, visibleAncestors(rows, folder)[0] ?? null) };
    });
  }

  // ---- The backend contract: changes and items ---------------------------------------------

  async changes(owner: Owner, folderId: string, since: string | null, limit: number): Promise<ChangePage> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`invalid limit ${limit}`);
    const collection = await this.folderOf(owner, folderId);
    const after = since === null ? null : checkCursor(since);
    // One more row than asked tells whether more follow.
    const rows =
      after === null
        ? await ITEMS.execute(this.db, { collection: collection.id, limit: limit + 1 })
        : await CHANGES_AFTER.execute(this.db, { collection: collection.id, after, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const changes = page.map((row): ItemChange =>
      Number(row.deleted) === 1
        ? { id: String(row.id), deleted: true, version: String(row.seq) }
        : { id: String(row.id), deleted: false, version: String(row.seq), window: windowOfRow(row) },
    );
    const last = page.at(-1);
    return {
      changes,
      cursor: last === undefined ? (since ?? '0') : String(last.seq),
      more: rows.length > limit,
    };
  }

  async cursor(owner: Owner, folderId: string): Promise<string> {
    const collection = await this.folderOf(owner, folderId);
    const latest = this.db
      .selectFrom('pim_items')
      .select(({ fn }) => fn.max('seq').as('seq'))
      .where('collection_id', '=', collection.id)
      .unionAll(
        this.db
          .selectFrom('pim_tombstones')
          .select(({ fn }) => fn.max('seq').as('seq'))
          .where('collection_id', '=', collection.id),
      )
      .as('latest');
    const row = await this.db
      .selectFrom(latest)
      .select(({ fn }) => fn.max('latest.seq').as('seq'))
      .executeTakeFirst();
    return String(row?.seq ?? 0);
  }

  async fetch(owner: Owner, folderId: string, ids: readonly string[]): Promise<StoredItem[]> {
    const collection = await this.folderOf(owner, folderId);
    const wanted = [...new Set(ids.map(parseId).filter((id) => id !== undefined))];
    const found: StoredItem[] = [];
    for (let start = 0; start < wanted.length; start += PAGE_SIZE) {
      const rows = await this.db
        .selectFrom('pim_items')
        .select(['id', 'seq', 'data'])
        .where('collection_id', '=', collection.id)
        .where('id', 'in', wanted.slice(start, start + PAGE_SIZE))
        .execute();
      for (const row of rows) {
        found.push({ id: String(row.id), version: String(row.seq), item: parseItem(row.data) });
      }
    }
    return found;
  }

  async apply(
    owner: Owner,
    folderId: string,
    operation: ItemOperation,
    origin: ChangeOrigin,
  ): Promise<ApplyResult> {
    const collectionId = parseId(folderId);
    const id = operation.kind === 'add' ? null : parseId(operation.id);
    if (collectionId === undefined || id === undefined) return { status: 'not-found' };
    if (operation.kind === 'delete') {
      return this.write(owner, async (trx): Promise<ApplyResult> => {
        const collection = await ownedCollection(trx, owner, collectionId);
        const seq =
          collection && id !== null ? await deleteItem(trx, owner, collection.id, id, origin) : undefined;
        return seq === undefined
          ? { status: 'not-found' }
          : { status: 'ok', id: operation.id, version: String(seq) };
      });
    }
    const prepared = this.prepare(operation.item);
    if ('reason' in prepared) return { status: 'invalid', reason: prepared.reason };
    return this.write(owner, async (trx): Promise<ApplyResult> => {
      const collection = await ownedCollection(trx, owner, collectionId);
      if (collection === undefined) return { status: 'not-found' };
      if (prepared.pimClass !== collection.class) {
        return { status: 'invalid', reason: wrongClass(prepared.pimClass, collection) };
      }
      if (id === null) {
        const added = await insertItem(trx, owner, collection.id, prepared, origin);
        return { status: 'ok', id: String(added.id), version: String(added.seq), window: prepared.window };
      }
      if ((await storedWindow(trx, collection.id, id)) === undefined) return { status: 'not-found' };
      const seq = await changeItem(trx, owner, collection.id, id, prepared, origin);
      return { status: 'ok', id: String(id), version: String(seq), window: prepared.window };
    });
  }

  /** Moves an item to another collection of the same class; it keeps its id. */
  async move(
    owner: Owner,
    fromFolderId: string,
    id: string,
    toFolderId: string,
    origin: ChangeOrigin,
  ): Promise<ApplyResult> {
    const [from, to, itemId] = [parseId(fromFolderId), parseId(toFolderId), parseId(id)];
    if (from === undefined || to === undefined || itemId === undefined) return { status: 'not-found' };
    if (from === to) return { status: 'invalid', reason: 'the item is in that folder already' };
    return this.write(owner, async (trx): Promise<ApplyResult> => {
      const source = await ownedCollection(trx, owner, from);
      const target = await ownedCollection(trx, owner, to);
      if (source === undefined || target === undefined) return { status: 'not-found' };
      if (source.class !== target.class)
        return { status: 'invalid', reason: wrongClass(source.class, target) };
      const window = await storedWindow(trx, source.id, itemId);
      if (window === undefined) return { status: 'not-found' };
      const seq = await moveItem(trx, owner, source.id, target.id, itemId, origin);
      return { status: 'ok', id, version: String(seq), window };
    });
  }

  // ---- Shared by the methods above -----------------------------------------------------------

  /** A write transaction of the owner's data; once it commits, what it changed is announced. */
  private write<T>(owner: Owner, work: (trx: Executor) => Promise<T>): Promise<T> {
    const onChange = this.onChange;
    return writeTransaction(
      this.db,
      owner.id,
      work,
      onChange && ((appended) => announce(owner, this.name, appended, onChange)),
    );
  }

  /** The item's JSON, UID and window, or why it cannot be stored. */
  private prepare(item: PimItem, uid?: string): PreparedItem | { reason: string } {
    const data = JSON.stringify(item);
    const bytes = Buffer.byteLength(data);
    if (bytes > MAX_ITEM_BYTES) {
      return { reason: `the item is ${bytes} bytes, more than the ${MAX_ITEM_BYTES} a store item may have` };
    }
    const ownUid = item.class === 'Calendar' ? item.data.uid : undefined;
    return { pimClass: item.class, data, uid: uid ?? ownUid ?? null, window: this.windowOf(item) };
  }

  /** The owner's collection a contract method names; a missing one is an error the engine reports. */
  private async folderOf(owner: Owner, folderId: string): Promise<CollectionRow> {
    const id = parseId(folderId);
    const collection = id === undefined ? undefined : await ownedCollection(this.db, owner, id);
    // A collection the user stopped syncing is gone for phones, also for one that has not run
    // FolderSync since: the engine answers it as a vanished folder (Status 12).
    if (collection === undefined || !isVisible(collection))
      throw new StoreError('not-found', `${owner.name} has no folder ${folderId} that phones sync`);
    return collection;
  }
}

// ---- Helpers -----------------------------------------------------------------------------------

/** A folder's live items in sequence order, as changes. */
function liveItems(db: Db, collection: number) {
  return db
    .selectFrom('pim_items')
    .select(['id', 'seq', sql<number>`0`.as('deleted'), 'window_end', 'complete'])
    .where('collection_id', '=', collection);
}

// Every Sync reads changes: its queries are built once.
const ITEMS = preparedQuery((db, page: { collection: number; limit: number }) =>
  liveItems(db, page.collection).orderBy('seq').limit(page.limit),
);

/** Live items and tombstones after a cursor: two range scans of (collection_id, seq) merged. */
const CHANGES_AFTER = preparedQuery((db, page: { collection: number; after: string; limit: number }) =>
  liveItems(db, page.collection)
    .where('seq', '>', page.after)
    .unionAll(
      db
        .selectFrom('pim_tombstones')
        .select([
          'item_id as id',
          'seq',
          sql<number>`1`.as('deleted'),
          sql<string | null>`null`.as('window_end'),
          sql<number | null>`null`.as('complete'),
        ])
        .where('collection_id', '=', page.collection)
        .where('seq', '>', page.after),
    )
    .orderBy('seq')
    .limit(page.limit),
);

/** One change per folder, kind and origin of what a write appended, with its highest sequence. */
function announce(
  owner: Owner,
  backend: string,
  appended: readonly AppendedHistory[],
  onChange: (change: FolderChange) => void,
): void {
  const changes = new Map<string, FolderChange>();
  for (const row of appended) {
    const hierarchy = FOLDER_HISTORY_KINDS.includes(row.kind);
    const seq = Number(row.seq);
    const key = `${row.collectionId}\n${hierarchy}\n${row.origin}`;
    const known = changes.get(key);
    if (known !== undefined && (known.seq ?? 0) >= seq) continue;
    changes.set(key, {
      userId: owner.id,
      backend,
      folderId: String(row.collectionId),
      origin: row.origin,
      hierarchy,
      seq,
    });
  }
  for (const change of changes.values()) onChange(change);
}

/** The default window: no end in time, and for a task, whether it is complete. */
function completionOnly(item: PimItem): ItemWindow {
  return item.class === 'Tasks' ? { end: null, complete: item.data.complete === true } : { end: null };
}

function windowOfRow(row: { window_end: string | null; complete: number | null }): ItemWindow {
  return row.complete === null
    ? { end: row.window_end }
    : { end: row.window_end, complete: row.complete === 1 };
}

/** The owner's collection, checked to be of the items' class. */
async function writableCollection(
  trx: Executor,
  owner: Owner,
  collectionId: number,
  items: readonly PreparedItem[],
): Promise<CollectionRow> {
  const collection = await ownedCollection(trx, owner, collectionId);
  if (collection === undefined) throw noSuchCollection(owner, collectionId);
  const misfit = items.find(({ pimClass }) => pimClass !== collection.class);
  if (misfit !== undefined) throw new StoreError('invalid', wrongClass(misfit.pimClass, collection));
  return collection;
}

/** The window of an item the collection holds; undefined when it holds no such item. */
async function storedWindow(
  trx: Executor,
  collectionId: number,
  id: number,
): Promise<ItemWindow | undefined> {
  const row = await trx
    .selectFrom('pim_items')
    .select(['window_end', 'complete'])
    .where('id', '=', id)
    .where('collection_id', '=', collectionId)
    .executeTakeFirst();
  return row && windowOfRow(row);
}

function toCollection(row: CollectionRow, itemCount: number): Collection {
  return {
    id: row.id,
    pimClass: row.class,
    name: row.name,
    parentId: row.parent_id,
    isDefault: row.is_default === 1,
    synced: isVisible(row),
    createdAt: row.created_at,
    itemCount,
  };
}

/** A positive integer id as the store hands them out; undefined for anything else. */
function parseId(text: string): number | undefined {
  if (!/^[1-9]\d{0,9}$/.test(text)) return undefined;
  const id = Number(text);
  return id <= 0x7fffffff ? id : undefined;
}

/** A cursor as the store hands them out: a sequence as decimal digits. */
function checkCursor(cursor: string): string {
  if (!/^\d{1,19}$/.test(cursor)) throw new RangeError(`invalid store cursor "${cursor}"`);
  return cursor;
}

function parseItem(data: string): PimItem {
  return JSON.parse(data) as PimItem;
}

function wrongClass(pimClass: PimClass, collection: CollectionRow): string {
  return `a ${pimClass} item does not belong in ${collection.name}, a ${collection.class} folder`;
}

function noSuchCollection(owner: Owner, collectionId: number): StoreError {
  return new StoreError('not-found', `${owner.name} has no collection ${collectionId}`);
}
