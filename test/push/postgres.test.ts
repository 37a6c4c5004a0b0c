// Two buses over PostgreSQL LISTEN/NOTIFY, as two server processes would have them.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import pg from 'pg';
import { createChangeBus, type ChangeBus, type FolderChange } from '../../src/push/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { recorder, waitFor } from './helpers.ts';

const inbox = { userId: 1, backend: 'store', folderId: 'inbox' };
const FAST_BACKOFF = { initialMs: 20, maxMs: 200 };

describe('change bus over PostgreSQL', () => {
  let database: TestDatabase;
  let connectionString: string;
  let admin: pg.Client;
  let a: ChangeBus;
  let b: ChangeBus;
  let errorsOfA: Error[];
  let errorsOfB: Error[];

  const open = (name: string, errors: Error[]) =>
    createChangeBus({
      kind: 'postgres',
      connectionString,
      connectionName: name,
      backoff: FAST_BACKOFF,
      onError: (error) => errors.push(error),
    });

  /** Ends the bus connections named so, as an administrator or a failover would. */
  const terminate = async (name: string): Promise<number> => {
    const result = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
      [name],
    );
    return result.rowCount ?? 0;
  };

  before(async () => {
    database = await createTestDatabase('postgres');
    connectionString = database.config.database as string;
    admin = new pg.Client({ connectionString });
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await database.drop();
  });
  beforeEach(async () => {
    errorsOfA = [];
    errorsOfB = [];
    a = await open('airsync-test-a', errorsOfA);
    b = await open('airsync-test-b', errorsOfB);
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test('a change published in one process wakes a subscriber in the other, with all its fields', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1, hierarchy: true }, inB.listener);
    const change: FolderChange = { ...inbox, origin: 'tool:import', hierarchy: true, seq: 17 };
    a.publish(change);
    await waitFor(() => inB.changes.length === 1, 'the change in B');
    assert.deepEqual(inB.changes, [change]);
  });

  test('the publishing process wakes its own subscribers once, not again from its notification', async () => {
    const inA = recorder();
    const sentinel = { ...inbox, folderId: 'sentinel' };
    a.subscribe([inbox, sentinel], { userId: 1 }, inA.listener);
    a.publish(inbox);
    assert.equal(inA.changes.length, 1, 'delivered at once');
    // B's notification is queued behind A's own: once it arrives, A's would have too.
    b.publish(sentinel);
    await waitFor(() => inA.changes.some((change) => change.folderId === 'sentinel'), 'the sentinel in A');
    assert.deepEqual(
      inA.changes.map((change) => change.folderId),
      ['inbox', 'sentinel'],
    );
  });

  test("a device's own change does not wake its subscription in another process", async () => {
    const ownDevice = recorder();
    const otherDevice = recorder();
    b.subscribe([inbox], { userId: 1, ignoreOrigin: 'account:5' }, ownDevice.listener);
    b.subscribe([inbox], { userId: 1, ignoreOrigin: 'account:6' }, otherDevice.listener);
    a.publish({ ...inbox, origin: 'account:5' });
    await waitFor(() => otherDevice.changes.length === 1, 'the change for the other device');
    assert.equal(ownDevice.changes.length, 0);
  });

  test('after its connection is terminated, a bus reconnects, reports the gap and hears changes again', async () => {
    const inB = recorder();
    let gaps = 0;
    b.subscribe([inbox], { userId: 1, onGap: () => gaps++ }, inB.listener);
    assert.equal(await terminate('airsync-test-b'), 1);
    await waitFor(() => gaps === 1, 'the gap in B');
    assert.ok(errorsOfB.length > 0, 'the lost connection is reported');
    a.publish(inbox);
    await waitFor(() => inB.changes.length === 1, 'the change in B after the reconnection');
  });

  test('a change published while the connection is down is sent once it is back', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1 }, inB.listener);
    assert.equal(await terminate('airsync-test-a'), 1);
    // Whether A has noticed yet or not, the change is held and sent on the next connection.
    a.publish(inbox);
    await waitFor(() => inB.changes.length === 1, 'the held change in B');
    assert.ok(errorsOfA.length > 0);
  });

  test('closing sends what was just published', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1 }, inB.listener);
    const c = await open('airsync-test-c', []);
    c.publish(inbox);
    await c.close();
    await waitFor(() => inB.changes.length === 1, 'the change in B');
  });

  test('a payload that is no change is reported and ignored', async () => {
    const inB = recorder();
    b.subscribe([inbox], { userId: 1 }, inB.listener);
    await admin.query(`NOTIFY airsync_changes, 'not a change'`);
    a.publish(inbox);
    await waitFor(() => inB.changes.length === 1, 'the change in B');
    assert.match(errorsOfB[0]?.message ?? '', /airsync did not send/);
  });

  test('a supersede reaches the other processes and not its own', async () => {
    const inA: number[][] = [];
    const inB: number[][] = [];
    a.onSupersede((account, at) => inA.push([account, at]));
    const stop = b.onSupersede((account, at) => inB.push([account, at]));
    a.supersede(7, 1000);
    await waitFor(() => inB.length === 1, 'the supersede in B');
    stop();
    a.supersede(8, 2000);
    b.supersede(9, 3000);
    await waitFor(() => inA.length === 1, 'the supersede in A');
    assert.deepEqual(inA, [[9, 3000]]);
    assert.deepEqual(inB, [[7, 1000]]);
  });

  test('a bus that cannot connect at startup fails to open', async () => {
    const url = new URL(connectionString);
    url.pathname = '/airsync_no_such_database';
    await assert.rejects(createChangeBus({ kind: 'postgres', connectionString: url.href }), /does not exist/);
    await assert.rejects(
      createChangeBus({ kind: 'postgres', connectionString, channel: 'Bad-Name' }),
      /channel/,
    );
  });
});
