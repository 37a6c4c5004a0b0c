// How the built-in store tells the change bus what changed: once a write commits (never when it
// rolls back), one change per folder, kind and origin of the write, with its highest sequence; and
// the history reader through which the SQLite poller finds what other processes wrote.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { Owner } from '../../src/backends/contract.ts';
import { appendHistory, type AppendedHistory } from '../../src/backends/store/history.ts';
import { storeHistoryReader } from '../../src/backends/store/history-reader.ts';
import { PimStore, StoreError } from '../../src/backends/store/store.ts';
import { writeTransaction } from '../../src/backends/store/write-transaction.ts';
import type { FolderChange } from '../../src/push/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { contact } from '../sync/session.ts';

const TOOL = { tool: 'test' };

describeEachDatabase('store changes for the change bus', (context) => {
  let heard: FolderChange[] = [];
  let store: PimStore;
  let users = 0;

  before(() => {
    store = new PimStore(context.database.db, { onChange: (change) => heard.push(change) });
  });

  async function user(): Promise<Owner> {
    const name = `changes${process.pid}x${++users}`;
    const row = await context.database.db
      .insertInto('users')
      .values({ name, password_hash: 'not used', admin: 0, created_at: new Date().toISOString() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const owner = { id: row.id, name };
    await store.ensureDefaults(owner);
    heard = [];
    return owner;
  }

  const contactsOf = async (owner: Owner) =>
    (await store.collections(owner)).find((each) => each.pimClass === 'Contacts' && each.isDefault)
      ?.id as number;

  test('a write is announced once it commits, once per folder, with its highest sequence', async () => {
    const owner = await user();
    const contacts = await contactsOf(owner);
    const ids = await store.addItems(owner, contacts, [contact('A'), contact('B'), contact('C')], TOOL);
    const version = Number((await store.fetch(owner, String(contacts), [ids[2] as string]))[0]?.version);
    assert.deepEqual(heard, [
      {
        userId: owner.id,
        backend: 'store',
        folderId: String(contacts),
        origin: 'tool:test',
        hierarchy: false,
        seq: version,
      },
    ]);
  });

  test('a device’s change carries its account; a move is a change of both folders', async () => {
    const owner = await user();
    const contacts = await contactsOf(owner);
    const other = await store.createCollection(owner, 'Contacts', 'Work', { synced: true });
    heard = [];
    const added = await store.apply(
      owner,
      String(contacts),
      { kind: 'add', item: contact('D') },
      { account: 42 },
    );
    assert.equal(added.status, 'ok');
    assert.deepEqual(
      heard.map((change) => [change.folderId, change.origin, change.hierarchy]),
      [[String(contacts), 'account:42', false]],
    );
    heard = [];
    await store.move(owner, String(contacts), added.status === 'ok' ? added.id : '', String(other.id), TOOL);
    assert.deepEqual(
      heard.map((change) => change.folderId).sort(),
      [String(contacts), String(other.id)].sort(),
    );
  });

  test('changes to collections are hierarchy changes', async () => {
    const owner = await user();
    const created = await store.createCollection(owner, 'Calendar', 'Holidays');
    await store.setSynced(owner, created.id, true);
    const folders = await store.deleteFolder(owner, String(created.id), TOOL);
    assert.equal(folders.status, 'ok');
    assert.deepEqual(
      heard.map((change) => [change.folderId, change.origin, change.hierarchy]),
      [
        [String(created.id), 'tool:admin', true],
        [String(created.id), 'tool:admin', true],
        [String(created.id), 'tool:test', true],
      ],
    );
  });

  test('a transaction that rolls back reports nothing of what it appended', async () => {
    const owner = await user();
    const contacts = await contactsOf(owner);
    const entry = { collectionId: contacts, itemId: null, kind: 'change' as const };
    const committed: AppendedHistory[][] = [];
    await assert.rejects(
      writeTransaction(
        context.database.db,
        owner.id,
        async (trx) => {
          await appendHistory(trx, owner, [entry], TOOL);
          throw new Error('changed its mind');
        },
        (appended) => committed.push(appended),
      ),
      /changed its mind/,
    );
    assert.equal(committed.length, 0);
    await writeTransaction(
      context.database.db,
      owner.id,
      (trx) => appendHistory(trx, owner, [entry, entry], TOOL),
      (appended) => committed.push(appended),
    );
    assert.deepEqual(
      committed.map((appended) =>
        appended.map(({ collectionId, kind, origin }) => [collectionId, kind, origin]),
      ),
      [
        [
          [contacts, 'change', 'tool:test'],
          [contacts, 'change', 'tool:test'],
        ],
      ],
    );
  });

  test('a refused write announces nothing', async () => {
    const owner = await user();
    const calendar = (await store.collections(owner)).find((each) => each.pimClass === 'Calendar')
      ?.id as number;
    await assert.rejects(store.addItems(owner, calendar, [contact('E')], TOOL), StoreError);
    await assert.rejects(
      store.createCollection(owner, 'Contacts', 'Contacts'.padEnd(300, 'x')),
      (error) => error instanceof StoreError && error.code === 'invalid',
    );
    assert.deepEqual(heard, []);
  });

  test('the history reader: where the history ends, and what came after, in pages', async () => {
    const owner = await user();
    const contacts = await contactsOf(owner);
    const read = storeHistoryReader(context.database.db);
    const head = await read(null);
    assert.deepEqual(head.changes, []);
    assert.equal(await read(head.maxSeq).then((page) => page.changes.length), 0);

    await store.addItems(
      owner,
      contacts,
      Array.from({ length: 501 }, (_, index) => contact(`P${index}`)),
      TOOL,
    );
    await store.createCollection(owner, 'Tasks', 'Chores');
    const first = await read(head.maxSeq);
    assert.equal(first.changes.length, 500);
    assert.equal(first.more, true);
    const { seq, ...firstChange } = first.changes[0] ?? { seq: 0 };
    assert.ok(seq > head.maxSeq);
    assert.equal(first.maxSeq, first.changes.at(-1)?.seq);
    assert.deepEqual(firstChange, {
      userId: owner.id,
      backend: 'store',
      folderId: String(contacts),
      origin: 'tool:test',
      hierarchy: false,
    });
    const rest = await read(first.maxSeq);
    assert.deepEqual(
      rest.changes.map((change) => [change.origin, change.hierarchy]),
      [
        ['tool:test', false],
        ['tool:admin', true],
      ],
    );
    assert.equal(rest.more, false);
    assert.equal((await read(null)).maxSeq, rest.maxSeq);
  });
});
