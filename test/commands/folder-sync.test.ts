// FolderSync and the folder commands through a phone: the hierarchy with key 0, only real changes
// after, the previous key answered again, ServerIds kept across a reset and by concurrent resets,
// notes folders from 14.0, and the statuses of FolderSync, FolderCreate, FolderUpdate, FolderDelete.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES } from '../../src/backends/contract.ts';
import { folderCreate, folderDelete, folderSync, folderUpdate } from '../../src/client/sync.ts';
import { Backends } from '../../src/sync/backends.ts';
import { Hierarchy } from '../../src/sync/hierarchy.ts';
import { KeyedMutex } from '../../src/sync/mutex.ts';
import { el } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { SyncWorld } from '../sync/session.ts';

const TOOL = { tool: 'test' };

describeEachDatabase('folders', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  test('key 0 lists every folder; then only what changed; the previous key gets the same answer', async () => {
    const owner = await world.user();
    const phone = world.phone(owner, '14.1');
    const first = await phone.folderSync();
    assert.equal(first.syncKey, '1');
    assert.deepEqual(
      first.changes.map((change) => [change.kind, change.type, change.parentId]),
      [
        ['add', FOLDER_TYPES.defaultContacts, '0'],
        ['add', FOLDER_TYPES.defaultCalendar, '0'],
        ['add', FOLDER_TYPES.defaultTasks, '0'],
        ['add', FOLDER_TYPES.defaultNotes, '0'],
      ],
    );
    const unchanged = await phone.folderSync();
    assert.deepEqual([unchanged.syncKey, unchanged.changes], ['1', []], 'no change, no new key');

    const created = await world.store.createCollection(owner, 'Contacts', 'Friends', {
      synced: true,
      origin: TOOL,
    });
    await world.store.setSynced(owner, created.id, true);
    const changed = await phone.folderSync();
    assert.equal(changed.syncKey, '2');
    assert.deepEqual(
      changed.changes.map((change) => [change.kind, change.name, change.type]),
      [['add', 'Friends', FOLDER_TYPES.userContacts]],
    );
    const again = await folderSync(phone.client, '1');
    assert.deepEqual([again.syncKey, again.changes], [changed.syncKey, changed.changes]);
    assert.equal((await folderSync(phone.client, '5')).status, 9, 'a key never handed out');
    assert.equal((await folderSync(phone.client, 'x')).status, 9, 'a malformed key');

    await world.store.renameFolder(owner, String(created.id), null, 'Best friends', TOOL);
    const renamed = await phone.folderSync();
    assert.deepEqual(
      renamed.changes.map((change) => [change.kind, change.serverId, change.name]),
      [['update', changed.changes[0]?.serverId, 'Best friends']],
    );
    await world.store.deleteFolder(owner, String(created.id), TOOL);
    const deleted = await phone.folderSync();
    assert.deepEqual(
      deleted.changes.map((change) => [change.kind, change.serverId]),
      [['delete', changed.changes[0]?.serverId]],
    );
    assert.equal((await folderSync(phone.client, String(Number(deleted.syncKey) - 2))).status, 9);
  });

  test('a reset keeps every ServerId, and concurrent resets neither wipe nor duplicate the map', async () => {
    const owner = await world.user();
    const phone = world.phone(owner, '16.1');
    const before = await phone.folderSync();
    const reset = await folderSync(phone.client, '0');
    assert.deepEqual(reset.changes, before.changes);

    const other = world.phone(owner, '16.1');
    const [a, b] = await Promise.all([folderSync(other.client, '0'), folderSync(other.client, '0')]);
    assert.deepEqual(a.changes, b.changes);
    assert.deepEqual([a.syncKey, b.syncKey], ['1', '1']);

    // Two processes (each with its own lock table) resetting the same account at once.
    const account = await world.db
      .selectFrom('device_accounts as a')
      .innerJoin('devices as d', 'd.id', 'a.device_id')
      .select('a.id')
      .where('d.device_id', '=', other.client.deviceId)
      .executeTakeFirstOrThrow();
    const backends = new Backends([world.store]);
    const processes = [1, 2, 3].map(() => new Hierarchy(world.db, backends, new KeyedMutex()));
    const results = await Promise.all(
      processes.map((hierarchy) => hierarchy.folderSync(account.id, owner, 0, '16.1')),
    );
    for (const result of results)
      assert.deepEqual(result, {
        status: 'ok',
        syncKey: 1,
        changes: a.changes.map(({ kind, serverId, parentId, name, type }) => ({
          kind,
          serverId,
          parentId,
          name,
          type,
        })),
      });
    const rows = await world.db
      .selectFrom('sync_folders')
      .select('server_id')
      .where('account_id', '=', account.id)
      .execute();
    assert.equal(rows.length, a.changes.length, 'one row per folder');
  });

  test('notes folders exist from 14.0', async () => {
    const owner = await world.user();
    const old = await world.phone(owner, '12.1').folderSync();
    assert.ok(!old.changes.some((change) => change.type === FOLDER_TYPES.defaultNotes));
    const modern = await world.phone(owner, '14.0').folderSync();
    assert.ok(modern.changes.some((change) => change.type === FOLDER_TYPES.defaultNotes));
  });

  test('a request that is not a FolderSync is Status 10', async () => {
    const phone = world.phone(await world.user(), '14.1');
    const response = await phone.client.send('FolderSync', el('FolderHierarchy', 'FolderCreate'));
    assert.equal(response.status, 200);
    assert.equal(response.body?.children[0]?.text, '10');
  });

  test('FolderCreate, FolderUpdate, FolderDelete and their statuses; the phone is not told twice', async () => {
    const owner = await world.user();
    const phone = world.phone(owner, '14.1');
    await phone.folderSync();
    const key = phone.hierarchyKey;
    const contacts = phone.folder(FOLDER_TYPES.defaultContacts);

    assert.equal(
      (await folderCreate(phone.client, { syncKey: '7', parentId: '0', name: 'X', type: 14 })).status,
      9,
    );
    assert.equal(
      (await folderCreate(phone.client, { syncKey: key, parentId: '0', name: 'X', type: 12 })).status,
      10,
      'no mail backend',
    );
    assert.equal(
      (await folderCreate(phone.client, { syncKey: key, parentId: '99', name: 'X', type: 14 })).status,
      5,
    );
    const created = await folderCreate(phone.client, { syncKey: key, parentId: '0', name: 'Work', type: 14 });
    assert.equal(created.status, 1);
    assert.equal(created.syncKey, String(Number(key) + 1));
    assert.ok(created.serverId);
    const duplicate = await folderCreate(phone.client, {
      syncKey: created.syncKey as string,
      parentId: '0',
      name: 'Work',
      type: 14,
    });
    assert.equal(duplicate.status, 2);

    let syncKey = created.syncKey as string;
    phone.hierarchyKey = syncKey;
    const quiet = await phone.folderSync();
    assert.deepEqual(quiet.changes, [], 'the created folder is not reported back');

    assert.equal(
      (
        await folderUpdate(phone.client, {
          syncKey: '1',
          serverId: created.serverId as string,
          parentId: '0',
          name: 'W',
        })
      ).status,
      9,
    );
    assert.equal(
      (await folderUpdate(phone.client, { syncKey, serverId: '99', parentId: '0', name: 'W' })).status,
      4,
    );
    assert.equal(
      (await folderUpdate(phone.client, { syncKey, serverId: contacts, parentId: '0', name: 'W' })).status,
      2,
      'a default folder',
    );
    assert.equal(
      (
        await folderUpdate(phone.client, {
          syncKey,
          serverId: created.serverId as string,
          parentId: '98',
          name: 'W',
        })
      ).status,
      5,
    );
    const updated = await folderUpdate(phone.client, {
      syncKey,
      serverId: created.serverId as string,
      parentId: '0',
      name: 'Office',
    });
    assert.equal(updated.status, 1);
    syncKey = updated.syncKey as string;
    phone.hierarchyKey = syncKey;
    assert.deepEqual((await phone.folderSync()).changes, []);

    assert.equal(
      (await folderDelete(phone.client, { syncKey: '1', serverId: created.serverId as string })).status,
      9,
    );
    assert.equal((await folderDelete(phone.client, { syncKey, serverId: '99' })).status, 4);
    assert.equal((await folderDelete(phone.client, { syncKey, serverId: contacts })).status, 3);
    const deleted = await folderDelete(phone.client, { syncKey, serverId: created.serverId as string });
    assert.equal(deleted.status, 1);
    phone.hierarchyKey = deleted.syncKey as string;
    assert.deepEqual((await phone.folderSync()).changes, []);
    const names = (await world.store.collections(owner)).map((collection) => collection.name);
    assert.ok(!names.includes('Office'));
    const malformed = await phone.client.send(
      'FolderCreate',
      el('FolderHierarchy', 'FolderCreate', [el('FolderHierarchy', 'SyncKey', syncKey)]),
    );
    assert.equal(malformed.body?.children[0]?.text, '10');
  });
});
