// The Sync that waits, at every version that has it (Wait from 12.1, HeartbeatInterval from 14.0) and
// on both databases: out of bounds (Status 14 with the Limit), both given (4), waiting for a change
// and answering with it, the empty response when the heartbeat ends, the wait cached with the request
// for an empty Sync, a device's own change that does not wake it, a newer request that ends it, and a
// server that shuts down while Syncs wait.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { contact, type Phone } from '../sync/session.ts';
import {
  eventually,
  PushWorld,
  TEST_PUSH,
  WAIT_VERSIONS,
  waitingSync,
  type WaitingSyncRequest,
} from '../push/world.ts';

const TOOL = { tool: 'test' };
/** Seconds: long enough never to end within a test that expects an answer for another reason. */
const LONG = 60;

describeEachDatabase('Sync that waits', (context) => {
  // A suite of its own, so that its server and bus close before the database goes.
  describe('on a server with heartbeats from a second', () => {
    let world: PushWorld;
    before(async () => {
      world = await PushWorld.start(context.config, context.database.db);
    });
    after(() => world.close());

    async function synced(version: ProtocolVersion) {
      const owner = await world.user();
      const phone = world.phone(owner, version);
      return { owner, phone, ...(await syncedPhone(world, owner, phone)) };
    }

    /** The longest wait the version can ask for: Wait in whole minutes at 12.1, else HeartbeatInterval. */
    const longWait = (version: ProtocolVersion): Partial<WaitingSyncRequest> =>
      version === '12.1' ? { wait: 1 } : { heartbeat: LONG };

    describe('at every version', { concurrency: true }, () => {
      for (const version of WAIT_VERSIONS) {
        test(`${version}: Wait and HeartbeatInterval out of bounds are Status 14 with the Limit; both are 4`, async () => {
          const { phone, contacts } = await synced(version);
          const collections = [{ collectionId: contacts, syncKey: phone.keys.get(contacts) as string }];
          for (const [wait, limit] of [
            [0, 1],
            [-1, 1],
            [60, 59],
          ] as const) {
            const refused = await waitingSync(phone.client, { collections, wait });
            assert.deepEqual([refused.status, refused.limit], [14, limit], `Wait ${wait}`);
          }
          const heartbeat = await waitingSync(phone.client, { collections, heartbeat: 0 });
          if (version === '12.1') {
            // HeartbeatInterval is no element of 12.1: the Sync is answered as if it had none.
            assert.deepEqual([heartbeat.status, heartbeat.collections[0]?.status], [undefined, 1]);
            return;
          }
          assert.deepEqual([heartbeat.status, heartbeat.limit], [14, TEST_PUSH.minHeartbeat]);
          const tooLong = await waitingSync(phone.client, { collections, heartbeat: 3541 });
          assert.deepEqual([tooLong.status, tooLong.limit], [14, 3540]);
          const both = await waitingSync(phone.client, { collections, heartbeat: LONG, wait: 1 });
          assert.equal(both.status, 4);
        });

        test(`${version}: with nothing to send it waits, and answers with the change that comes`, async () => {
          const { owner, phone, contacts, addressBook } = await synced(version);
          const key = phone.keys.get(contacts) as string;
          const collections = [{ collectionId: contacts, syncKey: key }];
          // Something to send already: the answer comes at once.
          await world.store.putItem(owner, addressBook, contact('Early'), TOOL);
          const atOnce = await waitingSync(phone.client, { collections, ...longWait(version) });
          assert.equal(atOnce.collections[0]?.adds, 1);
          assert.ok(atOnce.ms < 5000);
          const current = [{ collectionId: contacts, syncKey: atOnce.collections[0]?.syncKey as string }];

          const waiting = waitingSync(phone.client, { collections: current, ...longWait(version) });
          await world.held(owner);
          await world.store.putItem(owner, addressBook, contact('Late'), TOOL);
          const woken = await waiting;
          assert.equal(woken.httpStatus, 200);
          assert.deepEqual(
            woken.collections.map((collection) => [
              collection.collectionId,
              collection.status,
              collection.adds,
            ]),
            [[contacts, 1, 1]],
          );
          assert.notEqual(woken.collections[0]?.syncKey, current[0]?.syncKey);
        });

        test(`${version}: an empty Sync waits as the cached request did; a device's own change does not wake it; a newer request ends it`, async () => {
          const { owner, phone, contacts, addressBook } = await synced(version);
          const account = await world.accountOf(phone);
          const collections = [{ collectionId: contacts, syncKey: phone.keys.get(contacts) as string }];
          if (version !== '12.1') {
            // The heartbeat ends with nothing new: the empty response, and so for the empty Sync after it.
            const quiet = await waitingSync(phone.client, { collections, heartbeat: 1 });
            assert.deepEqual([quiet.httpStatus, quiet.empty], [200, true]);
            assert.ok(quiet.ms >= 900, `answered after ${quiet.ms} ms`);
            const repeated = await waitingSync(phone.client, {});
            assert.deepEqual([repeated.empty, repeated.ms >= 900], [true, true]);
          }
          const first = waitingSync(phone.client, { collections, ...longWait(version) });
          await world.held(owner);
          // A newer request of the device ends the wait at once, with the empty response.
          const empty = waitingSync(phone.client, {});
          assert.equal((await first).empty, true);
          await world.held(owner);
          await world.store.putItem(owner, addressBook, contact('Mine'), { account });
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(world.bus.waiting(owner.id), 1, "the device's own change did not wake it");
          await world.store.putItem(owner, addressBook, contact('Theirs'), TOOL);
          const woken = await empty;
          assert.equal(woken.collections[0]?.adds, 2);
          const next = [{ collectionId: contacts, syncKey: woken.collections[0]?.syncKey as string }];

          // A full request without a wait replaces the cached one: the empty Sync after it answers at once.
          const full = await waitingSync(phone.client, { collections: next });
          assert.equal(full.collections[0]?.status, 1);
          const atOnce = await waitingSync(phone.client, {});
          assert.deepEqual([atOnce.empty, atOnce.collections[0]?.status], [false, 1]);
          assert.ok(atOnce.ms < 900, `answered after ${atOnce.ms} ms`);
        });
      }
    });

    test('12.0 has no Wait: the Sync is answered at once', async () => {
      const { phone, contacts } = await synced('12.0');
      const collections = [{ collectionId: contacts, syncKey: phone.keys.get(contacts) as string }];
      const answer = await waitingSync(phone.client, { collections, wait: 1 });
      assert.deepEqual([answer.status, answer.collections[0]?.status, answer.empty], [undefined, 1, false]);
    });

    test('a client that hangs up leaves nothing waiting behind', async () => {
      const { owner, phone, contacts } = await synced('14.1');
      const collections = [{ collectionId: contacts, syncKey: phone.keys.get(contacts) as string }];
      const hangingUp = waitingSync(phone.client, { collections, heartbeat: LONG }, { timeoutMs: 300 });
      await assert.rejects(hangingUp);
      await eventually(() => world.bus.waiting(owner.id) === 0, 'the subscription released');
    });

    test('a server shutting down answers every waiting Sync with the empty response first', async () => {
      const closing = await PushWorld.start(context.config, context.database.db);
      try {
        const owner = await closing.user();
        const waiting = await Promise.all(
          WAIT_VERSIONS.map(async (version) => {
            const phone = closing.phone(owner, version);
            const { contacts } = await syncedPhone(closing, owner, phone);
            const collections = [{ collectionId: contacts, syncKey: phone.keys.get(contacts) as string }];
            return { answer: waitingSync(phone.client, { collections, ...longWait(version) }) };
          }),
        );
        await closing.held(owner, WAIT_VERSIONS.length);
        const started = performance.now();
        await closing.close();
        const answers = await Promise.all(waiting.map(({ answer }) => answer));
        assert.deepEqual(
          answers.map((answer) => [answer.httpStatus, answer.empty]),
          WAIT_VERSIONS.map(() => [200, true]),
        );
        assert.ok(performance.now() - started < 5000);
      } finally {
        await closing.close();
      }
    });
  });
});

/** FolderSync, then the address book synced to its end. */
async function syncedPhone(world: PushWorld, owner: Owner, phone: Phone) {
  await phone.folderSync();
  const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
  await phone.start(contacts);
  await phone.syncToEnd(contacts);
  return { contacts, addressBook: await world.defaultCollection(owner, 'Contacts') };
}
