// The registry of waiting requests over a real bus: what wakes a request and what ends it, what it
// holds while it waits, and a newer request of the same device account ending it, in this process
// and in another (two buses over Redis standing for two server processes).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  createChangeBus,
  WaitingRequests,
  type ChangeBus,
  type ClientConnection,
  type FolderRef,
  type WaitOptions,
} from '../../src/push/index.ts';
import { REDIS_URL, waitFor } from './helpers.ts';

const inbox: FolderRef = { userId: 1, backend: 'store', folderId: 'inbox' };
const contacts: FolderRef = { userId: 1, backend: 'store', folderId: 'contacts' };
const LONG_MS = 60_000;

/** An HTTP exchange as the front door describes one: the client may hang up, the answer goes out. */
function exchange(): { connection: ClientConnection; hangUp(): void; answered(): void } {
  const controller = new AbortController();
  let answered = (): void => {};
  const done = new Promise<void>((resolve) => (answered = resolve));
  return { connection: { hangUp: controller.signal, done }, hangUp: () => controller.abort(), answered };
}

function waitOn(registry: WaitingRequests, options: Partial<WaitOptions> = {}) {
  const client = exchange();
  const waiter = registry.wait({
    account: 7,
    userId: 1,
    folders: [inbox, contacts],
    heartbeatMs: LONG_MS,
    connection: client.connection,
    ...options,
  });
  return { waiter, client };
}

async function memoryBus(): Promise<ChangeBus> {
  return createChangeBus({ kind: 'memory' });
}

test('changes within the settling time wake the request once, with every folder; it waits on after', async () => {
  const bus = await memoryBus();
  const registry = new WaitingRequests(bus);
  const { waiter } = waitOn(registry, { hierarchy: true });
  const woken = waiter.next();
  bus.publish(inbox);
  bus.publish(contacts);
  bus.publish(inbox);
  bus.publish({ userId: 1, backend: 'store', folderId: 'new', hierarchy: true });
  bus.publish({ ...inbox, userId: 2 });
  assert.deepEqual(await woken, { kind: 'changes', folders: [inbox, contacts], hierarchy: true, gap: false });

  // Still subscribed: a change while the request was busy is there for its next look.
  bus.publish(contacts);
  assert.deepEqual(await waiter.next(), {
    kind: 'changes',
    folders: [contacts],
    hierarchy: false,
    gap: false,
  });
  waiter.end();
  assert.deepEqual(bus.stats(), { subscribers: 0, folders: 0 });
  assert.equal(registry.size, 0);
});

test("the account's own changes do not wake it; a gap does, to look at everything", async () => {
  const bus = await memoryBus();
  const registry = new WaitingRequests(bus);
  const { waiter } = waitOn(registry);
  const woken = waiter.next();
  bus.publish({ ...inbox, origin: 'account:7' });
  const early = await Promise.race([
    woken,
    new Promise((resolve) => setTimeout(() => resolve('asleep'), 100)),
  ]);
  assert.equal(early, 'asleep');
  bus.publish({ ...inbox, origin: 'account:8' });
  assert.deepEqual((await woken).kind, 'changes');
  waiter.end();
});

test('the heartbeat ends the wait, and releases all it held', async () => {
  const bus = await memoryBus();
  const registry = new WaitingRequests(bus);
  const started = performance.now();
  const { waiter } = waitOn(registry, { heartbeatMs: 150 });
  assert.deepEqual(await waiter.next(), { kind: 'end', reason: 'heartbeat' });
  assert.ok(performance.now() - started >= 140);
  assert.deepEqual([bus.stats().subscribers, registry.size], [0, 0]);
  // Asked again, the answer stays.
  assert.deepEqual(await waiter.next(), { kind: 'end', reason: 'heartbeat' });
});

test('a newer request of the account ends the wait; other accounts wait on', async () => {
  const bus = await memoryBus();
  const registry = new WaitingRequests(bus);
  const first = waitOn(registry);
  const other = waitOn(registry, { account: 8 });
  const firstWoken = first.waiter.next();
  const second = waitOn(registry);
  assert.deepEqual(await firstWoken, { kind: 'end', reason: 'superseded' });
  registry.supersede(7);
  assert.deepEqual(await second.waiter.next(), { kind: 'end', reason: 'superseded' });
  assert.equal(registry.size, 1);
  other.waiter.end();
});

test('a client hanging up ends the wait, before or while it waits', async () => {
  const bus = await memoryBus();
  const registry = new WaitingRequests(bus);
  const { waiter, client } = waitOn(registry);
  const woken = waiter.next();
  client.hangUp();
  assert.deepEqual(await woken, { kind: 'end', reason: 'hang-up' });
  const gone = exchange();
  gone.hangUp();
  const late = registry.wait({
    account: 9,
    userId: 1,
    folders: [inbox],
    heartbeatMs: LONG_MS,
    connection: gone.connection,
  });
  assert.deepEqual(await late.next(), { kind: 'end', reason: 'hang-up' });
  assert.deepEqual([bus.stats().subscribers, registry.size], [0, 0]);
});

test('closing answers every waiting request and waits for the answers to go out; later waits end at once', async () => {
  const bus = await memoryBus();
  const registry = new WaitingRequests(bus);
  const requests = [7, 8, 9].map((account) => waitOn(registry, { account }));
  const wakes = requests.map(({ waiter }) => waiter.next());
  let closed = false;
  const closing = registry.close().then(() => (closed = true));
  assert.deepEqual(
    await Promise.all(wakes),
    requests.map(() => ({ kind: 'end', reason: 'shutdown' })),
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, 'the answers have not gone out yet');
  for (const { waiter, client } of requests) {
    waiter.end();
    client.answered();
  }
  await closing;
  const late = waitOn(registry, { account: 10 });
  assert.deepEqual(await late.waiter.next(), { kind: 'end', reason: 'shutdown' });
  assert.equal(bus.stats().subscribers, 0);
});

test('10,000 waiting requests hold one timer and one subscription each, and release them', async () => {
  const bus = await memoryBus();
  const registry = new WaitingRequests(bus);
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = timers();
  const requests = Array.from({ length: 10_000 }, (_, index) =>
    waitOn(registry, { account: index, userId: index, folders: [{ ...inbox, userId: index }] }),
  );
  assert.equal(timers() - before, 10_000);
  assert.deepEqual(bus.stats(), { subscribers: 10_000, folders: 10_000 });
  assert.equal(registry.size, 10_000);
  const woken = requests[4321]?.waiter.next();
  bus.publish({ ...inbox, userId: 4321 });
  assert.equal((await woken)?.kind, 'changes');
  for (const { waiter } of requests) waiter.end();
  assert.equal(timers(), before);
  assert.deepEqual(bus.stats(), { subscribers: 0, folders: 0 });
  assert.equal(registry.size, 0);
});

test('a request that waits in another process ends the one of the same account here', async () => {
  const channel = `airsync_test_${randomBytes(6).toString('hex')}`;
  const [busA, busB] = await Promise.all(
    ['a', 'b'].map((name) =>
      createChangeBus({
        kind: 'redis',
        url: REDIS_URL,
        channel,
        connectionName: `airsync-test-${channel}-${name}`,
      }),
    ),
  );
  const inA = new WaitingRequests(busA as ChangeBus);
  const inB = new WaitingRequests(busB as ChangeBus);
  try {
    const old = waitOn(inA);
    const unrelated = waitOn(inA, { account: 8 });
    const oldWoken = old.waiter.next();
    // Word of A's requests reaches B after B's own: it must not end the newer request there.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const reconnected = waitOn(inB);
    assert.deepEqual(await oldWoken, { kind: 'end', reason: 'superseded' });
    await waitFor(() => inA.size === 1, 'only the unrelated request waiting in A');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(inB.size, 1);
    assert.equal(reconnected.waiter.ended, false);
    assert.equal(unrelated.waiter.ended, false);
    unrelated.waiter.end();
    reconnected.waiter.end();
  } finally {
    await Promise.all([inA.close(), inB.close()]);
    await Promise.all([busA?.close(), busB?.close()]);
  }
});
