// Ping through whole device sessions, at every protocol version and on both databases: each Status
// (1 the heartbeat ended, 2 changes, 3 nothing cached, 4 malformed, 5 heartbeat out of bounds, 6 too
// many folders, 7 FolderSync needed, 8 a server fault), the parameters cached per device account, a
// device's own change that does not wake it, a newer request that ends it, a client that hangs up,
// and a server that shuts down while Pings wait.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import { PimStore } from '../../src/backends/store/store.ts';
import { EasConnectionError } from '../../src/client/index.ts';
import { folderCreate } from '../../src/client/sync.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import type { PimItem } from '../../src/model/types.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { contact, type Phone } from '../sync/session.ts';
import { eventually, ping, PING_VERSIONS, PushWorld, TEST_PUSH } from '../push/world.ts';

const TOOL = { tool: 'test' };
/** Long enough never to end within a test that expects an answer for another reason. */
const LONG = 60;

function event(subject: string): PimItem {
  return {
    class: 'Calendar',
    data: {
      subject,
      start: '2030-01-01T09:00:00.000Z',
      end: '2030-01-01T10:00:00.000Z',
      timeZone: { iana: 'UTC' },
    },
  };
}

/** A store whose backend calls fail while `down` is set, as when its database is unreachable. */
class FlakyStore extends PimStore {
  static down = false;

  override async cursor(...args: Parameters<PimStore['cursor']>): Promise<string> {
    if (FlakyStore.down) throw new Error('the store is unreachable');
    return super.cursor(...args);
  }
}

describeEachDatabase('Ping', (context) => {
  // A suite of its own, so that its server and bus close before the database goes.
  describe('on a server with heartbeats from a second', () => {
    let world: PushWorld;
    before(async () => {
      world = await PushWorld.start(context.config, context.database.db);
    });
    after(() => world.close());

    /** A user with a phone that synced its address book and calendar to the end. */
    async function synced(version: ProtocolVersion, deviceId?: string) {
      const owner = await world.user();
      const phone = world.phone(owner, version, deviceId);
      return { owner, phone, ...(await syncedPhone(world, owner, phone)) };
    }

    describe('at every version', { concurrency: true }, () => {
      for (const version of PING_VERSIONS) {
        test(`${version}: Statuses 3, 4, 5, 6 and 7 before waiting`, async () => {
          const owner = await world.user();
          const phone = world.phone(owner, version);
          const { client } = phone;
          // Nothing cached yet: what the request leaves out cannot be repeated.
          assert.equal((await ping(client)).status, 3);
          assert.equal((await ping(client, { heartbeat: LONG })).status, 3);
          // Malformed: neither HeartbeatInterval nor Folders, a heartbeat that is no number, a folder twice.
          assert.equal((await ping(client, {})).status, 4);
          assert.equal((await ping(client, { heartbeat: 'soon', folders: [{ id: '1' }] })).status, 4);
          const twice = [
            { id: '1', className: 'Contacts' },
            { id: '1', className: 'Contacts' },
          ];
          assert.equal((await ping(client, { heartbeat: LONG, folders: twice })).status, 4);
          const notes = await ping(client, { heartbeat: LONG, folders: [{ id: '1', className: 'Notes' }] });
          // Notes is a Class from 14.0; before, the device has never done a FolderSync: 7.
          assert.equal(notes.status, Number(version) < 14 ? 4 : 7);
          // Out of bounds: the answer names the bound.
          for (const [heartbeat, bound] of [
            [0, TEST_PUSH.minHeartbeat],
            [-100, TEST_PUSH.minHeartbeat],
            [3541, 3540],
          ] as const) {
            const refused = await ping(client, { heartbeat, folders: [{ id: '1', className: 'Contacts' }] });
            assert.deepEqual([refused.status, refused.heartbeat], [5, bound], `heartbeat ${heartbeat}`);
          }
          const many = ['1', '2', '3', '4', '5'].map((id) => ({ id, className: 'Contacts' }));
          const tooMany = await ping(client, { heartbeat: LONG, folders: many });
          assert.deepEqual([tooMany.status, tooMany.maxFolders], [6, TEST_PUSH.maxFolders]);
          // No FolderSync yet, then a folder the hierarchy does not have.
          const contactsFolder = [{ id: '1', className: 'Contacts' }];
          assert.equal((await ping(client, { heartbeat: LONG, folders: contactsFolder })).status, 7);
          await syncedPhone(world, owner, phone);
          assert.equal(
            (await ping(client, { heartbeat: LONG, folders: [{ id: '999', className: 'Contacts' }] })).status,
            7,
          );
        });

        test(`${version}: Status 2 at once, 1 when the heartbeat ends, 2 when a change comes, the cached parameters`, async () => {
          const { owner, phone, folders, contacts, tasks, addressBook } = await synced(version);
          // A folder the device never synced has changes for it.
          const neverSynced = await ping(phone.client, {
            heartbeat: LONG,
            folders: [...folders, { id: tasks, className: 'Tasks' }],
          });
          assert.deepEqual([neverSynced.status, neverSynced.folders], [2, [tasks]]);

          const quiet = await ping(phone.client, { heartbeat: 1, folders });
          assert.equal(quiet.status, 1);
          assert.ok(quiet.ms >= 900, `answered after ${quiet.ms} ms`);
          // The empty Ping repeats the heartbeat and the folders.
          const repeated = await ping(phone.client);
          assert.equal(repeated.status, 1);
          assert.ok(repeated.ms >= 900, `answered after ${repeated.ms} ms`);

          const waiting = ping(phone.client, { heartbeat: LONG, folders });
          await world.held(owner);
          await world.store.putItem(owner, addressBook, contact('Pat'), TOOL);
          const woken = await waiting;
          assert.deepEqual([woken.status, woken.folders], [2, [contacts]]);
          assert.ok(woken.ms < LONG * 500, `answered after ${woken.ms} ms`);

          // Until the phone syncs, the change is still there for the next Ping, empty or not.
          assert.deepEqual((await ping(phone.client)).folders, [contacts]);
          await phone.syncToEnd(contacts);
          assert.equal((await ping(phone.client, { heartbeat: 1 })).status, 1);
        });

        test(`${version}: a device's own change does not wake its Ping; a newer request ends it with 1`, async () => {
          const { owner, phone, folders, contacts, addressBook } = await synced(version);
          const account = await world.accountOf(phone);
          // The phone's own change through Sync is not news to the Ping that follows it.
          await phone.sync(contacts, { commands: [phone.add(contact('Mine'))] });
          assert.equal((await ping(phone.client, { heartbeat: 1, folders })).status, 1);

          const waiting = ping(phone.client, { heartbeat: LONG, folders });
          await world.held(owner);
          await world.store.putItem(owner, addressBook, contact('Echo'), { account });
          // Given the time to be delivered, the change has not woken it.
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.equal(world.bus.waiting(owner.id), 1);
          await world.store.putItem(owner, addressBook, contact('Other'), TOOL);
          assert.deepEqual((await waiting).folders, [contacts]);
          await phone.syncToEnd(contacts);

          // The phone comes back with another request: the waiting Ping is answered at once.
          const superseded = ping(phone.client, { heartbeat: LONG, folders });
          await world.held(owner);
          const started = performance.now();
          await phone.folderSync();
          const answer = await superseded;
          assert.equal(answer.status, 1);
          assert.ok(performance.now() - started < 5000);
          await world.held(owner, 0);
        });
      }
    });

    test('changes in several folders within a few milliseconds are one answer', async () => {
      const { owner, phone, folders, contacts, calendar, addressBook, diary } = await synced('14.1');
      const waiting = ping(phone.client, { heartbeat: LONG, folders });
      await world.held(owner);
      await Promise.all([
        world.store.putItem(owner, diary, event('Meeting'), TOOL),
        world.store.putItem(owner, addressBook, contact('Kim'), TOOL),
      ]);
      const answer = await waiting;
      assert.equal(answer.status, 2);
      assert.deepEqual(answer.folders.sort(), [contacts, calendar].sort());
    });

    test('a folder added elsewhere is Status 7, before and while waiting; one the device cannot see is not', async () => {
      const { owner, phone, folders } = await synced('14.1');
      const other = world.phone(owner, '14.1');
      const otherKey = (await other.folderSync()).syncKey as string;

      // While waiting: a collection the phones do not sync changes nothing they see.
      const waiting = ping(phone.client, { heartbeat: 2, folders });
      await world.held(owner);
      await world.store.createCollection(owner, 'Contacts', 'Archive', { synced: false });
      assert.equal((await waiting).status, 1);

      // A folder another device creates is news to this one.
      const stillWaiting = ping(phone.client, { heartbeat: LONG, folders });
      await world.held(owner);
      const created = await folderCreate(other.client, {
        syncKey: otherKey,
        parentId: '0',
        name: 'Family',
        type: FOLDER_TYPES.userContacts,
      });
      assert.equal(created.status, 1);
      assert.equal((await stillWaiting).status, 7);
      // And stays so until the phone runs FolderSync.
      assert.equal((await ping(phone.client, { heartbeat: 1, folders })).status, 7);
      await phone.folderSync();
      assert.equal((await ping(phone.client, { heartbeat: 1, folders })).status, 1);
    });

    test('another device of the same user does not end the Ping', async () => {
      const first = await synced('14.1');
      const second = world.phone(first.owner, '16.1');
      const waiting = ping(first.phone.client, { heartbeat: 2, folders: first.folders });
      await world.held(first.owner);
      await second.folderSync();
      assert.equal(world.bus.waiting(first.owner.id), 1);
      const answer = await waiting;
      assert.equal(answer.status, 1);
      assert.ok(answer.ms >= 1900, `answered after ${answer.ms} ms`);
    });

    test('a client that hangs up leaves nothing waiting behind', async () => {
      const { owner, phone, folders } = await synced('14.1');
      await assert.rejects(
        ping(phone.client, { heartbeat: LONG, folders }, { timeoutMs: 300 }),
        (error) => error instanceof EasConnectionError && error.reason === 'timeout',
      );
      await eventually(() => world.bus.waiting(owner.id) === 0, 'the subscription released');
    });

    test('the proxy timeout caps the heartbeat', async () => {
      const capped = await PushWorld.start(context.config, context.database.db, { proxyTimeout: 100 });
      try {
        const owner = await capped.user();
        const phone = capped.phone(owner, '14.1');
        const { folders } = await syncedPhone(capped, owner, phone);
        const refused = await ping(phone.client, { heartbeat: 91, folders });
        assert.deepEqual([refused.status, refused.heartbeat], [5, 90]);
        assert.equal((await ping(phone.client, { heartbeat: 1, folders })).status, 1);
      } finally {
        await capped.close();
      }
    });

    test('a server fault is Status 8 at every version', async () => {
      const flaky = await PushWorld.start(context.config, context.database.db, {}, FlakyStore);
      try {
        const owner = await flaky.user();
        const phones = await Promise.all(
          PING_VERSIONS.map(async (version) => {
            const phone = flaky.phone(owner, version);
            return { phone, ...(await syncedPhone(flaky, owner, phone)) };
          }),
        );
        FlakyStore.down = true;
        const answers = await Promise.all(
          phones.map(({ phone, folders }) => ping(phone.client, { heartbeat: 1, folders })),
        );
        assert.deepEqual(
          answers.map((answer) => answer.status),
          PING_VERSIONS.map(() => 8),
        );
      } finally {
        FlakyStore.down = false;
        await flaky.close();
      }
    });

    test('a server shutting down answers every waiting Ping first, at every version', async () => {
      const closing = await PushWorld.start(context.config, context.database.db);
      try {
        const owner = await closing.user();
        const waiting = await Promise.all(
          PING_VERSIONS.map(async (version) => {
            const phone = closing.phone(owner, version);
            const { folders } = await syncedPhone(closing, owner, phone);
            return { answer: ping(phone.client, { heartbeat: LONG, folders }) };
          }),
        );
        await closing.held(owner, PING_VERSIONS.length);
        const started = performance.now();
        await closing.close();
        const answers = await Promise.all(waiting.map(({ answer }) => answer));
        assert.deepEqual(
          answers.map((answer) => answer.status),
          PING_VERSIONS.map(() => 1),
        );
        assert.ok(performance.now() - started < 5000);
      } finally {
        await closing.close();
      }
    });
  });
});

/** FolderSync, then the address book and calendar synced to their end. */
async function syncedPhone(world: PushWorld, owner: Owner, phone: Phone) {
  await phone.folderSync();
  const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
  const calendar = phone.folder(FOLDER_TYPES.defaultCalendar);
  const tasks = phone.folder(FOLDER_TYPES.defaultTasks);
  for (const folder of [contacts, calendar]) {
    await phone.start(folder);
    await phone.syncToEnd(folder);
  }
  return {
    contacts,
    calendar,
    tasks,
    folders: [
      { id: contacts, className: 'Contacts' },
      { id: calendar, className: 'Calendar' },
    ],
    addressBook: await world.defaultCollection(owner, 'Contacts'),
    diary: await world.defaultCollection(owner, 'Calendar'),
  };
}
