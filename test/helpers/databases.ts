// Runs state tests on every backend airsync supports. Each test file gets fresh, empty databases:
// a SQLite file in a temporary data dir, and a PostgreSQL database created for it and dropped after.
// PostgreSQL is reached through AIRSYNC_TEST_POSTGRES (any database on the server; it is used only
// to create and drop the test databases), by default the local server with trust auth.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pg from 'pg';
import { loadConfig, type Config, type DeepPartial } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/state/db.ts';

const POSTGRES_URL = process.env.AIRSYNC_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

export const DATABASE_KINDS = ['sqlite', 'postgres'] as const;
export type DatabaseKind = (typeof DATABASE_KINDS)[number];

export interface TestDatabase {
  kind: DatabaseKind;
  /** A config whose dataDir is a fresh temporary directory and whose database is fresh and empty. */
  config: Config;
  /** Removes the data dir and, for PostgreSQL, the database. Close connections first. */
  drop(): Promise<void>;
}

export async function createTestDatabase(
  kind: DatabaseKind,
  overrides: DeepPartial<Config> = {},
): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'airsync-test-'));
  const removeDataDir = () => rm(dataDir, { recursive: true, force: true });
  if (kind === 'sqlite') {
    return { kind, config: loadConfig({ overrides: { ...overrides, dataDir } }), drop: removeDataDir };
  }
  const name = `airsync_test_${randomBytes(6).toString('hex')}`;
  await administer(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    config: loadConfig({ overrides: { ...overrides, dataDir, database: url.href } }),
    drop: async () => {
      await administer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await removeDataDir();
    },
  };
}

async function administer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** What a test inside describeEachDatabase sees; read it inside tests and hooks, not while declaring. */
export interface DatabaseContext {
  readonly kind: DatabaseKind;
  readonly config: Config;
  /** Open and migrated for the whole describe block. */
  readonly database: Database;
}

/** Declares the same suite once per backend, each with its own fresh, open database. */
export function describeEachDatabase(
  title: string,
  body: (context: DatabaseContext) => void,
  overrides: DeepPartial<Config> = {},
): void {
  for (const kind of DATABASE_KINDS) {
    describe(`${title} (${kind})`, () => {
      let testDatabase: TestDatabase | undefined;
      let database: Database | undefined;
      before(async () => {
        testDatabase = await createTestDatabase(kind, overrides);
        database = await openDatabase(testDatabase.config);
      });
      after(async () => {
        await database?.close();
        await testDatabase?.drop();
      });
      body({
        kind,
        get config() {
          if (testDatabase === undefined) throw new Error('the test database is not created yet');
          return testDatabase.config;
        },
        get database() {
          if (database === undefined) throw new Error('the test database is not open yet');
          return database;
        },
      });
    });
  }
}
