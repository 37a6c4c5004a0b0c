// Opens the state database — a SQLite file in the data dir, or PostgreSQL when `database` is a
// postgres:// URL — and brings its schema up to date before anything else touches it.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Dialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.ts';
import { migrations } from './migrations/index.ts';
import type { Tables } from './schema.ts';

/** The query layer every store is built on. */
export type Db = Kysely<Tables>;

/** An open state database. */
export interface Database {
  db: Db;
  close(): Promise<void>;
}

export const SQLITE_FILE_NAME = 'airsync.sqlite';

export async function openDatabase(config: Pick<Config, 'dataDir' | 'database'>): Promise<Database> {
  const dialect =
    config.database === undefined ? sqliteDialect(config.dataDir) : postgresDialect(config.database);
  const db = new Kysely<Tables>({ dialect });
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return { db, close: () => db.destroy() };
}

async function migrateToLatest(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: () => Promise.resolve(migrations) } });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed ?? ''} failed: ${message}`, { cause: error });
  }
}

function sqliteDialect(dataDir: string): Dialect {
  mkdirSync(dataDir, { recursive: true });
  const database = new SQLite(join(dataDir, SQLITE_FILE_NAME));
  // WAL lets readers proceed during a write; the busy timeout makes a second process wait for a
  // lock instead of failing at once.
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  return new SqliteDialect({ database });
}

function postgresDialect(connectionString: string): Dialect {
  const pool = new pg.Pool({ connectionString });
  // The pool drops an idle connection that dies (say, a server restart) and opens another when
  // needed; without a listener, the 'error' event it emits would crash the process.
  pool.on('error', () => {});
  return new PostgresDialect({ pool });
}
