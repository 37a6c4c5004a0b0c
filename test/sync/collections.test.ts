// A user chooses which of their other collections sync (the defaults always do); a change reaches the
// phone as a hierarchy change at its next FolderSync: an Add of the right type for a collection
// chosen, a Delete for one given up, the same ServerId when it is chosen again, and the ServerIds of
// the others untouched. A Sync of a collection that is gone is Status 12 (MS-ASCMD 2.2.3.177.17:
// "the folder hierarchy has changed", the phone runs FolderSync and tries again).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import { StoreError } from '../../src/backends/store/store.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import type { PimClass, PimItem } from '../../src/model/types.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { SyncWorld, type Phone } from './session.ts';

const TOOL = { tool: 'test' };
const HIERARCHY_CHANGED = 12;

/** One collection of each class a user may add, the folder type phones see it with, and its items. */
const CHOICES: readonly { pimClass: PimClass; name: string; type: number; item(label: string): PimItem }[] = [
  {
    pimClass: 'Contacts',
    name: 'Friends',
    type: FOLDER_TYPES.userContacts,
    item: (label) => ({ class: 'Contacts', data: { firstName: label } }),
  },
  {
    pimClass: 'Calendar',
    name: 'Work',
    type: FOLDER_TYPES.userCalendar,
    item: (label) => ({
      class: 'Calendar',
      data: {
        subject: label,
        start: '2030-01-07T09:00:00.000Z',
        end: '2030-01-07T10:00:00.000Z',
        timeZone: { iana: 'UTC' },
      },
    }),
  },
  {
    pimClass: 'Tasks',
    name: 'Errands',
    type: FOLDER_TYPES.userTasks,
    item: (label) => ({ class: 'Tasks', data: { subject: label, complete: false } }),
  },
  {
    pimClass: 'Notes',
    name: 'Ideas',
    type: FOLDER_TYPES.userNotes,
    item: (label) => ({
      class: 'Notes',
      data: { subject: label, body: { format: 'text', data: 'Sync it all' } },
    }),
  },
];

const WORK = CHOICES[1]!;

function labelOf(item: PimItem): string | undefined {
  return item.class === 'Contacts' ? item.data.firstName : item.data.subject;
}

describeEachDatabase('the collections a user syncs', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  async function phoneWithFolders(owner: Owner, version: ProtocolVersion): Promise<Phone> {
    const phone = world.phone(owner, version);
    await phone.folderSync();
    return phone;
  }

  /** The folders a phone knows, by ServerId, as [name, type]. */
  function folderList(phone: Phone): Map<string, [string | undefined, number | undefined]> {
    return new Map(
      [...phone.folders.values()].map((folder) => [folder.serverId, [folder.name, folder.type]]),
    );
  }

  async function storeLabels(owner: Owner, collection: number): Promise<string[]> {
    const labels: string[] = [];
    for await (const { item } of world.store.items(owner, collection)) labels.push(labelOf(item) ?? '');
    return labels.sort();
  }

  test('a chosen collection is added at the next FolderSync with its type, and syncs both ways', async () => {
    const owner = await world.user();
    const modern = await phoneWithFolders(owner, '14.1');
    const old = await phoneWithFolders(owner, '12.1');
    const defaults = folderList(modern);

    const created = [];
    for (const choice of CHOICES) {
      const collection = await world.store.createCollection(owner, choice.pimClass, choice.name, {
        origin: TOOL,
      });
      await world.store.putItem(owner, collection.id, choice.item('from the store'), TOOL);
      created.push(collection);
    }
    const unchosen = await modern.folderSync();
    assert.deepEqual(unchosen.changes, [], 'collections not chosen are not shown');

    for (const collection of created)
      assert.equal(await world.store.setSynced(owner, collection.id, true), true);
    const chosen = await modern.folderSync();
    assert.deepEqual(
      chosen.changes.map(({ kind, name, type, parentId }) => [kind, name, type, parentId]),
      CHOICES.map(({ name, type }) => ['add', name, type, '0']),
    );
    const fromOld = await old.folderSync();
    assert.deepEqual(
      fromOld.changes.map(({ name, type }) => [name, type]),
      CHOICES.filter(({ pimClass }) => pimClass !== 'Notes').map(({ name, type }) => [name, type]),
      'notes folders from 14.0 only',
    );
    for (const [serverId, entry] of defaults) assert.deepEqual(folderList(modern).get(serverId), entry);

    for (const [index, choice] of CHOICES.entries()) {
      const folder = modern.folder(choice.type);
      await modern.start(folder);
      await modern.syncToEnd(folder);
      assert.deepEqual([...modern.held(folder).values()], [choice.item('from the store')], choice.name);
      const added = await modern.sync(folder, { commands: [modern.add(choice.item('from the phone'))] });
      assert.deepEqual(
        added.responses.map((response) => response.status),
        [1],
      );
      assert.deepEqual(await storeLabels(owner, created[index]!.id), ['from the phone', 'from the store']);
    }
  });

  test('a collection given up is a Delete; chosen again, it comes back under its ServerId', async () => {
    const owner = await world.user();
    const work = await world.store.createCollection(owner, 'Calendar', 'Work', {
      synced: true,
      origin: TOOL,
    });
    await world.store.putItem(owner, work.id, WORK.item('review'), TOOL);
    const phone = await phoneWithFolders(owner, '16.1');
    const folder = phone.folder(FOLDER_TYPES.userCalendar);
    const folders = folderList(phone);
    await phone.start(folder);
    await phone.syncToEnd(folder);

    await world.store.setSynced(owner, work.id, false);
    const given = await phone.folderSync();
    assert.deepEqual(
      given.changes.map(({ kind, serverId }) => [kind, serverId]),
      [['delete', folder]],
    );
    const gone = await phone.send([{ collectionId: folder }]);
    assert.equal(gone.status, HIERARCHY_CHANGED, 'a Sync of the deleted folder');

    await world.store.setSynced(owner, work.id, true);
    const again = await phone.folderSync();
    assert.deepEqual(
      again.changes.map(({ kind, serverId, name, type }) => [kind, serverId, name, type]),
      [['add', folder, 'Work', FOLDER_TYPES.userCalendar]],
    );
    assert.deepEqual(folderList(phone), folders);
    // The folder starts over: the old key is no longer known, key 0 brings the item again.
    assert.equal((await phone.sync(folder)).status, 3);
    await phone.start(folder);
    await phone.syncToEnd(folder);
    assert.deepEqual([...phone.held(folder).values()], [WORK.item('review')]);

    phone.hierarchyKey = '0';
    await phone.folderSync();
    assert.deepEqual(folderList(phone), folders, 'a reset keeps every ServerId');
  });

  test('the default collections always sync', async () => {
    const owner = await world.user();
    const phone = await phoneWithFolders(owner, '14.1');
    for (const pimClass of ['Contacts', 'Calendar', 'Tasks', 'Notes'] as const) {
      const collection = await world.defaultCollection(owner, pimClass);
      await assert.rejects(
        world.store.setSynced(owner, collection, false),
        (error) => error instanceof StoreError && error.code === 'default',
      );
      assert.equal(await world.store.setSynced(owner, collection, true), false, 'already synced');
    }
    assert.deepEqual((await phone.folderSync()).changes, []);
  });

  for (const how of ['given up', 'deleted'] as const) {
    test(`a Sync of a collection ${how} since the phone's last FolderSync is Status 12`, async () => {
      const owner = await world.user();
      const work = await world.store.createCollection(owner, 'Calendar', 'Work', {
        synced: true,
        origin: TOOL,
      });
      await world.store.putItem(owner, work.id, WORK.item('review'), TOOL);
      const phone = await phoneWithFolders(owner, '14.1');
      const folder = phone.folder(FOLDER_TYPES.userCalendar);
      await phone.start(folder);
      await phone.syncToEnd(folder);

      if (how === 'given up') await world.store.setSynced(owner, work.id, false);
      else await world.store.deleteFolder(owner, String(work.id), TOOL);
      const answer = await phone.send([{ collectionId: folder }]);
      const status = answer.status ?? answer.collections[0]?.status;
      assert.equal(status, HIERARCHY_CHANGED);
      const hierarchy = await phone.folderSync();
      assert.deepEqual(
        hierarchy.changes.map(({ kind, serverId }) => [kind, serverId]),
        [['delete', folder]],
      );
    });
  }
});
