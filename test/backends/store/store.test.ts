// The built-in PIM store as the sync engine and the operator's tools use it, on SQLite and
// PostgreSQL: default collections, changes since a cursor (with tombstones), paging, concurrency,
// ownership, folder operations and the administrative API.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { ChangeOrigin, ItemChange, ItemWindow, Owner } from '../../../src/backends/contract.ts';
import { MAX_ITEM_BYTES, PimStore, StoreError, type Collection } from '../../../src/backends/store/store.ts';
import type { PimItem } from '../../../src/model/types.ts';
import { openDatabase, type Database } from '../../../src/state/db.ts';
import { UserStore } from '../../../src/state/users.ts';
import { describeEachDatabase } from '../../helpers/databases.ts';

const PHONE: ChangeOrigin = { account: 1 };
const IMPORT: ChangeOrigin = { tool: 'import' };

function contact(firstName: string, extra: Record<string, unknown> = {}): PimItem {
  return { class: 'Contacts', data: { firstName, ...extra } };
}

function event(subject: string, uid?: string): PimItem {
  return {
    class: 'Calendar',
    data: {
      subject,
      start: '2026-03-29T08:00:00.000Z',
      end: '2026-03-29T09:00:00.000Z',
      timeZone: { iana: 'Europe/Berlin' },
      ...(uid === undefined ? {} : { uid }),
    },
  };
}

function isStoreError(code: StoreError['code']): (error: unknown) => boolean {
  return (error: unknown) => error instanceof StoreError && error.code === code;
}

/** The changes as compact strings: '+id@version' for a live item, '-id@version' for a tombstone. */
function summary(changes: readonly ItemChange[]): string[] {
  return changes.map(({ id, deleted, version }) => `${deleted ? '-' : '+'}${id}@${version}`);
}

describeEachDatabase('PimStore', (context) => {
  let store: PimStore;
  let userCount = 0;

  /** A fresh user of its own for each test, so tests do not see each other's collections. */
  async function newOwner(): Promise<Owner> {
    const name = `user${++userCount}`;
    const user = await new UserStore(context.database.db).add(name, 'secret');
    return { id: user.id, name: user.name };
  }

  async function defaultFolder(owner: Owner, pimClass: Collection['pimClass']): Promise<string> {
    const folder = (await store.folders(owner)).find(
      (candidate) => candidate.dataClass === pimClass && candidate.type <= 10,
    );
    assert.ok(folder, `no default ${pimClass} folder`);
    return folder.id;
  }

  async function add(
    owner: Owner,
    folderId: string,
    item: PimItem,
  ): Promise<{ id: string; version: string }> {
    const result = await store.apply(owner, folderId, { kind: 'add', item }, PHONE);
    assert.equal(result.status, 'ok');
    return result;
  }

  /**
   * The database as another process sees it: on PostgreSQL a pool of its own. A process holds one
   * SQLite connection, and two in one process would deadlock: one waiting for the write lock blocks
   * the event loop the other needs to commit. So on SQLite the same connection, as a server's
   * requests share it.
   */
  async function otherProcess(): Promise<Database> {
    return context.kind === 'postgres'
      ? openDatabase(context.config)
      : { db: context.database.db, close: () => Promise.resolve() };
  }

  before(() => {
    store = new PimStore(context.database.db);
  });

  test('creates one default collection of each class, synced, with the default folder types', async () => {
    const owner = await newOwner();
    const folders = await store.folders(owner);
    assert.deepEqual(
      folders.map(({ name, type, dataClass, parentId }) => ({ name, type, dataClass, parentId })),
      [
        { name: 'Contacts', type: 9, dataClass: 'Contacts', parentId: null },
        { name: 'Calendar', type: 8, dataClass: 'Calendar', parentId: null },
        { name: 'Tasks', type: 7, dataClass: 'Tasks', parentId: null },
        { name: 'Notes', type: 10, dataClass: 'Notes', parentId: null },
      ],
    );
    await store.ensureDefaults(owner);
    await new PimStore(context.database.db).ensureDefaults(owner);
    assert.deepEqual(await store.folders(owner), folders);
    const collections = await store.collections(owner);
    assert.ok(
      collections.every(({ isDefault, synced, itemCount }) => isDefault && synced && itemCount === 0),
    );
  });

  test('creates the defaults once when several processes start at the same time', async () => {
    const owner = await newOwner();
    const others = await Promise.all([otherProcess(), otherProcess()]);
    try {
      const stores = [store, ...others.map(({ db }) => new PimStore(db))];
      await Promise.all(stores.flatMap((each) => [each.ensureDefaults(owner), each.folders(owner)]));
    } finally {
      await Promise.all(others.map((other) => other.close()));
    }
    const rows = await context.database.db
      .selectFrom('pim_collections')
      .select(['class', 'is_default'])
      .where('user_id', '=', owner.id)
      .execute();
    assert.equal(rows.length, 4);
    assert.deepEqual(rows.map((row) => row.class).sort(), ['Calendar', 'Contacts', 'Notes', 'Tasks']);
  });

  test('lists changes after a cursor: adds, changes, deletes and moves, with tombstones', async () => {
    const owner = await newOwner();
    const contacts = await defaultFolder(owner, 'Contacts');
    const friends = String((await store.createCollection(owner, 'Contacts', 'Friends', { synced: true })).id);

    const ann = await add(owner, contacts, contact('Ann'));
    const bob = await add(owner, contacts, contact('Bob'));
    const carl = await add(owner, contacts, contact('Carl'));
    const initial = await store.changes(owner, contacts, null, 100);
    assert.deepEqual(summary(initial.changes), [
      `+${ann.id}@${ann.version}`,
      `+${bob.id}@${bob.version}`,
      `+${carl.id}@${carl.version}`,
    ]);
    assert.equal(initial.cursor, carl.version);
    assert.equal(initial.more, false);
    assert.equal(await store.cursor(owner, contacts), initial.cursor);

    const changed = await store.apply(
      owner,
      contacts,
      { kind: 'change', id: ann.id, item: contact('Anne') },
      PHONE,
    );
    const deleted = await store.apply(owner, contacts, { kind: 'delete', id: bob.id }, PHONE);
    const moved = await store.move(owner, contacts, carl.id, friends, PHONE);
    assert.ok(changed.status === 'ok' && deleted.status === 'ok' && moved.status === 'ok');
    assert.equal(moved.id, carl.id);

    const since = await store.changes(owner, contacts, initial.cursor, 100);
    const movedOut = Number(moved.version) - 1;
    assert.deepEqual(summary(since.changes), [
      `+${ann.id}@${changed.version}`,
      `-${bob.id}@${deleted.version}`,
      `-${carl.id}@${movedOut}`,
    ]);
    assert.equal(since.cursor, String(movedOut));
    assert.equal(await store.cursor(owner, contacts), since.cursor);
    assert.deepEqual(summary((await store.changes(owner, friends, null, 100)).changes), [
      `+${carl.id}@${moved.version}`,
    ]);

    // Without a cursor: what is there now, no tombstones.
    assert.deepEqual(summary((await store.changes(owner, contacts, null, 100)).changes), [
      `+${ann.id}@${changed.version}`,
    ]);
    // Back where it was: the live item replaces its old tombstone.
    const back = await store.move(owner, friends, carl.id, contacts, PHONE);
    assert.equal(back.status, 'ok');
    assert.deepEqual(summary((await store.changes(owner, contacts, since.cursor, 100)).changes), [
      `+${carl.id}@${back.status === 'ok' ? back.version : ''}`,
    ]);
    const [fetched] = await store.fetch(owner, contacts, [ann.id, bob.id, 'junk']);
    assert.deepEqual(fetched, { id: ann.id, version: changed.version, item: contact('Anne') });
  });

  test('pages through changes with limit and more, and never repeats or loses one', async () => {
    const owner = await newOwner();
    const notes = await defaultFolder(owner, 'Notes');
    const ids: string[] = [];
    for (let n = 0; n < 7; n++) {
      ids.push((await add(owner, notes, { class: 'Notes', data: { subject: `note ${n}` } })).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let more = true; more;) {
      const page = await store.changes(owner, notes, cursor, 3);
      assert.ok(page.changes.length <= 3);
      seen.push(...page.changes.map(({ id }) => id));
      ({ cursor, more } = page);
      // Changed in between: it comes again with its new version, in a later page.
      if (seen.length === 3) {
        await store.apply(
          owner,
          notes,
          { kind: 'change', id: ids[0] ?? '', item: { class: 'Notes', data: {} } },
          PHONE,
        );
      }
    }
    assert.deepEqual(seen, [...ids, ids[0]]);
  });

  test('the cursor stays where it is while nothing changes, and changes of other folders do not count', async () => {
    const owner = await newOwner();
    const tasks = await defaultFolder(owner, 'Tasks');
    const calendar = await defaultFolder(owner, 'Calendar');
    assert.deepEqual(await store.changes(owner, tasks, null, 10), { changes: [], cursor: '0', more: false });
    assert.equal(await store.cursor(owner, tasks), '0');
    await add(owner, tasks, { class: 'Tasks', data: { subject: 'one', complete: true } });
    const cursor = await store.cursor(owner, tasks);
    await add(owner, calendar, event('elsewhere'));
    assert.equal(await store.cursor(owner, tasks), cursor);
    assert.deepEqual(await store.changes(owner, tasks, cursor, 10), { changes: [], cursor, more: false });
    const [task] = (await store.changes(owner, tasks, null, 10)).changes;
    assert.deepEqual(task?.window, { end: null, complete: true });
  });

  test('computes the time window on write with the function it was given', async () => {
    const owner = await newOwner();
    const windowOf = (item: PimItem): ItemWindow =>
      item.class === 'Calendar' ? { end: item.data.end } : { end: null };
    const windowed = new PimStore(context.database.db, { windowOf });
    const calendar = await defaultFolder(owner, 'Calendar');
    const added = await windowed.apply(owner, calendar, { kind: 'add', item: event('meeting') }, PHONE);
    assert.deepEqual(added.status === 'ok' && added.window, { end: '2026-03-29T09:00:00.000Z' });
    const [change] = (await windowed.changes(owner, calendar, null, 10)).changes;
    assert.deepEqual(change?.window, { end: '2026-03-29T09:00:00.000Z' });
  });

  test('writers racing on one folder commit their sequences in order, so a reader misses nothing', async () => {
    const owner = await newOwner();
    const contacts = await defaultFolder(owner, 'Contacts');
    const other = await otherProcess();
    const stores = [store, new PimStore(other.db)];
    const seen = new Set<string>();
    let cursor: string | null = null;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        const page = await store.changes(owner, contacts, cursor, 1000);
        for (const change of page.changes) seen.add(change.id);
        cursor = page.cursor;
      }
    })();
    try {
      const written = await Promise.all(
        Array.from({ length: 100 }, async (_, n) => {
          const result = await stores[n % 2]?.apply(
            owner,
            contacts,
            { kind: 'add', item: contact(`c${n}`) },
            PHONE,
          );
          assert.equal(result?.status, 'ok');
          return result?.status === 'ok' ? result.id : '';
        }),
      );
      writing = false;
      await reader;
      const rest = await store.changes(owner, contacts, cursor, 1000);
      for (const change of rest.changes) seen.add(change.id);
      assert.deepEqual([...seen].sort(), [...written].sort());
    } finally {
      writing = false;
      await reader;
      await other.close();
    }
  });

  test("never shows or changes another user's collections", async () => {
    const alice = await newOwner();
    const mallory = await newOwner();
    const contacts = await defaultFolder(alice, 'Contacts');
    const item = await add(alice, contacts, contact('Secret'));
    const collection = (await store.collections(alice))[0];
    assert.ok(collection);

    assert.ok((await store.folders(mallory)).every(({ id }) => id !== contacts));
    await assert.rejects(store.changes(mallory, contacts, null, 10), isStoreError('not-found'));
    await assert.rejects(store.cursor(mallory, contacts), isStoreError('not-found'));
    await assert.rejects(store.fetch(mallory, contacts, [item.id]), isStoreError('not-found'));
    const malloryContacts = await defaultFolder(mallory, 'Contacts');
    assert.deepEqual(await store.fetch(mallory, malloryContacts, [item.id]), []);
    assert.deepEqual(await store.apply(mallory, contacts, { kind: 'delete', id: item.id }, PHONE), {
      status: 'not-found',
    });
    assert.deepEqual(await store.apply(mallory, malloryContacts, { kind: 'delete', id: item.id }, PHONE), {
      status: 'not-found',
    });
    assert.deepEqual(
      await store.apply(
        mallory,
        malloryContacts,
        { kind: 'change', id: item.id, item: contact('Mine') },
        PHONE,
      ),
      { status: 'not-found' },
    );
    assert.deepEqual(await store.move(mallory, contacts, item.id, malloryContacts, PHONE), {
      status: 'not-found',
    });
    assert.deepEqual(await store.deleteFolder(mallory, contacts, PHONE), { status: 'not-found' });
    assert.deepEqual(await store.renameFolder(mallory, contacts, null, 'Mine', PHONE), {
      status: 'not-found',
    });
    assert.deepEqual(await store.createFolder(mallory, contacts, 'Inside', 14, PHONE), {
      status: 'parent-not-found',
    });
    assert.equal(await store.findCollection(mallory, String(collection.id)), undefined);
    await assert.rejects(store.setSynced(mallory, collection.id, true), isStoreError('not-found'));
    await assert.rejects(
      store.putItem(mallory, collection.id, contact('x'), IMPORT),
      isStoreError('not-found'),
    );
    await assert.rejects(
      store.addItems(mallory, collection.id, [contact('x')], IMPORT),
      isStoreError('not-found'),
    );
    await assert.rejects(store.items(mallory, collection.id).next(), isStoreError('not-found'));
    await assert.rejects(
      store.deleteItem(mallory, collection.id, item.id, IMPORT),
      isStoreError('not-found'),
    );

    assert.deepEqual(await store.fetch(alice, contacts, [item.id]), [
      { id: item.id, version: item.version, item: contact('Secret') },
    ]);
  });

  test('folder operations answer with the statuses of the contract', async () => {
    const owner = await newOwner();
    const contacts = await defaultFolder(owner, 'Contacts');
    const created = await store.createFolder(owner, contacts, 'Work', 14, PHONE);
    assert.equal(created.status, 'ok');
    const work = created.status === 'ok' ? created.folder : undefined;
    assert.deepEqual(work && { ...work, id: '' }, {
      id: '',
      parentId: contacts,
      name: 'Work',
      type: 14,
      dataClass: 'Contacts',
    });
    assert.ok(work);
    assert.ok((await store.collections(owner)).some(({ name, synced }) => name === 'Work' && synced));

    assert.deepEqual(await store.createFolder(owner, contacts, 'Work', 14, PHONE), { status: 'exists' });
    assert.deepEqual(await store.createFolder(owner, '999999', 'Work', 14, PHONE), {
      status: 'parent-not-found',
    });
    assert.equal((await store.createFolder(owner, null, 'Mail', 12, PHONE)).status, 'invalid');
    assert.equal((await store.createFolder(owner, null, ' ', 13, PHONE)).status, 'invalid');
    assert.equal((await store.createFolder(owner, null, 'Work', 13, PHONE)).status, 'ok', 'another class');
    assert.equal((await store.createFolder(owner, null, 'Work', 14, PHONE)).status, 'ok', 'another parent');

    assert.deepEqual(await store.renameFolder(owner, contacts, null, 'People', PHONE), { status: 'special' });
    assert.deepEqual(await store.deleteFolder(owner, contacts, PHONE), { status: 'special' });
    assert.deepEqual(await store.renameFolder(owner, '999999', null, 'x', PHONE), { status: 'not-found' });
    assert.deepEqual(await store.renameFolder(owner, work.id, '999999', 'x', PHONE), {
      status: 'parent-not-found',
    });
    assert.deepEqual(await store.renameFolder(owner, work.id, null, 'Work', PHONE), { status: 'exists' });
    assert.equal((await store.renameFolder(owner, work.id, work.id, 'Loop', PHONE)).status, 'invalid');
    const renamed = await store.renameFolder(owner, work.id, contacts, 'Office', PHONE);
    assert.deepEqual(renamed.status === 'ok' && renamed.folder.name, 'Office');

    // A subfolder goes with its parent, and the items of both.
    const sub = await store.createFolder(owner, work.id, 'Team', 14, PHONE);
    assert.equal(sub.status, 'ok');
    const inSub = sub.status === 'ok' ? await add(owner, sub.folder.id, contact('Member')) : undefined;
    assert.ok(inSub);
    assert.equal((await store.deleteFolder(owner, work.id, PHONE)).status, 'ok');
    assert.deepEqual(await store.deleteFolder(owner, work.id, PHONE), { status: 'not-found' });
    const names = (await store.folders(owner)).map(({ name }) => name);
    assert.ok(!names.includes('Office') && !names.includes('Team'), names.join());

    // Items move only between folders of one class.
    const calendar = await defaultFolder(owner, 'Calendar');
    const person = await add(owner, contacts, contact('Dora'));
    assert.equal((await store.move(owner, contacts, person.id, calendar, PHONE)).status, 'invalid');
    assert.equal(
      (await store.apply(owner, calendar, { kind: 'add', item: contact('Eve') }, PHONE)).status,
      'invalid',
    );
  });

  test('a synced collection under one that is not appears under its nearest synced ancestor', async () => {
    const owner = await newOwner();
    const contacts = await defaultFolder(owner, 'Contacts');
    const middle = await store.createFolder(owner, contacts, 'Middle', 14, PHONE);
    assert.equal(middle.status, 'ok');
    const middleId = middle.status === 'ok' ? middle.folder.id : '';
    const leaf = await store.createFolder(owner, middleId, 'Leaf', 14, PHONE);
    assert.equal(leaf.status, 'ok');
    await store.setSynced(owner, Number(middleId), false);
    const folders = await store.folders(owner);
    assert.equal(folders.find(({ name }) => name === 'Leaf')?.parentId, contacts);
    assert.ok(folders.every(({ name }) => name !== 'Middle'));
    // Renamed by a phone that sees it under Contacts: it stays under Middle.
    const leafId = leaf.status === 'ok' ? leaf.folder.id : '';
    const renamed = await store.renameFolder(owner, leafId, contacts, 'Renamed leaf', PHONE);
    assert.deepEqual(renamed.status === 'ok' && renamed.folder.parentId, contacts);
    assert.equal((await store.findCollection(owner, 'Renamed leaf'))?.parentId, Number(middleId));
    // Moved by the phone to the top: now it is there.
    assert.equal((await store.renameFolder(owner, leafId, null, 'Renamed leaf', PHONE)).status, 'ok');
    assert.equal((await store.findCollection(owner, 'Renamed leaf'))?.parentId, null);
  });

  test('the hierarchy version moves when what phones see may have changed, and only then', async () => {
    const owner = await newOwner();
    const start = await store.hierarchyVersion(owner);
    assert.notEqual(start, '0', 'creating the defaults is a change');
    const contacts = await defaultFolder(owner, 'Contacts');
    await add(owner, contacts, contact('Item changes are not hierarchy changes'));
    assert.equal(await store.hierarchyVersion(owner), start);

    const club = await store.createCollection(owner, 'Contacts', 'Club');
    const created = await store.hierarchyVersion(owner);
    assert.ok(BigInt(created) > BigInt(start));
    assert.equal(await store.setSynced(owner, club.id, true), true);
    const synced = await store.hierarchyVersion(owner);
    assert.ok(BigInt(synced) > BigInt(created));
    assert.ok((await store.folders(owner)).some(({ name }) => name === 'Club'));
    assert.equal(await store.setSynced(owner, club.id, true), false);
    assert.equal(await store.hierarchyVersion(owner), synced);
    assert.equal(await store.setSynced(owner, club.id, false), true);
    const unsynced = await store.hierarchyVersion(owner);
    assert.ok(BigInt(unsynced) > BigInt(synced));
    assert.ok((await store.folders(owner)).every(({ name }) => name !== 'Club'));

    const other = await newOwner();
    const otherVersion = await store.hierarchyVersion(other);
    await store.createCollection(other, 'Notes', 'Ideas', { synced: true });
    assert.equal(await store.hierarchyVersion(owner), unsynced, "another user's change");
    assert.ok(BigInt(await store.hierarchyVersion(other)) > BigInt(otherVersion));
  });

  test('administers collections: create, find by id or name, refuse to unsync a default', async () => {
    const owner = await newOwner();
    const family = await store.createCollection(owner, 'Calendar', 'Family');
    assert.deepEqual(
      { ...family, createdAt: '' },
      {
        id: family.id,
        pimClass: 'Calendar',
        name: 'Family',
        parentId: null,
        isDefault: false,
        synced: false,
        createdAt: '',
        itemCount: 0,
      },
    );
    await assert.rejects(store.createCollection(owner, 'Calendar', 'Family'), isStoreError('exists'));
    await assert.rejects(store.createCollection(owner, 'Calendar', ''), isStoreError('invalid'));
    await store.createCollection(owner, 'Tasks', 'Family');
    assert.equal((await store.findCollection(owner, String(family.id)))?.name, 'Family');
    assert.equal((await store.findCollection(owner, 'calendar'))?.isDefault, true);
    assert.equal(await store.findCollection(owner, 'Nothing'), undefined);
    await assert.rejects(store.findCollection(owner, 'Family'), isStoreError('ambiguous'));

    const calendar = await store.findCollection(owner, 'Calendar');
    assert.ok(calendar);
    await assert.rejects(store.setSynced(owner, calendar.id, false), isStoreError('default'));
    assert.deepEqual(
      (await store.collections(owner)).map(
        ({ pimClass, name, isDefault }) => `${pimClass}/${name}${isDefault ? '*' : ''}`,
      ),
      [
        'Contacts/Contacts*',
        'Calendar/Calendar*',
        'Calendar/Family',
        'Tasks/Tasks*',
        'Tasks/Family',
        'Notes/Notes*',
      ],
    );
  });

  test('putItem adds, then updates by UID, and writes nothing for the same content', async () => {
    const owner = await newOwner();
    const calendar = await store.findCollection(owner, 'Calendar');
    assert.ok(calendar);
    const first = await store.putItem(owner, calendar.id, event('Dentist'), IMPORT, {
      uid: 'dentist@example',
    });
    assert.equal(first.outcome, 'created');
    const same = await store.putItem(owner, calendar.id, event('Dentist'), IMPORT, {
      uid: 'dentist@example',
    });
    assert.deepEqual(same, { ...first, outcome: 'unchanged' });
    const moved = await store.putItem(owner, calendar.id, event('Dentist, later'), IMPORT, {
      uid: 'dentist@example',
    });
    assert.equal(moved.id, first.id);
    assert.equal(moved.outcome, 'updated');
    assert.ok(BigInt(moved.version) > BigInt(first.version));
    // An event's own UID counts when none is given.
    const own = await store.putItem(owner, calendar.id, event('Own', 'own@example'), IMPORT);
    const ownAgain = await store.putItem(owner, calendar.id, event('Own, changed', 'own@example'), IMPORT);
    assert.equal(ownAgain.id, own.id);
    assert.equal(ownAgain.outcome, 'updated');

    const items = [];
    for await (const item of store.items(owner, calendar.id)) items.push(item);
    assert.deepEqual(
      items.map(({ id, uid, item }) => ({
        id,
        uid,
        subject: item.class === 'Calendar' && item.data.subject,
      })),
      [
        { id: first.id, uid: 'dentist@example', subject: 'Dentist, later' },
        { id: own.id, uid: 'own@example', subject: 'Own, changed' },
      ],
    );
    assert.equal(await store.deleteItem(owner, calendar.id, first.id, IMPORT), true);
    assert.equal(await store.deleteItem(owner, calendar.id, first.id, IMPORT), false);
    const again = await store.putItem(owner, calendar.id, event('Dentist'), IMPORT, {
      uid: 'dentist@example',
    });
    assert.equal(again.outcome, 'created');
    await assert.rejects(
      store.putItem(owner, calendar.id, contact('Wrong'), IMPORT),
      isStoreError('invalid'),
    );
  });

  test('an item a phone adds without a UID gets one, which an import of its export updates', async () => {
    const owner = await newOwner();
    const folderId = await defaultFolder(owner, 'Contacts');
    const added = await store.apply(owner, folderId, { kind: 'add', item: contact('Ann') }, PHONE);
    assert.equal(added.status, 'ok');
    const exported = [];
    for await (const item of store.items(owner, Number(folderId))) exported.push(item);
    const uid = exported[0]?.uid;
    assert.ok(typeof uid === 'string' && uid !== '', 'the phone-made item has no UID');

    const reimported = await store.putItem(owner, Number(folderId), contact('Ann B.'), IMPORT, { uid });
    assert.deepEqual([reimported.outcome, reimported.id], ['updated', added.status === 'ok' && added.id]);
    // A phone's later change keeps the UID.
    await store.apply(owner, folderId, { kind: 'change', id: reimported.id, item: contact('Ann C.') }, PHONE);
    const after = [];
    for await (const item of store.items(owner, Number(folderId))) after.push(item.uid);
    assert.deepEqual(after, [uid]);
  });
  test('refuses an item larger than 8 MiB', async () => {
    const owner = await newOwner();
    const notes = await defaultFolder(owner, 'Notes');
    const huge: PimItem = {
      class: 'Notes',
      data: { body: { format: 'text', data: 'x'.repeat(MAX_ITEM_BYTES) } },
    };
    const result = await store.apply(owner, notes, { kind: 'add', item: huge }, PHONE);
    assert.equal(result.status, 'invalid');
    assert.equal(await store.cursor(owner, notes), '0');
  });

  test('adds 5,000 items in one call, in order, each with its own version', async () => {
    const owner = await newOwner();
    const contacts = await store.findCollection(owner, 'Contacts');
    assert.ok(contacts);
    const items = Array.from({ length: 5000 }, (_, n) =>
      contact(`First${n}`, { lastName: `Last${n}`, emails: [`person${n}@example.org`] }),
    );
    const ids = await store.addItems(owner, contacts.id, items, IMPORT);
    assert.equal(ids.length, 5000);
    assert.equal((await store.findCollection(owner, 'Contacts'))?.itemCount, 5000);

    const folderId = String(contacts.id);
    const page = await store.changes(owner, folderId, null, 5000);
    assert.equal(page.more, false);
    assert.deepEqual(
      page.changes.map(({ id }) => id),
      ids,
    );
    assert.equal(new Set(page.changes.map(({ version }) => version)).size, 5000);
    const [last] = await store.fetch(owner, folderId, [ids[4999] ?? '']);
    assert.deepEqual(last?.item, items[4999]);
    // Each history row names its item.
    const history = await context.database.db
      .selectFrom('pim_history')
      .select(['item_id', 'seq'])
      .where('user_id', '=', owner.id)
      .where('kind', '=', 'add')
      .orderBy('seq')
      .execute();
    assert.deepEqual(
      history.map(({ item_id }) => String(item_id)),
      ids,
    );
  });
});
