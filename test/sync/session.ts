// Device sessions for the sync tests: a real server on loopback over a test database with the
// built-in store, users made per test (so tests sharing a database never see each other's data), and
// phones that keep what the server told them — the folder list, a SyncKey per collection, and the
// items they hold — checking every answer as a phone would: an Add for an item it already holds, a
// Change or Delete for one it does not, is a failure of the test.

import assert from 'node:assert/strict';
import { EasClient } from '../../src/client/index.ts';
import {
  folderSync,
  sync,
  type ClientSyncCommand,
  type FolderEntry,
  type FolderSyncResult,
  type SyncCollectionRequest,
  type SyncCollectionResult,
  type SyncResult,
} from '../../src/client/sync.ts';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import { PimStore } from '../../src/backends/store/store.ts';
import type { Config } from '../../src/config.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { startServer, type RunningServer } from '../../src/http/server.ts';
import { decodeItem, encodeItem, itemWindow } from '../../src/model/index.ts';
import type { Contact, PimClass, PimItem } from '../../src/model/types.ts';
import type { Db } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';

export const ALL_VERSIONS: readonly ProtocolVersion[] = [
  '2.5',
  '12.0',
  '12.1',
  '14.0',
  '14.1',
  '16.0',
  '16.1',
];

const CLASS_OF_TYPE: ReadonlyMap<number, PimClass> = new Map<number, PimClass>([
  [FOLDER_TYPES.defaultContacts, 'Contacts'],
  [FOLDER_TYPES.userContacts, 'Contacts'],
  [FOLDER_TYPES.defaultCalendar, 'Calendar'],
  [FOLDER_TYPES.userCalendar, 'Calendar'],
  [FOLDER_TYPES.defaultTasks, 'Tasks'],
  [FOLDER_TYPES.userTasks, 'Tasks'],
  [FOLDER_TYPES.defaultNotes, 'Notes'],
  [FOLDER_TYPES.userNotes, 'Notes'],
]);

/** A server over `db` whose users are those made with `user()`; the store is the server's backend. */
export class SyncWorld {
  readonly store: PimStore;
  private users = 0;

  private constructor(
    readonly db: Db,
    readonly server: RunningServer,
    store: PimStore,
  ) {
    this.store = store;
  }

  static async start(config: Config, db: Db): Promise<SyncWorld> {
    const store = new PimStore(db, { windowOf: itemWindow });
    const users = new UserStore(db);
    const server = await startServer(
      { ...config, provisioning: 'off', listen: { host: '127.0.0.1', port: 0 } },
      {
        db,
        // Passwords are the user names: argon2 would cost a second per new user on a busy machine.
        users: { verify: async (name, password) => (name === password ? users.find(name) : undefined) },
        backends: [store],
        logDestination: { write: () => {} },
      },
    );
    return new SyncWorld(db, server, store);
  }

  /** A new user of its own, whose data no other test touches. */
  async user(): Promise<Owner> {
    const name = `user${process.pid}x${++this.users}`;
    const row = await this.db
      .insertInto('users')
      .values({ name, password_hash: 'not used', admin: 0, created_at: new Date().toISOString() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: row.id, name };
  }

  phone(owner: Owner, version: ProtocolVersion, deviceId?: string): Phone {
    return new Phone(
      new EasClient({
        url: `${this.server.url}/Microsoft-Server-ActiveSync`,
        user: owner.name,
        password: owner.name,
        deviceId: deviceId ?? `SYNC${process.pid}X${owner.name}X${Math.random().toString(36).slice(2, 8)}`,
        deviceType: 'SmartPhone',
        protocolVersion: version,
      }),
      version,
    );
  }

  /** The store id of the user's default collection of a class. */
  async defaultCollection(owner: Owner, pimClass: PimClass): Promise<number> {
    const collection = (await this.store.collections(owner)).find(
      (candidate) => candidate.pimClass === pimClass && candidate.isDefault,
    );
    assert.ok(collection, `${owner.name} has a default ${pimClass} collection`);
    return collection.id;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** A phone: what it holds, and the keys to go on from. */
export class Phone {
  hierarchyKey = '0';
  readonly folders = new Map<string, FolderEntry>();
  readonly keys = new Map<string, string>();
  /** Per collection, the items held by ServerId. */
  readonly items = new Map<string, Map<string, PimItem>>();
  /** Adds sent and not yet answered, by ClientId. */
  private readonly pendingAdds = new Map<string, PimItem>();
  private clientIds = 0;

  constructor(
    readonly client: EasClient,
    readonly version: ProtocolVersion,
  ) {}

  async folderSync(): Promise<FolderSyncResult> {
    const result = await folderSync(this.client, this.hierarchyKey);
    assert.equal(result.status, 1, `FolderSync status ${result.status}`);
    if (this.hierarchyKey === '0') this.folders.clear();
    for (const change of result.changes) {
      if (change.kind === 'add') {
        assert.ok(!this.folders.has(change.serverId), `folder ${change.serverId} added twice`);
        this.folders.set(change.serverId, change);
      } else {
        assert.ok(this.folders.has(change.serverId), `${change.kind} of unknown folder ${change.serverId}`);
        if (change.kind === 'delete') this.folders.delete(change.serverId);
        else
          this.folders.set(change.serverId, { ...this.folders.get(change.serverId), ...change, kind: 'add' });
      }
    }
    this.hierarchyKey = result.syncKey ?? this.hierarchyKey;
    return result;
  }

  /** The ServerId of the folder of this type (the first one). */
  folder(type: number): string {
    const found = [...this.folders.values()].find((folder) => folder.type === type);
    assert.ok(found, `the phone has a folder of type ${type}`);
    return found.serverId;
  }

  classOf(collectionId: string): PimClass {
    const type = this.folders.get(collectionId)?.type;
    const pimClass = type === undefined ? undefined : CLASS_OF_TYPE.get(type);
    assert.ok(pimClass, `collection ${collectionId} is a PIM folder`);
    return pimClass;
  }

  held(collectionId: string): Map<string, PimItem> {
    let items = this.items.get(collectionId);
    if (items === undefined) {
      items = new Map();
      this.items.set(collectionId, items);
    }
    return items;
  }

  /** An Add command for an item, remembered until the answer gives it a ServerId. */
  add(item: PimItem, clientId = `c${++this.clientIds}`): ClientSyncCommand {
    this.pendingAdds.set(clientId, item);
    return { kind: 'add', clientId, data: this.encode(item) };
  }

  change(serverId: string, item: PimItem): ClientSyncCommand {
    return { kind: 'change', serverId, data: this.encode(item) };
  }

  encode(item: PimItem): ReturnType<typeof encodeItem> {
    return encodeItem(item, { version: this.version });
  }

  /** Sync key 0 of a collection (with the request's other fields), then its key. */
  async start(
    collectionId: string,
    request: Partial<SyncCollectionRequest> = {},
  ): Promise<SyncCollectionResult> {
    this.keys.set(collectionId, '0');
    this.held(collectionId).clear();
    return this.sync(collectionId, request);
  }

  /** One Sync of one collection with its current key; the answer is applied to what the phone holds. */
  async sync(
    collectionId: string,
    request: Partial<SyncCollectionRequest> = {},
    options: { lose?: boolean; windowSize?: number } = {},
  ): Promise<SyncCollectionResult> {
    const result = await this.send([{ collectionId, ...request }], options);
    const collection = result.collections.find((candidate) => candidate.collectionId === collectionId);
    assert.ok(collection, `the answer has collection ${collectionId} (status ${result.status})`);
    return collection;
  }

  /** A Sync of several collections; `lose`: the answer never reaches the phone. */
  async send(
    requests: readonly (Partial<SyncCollectionRequest> & { collectionId: string })[],
    options: { lose?: boolean; windowSize?: number; partial?: boolean } = {},
  ): Promise<SyncResult> {
    const collections = requests.map((request) => ({
      syncKey: this.keys.get(request.collectionId) ?? '0',
      ...(this.version === '2.5' ? { className: this.classOf(request.collectionId) } : {}),
      ...request,
    }));
    const result = await sync(this.client, collections, options);
    assert.equal(result.response.status, 200);
    if (options.lose !== true) for (const collection of result.collections) this.apply(collection);
    return result;
  }

  /** Syncs until the server has nothing more; returns the number of requests. */
  async syncToEnd(collectionId: string, request: Partial<SyncCollectionRequest> = {}): Promise<number> {
    let requests = 0;
    for (let more = true; more; requests++) {
      const result = await this.sync(collectionId, request);
      assert.equal(result.status, 1, `Sync status ${result.status}`);
      more = result.moreAvailable;
    }
    return requests;
  }

  private apply(collection: SyncCollectionResult): void {
    if (collection.status !== 1) return;
    const id = collection.collectionId;
    const items = this.held(id);
    const pimClass = this.classOf(id);
    for (const response of collection.responses) {
      if (response.kind !== 'add' || response.clientId === undefined) continue;
      const item = this.pendingAdds.get(response.clientId);
      this.pendingAdds.delete(response.clientId);
      if (response.status === 1 && item !== undefined && response.serverId !== undefined) {
        items.set(response.serverId, item);
      }
    }
    for (const command of collection.commands) {
      const has = items.has(command.serverId);
      if (command.kind === 'add') {
        assert.ok(!has, `Add of ${command.serverId}, which the phone holds already`);
        assert.ok(command.applicationData, 'an Add carries ApplicationData');
        items.set(command.serverId, decodeItem(pimClass, command.applicationData, this.version));
      } else if (command.kind === 'change') {
        assert.ok(has, `Change of ${command.serverId}, which the phone does not hold`);
        assert.ok(command.applicationData, 'a Change carries ApplicationData');
        items.set(command.serverId, decodeItem(pimClass, command.applicationData, this.version));
      } else {
        assert.ok(has, `${command.kind} of ${command.serverId}, which the phone does not hold`);
        items.delete(command.serverId);
      }
    }
    if (collection.syncKey !== undefined) this.keys.set(id, collection.syncKey);
  }
}

export function contact(firstName: string, lastName = 'Test', extra: Partial<Contact> = {}): PimItem {
  return { class: 'Contacts', data: { firstName, lastName, ...extra } };
}

/** The first names of the contacts a phone holds in a collection, sorted. */
export function firstNames(items: ReadonlyMap<string, PimItem>): string[] {
  return [...items.values()]
    .map((item) => (item.class === 'Contacts' ? (item.data.firstName ?? '') : ''))
    .sort();
}
