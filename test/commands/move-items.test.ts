// MoveItems between folders of one class: the item gets a new ServerId in its new folder, neither
// folder echoes the move back, and Statuses 1, 2, 4 and 5 for what cannot be moved.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES } from '../../src/backends/contract.ts';
import { moveItems } from '../../src/client/sync.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { contact, firstNames, SyncWorld } from '../sync/session.ts';

const TOOL = { tool: 'test' };

describeEachDatabase('MoveItems', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  for (const version of ['2.5', '14.1', '16.1'] as const) {
    test(`moves between folders of a class without echo, and refuses the rest, at ${version}`, async () => {
      const owner = await world.user();
      await world.store.addItems(
        owner,
        await world.defaultCollection(owner, 'Contacts'),
        [contact('ann'), contact('bob')],
        TOOL,
      );
      const friends = await world.store.createCollection(owner, 'Contacts', 'Friends', {
        synced: true,
        origin: TOOL,
      });
      const phone = world.phone(owner, version);
      await phone.folderSync();
      const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
      const other = phone.folder(FOLDER_TYPES.userContacts);
      const calendar = phone.folder(FOLDER_TYPES.defaultCalendar);
      for (const folder of [contacts, other]) {
        await phone.start(folder);
        await phone.syncToEnd(folder);
      }
      const [ann, bob] = [...phone.held(contacts).keys()] as [string, string];

      const result = await moveItems(phone.client, [
        { serverId: ann, from: contacts, to: other },
        { serverId: bob, from: contacts, to: calendar },
        { serverId: bob, from: contacts, to: contacts },
        { serverId: bob, from: '999', to: other },
        { serverId: bob, from: contacts, to: '998' },
        { serverId: `${contacts}:404`, from: contacts, to: other },
      ]);
      assert.deepEqual(
        result.moves.map((move) => [move.serverId, move.status]),
        [
          [ann, 3],
          [bob, 5],
          [bob, 4],
          [bob, 1],
          [bob, 2],
          [`${contacts}:404`, 1],
        ],
      );
      const moved = result.moves[0]?.newServerId ?? '';
      assert.ok(moved.startsWith(`${other}:`));
      phone.held(other).set(moved, phone.held(contacts).get(ann) as never);
      phone.held(contacts).delete(ann);

      assert.deepEqual((await phone.sync(contacts)).commands, [], 'the source does not report the move');
      assert.deepEqual((await phone.sync(other)).commands, [], 'nor the destination');
      assert.deepEqual(firstNames(phone.held(other)), ['ann']);
      const stored: string[] = [];
      for await (const { item } of world.store.items(owner, friends.id)) {
        if (item.class === 'Contacts') stored.push(item.data.firstName ?? '');
      }
      assert.deepEqual(stored, ['ann']);
      // A second phone sees the result as ordinary changes.
      const second = world.phone(owner, version);
      await second.folderSync();
      await second.start(other);
      await second.syncToEnd(other);
      assert.deepEqual(firstNames(second.held(other)), ['ann']);
    });
  }
});
