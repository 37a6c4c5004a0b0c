// A server on loopback whose built-in store announces its changes on the server's own change bus,
// as `airsync serve` runs it, with short heartbeats so that waits end quickly; phones that Ping and
// Sync with Wait or HeartbeatInterval; and the requests and answers of both commands in plain values.

import assert from 'node:assert/strict';
import type { Owner } from '../../src/backends/contract.ts';
import { storeHistoryReader } from '../../src/backends/store/history-reader.ts';
import { PimStore } from '../../src/backends/store/store.ts';
import { EasClient, type EasResponse } from '../../src/client/index.ts';
import type { Config, DeepPartial } from '../../src/config.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { startServer, type RunningServer } from '../../src/http/server.ts';
import { itemWindow } from '../../src/model/index.ts';
import type { PimClass } from '../../src/model/types.ts';
import {
  changeBusKindFor,
  createChangeBus,
  type ChangeBus,
  type ChangeListener,
  type FolderChange,
  type FolderRef,
  type SubscribeOptions,
  type SupersedeListener,
} from '../../src/push/index.ts';
import type { Db } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { child, childText, children, el, type WbxmlElement } from '../../src/wbxml/index.ts';
import { Phone } from '../sync/session.ts';

/** The push settings of the test servers: heartbeats from a second, few folders per Ping. */
export const TEST_PUSH = { minHeartbeat: 1, maxFolders: 4, pollIntervalMs: 25 } as const;

export const PING_VERSIONS = ['2.5', '12.0', '12.1', '14.0', '14.1', '16.0', '16.1'] as const;
/** Sync waits with Wait from 12.1 (with HeartbeatInterval from 14.0). */
export const WAIT_VERSIONS = ['12.1', '14.0', '14.1', '16.0', '16.1'] as const;

/**
 * A server over `db` with the push settings of TEST_PUSH (and `push`), its store publishing to the
 * bus the configuration asks for; users made per test (passwords are the user names) and phones as
 * in the sync tests.
 */
/** Users made by any world of this test process: worlds on one database never share a name. */
let users = 0;

export class PushWorld {
  private closed: Promise<void> | undefined;

  private constructor(
    readonly db: Db,
    readonly server: RunningServer,
    readonly store: PimStore,
    readonly bus: WatchedBus,
  ) {}

  /** `Store` builds the store: PimStore, or a subclass that fails on purpose. */
  static async start(
    config: Config,
    db: Db,
    push: DeepPartial<Config['push']> = {},
    Store: typeof PimStore = PimStore,
  ): Promise<PushWorld> {
    const configured = { ...config, push: { ...config.push, ...TEST_PUSH, ...push } } as Config;
    const bus = new WatchedBus(await createChangeBus(changeBusKindFor(configured, storeHistoryReader(db))));
    const store = new Store(db, { windowOf: itemWindow, onChange: (change) => bus.publish(change) });
    const users = new UserStore(db);
    const server = await startServer(
      { ...configured, provisioning: 'off', listen: { host: '127.0.0.1', port: 0 } },
      {
        db,
        users: { verify: async (name, password) => (name === password ? users.find(name) : undefined) },
        backends: [store],
        bus,
        logDestination: { write: () => {} },
      },
    );
    return new PushWorld(db, server, store, bus);
  }

  /** A new user of its own, whose data no other test touches. */
  async user(): Promise<Owner> {
    const name = `push${process.pid}x${++users}`;
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
        deviceId: deviceId ?? `PUSH${process.pid}X${owner.name}X${Math.random().toString(36).slice(2, 8)}`,
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

  /** The id of the device account a phone's requests run as. */
  async accountOf(phone: Phone): Promise<number> {
    const row = await this.db
      .selectFrom('device_accounts as a')
      .innerJoin('devices as d', 'd.id', 'a.device_id')
      .innerJoin('users as u', 'u.id', 'a.user_id')
      .select('a.id')
      .where('d.device_id', '=', phone.client.deviceId)
      .where('u.name', '=', phone.client.user)
      .executeTakeFirstOrThrow();
    return row.id;
  }

  /** Resolves once `count` requests of the user wait (by default: at least one). */
  held(owner: Owner, count?: number): Promise<void> {
    return eventually(
      () => (count === undefined ? this.bus.waiting(owner.id) > 0 : this.bus.waiting(owner.id) === count),
      `${count ?? 'a'} waiting request(s) of ${owner.name}`,
    );
  }

  /** Stops the server (answering what waits), then the bus; once, however often it is called. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.server.close();
      await this.bus.close();
    })();
    return this.closed;
  }
}

/** The server's bus, counting the subscriptions of each user: how many of their requests wait. */
export class WatchedBus implements ChangeBus {
  readonly #bus: ChangeBus;
  readonly #byUser = new Map<number, number>();

  constructor(bus: ChangeBus) {
    this.#bus = bus;
  }

  waiting(userId: number): number {
    return this.#byUser.get(userId) ?? 0;
  }

  publish(change: FolderChange): void {
    this.#bus.publish(change);
  }

  subscribe(folders: readonly FolderRef[], options: SubscribeOptions, listener: ChangeListener): () => void {
    const count = (delta: number) => this.#byUser.set(options.userId, this.waiting(options.userId) + delta);
    count(1);
    const unsubscribe = this.#bus.subscribe(folders, options, listener);
    let subscribed = true;
    return () => {
      if (subscribed) count(-1);
      subscribed = false;
      unsubscribe();
    };
  }

  supersede(account: number, at: number): void {
    this.#bus.supersede(account, at);
  }

  onSupersede(listener: SupersedeListener): () => void {
    return this.#bus.onSupersede(listener);
  }

  stats(): { subscribers: number; folders: number } {
    return this.#bus.stats();
  }

  close(): Promise<void> {
    return this.#bus.close();
  }
}

// --- Ping ----------------------------------------------------------------------------------------

export interface PingRequest {
  heartbeat?: number | string;
  folders?: readonly { id: string; className?: string }[];
}

export interface PingAnswer {
  httpStatus: number;
  status: number | undefined;
  /** Status 2: the folders that changed. */
  folders: string[];
  /** Status 5: the bound. */
  heartbeat: number | undefined;
  maxFolders: number | undefined;
  /** How long the answer took, in ms. */
  ms: number;
}

/** A Ping; without `request`, an empty one (no body). */
export async function ping(
  client: EasClient,
  request?: PingRequest,
  options: { timeoutMs?: number } = {},
): Promise<PingAnswer> {
  const content: WbxmlElement[] = [];
  if (request?.heartbeat !== undefined)
    content.push(el('Ping', 'HeartbeatInterval', String(request.heartbeat)));
  if (request?.folders !== undefined) {
    content.push(
      el(
        'Ping',
        'Folders',
        request.folders.map((folder) =>
          el('Ping', 'Folder', [
            el('Ping', 'Id', folder.id),
            ...(folder.className === undefined ? [] : [el('Ping', 'Class', folder.className)]),
          ]),
        ),
      ),
    );
  }
  const started = performance.now();
  const response = await client.send(
    'Ping',
    request === undefined ? undefined : el('Ping', 'Ping', content),
    options,
  );
  return readPing(response, performance.now() - started);
}

function readPing(response: EasResponse, ms: number): PingAnswer {
  const body = response.body;
  const number = (name: string) => {
    const text = body && childText(body, name, 'Ping');
    return text === undefined ? undefined : Number(text);
  };
  const folders = body && child(body, 'Folders', 'Ping');
  return {
    httpStatus: response.status,
    status: number('Status'),
    folders:
      folders === undefined ? [] : children(folders, 'Folder', 'Ping').map((folder) => folder.text ?? ''),
    heartbeat: number('HeartbeatInterval'),
    maxFolders: number('MaxFolders'),
    ms,
  };
}

// --- Sync that waits -----------------------------------------------------------------------------

export interface WaitingSyncRequest {
  /** Absent: an empty Sync (no body). */
  collections?: readonly { collectionId: string; syncKey: string }[];
  wait?: number;
  heartbeat?: number;
  partial?: boolean;
}

export interface WaitingSyncAnswer {
  httpStatus: number;
  /** The answer had no body: the empty Sync response. */
  empty: boolean;
  /** The Sync's own Status, when the whole request failed. */
  status: number | undefined;
  limit: number | undefined;
  collections: { collectionId: string; syncKey: string | undefined; status: number; adds: number }[];
  ms: number;
}

export async function waitingSync(
  client: EasClient,
  request: WaitingSyncRequest,
  options: { timeoutMs?: number } = {},
): Promise<WaitingSyncAnswer> {
  const content: WbxmlElement[] = [];
  if (request.collections !== undefined) {
    content.push(
      el(
        'AirSync',
        'Collections',
        request.collections.map((collection) =>
          el('AirSync', 'Collection', [
            el('AirSync', 'SyncKey', collection.syncKey),
            el('AirSync', 'CollectionId', collection.collectionId),
          ]),
        ),
      ),
    );
  }
  if (request.wait !== undefined) content.push(el('AirSync', 'Wait', String(request.wait)));
  if (request.heartbeat !== undefined)
    content.push(el('AirSync', 'HeartbeatInterval', String(request.heartbeat)));
  if (request.partial === true) content.push(el('AirSync', 'Partial'));
  const started = performance.now();
  const response = await client.send(
    'Sync',
    content.length === 0 ? undefined : el('AirSync', 'Sync', content),
    options,
  );
  const ms = performance.now() - started;
  const body = response.body;
  const collections = body && child(body, 'Collections', 'AirSync');
  return {
    httpStatus: response.status,
    empty: response.raw.length === 0,
    status: body && numberOrUndefined(childText(body, 'Status', 'AirSync')),
    limit: body && numberOrUndefined(childText(body, 'Limit', 'AirSync')),
    collections:
      collections === undefined
        ? []
        : children(collections, 'Collection', 'AirSync').map((collection) => ({
            collectionId: childText(collection, 'CollectionId', 'AirSync') ?? '',
            syncKey: childText(collection, 'SyncKey', 'AirSync'),
            status: Number(childText(collection, 'Status', 'AirSync')),
            adds: children(child(collection, 'Commands', 'AirSync') ?? collection, 'Add', 'AirSync').length,
          })),
    ms,
  };
}

function numberOrUndefined(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number(text);
}

// --- Waiting for what the server does --------------------------------------------------------------

/** Resolves once `condition` holds, checking every few milliseconds; fails after `timeoutMs`. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
