// The items one device holds in one collection, as of one generation, and what a request changes in
// it. Rows are read as they stood at the base generation (the one the phone's key names: the current
// one, or the one before when it repeats a request whose answer it lost); the changes a request
// makes are kept here and written at the end in one transaction, in batches.
//
// A row's history covers one step back: `added_gen`, `removed_gen`, and `version_gen` with the
// version before it. Seen from generation b, a row exists when added_gen <= b and it was not removed
// by b, and its version is `previous_version` when `version_gen` is later than b.

import type { ItemWindow } from '../backends/contract.ts';
import { insertRows, type Db } from '../state/db.ts';
import { storedWindowEnd } from './filter.ts';
import type { SyncItemsTable } from './schema.ts';

/** Rows per multi-row statement: far below the parameter limits of SQLite and PostgreSQL. */
const CHUNK = 500;

/** Rows added by MoveItems belong to no generation: the device has them whatever answer it lost. */
export const TIMELESS_GENERATION = 0;

/** An item the device held before this request. */
export interface HeldItem {
  kind: 'held';
  serverId: string;
  itemId: string;
  /** The version the device has. */
  version: string;
  clientId: string | null;
}

/** A row this request adds; its ServerId is allocated when the request's changes are written. */
export interface NewItem {
  kind: 'new';
  serverId: string | undefined;
  itemId: string;
  version: string;
  window: ItemWindow | undefined;
  clientId: string | null;
}

type Row = SyncItemsTable;

const ITEM_COLUMNS = [
  'account_id',
  'collection_id',
  'server_id',
  'item_id',
  'version',
  'previous_version',
  'version_gen',
  'added_gen',
  'removed_gen',
  'window_end',
  'window_complete',
  'client_id',
] as const satisfies readonly (keyof Row)[];

export class ItemSet {
  /** Rows read so far, by ServerId and by backend id. */
  private readonly rows = new Map<string, Row>();
  private readonly rowsByItem = new Map<string, Row[]>();
  private readonly added: NewItem[] = [];
  private readonly addedByItem = new Map<string, NewItem>();
  /** Rows of generations after the base that this request takes over unchanged (a repeated Add). */
  private readonly reclaimed: Row[] = [];
  private readonly versions = new Map<
    string,
    { version: string; window: ItemWindow | undefined; byDevice: boolean }
  >();
  private readonly removed = new Set<string>();
  /** ServerIds of undone rows given to the same items again. */
  private readonly reused = new Set<string>();

  constructor(
    private readonly db: Db,
    readonly account: number,
    readonly collection: string,
    /** The generation the request starts from. */
    readonly base: number,
  ) {}

  // --- Reading --------------------------------------------------------------------------------------

  /** Loads the rows of these ServerIds (one query). */
  async loadServerIds(serverIds: readonly string[]): Promise<void> {
    for (const chunk of chunks([...new Set(serverIds)].filter((id) => !this.rows.has(id)))) {
      this.remember(await this.query().where('server_id', 'in', chunk).execute());
    }
  }

  /** Loads the rows of these backend ids (one query per chunk). */
  async loadItemIds(itemIds: readonly string[]): Promise<void> {
    for (const chunk of chunks([...new Set(itemIds)])) {
      this.remember(await this.query().where('item_id', 'in', chunk).execute());
    }
  }

  /** Loads the rows of Adds with these ClientIds, whatever generation they belong to. */
  async loadClientIds(clientIds: readonly string[]): Promise<void> {
    for (const chunk of chunks([...new Set(clientIds)])) {
      this.remember(await this.query().where('client_id', 'in', chunk).execute());
    }
  }

  /**
   * Items held that end before `endsAfter` (the FilterType window moved past them), at most `limit`:
   * one range scan of the window-end index.
   */
  async loadExpired(endsAfter: string, limit: number): Promise<HeldItem[]> {
    const rows = await this.query()
      .where('window_end', '<', endsAfter)
      .where('added_gen', '<=', this.base)
      .where((eb) => eb.or([eb('removed_gen', 'is', null), eb('removed_gen', '>', this.base)]))
      .orderBy('window_end')
      .limit(limit + this.removed.size)
      .execute();
    this.remember(rows);
    return rows.flatMap((row) => {
      const held = this.held(row);
      return held === undefined ? [] : [held];
    });
  }

  /** The item the device holds under this ServerId. */
  byServerId(serverId: string): HeldItem | undefined {
    const row = this.rows.get(serverId);
    return row === undefined ? undefined : this.held(row);
  }

  /** The item the device holds with this backend id, if it holds it; rows must be loaded. */
  byItemId(itemId: string): HeldItem | NewItem | undefined {
    for (const row of this.rowsByItem.get(itemId) ?? []) {
      const held = this.held(row);
      if (held !== undefined) return held;
    }
    return this.addedByItem.get(itemId);
  }

  /**
   * What an Add with this ClientId already became: the device holds it (it repeats an Add it sent
   * before), or a generation being undone made it (the answer was lost) and this request takes it over.
   */
  byClientId(clientId: string): HeldItem | undefined {
    for (const row of this.rows.values()) {
      if (row.client_id !== clientId || row.removed_gen !== null) continue;
      if (this.exists(row)) return this.held(row);
      if (row.added_gen > this.base && !this.reclaimed.includes(row)) {
        this.reclaimed.push(row);
        return { kind: 'held', serverId: row.server_id, itemId: row.item_id, version: row.version, clientId };
      }
    }
    return undefined;
  }

  // --- Changing -------------------------------------------------------------------------------------

  /**
   * A new item of the device. When a generation being undone had added the same item, it keeps the
   * ServerId it had there: the repeated answer is the lost one again.
   */
  add(item: Omit<NewItem, 'kind' | 'serverId'>): NewItem {
    const undone = (this.rowsByItem.get(item.itemId) ?? []).find(
      (row) => row.added_gen > this.base && row.client_id === null && !this.reused.has(row.server_id),
    );
    if (undone !== undefined) this.reused.add(undone.server_id);
    const added: NewItem = { ...item, kind: 'new', serverId: undone?.server_id };
    this.added.push(added);
    this.addedByItem.set(added.itemId, added);
    return added;
  }

  /** The device now has `version` of a held item; `byDevice`: the device made the change itself. */
  setVersion(
    item: HeldItem | NewItem,
    version: string,
    window: ItemWindow | undefined,
    byDevice: boolean,
  ): void {
    if (item.kind === 'new') {
      item.version = version;
      item.window = window;
      return;
    }
    this.versions.set(item.serverId, { version, window, byDevice });
  }

  remove(item: HeldItem | NewItem): void {
    if (item.kind === 'new') {
      this.added.splice(this.added.indexOf(item), 1);
      this.addedByItem.delete(item.itemId);
      return;
    }
    this.removed.add(item.serverId);
    this.versions.delete(item.serverId);
  }

  /** Whether the request changed what the device holds. */
  get changed(): boolean {
    return (
      this.added.length > 0 || this.reclaimed.length > 0 || this.versions.size > 0 || this.removed.size > 0
    );
  }

  /**
   * Writes the request's changes as generation `base + 1`, inside the caller's transaction: first
   * undoes whatever a generation after the base did (the answer the phone lost), then purges rows no
   * key can reach any more, then adds, changes and removes. `nextItem` hands out ServerId numbers.
   */
  async write(trx: Db, undo: boolean, nextItem: (count: number) => Promise<number>): Promise<void> {
    const generation = this.base + 1;
    const mine = () =>
      trx
        .updateTable('sync_items')
        .where('account_id', '=', this.account)
        .where('collection_id', '=', this.collection);
    if (undo) {
      await trx
        .deleteFrom('sync_items')
        .where('account_id', '=', this.account)
        .where('collection_id', '=', this.collection)
        .where('added_gen', '>', this.base)
        .execute();
      await mine().set({ removed_gen: null }).where('removed_gen', '>', this.base).execute();
      await mine()
        .set((eb) => ({ version: eb.fn.coalesce('previous_version', 'version'), version_gen: this.base }))
        .where('version_gen', '>', this.base)
        .execute();
    }
    await trx
      .deleteFrom('sync_items')
      .where('account_id', '=', this.account)
      .where('collection_id', '=', this.collection)
      .where('removed_gen', '<=', this.base)
      .execute();

    const fresh = this.added;
    const unnumbered = fresh.filter((item) => item.serverId === undefined);
    if (unnumbered.length > 0) {
      const end = await nextItem(unnumbered.length);
      unnumbered.forEach(
        (item, index) => (item.serverId = `${this.collection}:${end - unnumbered.length + index}`),
      );
    }
    const inserts = [
      ...this.reclaimed.map((row) => ({ ...row, added_gen: generation, version_gen: generation })),
      ...fresh.map((item) => ({
        account_id: this.account,
        collection_id: this.collection,
        server_id: item.serverId as string,
        item_id: item.itemId,
        version: item.version,
        previous_version: null,
        version_gen: generation,
        added_gen: generation,
        removed_gen: null,
        window_end: storedWindowEnd(item.window),
        window_complete: completeFlag(item.window),
        client_id: item.clientId,
      })),
    ];
    for (const chunk of chunks(inserts)) await insertRows<Row>(trx, 'sync_items', ITEM_COLUMNS, chunk);

    for (const [serverId, change] of this.versions) {
      const row = this.rows.get(serverId) as Row;
      await mine()
        .set({
          version: change.version,
          // The device's own change is not undone with its generation: a repeated request applies it
          // again, and the server must not take the device's own version for a conflicting one.
          previous_version: change.byDevice ? change.version : this.versionOf(row),
          version_gen: generation,
          window_end: storedWindowEnd(change.window),
          window_complete: completeFlag(change.window),
        })
        .where('server_id', '=', serverId)
        .execute();
    }
    for (const chunk of chunks([...this.removed])) {
      await mine().set({ removed_gen: generation }).where('server_id', 'in', chunk).execute();
    }
  }

  private query() {
    return this.db
      .selectFrom('sync_items')
      .selectAll()
      .where('account_id', '=', this.account)
      .where('collection_id', '=', this.collection);
  }

  private remember(rows: Row[]): void {
    for (const row of rows) {
      if (this.rows.has(row.server_id)) continue;
      this.rows.set(row.server_id, row);
      const sameItem = this.rowsByItem.get(row.item_id);
      if (sameItem === undefined) this.rowsByItem.set(row.item_id, [row]);
      else sameItem.push(row);
    }
  }

  /** The row as the device holds it now: at the base generation, with this request's changes. */
  private held(row: Row): HeldItem | undefined {
    if (this.removed.has(row.server_id)) return undefined;
    const reclaimed = this.reclaimed.includes(row);
    if (!reclaimed && !this.exists(row)) return undefined;
    const version =
      this.versions.get(row.server_id)?.version ?? (reclaimed ? row.version : this.versionOf(row));
    return { kind: 'held', serverId: row.server_id, itemId: row.item_id, version, clientId: row.client_id };
  }

  private exists(row: Row): boolean {
    return row.added_gen <= this.base && (row.removed_gen === null || row.removed_gen > this.base);
  }

  private versionOf(row: Row): string {
    return row.version_gen > this.base ? (row.previous_version ?? row.version) : row.version;
  }
}

function completeFlag(window: ItemWindow | undefined): number | null {
  return window?.complete === undefined ? null : window.complete ? 1 : 0;
}

function chunks<T>(values: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < values.length; start += CHUNK) result.push(values.slice(start, start + CHUNK));
  return result;
}
