// The first sync of an address book, at every protocol version: every item exactly once, in windows,
// with MoreAvailable until the last one.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES } from '../../src/backends/contract.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { ALL_VERSIONS, contact, firstNames, SyncWorld } from './session.ts';

const CONTACTS = 1000;
const WINDOW = 100;

describeEachDatabase('initial sync', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  for (const version of ALL_VERSIONS) {
    test(`${CONTACTS} contacts arrive in windows of ${WINDOW}, each exactly once, at ${version}`, async () => {
      const owner = await world.user();
      const names = Array.from({ length: CONTACTS }, (_, index) => `c${String(index).padStart(4, '0')}`);
      await world.store.addItems(
        owner,
        await world.defaultCollection(owner, 'Contacts'),
        names.map((name) => contact(name)),
        { tool: 'test' },
      );
      const phone = world.phone(owner, version);
      await phone.folderSync();
      const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
      const first = await phone.start(contacts);
      assert.equal(first.status, 1);
      assert.deepEqual(first.commands, [], 'the answer to key 0 carries no items');

      const windows: number[] = [];
      for (let more = true; more;) {
        const answer = await phone.sync(contacts, { windowSize: WINDOW });
        assert.equal(answer.status, 1);
        assert.ok(answer.commands.length <= WINDOW);
        windows.push(answer.commands.length);
        more = answer.moreAvailable;
        if (more) assert.equal(answer.commands.length, WINDOW, 'a window short of full has nothing after it');
      }
      assert.equal(
        windows.reduce((sum, count) => sum + count, 0),
        CONTACTS,
      );
      assert.deepEqual(firstNames(phone.held(contacts)), names);

      // Then nothing more: the same key again, and no commands.
      const key = phone.keys.get(contacts);
      const idle = await phone.sync(contacts, { windowSize: WINDOW });
      assert.equal(idle.commands.length, 0);
      assert.equal(idle.moreAvailable, false);
      assert.equal(idle.syncKey, key);
    });
  }
});
