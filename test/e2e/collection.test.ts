// `airsync collection` in child processes, on a SQLite data dir the test also reads in-process.
// Each launch costs a second or more, so independent commands run side by side — which also makes
// two processes create a user's default collections at the same moment.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Owner } from '../../src/backends/contract.ts';
import { PimStore, type Collection } from '../../src/backends/store/store.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { airsync, temporaryDirectory, type Finished, type TemporaryDirectory } from './cli.ts';

function succeeded(result: Finished): string {
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.stderr, '');
  return result.stdout;
}

/** A refusal: the exit code, and the one line of stderr that says why (a usage follows for code 2). */
function refused(result: Finished): { code: number | null; line: string | undefined } {
  assert.equal(result.stdout, '');
  return { code: result.code, line: result.stderr.split('\n')[0] };
}

describe('airsync collection', () => {
  let data: TemporaryDirectory;
  let dataArgs: string[];
  let database: Database;
  let store: PimStore;
  let alice: Owner;
  const collection = (...args: string[]) => airsync(['collection', ...args, ...dataArgs]);
  const find = async (name: string): Promise<Collection> => {
    const found = await store.findCollection(alice, name);
    assert.ok(found, `no collection ${name}`);
    return found;
  };

  before(async () => {
    data = await temporaryDirectory();
    dataArgs = ['--data', data.dir];
    // Migrated and seeded here, so that commands never migrate side by side.
    database = await openDatabase(loadConfig({ overrides: { dataDir: data.dir } }));
    const users = new UserStore(database.db);
    const user = await users.add('alice', 'secret');
    await users.add('bob', 'secret');
    alice = { id: user.id, name: user.name };
    store = new PimStore(database.db);
  });
  after(async () => {
    await database?.close();
    await data?.remove();
  });

  it('adds collections from two processes at once; the defaults are created once', async () => {
    const [work, friends] = await Promise.all([
      collection('add', 'alice', 'calendar', 'Work', '--sync'),
      collection('add', 'ALICE', 'Contacts', 'Friends'),
    ]);
    const workId = (await find('Work')).id;
    const friendsId = (await find('Friends')).id;
    assert.equal(
      succeeded(work),
      `added Calendar collection "Work" (id ${workId}) for alice; phones sync it\n`,
    );
    assert.equal(
      succeeded(friends),
      `added Contacts collection "Friends" (id ${friendsId}) for alice; ` +
        `phones sync it after "airsync collection sync alice ${friendsId}"\n`,
    );
    const collections = await store.collections(alice);
    assert.deepEqual(
      collections.map(({ pimClass, name, isDefault, synced }) => [pimClass, name, isDefault, synced]),
      [
        ['Contacts', 'Contacts', true, true],
        ['Contacts', 'Friends', false, false],
        ['Calendar', 'Calendar', true, true],
        ['Calendar', 'Work', false, true],
        ['Tasks', 'Tasks', true, true],
        ['Notes', 'Notes', true, true],
      ],
    );
  });

  it("lists a user's collections with their item counts, as a table and as JSON", async () => {
    const friends = await find('Friends');
    await store.addItems(
      alice,
      friends.id,
      ['Ann', 'Bob', 'Cy'].map((firstName) => ({ class: 'Contacts', data: { firstName } })),
      { tool: 'test' },
    );
    const [table, json, bobs] = await Promise.all([
      collection('list', 'alice'),
      collection('list', 'alice', '--json'),
      collection('list', 'bob'),
    ]);
    const [header, ...rows] = succeeded(table).trimEnd().split('\n');
    assert.equal(header, 'ID  CLASS     NAME      SYNCED  DEFAULT  ITEMS');
    assert.deepEqual(
      rows.map((row) => row.split(/ {2,}/)),
      (await store.collections(alice)).map(({ id, pimClass, name, synced, isDefault, itemCount }) => [
        String(id),
        pimClass,
        name,
        synced ? 'yes' : 'no',
        isDefault ? 'yes' : 'no',
        String(itemCount),
      ]),
    );
    assert.ok(
      rows.some((row) => /^\d+ +Contacts +Friends +no +no +3$/.test(row)),
      table.stdout,
    );
    assert.deepEqual(JSON.parse(succeeded(json)), { collections: await store.collections(alice) });
    // Bob sees his own defaults, nothing of Alice's.
    const bobRows = succeeded(bobs).trim().split('\n').slice(1);
    assert.deepEqual(
      bobRows.map((row) => row.split(/ +/).slice(1, 3).join(' ')),
      ['Contacts Contacts', 'Calendar Calendar', 'Tasks Tasks', 'Notes Notes'],
    );
  });

  it('chooses which collections phones sync, by name in any case or by id', async () => {
    const friends = await find('Friends');
    const work = await find('Work');
    const [synced, unsynced] = await Promise.all([
      collection('sync', 'alice', 'friends'),
      collection('unsync', 'alice', String(work.id)),
    ]);
    assert.equal(succeeded(synced), `alice's phones sync "Friends" (id ${friends.id}) from now on\n`);
    assert.equal(succeeded(unsynced), `alice's phones no longer sync "Work" (id ${work.id})\n`);
    const folders = (await store.folders(alice)).map(({ name }) => name);
    assert.ok(folders.includes('Friends') && !folders.includes('Work'), folders.join());

    const [again, stillNot] = await Promise.all([
      collection('sync', 'alice', 'Friends'),
      collection('unsync', 'alice', 'Work'),
    ]);
    assert.equal(succeeded(again), `alice's phones already sync "Friends" (id ${friends.id})\n`);
    assert.equal(succeeded(stillNot), `alice's phones do not sync "Work" (id ${work.id})\n`);
  });

  it('refuses what cannot be done with one line on stderr, and a bad command line with exit 2', async () => {
    const calendar = await find('Calendar');
    const contacts = await find('Contacts');
    const results = await Promise.all([
      collection('unsync', 'alice', 'Calendar'),
      collection('remove', 'alice', 'contacts'),
      collection('add', 'alice', 'calendar', 'Work'),
      collection('list', 'carol'),
      collection('sync', 'alice', 'Holidays'),
      collection('add', 'alice', 'journal', 'Diary'),
      collection('add', 'alice', 'notes'),
      collection('list', 'alice', '--sync'),
      collection('remove'),
    ]);
    assert.deepEqual(results.map(refused), [
      {
        code: 1,
        line: `airsync: "Calendar" is alice's default Calendar collection: phones always sync it`,
      },
      {
        code: 1,
        line: `airsync: "Contacts" (id ${contacts.id}) is alice's default Contacts collection: it cannot be removed`,
      },
      { code: 1, line: 'airsync: alice already has a Calendar collection named "Work"' },
      { code: 1, line: 'airsync: there is no user named carol' },
      { code: 1, line: 'airsync: alice has no collection named or numbered "Holidays"' },
      { code: 2, line: 'airsync: unknown class "journal": contacts, calendar, tasks or notes' },
      { code: 2, line: 'airsync: collection add needs a class and a name' },
      { code: 2, line: 'airsync: collection list takes no --sync' },
      { code: 2, line: 'airsync: collection remove needs a user name' },
    ]);
    assert.equal((await find('Calendar')).synced, true);
    assert.equal((await store.findCollection(alice, String(calendar.id)))?.isDefault, true);
  });

  it('removes a collection with the collections under it and all their items', async () => {
    const friends = await find('Friends');
    const close = await store.createFolder(alice, String(friends.id), 'Close friends', 14, { account: 1 });
    assert.equal(close.status, 'ok');
    if (close.status === 'ok') {
      await store.apply(
        alice,
        close.folder.id,
        { kind: 'add', item: { class: 'Contacts', data: {} } },
        { account: 1 },
      );
    }
    const removed = await collection('remove', 'alice', 'Friends');
    assert.equal(
      succeeded(removed),
      `removed "Friends" (id ${friends.id}) of alice and 1 collection under it, with 4 items\n`,
    );
    assert.equal(await store.findCollection(alice, 'Friends'), undefined);
    assert.equal(await store.findCollection(alice, 'Close friends'), undefined);
    assert.deepEqual(await database.db.selectFrom('pim_items').select('id').execute(), []);
  });
});
