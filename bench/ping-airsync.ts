// The airsync side of bench/ping.ts: the users and devices written straight into a fresh state
// database, `airsync serve` in a child process, and the changes that wake the Pings — made through
// the built-in store from this process, as an import tool would make them.
//
// Two shortcuts, both outside what a held Ping costs:
// - Passwords are hashed with argon2id at a low cost (1 pass over 4 MiB instead of 3 over 64 MiB):
//   the first request of each user checks its password, and thousands of full-cost checks would take
//   the 2-core machine minutes before the first Ping is held.
// - Devices are provisioned by writing their account rows with the final policy key of the default
//   policy at the bench's protocol version, which is what an acknowledged Provision leaves behind;
//   the server requires provisioning, so every request still passes the policy-key gate.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import argon2 from 'argon2';
import { PimStore } from '../src/backends/store/store.ts';
import type { Config } from '../src/config.ts';
import { finalPolicyKey } from '../src/device/policy-store.ts';
import { defaultPolicySettings } from '../src/device/policy-settings.ts';
import type { ProtocolVersion } from '../src/http/query.ts';
import { itemWindow } from '../src/model/index.ts';
import { createChangeBus, type ChangeBus } from '../src/push/index.ts';
import { openDatabase, type Database, type Db } from '../src/state/db.ts';
import type { DeviceSpec } from './ping-load.ts';
import type { ServerProbeAnswer, ServerProbeRequest } from './ping-server.ts';

export const AIRSYNC_PASSWORD = 'ping bench password';
/** Rows per INSERT: well below the bound-parameter limits of SQLite and PostgreSQL. */
const INSERT_BATCH = 500;
const SERVER_ENTRY = join(import.meta.dirname, 'ping-server.ts');
const STOP_TIMEOUT_MS = 30_000;

export interface SeededUser {
  id: number;
  name: string;
  /** The id of the user's default Contacts collection. */
  contacts: number;
}

export interface Population {
  users: SeededUser[];
  /** Device `index` belongs to user `Math.floor(index / devicesPerUser)`. */
  devices: DeviceSpec[];
}

/** Creates the users, their default collections, and their devices, provisioned. */
export async function seedAirsync(
  db: Db,
  options: {
    users: number;
    devicesPerUser: number;
    protocolVersion: ProtocolVersion;
    deviceType: string;
    userAgent: string;
  },
): Promise<Population> {
  const passwordHash = await argon2.hash(AIRSYNC_PASSWORD, {
    type: argon2.argon2id,
    timeCost: 1,
    memoryCost: 4096,
    parallelism: 1,
  });
  const now = new Date().toISOString();
  const names = Array.from({ length: options.users }, (_, user) => `ping${String(user).padStart(5, '0')}`);
  for (const batch of batches(names)) {
    await db
      .insertInto('users')
      .values(batch.map((name) => ({ name, password_hash: passwordHash, admin: 0, created_at: now })))
      .execute();
  }
  const ids = new Map(
    (await db.selectFrom('users').select(['id', 'name']).execute()).map((row) => [row.name, row.id]),
  );

  const store = new PimStore(db);
  for (const name of names) await store.ensureDefaults({ id: ids.get(name) as number, name });
  const contactsOf = new Map(
    (
      await db
        .selectFrom('pim_collections')
        .select(['id', 'user_id'])
        .where('class', '=', 'Contacts')
        .where('is_default', '=', 1)
        .execute()
    ).map((row) => [row.user_id, row.id]),
  );
  const users = names.map((name) => {
    const id = ids.get(name) as number;
    return { id, name, contacts: contactsOf.get(id) as number };
  });

  const devices: DeviceSpec[] = users.flatMap((user, u) =>
    Array.from({ length: options.devicesPerUser }, (_, d) => {
      const index = u * options.devicesPerUser + d;
      return { index, user: user.name, deviceId: `PING${String(index).padStart(6, '0')}` };
    }),
  );
  for (const batch of batches(devices)) {
    await db
      .insertInto('devices')
      .values(
        batch.map((device) => ({
          device_id: device.deviceId,
          device_type: options.deviceType,
          user_agent: options.userAgent,
          protocol_version: options.protocolVersion,
          first_seen: now,
          last_seen: now,
        })),
      )
      .execute();
  }
  const deviceRows = new Map(
    (await db.selectFrom('devices').select(['id', 'device_id']).execute()).map((row) => [
      row.device_id,
      row.id,
    ]),
  );
  const policyKey = finalPolicyKey(defaultPolicySettings, options.protocolVersion);
  for (const batch of batches(devices)) {
    await db
      .insertInto('device_accounts')
      .values(
        batch.map((device) => ({
          device_id: deviceRows.get(device.deviceId) as number,
          user_id: ids.get(device.user) as number,
          first_seen: now,
          last_seen: now,
          policy_key: policyKey,
          policy_version: options.protocolVersion,
          policy_ack_status: 1,
          provisioned_at: now,
        })),
      )
      .execute();
  }
  return { users, devices: devices.map((device) => ({ ...device, policyKey: String(policyKey) })) };
}

function batches<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += INSERT_BATCH) {
    result.push(items.slice(start, start + INSERT_BATCH));
  }
  return result;
}

export interface AirsyncServer {
  url: string;
  pid: number;
  /** Runs a full garbage collection in the server and returns its memory figures after it. */
  collect(): Promise<NodeJS.MemoryUsage>;
  /** Writes a heap snapshot; resolves with its path. */
  snapshot(path: string): Promise<string>;
  startProfile(): Promise<void>;
  /** Writes the CPU profile started last to `path`. */
  stopProfile(path: string): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not ended after STOP_TIMEOUT_MS. */
  stop(): Promise<void>;
}

/**
 * Starts `airsync serve` on a free loopback port with the data dir and database of `config` and the
 * settings of `configFile`.
 */
export async function startAirsync(
  config: Pick<Config, 'dataDir' | 'database'>,
  configFile: string,
): Promise<AirsyncServer> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (config.database !== undefined) env.AIRSYNC_DATABASE = config.database;
  const args = [
    '--expose-gc',
    '--import',
    'tsx',
    SERVER_ENTRY,
    '--listen',
    '127.0.0.1:0',
    '--data',
    config.dataDir,
    '--config',
    configFile,
  ];
  const server = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    server.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const listening = /listening on (\S+)/.exec(output);
      if (listening) resolve(listening[1] as string);
    });
    server.once('exit', (code) => reject(new Error(`airsync serve exited with ${code}: ${output}`)));
  });
  return {
    url,
    pid: server.pid as number,
    collect: async () => {
      const answer = await ask(server, { kind: 'collect' });
      if (answer.kind !== 'collected') throw new Error(`unexpected answer ${answer.kind}`);
      return answer.memory;
    },
    snapshot: async (path) => {
      const answer = await ask(server, { kind: 'snapshot', path });
      if (answer.kind !== 'snapshot') throw new Error(`unexpected answer ${answer.kind}`);
      return answer.path;
    },
    startProfile: async () => {
      await ask(server, { kind: 'profile-start' });
    },
    stopProfile: async (path) => {
      await ask(server, { kind: 'profile-stop', path });
    },
    stop: () => stop(server),
  };
}

function ask(server: ChildProcess, request: ServerProbeRequest): Promise<ServerProbeAnswer> {
  return new Promise((resolve) => {
    server.once('message', (answer: ServerProbeAnswer) => resolve(answer));
    server.send(request);
  });
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Adds contacts to users' default address books from this process, as a tool writing to the
 * server's database does. On PostgreSQL the store announces each change on the server's change bus
 * (LISTEN/NOTIFY); on SQLite the server's history poller finds it.
 */
export class AirsyncChanges {
  private serial = 0;
  private readonly store: PimStore;
  /** When each user's last change committed: the store tells right after the commit. */
  private readonly committed = new Map<number, number>();

  private constructor(
    private readonly database: Database,
    private readonly bus: ChangeBus | undefined,
  ) {
    this.store = new PimStore(database.db, {
      windowOf: itemWindow,
      onChange: (change) => {
        this.committed.set(change.userId, monoNow());
        bus?.publish(change);
      },
    });
  }

  static async open(config: Pick<Config, 'dataDir' | 'database'>): Promise<AirsyncChanges> {
    const database = await openDatabase(config);
    const bus =
      config.database === undefined
        ? undefined
        : await createChangeBus({ kind: 'postgres', connectionString: config.database });
    return new AirsyncChanges(database, bus);
  }

  /** Adds one contact; resolves with the time of its commit, ms on the monotonic clock. */
  async change(user: SeededUser): Promise<number> {
    const serial = ++this.serial;
    await this.store.putItem(
      { id: user.id, name: user.name },
      user.contacts,
      {
        class: 'Contacts',
        data: {
          firstName: 'Pinged',
          lastName: `Contact ${serial}`,
          emails: [`pinged.${serial}@example.com`],
          phones: { mobile: `+1 555 ${String(serial).padStart(7, '0')}` },
        },
      },
      { tool: 'bench' },
    );
    const committed = this.committed.get(user.id);
    if (committed === undefined) throw new Error('the store announced no change');
    return committed;
  }

  async close(): Promise<void> {
    await this.bus?.close();
    await this.database.close();
  }
}

function monoNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
