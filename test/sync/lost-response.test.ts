// A phone that loses an answer sends the same request again with its previous key. It must get the
// same answer — the same server changes, the same ServerIds for its Adds — and nothing may be
// applied twice. Checked at every step of a session, at every protocol version.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES } from '../../src/backends/contract.ts';
import type { SyncCollectionRequest } from '../../src/client/sync.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { ALL_VERSIONS, contact, firstNames, type Phone, SyncWorld } from './session.ts';

const TOOL = { tool: 'test' };

describeEachDatabase('lost answers', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  /** Sends `request` and loses the answer, sends it again, and checks both answers are one. */
  async function lostThenRepeated(
    phone: Phone,
    folder: string,
    request: Partial<SyncCollectionRequest> = {},
  ) {
    const lost = await phone.send([{ collectionId: folder, ...request }], { lose: true });
    const repeated = await phone.send([{ collectionId: folder, ...request }], { lose: true });
    assert.deepEqual(repeated.collections, lost.collections, 'the repeated request gets the same answer');
    // And once more, now taken: a third time would still be the same.
    const taken = await phone.sync(folder, request);
    assert.deepEqual([taken], lost.collections);
    return taken;
  }

  for (const version of ALL_VERSIONS) {
    test(`every step of a session can lose its answer at ${version}`, async () => {
      const owner = await world.user();
      const collection = await world.defaultCollection(owner, 'Contacts');
      const names = Array.from({ length: 25 }, (_, index) => `c${String(index).padStart(2, '0')}`);
      const ids = await world.store.addItems(
        owner,
        collection,
        names.map((name) => contact(name)),
        TOOL,
      );
      const phone = world.phone(owner, version);
      await phone.folderSync();
      const folder = phone.folder(FOLDER_TYPES.defaultContacts);
      await phone.start(folder);

      // The initial windows.
      for (let more = true; more;) {
        const window = await lostThenRepeated(phone, folder, { windowSize: 10 });
        more = window.moreAvailable;
      }
      assert.deepEqual(firstNames(phone.held(folder)), names);

      // Server changes.
      await world.store.putItem(owner, collection, contact('server-new'), TOOL);
      await world.store.apply(
        owner,
        String(collection),
        { kind: 'change', id: ids[0] as string, item: contact('c00-changed') },
        TOOL,
      );
      await world.store.deleteItem(owner, collection, ids[1] as string, TOOL);
      const changes = await lostThenRepeated(phone, folder);
      assert.equal(changes.commands.length, 3);

      // The phone's Adds, Change and Delete, with a server change in the same answer.
      await world.store.putItem(owner, collection, contact('server-newer'), TOOL);
      const [changed, deleted] = [...phone.held(folder).keys()].slice(-2) as [string, string];
      const own = await lostThenRepeated(phone, folder, {
        commands: [
          phone.add(contact('phone-1')),
          phone.add(contact('phone-2')),
          phone.change(changed, contact('phone-changed')),
          { kind: 'delete', serverId: deleted },
        ],
      });
      assert.deepEqual(
        own.responses.map((response) => [response.kind, response.status]),
        [
          ['add', 1],
          ['add', 1],
        ],
        'no conflict with its own change, no Status 8 for its own delete',
      );
      assert.equal(own.commands.length, 1, 'only the server change');
      phone.held(folder).set(changed, contact('phone-changed'));
      phone.held(folder).delete(deleted);

      // The store holds every item exactly once, as the phone does.
      const stored: string[] = [];
      for await (const { item } of world.store.items(owner, collection)) {
        if (item.class === 'Contacts') stored.push(item.data.firstName ?? '');
      }
      assert.deepEqual(stored.sort(), firstNames(phone.held(folder)));
      assert.equal(new Set(stored).size, stored.length, 'nothing was added twice');

      // An idle Sync changes nothing, and the key before the previous one is refused with Status 3.
      const settled = await phone.sync(folder);
      assert.deepEqual(settled.commands, []);
      const [epoch, generation] = (phone.keys.get(folder) as string).split(':');
      const stale = await phone.send(
        [{ collectionId: folder, syncKey: `${epoch}:${Number(generation) - 2}` }],
        {
          lose: true,
        },
      );
      assert.equal(stale.collections[0]?.status, 3);
      assert.equal(stale.collections[0]?.syncKey, '0');
    });
  }
});
