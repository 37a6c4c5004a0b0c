// The Sync command's statuses and request shapes: malformed items (Status 6 for that item, the rest
// applies), unknown items (8), stale keys (3), protocol errors (4), a changed hierarchy (12), empty
// and partial requests (12.1+, 13 when there is nothing to repeat), a concurrent change of the state
// (16), and a forgotten sync state.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import { sync as sendSync } from '../../src/client/sync.ts';
import { DeviceStore } from '../../src/device/devices.ts';
import { WBXML_MEDIA_TYPE } from '../../src/http/activesync.ts';
import { decodeItem, encodeItem } from '../../src/model/index.ts';
import { Backends } from '../../src/sync/backends.ts';
import { SyncEngine } from '../../src/sync/engine.ts';
import { decode, el, encode, type WbxmlElement } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { contact, firstNames, type Phone, SyncWorld } from '../sync/session.ts';

const TOOL = { tool: 'test' };

describeEachDatabase('Sync statuses', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  async function synced(version: '2.5' | '12.1' | '14.1' | '16.1' = '14.1', names: string[] = ['ann']) {
    const owner = await world.user();
    const collection = await world.defaultCollection(owner, 'Contacts');
    if (names.length > 0)
      await world.store.addItems(
        owner,
        collection,
        names.map((name) => contact(name)),
        TOOL,
      );
    const phone = world.phone(owner, version);
    await phone.folderSync();
    const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
    const calendar = phone.folder(FOLDER_TYPES.defaultCalendar);
    await phone.start(contacts);
    await phone.syncToEnd(contacts);
    await phone.start(calendar);
    return { owner, collection, phone, contacts, calendar };
  }

  async function accountOf(phone: Phone): Promise<number> {
    const row = await world.db
      .selectFrom('device_accounts as a')
      .innerJoin('devices as d', 'd.id', 'a.device_id')
      .select('a.id')
      .where('d.device_id', '=', phone.client.deviceId)
      .executeTakeFirstOrThrow();
    return row.id;
  }

  test('malformed items are Status 6 each, and the rest applies', async () => {
    const { owner, phone, calendar } = await synced('16.1');
    const good = (subject: string) =>
      encodeItem(
        {
          class: 'Calendar',
          data: {
            subject,
            start: '2030-01-01T09:00:00.000Z',
            end: '2030-01-01T10:00:00.000Z',
            timeZone: { iana: 'Europe/Berlin' },
          },
        },
        { version: '16.1' },
      );
    const replace = (data: WbxmlElement[], name: string, text: string) =>
      data.map((element) => (element.name === name ? el('Calendar', name, text) : element));
    const recurrence = el('Calendar', 'Recurrence', [
      el('Calendar', 'Type', '9'),
      el('Calendar', 'Interval', '1'),
    ]);
    const answer = await phone.sync(calendar, {
      commands: [
        { kind: 'add', clientId: 'bad-date', data: replace(good('a'), 'StartTime', 'not a date') },
        { kind: 'add', clientId: 'good-1', data: good('good-1') },
        { kind: 'add', clientId: 'bad-recurrence', data: [...good('b'), recurrence] },
        { kind: 'add', clientId: 'too-long', data: replace(good('c'), 'Subject', 'x'.repeat(100_000)) },
        { kind: 'add', clientId: 'good-2', data: good('good-2') },
      ],
    });
    assert.equal(answer.status, 1);
    assert.deepEqual(
      answer.responses.map((response) => [
        response.clientId,
        response.status,
        response.serverId !== undefined,
      ]),
      [
        ['bad-date', 6, false],
        ['good-1', 1, true],
        ['bad-recurrence', 6, false],
        ['too-long', 6, false],
        ['good-2', 1, true],
      ],
    );
    const stored = await world.store.collections(owner);
    assert.equal(
      stored.find((collection) => collection.pimClass === 'Calendar' && collection.isDefault)?.itemCount,
      2,
    );
  });

  test('invalid UTF-8 in an item is replaced, not refused, and does not stall the collection', async () => {
    const { owner, collection, phone, contacts } = await synced('14.1', []);
    const marker = 'MARKER';
    const tree = el('AirSync', 'Sync', [
      el('AirSync', 'Collections', [
        el('AirSync', 'Collection', [
          el('AirSync', 'SyncKey', phone.keys.get(contacts) as string),
          el('AirSync', 'CollectionId', contacts),
          el('AirSync', 'Commands', [
            el('AirSync', 'Add', [
              el('AirSync', 'ClientId', 'utf8'),
              el('AirSync', 'ApplicationData', [el('Contacts', 'FirstName', marker)]),
            ]),
          ]),
        ]),
      ]),
    ]);
    const body = encode(tree);
    const at = body.indexOf(marker);
    body.set([0x41, 0xc3, 0x28, 0xff, 0xfe, 0x42], at);
    const url = new URL(phone.client.url);
    url.search = new URLSearchParams({
      Cmd: 'Sync',
      User: owner.name,
      DeviceId: phone.client.deviceId,
      DeviceType: 'SmartPhone',
    }).toString();
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${owner.name}:${owner.name}`).toString('base64')}`,
        'ms-asprotocolversion': '14.1',
        'content-type': WBXML_MEDIA_TYPE,
      },
      body: new Uint8Array(body),
    });
    assert.equal(response.status, 200);
    const answer = decode(Buffer.from(await response.arrayBuffer()));
    assert.match(JSON.stringify(answer), /"text":"1"/);
    for await (const { item } of world.store.items(owner, collection)) {
      assert.equal(item.class === 'Contacts' && item.data.firstName, 'A\ufffd(\ufffd\ufffdB');
    }
  });

  test('unknown ServerIds are Status 8 for Change, Delete and Fetch', async () => {
    const { phone, contacts } = await synced();
    const answer = await phone.sync(contacts, {
      commands: [
        phone.change(`${contacts}:404`, contact('x')),
        { kind: 'delete', serverId: `${contacts}:405` },
        { kind: 'fetch', serverId: `${contacts}:406` },
      ],
    });
    assert.deepEqual(
      answer.responses.map((response) => [response.kind, response.status]),
      [
        ['change', 8],
        ['delete', 8],
        ['fetch', 8],
      ],
    );
  });

  test('Fetch answers with the item', async () => {
    const { phone, contacts } = await synced();
    const [serverId] = [...phone.held(contacts).keys()] as [string];
    const answer = await phone.sync(contacts, { commands: [{ kind: 'fetch', serverId }] });
    assert.equal(answer.responses[0]?.status, 1);
    const data = answer.responses[0]?.applicationData;
    assert.ok(data);
    assert.deepEqual(decodeItem('Contacts', data, '14.1'), contact('ann'));
  });

  test('keys of another epoch, of another collection or malformed are Status 3 with key 0', async () => {
    const { phone, contacts, calendar } = await synced();
    for (const syncKey of ['deadbeef:1', phone.keys.get(calendar) as string, 'garbage']) {
      const answer = await phone.sync(contacts, { syncKey });
      assert.deepEqual([answer.status, answer.syncKey], [3, '0'], syncKey);
    }
  });

  test('protocol errors are Status 4', async () => {
    const { phone, contacts } = await synced('2.5');
    const wrongClass = await phone.sync(contacts, { className: 'Calendar' });
    assert.equal(wrongClass.status, 4, 'a 2.5 Class that is not the collection’s');
    const getChangesAtZero = await phone.sync(contacts, { syncKey: '0', getChanges: true });
    assert.equal(getChangesAtZero.status, 4, 'GetChanges with SyncKey 0');
    const commandsAtZero = await phone.sync(contacts, { syncKey: '0', commands: [phone.add(contact('x'))] });
    assert.equal(commandsAtZero.status, 4, 'commands with SyncKey 0');
    const filter = await phone.sync(contacts, { options: { filterType: 42 } });
    assert.equal(filter.status, 4, 'a FilterType that does not exist');
    const noCollectionId = await phone.client.send(
      'Sync',
      el('AirSync', 'Sync', [
        el('AirSync', 'Collections', [el('AirSync', 'Collection', [el('AirSync', 'SyncKey', '0')])]),
      ]),
    );
    assert.deepEqual(noCollectionId.body, el('AirSync', 'Sync', [el('AirSync', 'Status', '4')]));
  });

  test('a collection the hierarchy does not have is Status 12, and nothing is applied', async () => {
    const { owner, collection, phone, contacts } = await synced();
    const result = await phone.send([
      { collectionId: contacts, commands: [phone.add(contact('not applied'))] },
      { collectionId: '999', syncKey: '0' },
    ]);
    assert.equal(result.status, 12);
    const names: string[] = [];
    for await (const { item } of world.store.items(owner, collection)) {
      if (item.class === 'Contacts') names.push(item.data.firstName ?? '');
    }
    assert.deepEqual(names, ['ann']);
  });

  test('12.1+: an empty Sync repeats the last full one, Partial adds to it; nothing to repeat is Status 13', async () => {
    const fresh = world.phone(await world.user(), '14.1');
    await fresh.folderSync();
    assert.equal((await sendSync(fresh.client, [])).status, 13);

    const { owner, collection, phone, contacts, calendar } = await synced('14.1');
    await phone.send([{ collectionId: contacts }]);
    await world.store.putItem(owner, collection, contact('bee'), TOOL);
    const empty = await sendSync(phone.client, []);
    assert.deepEqual(
      empty.collections.map((result) => [result.collectionId, result.status, result.commands.length]),
      [[contacts, 1, 1]],
    );
    const partial = await phone.send([{ collectionId: calendar }], { partial: true });
    assert.deepEqual(
      partial.collections.map((result) => result.collectionId).sort(),
      [calendar, contacts].sort(),
    );
    const old = world.phone(owner, '12.0');
    await old.folderSync();
    assert.equal((await sendSync(old.client, [])).status, 4, 'before 12.1 a Sync needs its collections');
  });

  test('a state changed by another process meanwhile is Status 16, and the phone retries', async () => {
    const { owner, collection, phone, contacts } = await synced('14.1');
    const account = await accountOf(phone);
    // Another process's engine read the state, then this phone's Sync went through this server.
    const other = new SyncEngine(world.db, new Backends([world.store]));
    const stale = (await other.collections(account)).get(contacts);
    await world.store.putItem(owner, collection, contact('bee'), TOOL);
    const key = phone.keys.get(contacts) as string;
    await phone.sync(contacts);
    const codec = { decode: () => contact('x'), encode: () => [] };
    const session = { account, owner: owner as Owner, version: '14.1' as const };
    const raced = await other.sync(
      session,
      stale,
      { collectionId: contacts, syncKey: key, commands: [] },
      100,
      codec,
    );
    assert.equal(raced.status, 16);
    // Nothing was half written: the phone goes on from its key.
    assert.deepEqual((await phone.sync(contacts)).commands, []);
    assert.deepEqual(firstNames(phone.held(contacts)), ['ann', 'bee']);
  });

  test('a forgotten sync state makes the phone start over; its ServerIds stay', async () => {
    const { phone, contacts } = await synced('14.1');
    const folders = [...phone.folders.keys()];
    await new DeviceStore(world.db).resync(phone.client.deviceId, { by: 'admin' });
    const hierarchy = await phone.client.send(
      'FolderSync',
      el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', phone.hierarchyKey)]),
    );
    assert.equal(hierarchy.body?.children[0]?.text, '9');
    assert.equal((await phone.sync(contacts)).status, 3);
    phone.hierarchyKey = '0';
    await phone.folderSync();
    assert.deepEqual([...phone.folders.keys()], folders);
    await phone.start(contacts);
    await phone.syncToEnd(contacts);
    assert.deepEqual(firstNames(phone.held(contacts)), ['ann']);
  });
});
