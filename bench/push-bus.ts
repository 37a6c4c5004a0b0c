// What waiting requests cost the change bus: `node --import tsx bench/push-bus.ts`. Prints figures;
// asserts nothing.
//
// In process: the heap taken per subscription (10,000 of them, as 10,000 parked Pings), the time
// to subscribe and unsubscribe, and the time of one publish. Across processes: the time from a
// publish in one bus to the wake-up in another, over PostgreSQL LISTEN/NOTIFY and over Redis
// pub/sub (both buses live in this process, so the figure is the round trip through the server).
//
// PostgreSQL is reached as the tests reach it (AIRSYNC_TEST_POSTGRES, by default the local server
// with trust auth; a database is created for the run and dropped after), Redis through
// AIRSYNC_TEST_REDIS, by default redis://127.0.0.1:6379.

import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createChangeBus, type ChangeBus, type FolderRef } from '../src/push/index.ts';
import { createTestDatabase } from '../test/helpers/databases.ts';

const SUBSCRIPTIONS = 10_000;
const ROUND_TRIPS = 1_000;
const REDIS_URL = process.env.AIRSYNC_TEST_REDIS ?? 'redis://127.0.0.1:6379';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

interface Shape {
  title: string;
  /** The folders and options of request number `index`. */
  request(index: number): { folders: FolderRef[]; userId: number; hierarchy: boolean };
}

const SHAPES: Shape[] = [
  {
    title: '1 folder each, all distinct',
    request: (index) => ({
      folders: [{ userId: index, backend: 'store', folderId: `folder-${index}` }],
      userId: index,
      hierarchy: false,
    }),
  },
  {
    title: '5 folders + hierarchy, 2 devices a user',
    request: (index) => {
      const userId = Math.floor(index / 2);
      const folders = ['inbox', 'calendar', 'contacts', 'tasks', 'notes'].map((folderId) => ({
        userId,
        backend: 'store',
        folderId,
      }));
      return { folders, userId, hierarchy: true };
    },
  },
];

async function inProcess(shape: Shape): Promise<void> {
  const bus = await createChangeBus({ kind: 'memory' });
  // The requests' own data exists whether or not they wait on the bus: made before measuring.
  const requests = Array.from({ length: SUBSCRIPTIONS }, (_, index) => shape.request(index));
  let woken = 0;
  const listener = (): void => {
    woken++;
  };
  const before = heapUsed();
  const started = performance.now();
  const unsubscribes = requests.map((request) =>
    bus.subscribe(request.folders, { userId: request.userId, hierarchy: request.hierarchy }, listener),
  );
  const subscribeMs = performance.now() - started;
  const perSubscription = (heapUsed() - before) / SUBSCRIPTIONS;

  const publishStarted = performance.now();
  const changed = requests[42]?.folders[0];
  if (changed !== undefined) bus.publish(changed);
  const publishMs = performance.now() - publishStarted;

  const unsubscribeStarted = performance.now();
  for (const unsubscribe of unsubscribes) unsubscribe();
  const unsubscribeMs = performance.now() - unsubscribeStarted;
  await bus.close();

  console.log(`  ${shape.title}`);
  console.log(`    heap per subscription   ${perSubscription.toFixed(0)} bytes`);
  console.log(`    subscribe               ${((subscribeMs * 1000) / SUBSCRIPTIONS).toFixed(2)} µs each`);
  console.log(`    unsubscribe             ${((unsubscribeMs * 1000) / SUBSCRIPTIONS).toFixed(2)} µs each`);
  console.log(`    one publish             ${(publishMs * 1000).toFixed(1)} µs, woke ${woken}`);
}

/** Publishes in `a`, one at a time, and times until `b`'s subscriber hears each. */
async function roundTrips(title: string, a: ChangeBus, b: ChangeBus): Promise<void> {
  const folder = { userId: 1, backend: 'store', folderId: 'inbox' };
  let heard: (() => void) | undefined;
  const unsubscribe = b.subscribe([folder], { userId: 1 }, () => heard?.());
  const times: number[] = [];
  for (let trip = 0; trip < ROUND_TRIPS; trip++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      heard = resolve;
      a.publish(folder);
    });
    times.push(performance.now() - started);
  }
  unsubscribe();
  times.sort((x, y) => x - y);
  const at = (fraction: number) => (times[Math.floor(fraction * (times.length - 1))] ?? 0).toFixed(2);
  console.log(`  ${title.padEnd(22)} p50 ${at(0.5)} ms   p99 ${at(0.99)} ms   (${ROUND_TRIPS} changes)`);
}

async function overPostgres(): Promise<void> {
  const database = await createTestDatabase('postgres');
  try {
    const connectionString = database.config.database as string;
    const a = await createChangeBus({ kind: 'postgres', connectionString });
    const b = await createChangeBus({ kind: 'postgres', connectionString });
    await roundTrips('PostgreSQL NOTIFY', a, b);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await database.drop();
  }
}

async function overRedis(): Promise<void> {
  const channel = `airsync_bench_${randomBytes(6).toString('hex')}`;
  const a = await createChangeBus({ kind: 'redis', url: REDIS_URL, channel });
  const b = await createChangeBus({ kind: 'redis', url: REDIS_URL, channel });
  await roundTrips('Redis pub/sub', a, b);
  await Promise.all([a.close(), b.close()]);
}

console.log(`In process, ${SUBSCRIPTIONS} subscriptions:`);
for (const shape of SHAPES) await inProcess(shape);
console.log('From a publish in one bus to the wake-up in another:');
await overPostgres();
await overRedis();
