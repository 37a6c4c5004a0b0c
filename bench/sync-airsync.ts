// The airsync side of bench/sync.ts: a fresh database (SQLite in a temporary data dir, or a fresh
// PostgreSQL database), the user, its address book filled straight through the built-in store with
// the contacts of the Horde peer bench's horde-seed.php, then bench/sync-server.ts in a child process
// requiring provisioning, as Horde does.

import { fork, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { PimStore } from '../src/backends/store/store.ts';
import type { Config } from '../src/config.ts';
import type { Contact, PimItem } from '../src/model/types.ts';
import { openDatabase } from '../src/state/db.ts';
import { UserStore } from '../src/state/users.ts';
import { createTestDatabase, type DatabaseKind } from '../test/helpers/databases.ts';
import type { ServerClock, ServerRequest } from './sync-client.ts';
import type { ParentMessage, ServerMessage } from './sync-server.ts';

const SERVER = join(import.meta.dirname, 'sync-server.ts');
const PASSWORD = 'secret';
const MEASUREMENT_WAIT_MS = 5_000;

export interface AirsyncOptions {
  database: DatabaseKind;
  user: string;
  contacts: number;
  /** Where the server writes its CPU profile (bench/sync-profile.ts); none when undefined. */
  profilePath?: string;
}

export interface RunningAirsync {
  url: string;
  password: string;
  clock: ServerClock;
  seedSeconds: number;
  /** Starts the CPU profile when one was asked for. */
  startProfiling(): Promise<void>;
  /** Stops the server and drops the database. */
  stop(): Promise<void>;
}

export async function startAirsync(options: AirsyncOptions): Promise<RunningAirsync> {
  const storage = await createTestDatabase(options.database);
  try {
    const seedSeconds = await seed(storage.config, options.user, options.contacts);
    const server = await spawnServer(storage.config, options.profilePath);
    return {
      url: `${server.url}/Microsoft-Server-ActiveSync`,
      password: PASSWORD,
      clock: server.clock,
      seedSeconds,
      startProfiling: async () => {
        if (options.profilePath !== undefined) await server.clock.ask('profile');
      },
      stop: async () => {
        await server.stop();
        await storage.drop();
      },
    };
  } catch (error) {
    await storage.drop();
    throw error;
  }
}

/** Adds the user and their contacts; returns how long the contacts took. */
async function seed(config: Config, name: string, count: number): Promise<number> {
  const database = await openDatabase(config);
  try {
    const user = await new UserStore(database.db).add(name, PASSWORD);
    const items = Array.from({ length: count }, (_, i) => benchContact(name, i + 1));
    const started = performance.now();
    const store = new PimStore(database.db);
    const addressBook = (await store.collections(user)).find(
      (collection) => collection.pimClass === 'Contacts' && collection.isDefault,
    );
    if (addressBook === undefined) throw new Error(`${name} has no default address book`);
    await store.addItems(user, addressBook.id, items, { tool: 'bench' });
    return (performance.now() - started) / 1000;
  } finally {
    await database.close();
  }
}

/**
 * Contact `i` of `user` exactly as horde-seed.php writes it — FileAs as Horde derives it ("First
 * Last") — so that both servers send the same values.
 */
export function benchContact(user: string, i: number): PimItem {
  const first = FIRST_NAMES[i % 10] as string;
  const last = `${LAST_NAMES[Math.floor(i / 10) % 10]}${pad(i, 6)}`;
  const contact: Contact = {
    firstName: first,
    lastName: last,
    fileAs: `${first} ${last}`,
    emails: [`${first}.${last}@example.com`.toLowerCase()],
    phones: { business: `+1 555 ${pad(i, 7)}`, mobile: `+1 555 9${pad(i, 6)}` },
    companyName: `Bench Corp ${i % 50}`,
    jobTitle: `Engineer ${i % 7}`,
    homeAddress: {
      street: `${(i % 999) + 1} Benchmark Road`,
      city: 'Testville',
      postalCode: pad(i % 99999, 5),
    },
    body: {
      format: 'text',
      data: `Bench contact ${i} for user ${user}. Lorem ipsum dolor sit amet, consectetur adipiscing elit.`,
    },
  };
  return { class: 'Contacts', data: contact };
}

const FIRST_NAMES = ['Ada', 'Brian', 'Chloe', 'Dmitri', 'Elena', 'Farid', 'Greta', 'Hiro', 'Ines', 'Jonas'];
const LAST_NAMES = [
  'Lovelace',
  'Kernighan',
  'Zhao',
  'Ivanov',
  'Garcia',
  'Haddad',
  'Berg',
  'Tanaka',
  'Silva',
  'Meyer',
];

function pad(value: number, digits: number): string {
  return String(value).padStart(digits, '0');
}

interface SpawnedServer {
  url: string;
  clock: IpcClock;
  stop(): Promise<void>;
}

async function spawnServer(config: Config, profilePath: string | undefined): Promise<SpawnedServer> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AIRSYNC_DATA: config.dataDir,
    AIRSYNC_LISTEN: '127.0.0.1:0',
    AIRSYNC_PROVISIONING: 'required',
  };
  if (config.database !== undefined) env.AIRSYNC_DATABASE = config.database;
  // The request log goes to a file, as a production server's standard output would.
  const log = openSync(join(config.dataDir, 'server.log'), 'a');
  const server = fork(SERVER, profilePath === undefined ? [] : [profilePath], {
    env,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', log, 'inherit', 'ipc'],
  });
  closeSync(log);
  const url = await new Promise<string>((resolve, reject) => {
    server.once('message', (message: ServerMessage) => {
      if (message.kind === 'listening') resolve(message.url);
    });
    server.once('exit', (code) => reject(new Error(`the airsync server exited with ${code}`)));
  });
  return { url, clock: new IpcClock(server), stop: () => stop(server) };
}

/** Asks the server process for the durations it measured and the CPU time it used, or to start profiling. */
class IpcClock implements ServerClock {
  constructor(private readonly server: ChildProcess) {}

  async cpuMs(): Promise<number> {
    const answer = await this.ask('cpu');
    return answer.kind === 'cpu' ? answer.ms : NaN;
  }

  async take(deviceId: string, count: number): Promise<ServerRequest[]> {
    const deadline = Date.now() + MEASUREMENT_WAIT_MS;
    const requests: ServerRequest[] = [];
    // fastify's onResponse runs once the answer is out: the last request may not be counted yet.
    for (;;) {
      const answer = await this.ask('requests');
      if (answer.kind === 'requests') {
        requests.push(...answer.requests.filter((request) => request.deviceId === deviceId));
      }
      if (requests.length >= count || Date.now() > deadline) return requests;
      await sleep(20);
    }
  }

  ask(kind: ParentMessage['kind']): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => {
        this.server.off('message', onMessage);
        reject(new Error(`the airsync server exited with ${code}`));
      };
      const onMessage = (message: ServerMessage) => {
        if (message.kind !== kind) return;
        this.server.off('message', onMessage).off('exit', onExit);
        resolve(message);
      };
      this.server.on('message', onMessage).once('exit', onExit);
      this.server.send({ kind } satisfies ParentMessage);
    });
  }
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
}
