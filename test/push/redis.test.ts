// Two buses over Redis pub/sub, as two server processes would have them, on the Redis server at
// 127.0.0.1:6379 (AIRSYNC_TEST_REDIS to use another). Each test run has its own channel.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { createChangeBus, type ChangeBus, type FolderChange } from '../../src/push/index.ts';
import { RespConnection } from '../../src/push/resp.ts';
import { recorder, REDIS_URL, waitFor } from './helpers.ts';

const inbox = { userId: 1, backend: 'store', folderId: 'inbox' };
const FAST_BACKOFF = { initialMs: 20, maxMs: 200 };

describe('change bus over Redis', () => {
  const run = randomBytes(6).toString('hex');
  const channel = `airsync_test_${run}`;
  const nameOf = (bus: string) => `airsync-test-${run}-${bus}`;
  let admin: RespConnection;
  let a: ChangeBus;
  let b: ChangeBus;
  let errorsOfA: Error[];
  let errorsOfB: Error[];

  const open = (bus: string, errors: Error[]) =>
    createChangeBus({
      kind: 'redis',
      url: REDIS_URL,
      channel,
      connectionName: nameOf(bus),
      backoff: FAST_BACKOFF,
      onError: (error) => errors.push(error),
    });

  /** CLIENT KILL of the bus's connections whose names end so; returns how many were killed. */
  const kill = async (bus: string, role: 'subscriber' | 'publisher'): Promise<number> => {
    const list = (await admin.command(['CLIENT', 'LIST'])) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.includes(` name=${nameOf(bus)}-${role} `))
      .map((line) => /^id=(\d+)/.exec(line)?.[1] as string);
    for (const id of ids) await admin.command(['CLIENT', 'KILL', 'ID', id]);
    return ids.length;
  };

  before(async () => {
    admin = await RespConnection.open({ url: REDIS_URL });
  });
  after(async () => {
    await admin.close();
  });
  beforeEach(async () => {
    errorsOfA = [];
    errorsOfB = [];
    a = await open('a', errorsOfA);
    b = await open('b', errorsOfB);
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test('a change published in one process wakes a subscriber in the other, with all its fields', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1, hierarchy: true }, inB.listener);
    const change: FolderChange = { ...inbox, origin: 'account:3', hierarchy: true, seq: 17 };
    a.publish(change);
    await waitFor(() => inB.changes.length === 1, 'the change in B');
    assert.deepEqual(inB.changes, [change]);
  });

  test('the publishing process wakes its own subscribers once, not again from its message', async () => {
    const inA = recorder();
    const sentinel = { ...inbox, folderId: 'sentinel' };
    a.subscribe([inbox, sentinel], { userId: 1 }, inA.listener);
    a.publish(inbox);
    assert.equal(inA.changes.length, 1, 'delivered at once');
    // Redis delivers one channel's messages in order: once B's arrives, A's own would have too.
    b.publish(sentinel);
    await waitFor(() => inA.changes.some((change) => change.folderId === 'sentinel'), 'the sentinel in A');
    assert.deepEqual(
      inA.changes.map((change) => change.folderId),
      ['inbox', 'sentinel'],
    );
  });

  test('after its subscription is killed, a bus reconnects, reports the gap and hears changes again', async () => {
    const inB = recorder();
    let gaps = 0;
    b.subscribe([inbox], { userId: 1, onGap: () => gaps++ }, inB.listener);
    assert.equal(await kill('b', 'subscriber'), 1);
    await waitFor(() => gaps === 1, 'the gap in B');
    assert.ok(errorsOfB.length > 0, 'the lost connection is reported');
    a.publish(inbox);
    await waitFor(() => inB.changes.length === 1, 'the change in B after the reconnection');
  });

  test('a change published while the publishing connection is down is sent once it is back', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1 }, inB.listener);
    assert.equal(await kill('a', 'publisher'), 1);
    a.publish(inbox);
    await waitFor(() => inB.changes.length === 1, 'the held change in B');
  });

  test('closing sends what was just published', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1 }, inB.listener);
    const c = await open('c', []);
    c.publish(inbox);
    await c.close();
    await waitFor(() => inB.changes.length === 1, 'the change in B');
  });

  test('a message that is no change is reported and ignored', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1 }, inB.listener);
    await admin.command(['PUBLISH', channel, 'not a change']);
    a.publish(inbox);
    await waitFor(() => inB.changes.length === 1, 'the change in B');
    assert.match(errorsOfB[0]?.message ?? '', /airsync did not send/);
  });

  test('a supersede reaches the other processes and not its own', async () => {
    const inA: number[][] = [];
    const inB: number[][] = [];
    a.onSupersede((account, at) => inA.push([account, at]));
    b.onSupersede((account, at) => inB.push([account, at]));
    a.supersede(7, 1000);
    b.supersede(9, 3000);
    await waitFor(() => inA.length === 1 && inB.length === 1, 'both supersedes');
    assert.deepEqual(inA, [[9, 3000]]);
    assert.deepEqual(inB, [[7, 1000]]);
  });

  test('a bus that cannot connect at startup fails to open', async () => {
    await assert.rejects(createChangeBus({ kind: 'redis', url: 'redis://127.0.0.1:1' }), /ECONNREFUSED/);
    await assert.rejects(createChangeBus({ kind: 'redis', url: 'http://127.0.0.1:6379' }), /redis:\/\//);
  });
});
