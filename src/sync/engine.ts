// The sync engine: what a Sync, GetItemEstimate, MoveItems and ItemOperations Fetch do to a device's
// state, independent of the wire format (the command modules parse and encode; a WireCodec turns
// items into ApplicationData and back).
//
// One collection of one Sync request goes like this:
//   1. its key is checked: the current key, or the one before (the phone lost the answer: the
//      request is processed again from the state before it, so it gets the same answer — same
//      server changes, same ServerIds for its Adds, which are never applied twice);
//   2. the phone's Adds, Changes, Deletes and Fetches are applied to the backend one by one (one
//      bad item gets its own Status, the rest applies); each resulting version is recorded, so the
//      change is not echoed back as a server change;
//   3. the backend's changes after the cursor are read page by page until the window is full,
//      matched against the items the device holds, and become Add, Change, Delete or SoftDelete;
//   4. everything is written in one transaction, guarded by the generation it started from.
// When nothing changed, nothing is written and the key stays: an idle phone's Sync is a few reads.
//
// The backend is never called inside a transaction of the engine: on SQLite the database has one
// connection, and a backend writing to it from inside one would wait for itself. Instead, requests of
// one device for one collection run one at a time in this process (KeyedMutex), and the commit checks
// that the collection is still at the generation it read (optimistic concurrency across processes).

import type { ItemChange, ItemWindow, Owner, StoredItem } from '../backends/contract.ts';
import { ItemError, type BodyPreference } from '../model/codec.ts';
import { itemWindow, mergeItem } from '../model/index.ts';
import type { PimClass, PimItem } from '../model/types.ts';
import type { ProtocolVersion } from '../http/query.ts';
import { preparedQuery, type Db } from '../state/db.ts';
import type { WbxmlElement } from '../wbxml/tree.ts';
import type { Backends } from './backends.ts';
import { isFilterTypeValid, isInWindow, itemFilter, type ItemFilter } from './filter.ts';
import { Hierarchy, type MappedFolder } from './hierarchy.ts';
import { changeOccurrence, deleteOccurrence } from './occurrences.ts';
import { ItemSet, TIMELESS_GENERATION, type HeldItem, type NewItem } from './item-set.ts';
import { formatSyncKey, INITIAL_SYNC_KEY, newEpoch, parseSyncKey } from './keys.ts';
import { KeyedMutex } from './mutex.ts';
import type { SyncCollectionsTable, SyncFoldersTable } from './schema.ts';
import { hasVersion } from './versions.ts';

/** Sync Status values (MS-ASCMD 2.2.3.177.16) the engine answers. */
export const SyncStatus = {
  Success: 1,
  InvalidSyncKey: 3,
  ProtocolError: 4,
  ServerError: 5,
  ConversionError: 6,
  Conflict: 7,
  ObjectNotFound: 8,
  HierarchyChanged: 12,
  IncompleteRequest: 13,
  Retry: 16,
} as const;
export type SyncStatus = (typeof SyncStatus)[keyof typeof SyncStatus];

export const DEFAULT_WINDOW_SIZE = 100;
export const MAX_WINDOW_SIZE = 512;
/** Conflict 1: the server's version wins (the default); 0: the client's. */
const SERVER_WINS = 1;
/** Backend changes read at least this many at a time, even when the window has less room left. */
const MIN_PAGE = 32;
/** GetItemEstimate counts pending changes up to this many. */
const ESTIMATE_LIMIT = 10_000;

/** Who asks: the device account, the user whose data it is, the protocol version in use. */
export interface SyncSession {
  account: number;
  owner: Owner;
  version: ProtocolVersion;
}

/** The options a phone sets per collection; remembered until it sends others. */
export interface CollectionOptions {
  filterType: number;
  conflict: number;
  bodyPreferences: readonly BodyPreference[] | undefined;
  /** 2.5 Truncation. */
  truncation: number | undefined;
  mimeSupport: number;
}

export const DEFAULT_OPTIONS: CollectionOptions = {
  filterType: 0,
  conflict: SERVER_WINS,
  bodyPreferences: undefined,
  truncation: undefined,
  mimeSupport: 0,
};

/** The wire side of items: the command module's codec for this request. */
export interface WireCodec {
  /** The model of an ApplicationData the phone sent; throws ItemError when it cannot be accepted. */
  decode(pimClass: PimClass, applicationData: WbxmlElement): PimItem;
  /** The children of ApplicationData for an item, with the collection's options. */
  encode(item: PimItem, options: CollectionOptions): WbxmlElement[];
}

export type ClientCommand =
  | { kind: 'add'; clientId: string; applicationData: WbxmlElement }
  | { kind: 'change'; serverId: string; applicationData: WbxmlElement; instanceId?: string }
  | { kind: 'delete'; serverId: string; instanceId?: string }
  | { kind: 'fetch'; serverId: string };

export interface CollectionRequest {
  collectionId: string;
  syncKey: string;
  /** 2.5: the Class the phone names the collection with. */
  className?: string;
  /** Absent: as the key says (changes unless the key is 0). */
  getChanges?: boolean;
  windowSize?: number;
  /** Absent: the remembered options. */
  options?: CollectionOptions;
  /** Supported (sent with key 0): the `Namespace:Name`s the phone manages. */
  supported?: readonly string[];
  commands: readonly ClientCommand[];
}

export type ClientResponse =
  | { kind: 'add'; clientId: string; serverId?: string; status: SyncStatus }
  | { kind: 'change' | 'delete'; serverId: string; status: SyncStatus }
  | { kind: 'fetch'; serverId: string; status: SyncStatus; data?: WbxmlElement[] };

export type ServerCommand =
  | { kind: 'add' | 'change'; serverId: string; data: WbxmlElement[] }
  | { kind: 'delete' | 'soft-delete'; serverId: string };

export interface CollectionResult {
  collectionId: string;
  status: SyncStatus;
  /** Absent when the status is a failure that has none to give. */
  syncKey?: string;
  pimClass?: PimClass;
  responses: ClientResponse[];
  commands: ServerCommand[];
  moreAvailable: boolean;
  /** Why the status is not 1, for the log. */
  reason?: string;
}

/** A folder of the account's map with its collection state, when it has one. */
export interface CollectionState {
  folder: Pick<SyncFoldersTable, 'server_id' | 'backend' | 'folder_id' | 'class' | 'type' | 'deleted'>;
  collection: SyncCollectionsTable | undefined;
}

export type EstimateOutcome =
  | { status: 'ok'; estimate: number; pimClass: PimClass }
  | { status: 'invalid-collection' | 'not-primed' | 'invalid-key' };

export type MoveOutcome =
  | { status: 'ok'; serverId: string }
  | { status: 'invalid-source' | 'invalid-destination' | 'same-folder' | 'other-class' | 'retry' };

export type FetchOutcome =
  { status: 'ok'; item: PimItem; pimClass: PimClass } | { status: 'not-found' | 'invalid-collection' };

/** The commit found the collection moved on under this request (another process answered it). */
class StateMoved extends Error {}

export class SyncEngine {
  readonly hierarchy: Hierarchy;
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly db: Db,
    readonly backends: Backends,
    /** Where failures of a backend are reported; they become Status 5 for the phone. */
    private readonly onError: (error: unknown, context: string) => void = () => {},
    /** Now, for the FilterType window. */
    private readonly now: () => Date = () => new Date(),
  ) {
    this.hierarchy = new Hierarchy(db, backends, this.mutex);
  }

  /** Every folder of the account's map with its collection state: one query. */
  async collections(account: number): Promise<Map<string, CollectionState>> {
    const rows = await COLLECTION_STATES.execute(this.db, { account });
    return new Map(
      rows.map((row) => [
        row.server_id,
        {
          folder: row,
          collection:
            row.epoch === null
              ? undefined
              : {
                  account_id: account,
                  collection_id: row.server_id,
                  epoch: row.epoch,
                  generation: row.generation as number,
                  cursor: row.cursor,
                  previous_cursor: row.previous_cursor,
                  filter_type: row.filter_type as number,
                  conflict: row.conflict as number,
                  body_preferences: row.body_preferences,
                  truncation: row.truncation,
                  mime_support: row.mime_support as number,
                  supported: row.supported,
                  window_size: row.window_size,
                  requested: row.requested as number,
                },
        },
      ]),
    );
  }

  /** The options remembered for a collection. */
  static optionsOf(collection: SyncCollectionsTable | undefined): CollectionOptions {
    if (collection === undefined) return DEFAULT_OPTIONS;
    return {
      filterType: collection.filter_type,
      conflict: collection.conflict,
      bodyPreferences:
        collection.body_preferences === null
          ? undefined
          : (JSON.parse(collection.body_preferences) as BodyPreference[]),
      truncation: collection.truncation ?? undefined,
      mimeSupport: collection.mime_support,
    };
  }

  /** Marks which collections the last full Sync named (an empty or partial Sync repeats them). */
  async rememberRequested(
    account: number,
    states: ReadonlyMap<string, CollectionState>,
    named: ReadonlySet<string>,
    partial: boolean,
  ): Promise<void> {
    const toSet: string[] = [];
    const toClear: string[] = [];
    for (const [id, state] of states) {
      if (state.collection === undefined) continue;
      const wanted = named.has(id) || (partial && state.collection.requested === 1);
      if (wanted && state.collection.requested !== 1) toSet.push(id);
      if (!wanted && state.collection.requested === 1) toClear.push(id);
    }
    for (const [ids, requested] of [
      [toSet, 1],
      [toClear, 0],
    ] as const) {
      if (ids.length === 0) continue;
      await this.db
        .updateTable('sync_collections')
        .set({ requested })
        .where('account_id', '=', account)
        .where('collection_id', 'in', ids)
        .execute();
    }
  }

  /**
   * One collection of a Sync. `room` is what the request's overall window leaves for this
   * collection's server changes.
   */
  async sync(
    session: SyncSession,
    state: CollectionState | undefined,
    request: CollectionRequest,
    room: number,
    codec: WireCodec,
  ): Promise<CollectionResult> {
    const failed = (status: SyncStatus, reason: string): CollectionResult => ({
      collectionId: request.collectionId,
      status,
      responses: [],
      commands: [],
      moreAvailable: false,
      reason,
    });
    const folder =
      state === undefined || state.folder.deleted !== 0 ? undefined : this.hierarchy.mapped(state.folder);
    if (state === undefined || folder === undefined) {
      return failed(
        SyncStatus.HierarchyChanged,
        `collection ${request.collectionId} is not in the folder hierarchy`,
      );
    }
    if (request.className !== undefined && request.className !== folder.pimClass) {
      return failed(
        SyncStatus.ProtocolError,
        `collection ${request.collectionId} holds ${folder.pimClass}, not ${request.className}`,
      );
    }
    if (request.options !== undefined && !isFilterTypeValid(folder.pimClass, request.options.filterType)) {
      return failed(
        SyncStatus.ProtocolError,
        `FilterType ${request.options.filterType} is not valid for ${folder.pimClass}`,
      );
    }
    const lock = collectionLock(session.account, request.collectionId);
    const waited = this.mutex.isBusy(lock);
    return this.mutex.run([lock], async () => {
      // The state was read before the lock: read it again when another request held it meanwhile.
      const collection = waited
        ? await this.collectionRow(session.account, request.collectionId)
        : state.collection;
      try {
        if (request.syncKey === INITIAL_SYNC_KEY) return await this.reset(session, folder, request);
        return await this.continueSync(session, folder, collection, request, room, codec);
      } catch (error) {
        if (error instanceof StateMoved) return failed(SyncStatus.Retry, error.message);
        // A folder its backend no longer has is not a server error: the phone runs FolderSync.
        if (!(await this.stillServes(session.owner, folder))) {
          return failed(
            SyncStatus.HierarchyChanged,
            `collection ${request.collectionId} is no longer one of the backend's folders`,
          );
        }
        this.onError(error, `Sync of collection ${request.collectionId}`);
        return failed(SyncStatus.ServerError, error instanceof Error ? error.message : String(error));
      }
    });
  }

  /** Whether the backend still lists the folder; when it cannot tell, it is taken to. */
  private async stillServes(owner: Owner, folder: MappedFolder): Promise<boolean> {
    try {
      return (await folder.backend.folders(owner)).some((served) => served.id === folder.folderId);
    } catch {
      return true;
    }
  }

  // --- Sync ----------------------------------------------------------------------------------------

  /** SyncKey 0: a new epoch, nothing held, key 1 with no commands. */
  private async reset(
    session: SyncSession,
    folder: MappedFolder,
    request: CollectionRequest,
  ): Promise<CollectionResult> {
    const base = { collectionId: request.collectionId, responses: [], commands: [], moreAvailable: false };
    if (request.commands.length > 0 || request.getChanges === true) {
      return {
        ...base,
        status: SyncStatus.ProtocolError,
        reason: 'a Sync with SyncKey 0 may carry no commands and no GetChanges',
      };
    }
    const epoch = newEpoch();
    const options = request.options ?? DEFAULT_OPTIONS;
    const values = {
      epoch,
      generation: 1,
      cursor: null,
      previous_cursor: null,
      ...optionColumns(options),
      supported: request.supported === undefined ? null : JSON.stringify(request.supported),
      window_size: request.windowSize ?? null,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sync_collections')
        .values({ account_id: session.account, collection_id: request.collectionId, requested: 1, ...values })
        .onConflict((conflict) => conflict.columns(['account_id', 'collection_id']).doUpdateSet(values))
        .execute();
      await trx
        .deleteFrom('sync_items')
        .where('account_id', '=', session.account)
        .where('collection_id', '=', request.collectionId)
        .execute();
    });
    return {
      ...base,
      status: SyncStatus.Success,
      syncKey: formatSyncKey({ epoch, generation: 1 }),
      pimClass: folder.pimClass,
    };
  }

  private async continueSync(
    session: SyncSession,
    folder: MappedFolder,
    collection: SyncCollectionsTable | undefined,
    request: CollectionRequest,
    room: number,
    codec: WireCodec,
  ): Promise<CollectionResult> {
    const result: CollectionResult = {
      collectionId: request.collectionId,
      status: SyncStatus.Success,
      pimClass: folder.pimClass,
      responses: [],
      commands: [],
      moreAvailable: false,
    };
    const key = parseSyncKey(request.syncKey);
    const current = collection?.generation;
    if (
      collection === undefined ||
      key === undefined ||
      key.epoch !== collection.epoch ||
      (key.generation !== current && key.generation !== (current ?? 0) - 1)
    ) {
      return {
        ...result,
        status: SyncStatus.InvalidSyncKey,
        pimClass: undefined,
        reason: `SyncKey ${request.syncKey} is not the collection's current or previous key`,
      };
    }
    const base = key.generation;
    const stored = SyncEngine.optionsOf(collection);
    const options = request.options ?? stored;
    const optionsChanged = JSON.stringify(optionColumns(options)) !== JSON.stringify(optionColumns(stored));
    const windowSize = normalizeWindowSize(request.windowSize ?? collection.window_size ?? undefined);
    const baseCursor = base === collection.generation ? collection.cursor : collection.previous_cursor;
    // A new FilterType reads the folder from its beginning: the versions the device holds make the
    // rescan send only what differs (new items inside the window, SoftDeletes for those now outside).
    let cursor = options.filterType !== stored.filterType ? null : baseCursor;

    const items = new ItemSet(this.db, session.account, request.collectionId, base);
    const supported =
      collection.supported === null ? undefined : new Set(JSON.parse(collection.supported) as string[]);
    const context: RequestContext = {
      session,
      folder,
      items,
      options,
      codec,
      supported,
      commands: result.commands,
      pending: new Map(),
    };
    result.responses = await this.applyClientCommands(context, request.commands);

    if (request.getChanges !== false) {
      const changes = await this.serverChanges(context, cursor, Math.min(windowSize, room));
      cursor = changes.cursor;
      result.moreAvailable = changes.more;
    }

    const moved = base !== collection.generation || items.changed || result.commands.length > 0;
    if (!moved) {
      if (cursor !== collection.cursor || optionsChanged || windowSizeChanged(collection, request)) {
        await this.db
          .updateTable('sync_collections')
          .set({
            cursor,
            ...optionColumns(options),
            window_size: request.windowSize ?? collection.window_size,
          })
          .where('account_id', '=', session.account)
          .where('collection_id', '=', request.collectionId)
          .where('epoch', '=', collection.epoch)
          .where('generation', '=', collection.generation)
          .execute();
      }
      return {
        ...result,
        syncKey: formatSyncKey({ epoch: collection.epoch, generation: collection.generation }),
      };
    }

    const generation = base + 1;
    await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('sync_collections')
        .set({
          generation,
          cursor,
          previous_cursor: baseCursor,
          ...optionColumns(options),
          window_size: request.windowSize ?? collection.window_size,
        })
        .where('account_id', '=', session.account)
        .where('collection_id', '=', request.collectionId)
        .where('epoch', '=', collection.epoch)
        .where('generation', '=', collection.generation)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        throw new StateMoved(
          `collection ${request.collectionId} changed while this Sync ran; the phone retries`,
        );
      }
      await items.write(trx, base !== collection.generation, (count) =>
        allocateItemNumbers(trx, session.account, request.collectionId, count),
      );
    });
    finishServerIds(context.pending);
    return { ...result, syncKey: formatSyncKey({ epoch: collection.epoch, generation }) };
  }

  /** The phone's commands, in order; each gets its response, or none when it succeeded silently. */
  private async applyClientCommands(
    context: RequestContext,
    commands: readonly ClientCommand[],
  ): Promise<ClientResponse[]> {
    if (commands.length === 0) return [];
    const { items, folder, session } = context;
    await items.loadServerIds(
      commands.flatMap((command) => ('serverId' in command ? [command.serverId] : [])),
    );
    await items.loadClientIds(
      commands.flatMap((command) => (command.kind === 'add' ? [command.clientId] : [])),
    );
    // The stored items Changes, Fetches and occurrence Deletes need, fetched at once.
    const wanted = commands.flatMap((command) => {
      if (command.kind === 'add' || (command.kind === 'delete' && command.instanceId === undefined))
        return [];
      const held = items.byServerId(command.serverId);
      return held === undefined ? [] : [held.itemId];
    });
    const stored = await this.fetchStored(session.owner, folder, wanted);

    const responses: ClientResponse[] = [];
    for (const command of commands) {
      try {
        const response = await this.applyClientCommand(context, command, stored);
        if (response !== undefined) responses.push(response);
      } catch (error) {
        // The other items still apply; this one is reported, and the phone may send it again.
        this.onError(error, `Sync ${command.kind} in collection ${folder.serverId}`);
        responses.push(failedResponse(command, SyncStatus.ServerError));
      }
    }
    return responses;
  }

  private async applyClientCommand(
    context: RequestContext,
    command: ClientCommand,
    stored: Map<string, StoredItem>,
  ): Promise<ClientResponse | undefined> {
    const { items, folder, session, codec } = context;
    const origin = { account: session.account };
    if (command.kind === 'add') {
      const known = items.byClientId(command.clientId);
      if (known !== undefined)
        return {
          kind: 'add',
          clientId: command.clientId,
          serverId: known.serverId,
          status: SyncStatus.Success,
        };
      const item = decodeOrUndefined(codec, folder.pimClass, command.applicationData);
      if (item === undefined) return failedResponse(command, SyncStatus.ConversionError);
      const result = await folder.backend.apply(
        session.owner,
        folder.folderId,
        { kind: 'add', item },
        origin,
      );
      if (result.status !== 'ok') return failedResponse(command, SyncStatus.ConversionError);
      const added = items.add({
        itemId: result.id,
        version: result.version,
        window: result.window,
        clientId: command.clientId,
      });
      const response: ClientResponse = {
        kind: 'add',
        clientId: command.clientId,
        status: SyncStatus.Success,
      };
      context.pending.set(response, added);
      return response;
    }

    const held = items.byServerId(command.serverId);
    if (held === undefined) return failedResponse(command, SyncStatus.ObjectNotFound);
    const current = stored.get(held.itemId);

    if (command.kind === 'fetch') {
      if (current === undefined) return failedResponse(command, SyncStatus.ObjectNotFound);
      const data = codec.encode(current.item, context.options);
      return { kind: 'fetch', serverId: command.serverId, status: SyncStatus.Success, data };
    }

    if (command.kind === 'delete' && command.instanceId === undefined) {
      const result = await folder.backend.apply(
        session.owner,
        folder.folderId,
        { kind: 'delete', id: held.itemId },
        origin,
      );
      // Already gone is as good as deleted: a repeated Delete is answered as done.
      if (result.status === 'invalid') return failedResponse(command, SyncStatus.ConversionError);
      items.remove(held);
      return undefined;
    }

    if (current === undefined) return failedResponse(command, SyncStatus.ObjectNotFound);
    if (
      command.kind === 'change' &&
      !hasVersion(held.version, current.version) &&
      context.options.conflict === SERVER_WINS
    ) {
      // The server changed the item since the device last had it, and its version wins: the phone's
      // change is dropped, and the server's version is sent in its place.
      const data = codec.encode(current.item, context.options);
      items.setVersion(held, current.version, itemWindow(current.item), false);
      context.commands.push({ kind: 'change', serverId: held.serverId, data });
      return { kind: 'change', serverId: command.serverId, status: SyncStatus.Conflict };
    }

    let next: PimItem;
    try {
      if (command.kind === 'delete') next = deleteOccurrence(current.item, command.instanceId as string);
      else if (command.instanceId !== undefined) {
        next = changeOccurrence(current.item, command.instanceId, command.applicationData, session.version);
      } else {
        const incoming = codec.decode(folder.pimClass, command.applicationData);
        next = mergeItem(current.item, incoming, context.supported, session.version);
      }
    } catch (error) {
      if (error instanceof ItemError) return failedResponse(command, SyncStatus.ConversionError);
      throw error;
    }
    const result = await folder.backend.apply(
      session.owner,
      folder.folderId,
      { kind: 'change', id: held.itemId, item: next },
      origin,
    );
    if (result.status === 'not-found') return failedResponse(command, SyncStatus.ObjectNotFound);
    if (result.status === 'invalid') return failedResponse(command, SyncStatus.ConversionError);
    items.setVersion(held, result.version, result.window, true);
    // A later command of this request on the same item starts from this version.
    stored.set(held.itemId, { id: held.itemId, version: result.version, item: next });
    return undefined;
  }

  /**
   * The backend's changes after `cursor`, as commands for the device, at most `room` of them, and
   * SoftDeletes for held items the FilterType window has moved past.
   */
  private async serverChanges(
    context: RequestContext,
    cursor: string | null,
    room: number,
  ): Promise<{ cursor: string | null; more: boolean }> {
    const { items, folder, options } = context;
    const filter = itemFilter(folder.pimClass, options.filterType, this.now());
    const commands = context.commands;
    let left = room;
    if (filter.endsAfter !== undefined && left > 0) {
      const expired = await items.loadExpired(filter.endsAfter, left + 1);
      for (const held of expired.slice(0, left)) {
        items.remove(held);
        commands.push({ kind: 'soft-delete', serverId: held.serverId });
      }
      left -= Math.min(expired.length, left);
      if (expired.length > room) return { cursor, more: true };
    }
    const scan = await this.scan(context, filter, cursor, left, true);
    return { cursor: scan.cursor, more: scan.more };
  }

  /**
   * Reads the backend's changes after `cursor` and turns them into commands for the device (or,
   * without `emit`, only counts them). A page that gives more commands than there is room for is
   * cut, and the cursor stays before it: the next request reads it again, and the versions the
   * device now holds skip what it got.
   */
  private async scan(
    context: RequestContext,
    filter: ItemFilter,
    start: string | null,
    room: number,
    emit: boolean,
  ): Promise<{ cursor: string | null; more: boolean; count: number }> {
    const { items, folder, session } = context;
    let cursor = start;
    let count = 0;
    while (count < room) {
      const page = await folder.backend.changes(
        session.owner,
        folder.folderId,
        cursor,
        Math.max(room - count, MIN_PAGE),
      );
      // An item changed twice within the page is one change, at its latest version.
      const latest = new Map(page.changes.map((change) => [change.id, change]));
      await items.loadItemIds([...latest.keys()]);

      const changes = [...latest.values()];
      let next = 0;
      let cut = false;
      while (next < changes.length && !cut) {
        const decisions: Decision[] = [];
        for (; next < changes.length; next++) {
          const change = changes[next] as ItemChange;
          const decision = decide(items.byItemId(change.id), change, filter);
          if (decision === undefined) continue;
          if (count + decisions.length >= room) {
            cut = true;
            break;
          }
          decisions.push(decision);
        }
        count += emit ? await this.emitAll(context, decisions) : decisions.length;
        // Items left out (none of the codecs can write them) take no room: the page goes on. Were
        // they counted, a window of them would be cut at the same place by every request.
        if (cut && count < room) cut = false;
      }
      if (cut) return { cursor, more: true, count };
      cursor = page.cursor;
      if (!page.more) return { cursor, more: false, count };
    }
    // The window filled up exactly at the end of a page that said more follow (or had no room at all:
    // a request's overall window was used up by earlier collections, which picks this one up next time).
    return { cursor, more: room > 0, count };
  }

  /** Turns decisions into commands of the answer, their items fetched at once; how many it gave. */
  private async emitAll(context: RequestContext, decisions: readonly Decision[]): Promise<number> {
    const ids = decisions.flatMap((decision) => ('id' in decision ? [decision.id] : []));
    const fetched = await this.fetchStored(context.session.owner, context.folder, ids);
    let emitted = 0;
    for (const decision of decisions) {
      if (this.emit(context, decision, fetched)) emitted++;
    }
    return emitted;
  }

  /** Turns one decision into a command of the answer; false when the item is left out. */
  private emit(
    context: RequestContext,
    decision: Decision,
    fetched: ReadonlyMap<string, StoredItem>,
  ): boolean {
    const { items, folder, codec, options, commands, pending } = context;
    if (decision.kind === 'delete' || decision.kind === 'soft-delete') {
      const { held } = decision;
      const earlier = findCommand(commands, pending, held);
      if (earlier !== undefined) commands.splice(commands.indexOf(earlier), 1);
      items.remove(held);
      // An item added earlier in this very answer is simply left out of it.
      if (held.kind === 'held') commands.push({ kind: decision.kind, serverId: held.serverId });
      return true;
    }
    const stored = fetched.get(decision.id);
    // Gone since the page was read: its deletion comes after the cursor.
    if (stored === undefined) return false;
    let data: WbxmlElement[];
    try {
      data = codec.encode(stored.item, options);
    } catch (error) {
      // One item the codec cannot write must not stall the folder: it is left out until it changes.
      this.onError(error, `encoding item ${stored.id} of collection ${folder.serverId}`);
      return false;
    }
    const window = decision.window ?? itemWindow(stored.item);
    if (decision.kind === 'add' || decision.held === undefined) {
      const added = items.add({ itemId: stored.id, version: stored.version, window, clientId: null });
      const command: ServerCommand = { kind: 'add', serverId: '', data };
      pending.set(command, added);
      commands.push(command);
      return true;
    }
    const { held } = decision;
    items.setVersion(held, stored.version, window, false);
    const earlier = findCommand(commands, pending, held);
    if (earlier !== undefined && (earlier.kind === 'add' || earlier.kind === 'change')) {
      earlier.data = data;
      return true;
    }
    const command: ServerCommand = { kind: 'change', serverId: held.serverId ?? '', data };
    if (held.kind === 'new') pending.set(command, held);
    commands.push(command);
    return true;
  }

  private async fetchStored(
    owner: Owner,
    folder: MappedFolder,
    ids: readonly string[],
  ): Promise<Map<string, StoredItem>> {
    if (ids.length === 0) return new Map();
    const stored = await folder.backend.fetch(owner, folder.folderId, ids);
    return new Map(stored.map((item) => [item.id, item]));
  }

  private async collectionRow(
    account: number,
    collectionId: string,
  ): Promise<SyncCollectionsTable | undefined> {
    return this.db
      .selectFrom('sync_collections')
      .selectAll()
      .where('account_id', '=', account)
      .where('collection_id', '=', collectionId)
      .executeTakeFirst();
  }

  // --- GetItemEstimate -----------------------------------------------------------------------------

  /** How many changes a Sync with `syncKey` would bring (counted up to a limit), without changing anything. */
  async estimate(
    session: SyncSession,
    request: { collectionId: string; syncKey: string; filterType?: number },
  ): Promise<EstimateOutcome> {
    const folder = await this.hierarchy.resolve(session.account, request.collectionId);
    if (folder === undefined) return { status: 'invalid-collection' };
    const collection = await this.collectionRow(session.account, request.collectionId);
    if (collection === undefined || request.syncKey === INITIAL_SYNC_KEY) return { status: 'not-primed' };
    const key = parseSyncKey(request.syncKey);
    if (
      key === undefined ||
      key.epoch !== collection.epoch ||
      (key.generation !== collection.generation && key.generation !== collection.generation - 1)
    ) {
      return { status: 'invalid-key' };
    }
    const stored = SyncEngine.optionsOf(collection);
    const filterType = request.filterType ?? stored.filterType;
    const options = { ...stored, filterType };
    const filter = itemFilter(folder.pimClass, filterType, this.now());
    const items = new ItemSet(this.db, session.account, request.collectionId, key.generation);
    const base = key.generation === collection.generation ? collection.cursor : collection.previous_cursor;
    const cursor = filterType !== stored.filterType ? null : base;
    let expired = 0;
    if (filter.endsAfter !== undefined) {
      const held = await items.loadExpired(filter.endsAfter, ESTIMATE_LIMIT);
      for (const item of held) items.remove(item);
      expired = held.length;
    }
    const context: RequestContext = {
      session,
      folder,
      items,
      options,
      codec: NO_CODEC,
      supported: undefined,
      commands: [],
      pending: new Map(),
    };
    const scan = await this.scan(context, filter, cursor, ESTIMATE_LIMIT - expired, false);
    return { status: 'ok', estimate: expired + scan.count, pimClass: folder.pimClass };
  }

  // --- MoveItems -----------------------------------------------------------------------------------

  /**
   * Moves an item the device holds to another folder of the same class. The item leaves the
   * source's item set and joins the destination's under a new ServerId, with the version the move
   * gave it, so neither folder echoes the move back to this device.
   */
  async moveItem(
    session: SyncSession,
    request: { serverId: string; sourceId: string; destinationId: string },
  ): Promise<MoveOutcome> {
    const source = await this.hierarchy.resolve(session.account, request.sourceId);
    if (source === undefined) return { status: 'invalid-source' };
    const destination = await this.hierarchy.resolve(session.account, request.destinationId);
    if (destination === undefined) return { status: 'invalid-destination' };
    if (source.serverId === destination.serverId) return { status: 'same-folder' };
    if (source.pimClass !== destination.pimClass || source.backend !== destination.backend) {
      return { status: 'other-class' };
    }
    const locks = [
      collectionLock(session.account, source.serverId),
      collectionLock(session.account, destination.serverId),
    ];
    return this.mutex.run(locks, async () => {
      const row = await this.db
        .selectFrom('sync_items as i')
        .innerJoin('sync_collections as c', (join) =>
          join.onRef('c.account_id', '=', 'i.account_id').onRef('c.collection_id', '=', 'i.collection_id'),
        )
        .select(['i.item_id', 'i.added_gen', 'i.removed_gen', 'c.generation'])
        .where('i.account_id', '=', session.account)
        .where('i.collection_id', '=', source.serverId)
        .where('i.server_id', '=', request.serverId)
        .executeTakeFirst();
      if (row === undefined || row.removed_gen !== null || row.added_gen > row.generation) {
        return { status: 'invalid-source' };
      }
      let result;
      try {
        result = await source.backend.move(
          session.owner,
          source.folderId,
          row.item_id,
          destination.folderId,
          {
            account: session.account,
          },
        );
      } catch (error) {
        this.onError(error, `MoveItems of ${request.serverId}`);
        return { status: 'retry' };
      }
      if (result.status === 'not-found') return { status: 'invalid-source' };
      if (result.status === 'invalid') return { status: 'other-class' };
      const moved = result;
      const serverId = await this.db.transaction().execute(async (trx) => {
        await trx
          .deleteFrom('sync_items')
          .where('account_id', '=', session.account)
          .where('server_id', '=', request.serverId)
          .execute();
        const end = await allocateItemNumbers(trx, session.account, destination.serverId, 1);
        const serverId = `${destination.serverId}:${end - 1}`;
        const synced = await trx
          .selectFrom('sync_collections')
          .select('generation')
          .where('account_id', '=', session.account)
          .where('collection_id', '=', destination.serverId)
          .executeTakeFirst();
        // A destination the device does not sync yet gets the item with its first Sync instead.
        if (synced !== undefined) {
          await trx
            .insertInto('sync_items')
            .values({
              account_id: session.account,
              collection_id: destination.serverId,
              server_id: serverId,
              item_id: moved.id,
              version: moved.version,
              previous_version: moved.version,
              version_gen: TIMELESS_GENERATION,
              added_gen: TIMELESS_GENERATION,
              removed_gen: null,
              window_end: moved.window?.end ?? null,
              window_complete: moved.window?.complete === undefined ? null : moved.window.complete ? 1 : 0,
              client_id: null,
            })
            .execute();
        }
        return serverId;
      });
      return { status: 'ok', serverId };
    });
  }

  // --- ItemOperations Fetch ------------------------------------------------------------------------

  /** One item the device holds, by CollectionId and ServerId. */
  async fetchItem(
    session: SyncSession,
    request: { collectionId: string; serverId: string },
  ): Promise<FetchOutcome> {
    const folder = await this.hierarchy.resolve(session.account, request.collectionId);
    if (folder === undefined) return { status: 'invalid-collection' };
    const row = await this.db
      .selectFrom('sync_items as i')
      .innerJoin('sync_collections as c', (join) =>
        join.onRef('c.account_id', '=', 'i.account_id').onRef('c.collection_id', '=', 'i.collection_id'),
      )
      .select(['i.item_id', 'i.added_gen', 'i.removed_gen', 'c.generation'])
      .where('i.account_id', '=', session.account)
      .where('i.collection_id', '=', folder.serverId)
      .where('i.server_id', '=', request.serverId)
      .executeTakeFirst();
    if (row === undefined || row.removed_gen !== null || row.added_gen > row.generation)
      return { status: 'not-found' };
    const [stored] = await folder.backend.fetch(session.owner, folder.folderId, [row.item_id]);
    if (stored === undefined) return { status: 'not-found' };
    return { status: 'ok', item: stored.item, pimClass: folder.pimClass };
  }
}

/** What to tell the device of one backend change. */
type Decision =
  | { kind: 'add'; id: string; held?: undefined; window: ItemWindow | undefined }
  | { kind: 'change'; id: string; held: HeldItem | NewItem; window: ItemWindow | undefined }
  | { kind: 'delete'; held: HeldItem | NewItem }
  | { kind: 'soft-delete'; held: HeldItem | NewItem };

/** What to tell the device of a backend change, by what it holds of the item; nothing when up to date. */
function decide(
  held: HeldItem | NewItem | undefined,
  change: ItemChange,
  filter: ItemFilter,
): Decision | undefined {
  if (change.deleted) return held && { kind: 'delete', held };
  if (!isInWindow(change.window, filter)) return held && { kind: 'soft-delete', held };
  if (held === undefined) return { kind: 'add', id: change.id, window: change.window };
  if (!hasVersion(held.version, change.version)) {
    return { kind: 'change', id: change.id, held, window: change.window };
  }
  return undefined;
}

interface RequestContext {
  session: SyncSession;
  folder: MappedFolder;
  items: ItemSet;
  options: CollectionOptions;
  codec: WireCodec;
  supported: ReadonlySet<string> | undefined;
  /** The server commands of the answer, filled as the request goes. */
  commands: ServerCommand[];
  /** Commands and responses whose ServerId is allocated only when the request's changes are written. */
  pending: Map<ServerCommand | ClientResponse, NewItem>;
}

/** The command of this answer about an item, if it has one already. */
function findCommand(
  commands: readonly ServerCommand[],
  pending: ReadonlyMap<ServerCommand | ClientResponse, NewItem>,
  held: HeldItem | NewItem,
): ServerCommand | undefined {
  return commands.find((command) =>
    held.kind === 'new' ? pending.get(command) === held : command.serverId === held.serverId,
  );
}

/** Fills in the ServerIds allocated when the request's changes were written. */
function finishServerIds(pending: ReadonlyMap<ServerCommand | ClientResponse, NewItem>): void {
  for (const [entry, item] of pending) {
    if (item.serverId !== undefined && entry.kind !== 'fetch') entry.serverId = item.serverId;
  }
}

function failedResponse(command: ClientCommand, status: SyncStatus): ClientResponse {
  return command.kind === 'add'
    ? { kind: 'add', clientId: command.clientId, status }
    : { kind: command.kind, serverId: command.serverId, status };
}

function decodeOrUndefined(
  codec: WireCodec,
  pimClass: PimClass,
  applicationData: WbxmlElement,
): PimItem | undefined {
  try {
    return codec.decode(pimClass, applicationData);
  } catch (error) {
    if (error instanceof ItemError) return undefined;
    throw error;
  }
}

function optionColumns(options: CollectionOptions) {
  return {
    filter_type: options.filterType,
    conflict: options.conflict,
    body_preferences: options.bodyPreferences === undefined ? null : JSON.stringify(options.bodyPreferences),
    truncation: options.truncation ?? null,
    mime_support: options.mimeSupport,
  };
}

function windowSizeChanged(collection: SyncCollectionsTable, request: CollectionRequest): boolean {
  return request.windowSize !== undefined && request.windowSize !== collection.window_size;
}

/** WindowSize: absent 100; 0 and anything above 512 mean 512 (MS-ASCMD 2.2.3.199). */
export function normalizeWindowSize(windowSize: number | undefined): number {
  if (windowSize === undefined) return DEFAULT_WINDOW_SIZE;
  return windowSize <= 0 || windowSize > MAX_WINDOW_SIZE ? MAX_WINDOW_SIZE : windowSize;
}

export function collectionLock(account: number, collectionId: string): string {
  return `collection:${account}:${collectionId}`;
}

/** Hands out `count` item numbers of a collection; returns the end (exclusive) of the range. */
async function allocateItemNumbers(
  trx: Db,
  account: number,
  collectionId: string,
  count: number,
): Promise<number> {
  const row = await trx
    .updateTable('sync_folders')
    .set((eb) => ({ next_item: eb('next_item', '+', count) }))
    .where('account_id', '=', account)
    .where('server_id', '=', collectionId)
    .returning('next_item')
    .executeTakeFirstOrThrow();
  return row.next_item;
}

const NO_CODEC: WireCodec = {
  decode: () => {
    throw new Error('an estimate decodes nothing');
  },
  encode: () => [],
};

/** Every folder of an account's map with its collection state: run by every Sync, so built once. */
const COLLECTION_STATES = preparedQuery((db, { account }: { account: number }) =>
  db
    .selectFrom('sync_folders as f')
    .leftJoin('sync_collections as c', (join) =>
      join.onRef('c.account_id', '=', 'f.account_id').onRef('c.collection_id', '=', 'f.server_id'),
    )
    .select([
      'f.server_id',
      'f.backend',
      'f.folder_id',
      'f.class',
      'f.type',
      'f.deleted',
      'c.epoch',
      'c.generation',
      'c.cursor',
      'c.previous_cursor',
      'c.filter_type',
      'c.conflict',
      'c.body_preferences',
      'c.truncation',
      'c.mime_support',
      'c.supported',
      'c.window_size',
      'c.requested',
    ])
    .where('f.account_id', '=', account),
);
