import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { insertRows, openDatabase, preparedQuery, SQLITE_FILE_NAME } from '../../src/state/db.ts';
import { dialectOf } from '../../src/state/dialect.ts';
import { migrations } from '../../src/state/migrations/index.ts';
import { UserStore } from '../../src/state/users.ts';
import { createTestDatabase, describeEachDatabase } from '../helpers/databases.ts';

describeEachDatabase('openDatabase', (context) => {
  test('runs every migration', async () => {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
      context.database.db,
    );
    assert.deepEqual(
      rows.map((row) => row.name),
      Object.keys(migrations).sort(),
    );
    assert.ok(rows.length > 0);
  });

  test('speaks the configured dialect', () => {
    assert.equal(dialectOf(context.database.db), context.kind);
  });

  test('reopens an existing database without migrating twice, keeping its rows', async () => {
    await new UserStore(context.database.db).add('kept', 'pw');
    const again = await openDatabase(context.config);
    try {
      assert.equal((await new UserStore(again.db).find('kept'))?.name, 'kept');
    } finally {
      await again.close();
    }
  });

  test('numbers rows itself and as plain numbers', async () => {
    const users = new UserStore(context.database.db);
    const first = await users.add('first', 'pw');
    const second = await users.add('second', 'pw');
    assert.equal(typeof first.id, 'number');
    assert.ok(second.id > first.id);
  });
});

test('SQLite lives in the data dir, created on demand, with WAL and foreign keys', async () => {
  const testDatabase = await createTestDatabase('sqlite');
  const dataDir = join(testDatabase.config.dataDir, 'nested', 'dir');
  const database = await openDatabase({ dataDir });
  try {
    assert.ok(existsSync(join(dataDir, SQLITE_FILE_NAME)));
    const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(database.db);
    assert.equal(journal.rows[0]?.journal_mode, 'wal');
    const foreignKeys = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(database.db);
    assert.equal(foreignKeys.rows[0]?.foreign_keys, 1);
    // NORMAL (1): with WAL, commits are not synced one by one.
    const synchronous = await sql<{ synchronous: number }>`pragma synchronous`.execute(database.db);
    assert.equal(synchronous.rows[0]?.synchronous, 1);
  } finally {
    await database.close();
    await testDatabase.drop();
  }
});

test('SQLite statements are reused, after a stream too, and the least recently used dropped', async () => {
  const testDatabase = await createTestDatabase('sqlite');
  const database = await openDatabase(testDatabase.config);
  try {
    const { db } = database;
    const users = new UserStore(db);
    for (const name of ['ann', 'bea', 'cid']) await users.add(name, 'pw');
    const names = db.selectFrom('users').select('name').orderBy('name');
    const namesNow = async () => (await names.execute()).map((row) => row.name);
    assert.deepEqual(await namesNow(), ['ann', 'bea', 'cid']);
    // A stream left after its first row ends its statement's iteration: the statement runs again.
    for await (const row of names.stream()) {
      assert.equal(row.name, 'ann');
      break;
    }
    await users.add('dan', 'pw');
    assert.deepEqual(await namesNow(), ['ann', 'bea', 'cid', 'dan']);
    // More distinct statements than are kept: the oldest are dropped, and prepared again when needed.
    for (let i = 0; i < 300; i++) {
      const { rows } = await sql<{ n: number }>`select ${sql.lit(i)} as n`.execute(db);
      assert.equal(rows[0]?.n, i);
    }
    assert.deepEqual(await namesNow(), ['ann', 'bea', 'cid', 'dan']);
  } finally {
    await database.close();
    await testDatabase.drop();
  }
});

describeEachDatabase('queries built once', (context) => {
  const userNamed = preparedQuery((db, user: { name: string }) =>
    db.selectFrom('users').select(['id', 'name']).where('name', '=', user.name).orderBy('id').limit(2),
  );

  test('a prepared query runs with the values of each call, also in a transaction', async () => {
    const { db } = context.database;
    const users = new UserStore(db);
    const ann = await users.add('prepared-ann', 'pw');
    await users.add('prepared-bea', 'pw');
    assert.deepEqual(await userNamed.execute(db, { name: 'prepared-ann' }), [
      { id: ann.id, name: 'prepared-ann' },
    ]);
    assert.equal((await userNamed.executeTakeFirst(db, { name: 'prepared-bea' }))?.name, 'prepared-bea');
    assert.equal(await userNamed.executeTakeFirst(db, { name: 'nobody' }), undefined);
    await db.transaction().execute(async (trx) => {
      assert.equal((await userNamed.executeTakeFirst(trx, { name: 'prepared-ann' }))?.id, ann.id);
    });
    // A new column leaves the query's result as it was: PostgreSQL plans its named statement again.
    await db.schema.alterTable('users').addColumn('prepared_extra', 'text').execute();
    assert.equal((await userNamed.executeTakeFirst(db, { name: 'prepared-bea' }))?.name, 'prepared-bea');
  });

  test('insertRows inserts every row as it is, with the defaults of the columns left out', async () => {
    const { db } = context.database;
    const rows = ['rows-a', 'rows-b "quoted" \\ back', 'rows-c ünï €'].map((name) => ({
      created_at: '2026-01-01T00:00:00.000Z',
      password_hash: 'x',
      name,
    }));
    await insertRows(db, 'users', ['name', 'password_hash', 'created_at'], rows);
    const admins = await db.selectFrom('users').select('admin').where('name', 'like', 'rows-%').execute();
    assert.deepEqual(
      admins.map((row) => row.admin),
      [0, 0, 0],
    );
    const stored = await db
      .selectFrom('users')
      .select(['name', 'password_hash', 'created_at'])
      .where('name', 'like', 'rows-%')
      .orderBy('name')
      .execute();
    assert.deepEqual(
      stored,
      rows.map(({ name, password_hash, created_at }) => ({ name, password_hash, created_at })),
    );
    await insertRows(db, 'users', ['name'], []);
  });
});
