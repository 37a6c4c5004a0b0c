// Changes both ways after the first sync, at every protocol version: the server's adds, changes and
// deletes reach the phone; the phone's reach the store and never come back to it; conflicts go the
// way the phone's Conflict option says; two phones of one user converge; another user's data never
// shows.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { decodeItem } from '../../src/model/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { ALL_VERSIONS, contact, firstNames, type Phone, SyncWorld } from './session.ts';

const TOOL = { tool: 'test' };

describeEachDatabase('changes both ways', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  /** A user with `names` in the address book, and a phone that has synced it. */
  async function syncedPhone(version: ProtocolVersion, names: string[], owner?: Owner) {
    const user = owner ?? (await world.user());
    const collection = await world.defaultCollection(user, 'Contacts');
    const ids =
      names.length === 0
        ? []
        : await world.store.addItems(
            user,
            collection,
            names.map((name) => contact(name)),
            TOOL,
          );
    const phone = world.phone(user, version);
    await phone.folderSync();
    const folder = phone.folder(FOLDER_TYPES.defaultContacts);
    await phone.start(folder);
    await phone.syncToEnd(folder);
    return { user, collection, ids, phone, folder };
  }

  async function storeNames(owner: Owner, collection: number): Promise<string[]> {
    const names: string[] = [];
    for await (const { item } of world.store.items(owner, collection)) {
      if (item.class === 'Contacts') names.push(item.data.firstName ?? '');
    }
    return names.sort();
  }

  function serverIdOf(phone: Phone, folder: string, firstName: string): string {
    const entry = [...phone.held(folder)].find(
      ([, item]) => item.class === 'Contacts' && item.data.firstName === firstName,
    );
    assert.ok(entry, `the phone holds ${firstName}`);
    return entry[0];
  }

  for (const version of ALL_VERSIONS) {
    test(`server adds, changes and deletes reach the phone at ${version}`, async () => {
      const { user, collection, ids, phone, folder } = await syncedPhone(version, ['ann', 'bob', 'cy']);
      await world.store.putItem(user, collection, contact('dee'), TOOL);
      await world.store.apply(
        user,
        String(collection),
        { kind: 'change', id: ids[0] as string, item: contact('ann2') },
        TOOL,
      );
      await world.store.deleteItem(user, collection, ids[1] as string, TOOL);
      const answer = await phone.sync(folder);
      assert.deepEqual(answer.commands.map((command) => command.kind).sort(), ['add', 'change', 'delete']);
      assert.deepEqual(firstNames(phone.held(folder)), ['ann2', 'cy', 'dee']);
      assert.notEqual(answer.syncKey, undefined);
    });

    test(`phone adds, changes and deletes reach the store and are not echoed at ${version}`, async () => {
      const { user, collection, phone, folder } = await syncedPhone(version, ['ann', 'bob', 'cy']);
      const answer = await phone.sync(folder, {
        commands: [
          phone.add(contact('new1')),
          phone.add(contact('new2')),
          phone.change(serverIdOf(phone, folder, 'ann'), contact('ann2')),
          { kind: 'delete', serverId: serverIdOf(phone, folder, 'bob') },
        ],
      });
      assert.equal(answer.status, 1);
      // Adds are answered with their ServerIds; a successful Change or Delete is not answered at all.
      assert.deepEqual(
        answer.responses.map((response) => [response.kind, response.status]),
        [
          ['add', 1],
          ['add', 1],
        ],
      );
      assert.deepEqual(answer.commands, [], 'the phone is not sent its own changes');
      phone.held(folder).delete(serverIdOf(phone, folder, 'bob'));
      phone.held(folder).set(serverIdOf(phone, folder, 'ann'), contact('ann2'));
      assert.deepEqual(await storeNames(user, collection), ['ann2', 'cy', 'new1', 'new2']);
      assert.deepEqual(firstNames(phone.held(folder)), ['ann2', 'cy', 'new1', 'new2']);
      const next = await phone.sync(folder);
      assert.deepEqual(next.commands, [], 'nor later');
    });

    test(`a conflict: the server's version wins by default, the phone's with Conflict 0, at ${version}`, async () => {
      const { user, collection, ids, phone, folder } = await syncedPhone(version, ['ann', 'bob']);
      await world.store.apply(
        user,
        String(collection),
        { kind: 'change', id: ids[0] as string, item: contact('server-ann') },
        TOOL,
      );
      await world.store.apply(
        user,
        String(collection),
        { kind: 'change', id: ids[1] as string, item: contact('server-bob') },
        TOOL,
      );

      const lost = await phone.sync(folder, {
        getChanges: false,
        commands: [phone.change(serverIdOf(phone, folder, 'ann'), contact('phone-ann'))],
      });
      assert.deepEqual(
        lost.responses.map((response) => [response.kind, response.status]),
        [['change', 7]],
      );
      assert.equal(lost.commands.length, 1, "the server's version is sent in its place");
      assert.equal(lost.commands[0]?.kind, 'change');

      const bobId = serverIdOf(phone, folder, 'bob');
      const won = await phone.sync(folder, {
        getChanges: false,
        options: { conflict: 0 },
        commands: [phone.change(bobId, contact('phone-bob'))],
      });
      assert.deepEqual(won.responses, []);
      phone.held(folder).set(bobId, contact('phone-bob'));
      assert.deepEqual(await storeNames(user, collection), ['phone-bob', 'server-ann']);
      // Nothing is left to send: the phone has the server's ann and its own bob.
      const rest = await phone.sync(folder);
      assert.deepEqual(rest.commands, []);
      assert.deepEqual(firstNames(phone.held(folder)), ['phone-bob', 'server-ann']);
    });
  }

  test('two phones of one user converge', async () => {
    const first = await syncedPhone('14.1', ['ann', 'bob']);
    const second = world.phone(first.user, '16.1');
    await second.folderSync();
    const folder = second.folder(FOLDER_TYPES.defaultContacts);
    assert.equal(folder, first.folder, 'a folder has one ServerId per account, here the same by order');
    await second.start(folder);
    await second.syncToEnd(folder);

    await first.phone.sync(first.folder, {
      commands: [
        first.phone.add(contact('from-first')),
        { kind: 'delete', serverId: serverIdOf(first.phone, first.folder, 'ann') },
      ],
    });
    first.phone.held(first.folder).delete(serverIdOf(first.phone, first.folder, 'ann'));
    await second.sync(folder, {
      commands: [
        second.add(contact('from-second')),
        second.change(serverIdOf(second, folder, 'bob'), contact('bob2')),
      ],
    });
    second.held(folder).set(serverIdOf(second, folder, 'bob'), contact('bob2'));
    await first.phone.syncToEnd(first.folder);
    await second.syncToEnd(folder);
    const expected = ['bob2', 'from-first', 'from-second'];
    assert.deepEqual(firstNames(first.phone.held(first.folder)), expected);
    assert.deepEqual(firstNames(second.held(folder)), expected);
    assert.deepEqual(await storeNames(first.user, first.collection), expected);
  });

  test("another user's data never shows", async () => {
    const alice = await syncedPhone('14.1', ['alice-1']);
    const bob = await syncedPhone('14.1', ['bob-1']);
    await world.store.putItem(bob.user, bob.collection, contact('bob-2'), TOOL);
    await alice.phone.syncToEnd(alice.folder);
    assert.deepEqual(firstNames(alice.phone.held(alice.folder)), ['alice-1']);
    // ServerIds are per account: Bob's item's ServerId, in Alice's account, is Alice's own item (or
    // nothing), and a ServerId Alice's phone was never given is Status 8.
    const bobItem = serverIdOf(bob.phone, bob.folder, 'bob-1');
    const answer = await alice.phone.sync(alice.folder, {
      commands: [
        alice.phone.change(`${alice.folder}:999`, contact('x')),
        { kind: 'fetch', serverId: bobItem },
      ],
    });
    assert.deepEqual(answer.responses[0], { kind: 'change', status: 8, serverId: `${alice.folder}:999` });
    const fetched = answer.responses[1];
    assert.equal(fetched?.kind, 'fetch');
    if (fetched?.status === 1) {
      assert.ok(fetched.applicationData);
      assert.deepEqual(decodeItem('Contacts', fetched.applicationData, '14.1'), contact('alice-1'));
    } else assert.equal(fetched?.status, 8);
    assert.deepEqual(await storeNames(bob.user, bob.collection), ['bob-1', 'bob-2']);
  });
});
