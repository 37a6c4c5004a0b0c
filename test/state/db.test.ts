import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase, SQLITE_FILE_NAME } from '../../src/state/db.ts';
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
  } finally {
    await database.close();
    await testDatabase.drop();
  }
});
