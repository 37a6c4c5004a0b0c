// Opens the state database — a SQLite file in the data dir, or PostgreSQL when `database` is a
// postgres:// URL — and brings its schema up to date before anything else touches it.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type Compilable,
  type Dialect,
  type PostgresCursor,
  type PostgresPool,
  type PostgresPoolClient,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
import pg from 'pg';
import type { Config } from '../config.ts';
import { dialectOf } from './dialect.ts';
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

/**
 * Compiled SQLite statements kept per connection. Queries are built from a fixed set of shapes, but
 * an `in (…)` list makes one shape per list length, hence a bound.
 */
const STATEMENT_CACHE_SIZE = 256;

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

/**
 * A query built and compiled once per database, then run with new values. kysely builds and
 * compiles a query on every call, which for one of many columns and joins costs ten times as much as
 * running it (some 50 µs for the device gate's, against 10). On PostgreSQL it runs as a named
 * statement, which the server parses and plans once per connection (see NamingPool). `build` gets
 * the query's parameters as placeholders, each of which may only stand for one value of the query:
 * not an `in` list, and not something `build` decides on. Name the columns it selects rather than
 * `selectAll()`: a named statement fails once a column is added to what `*` stands for, until its
 * connection closes.
 */
export function preparedQuery<Parameters extends object, Row>(
  build: (db: Db, parameters: Parameters) => Compilable<Row>,
): PreparedQuery<Parameters, Row> {
  // Per dialect adapter: a database and its transactions share one.
  const compiled = new WeakMap<object, CompiledQuery<Row>>();
  const bind = (db: Db, parameters: Parameters): CompiledQuery<Row> => {
    const adapter = db.getExecutor().adapter;
    let query = compiled.get(adapter);
    if (query === undefined) {
      const placeholders = new Proxy({} as Parameters, { get: (_target, name) => new Placeholder(name) });
      query = build(db, placeholders).compile();
      compiled.set(adapter, query);
      if (dialectOf(db) === 'postgres') nameStatement(query.sql);
    }
    const values = query.parameters.map((value) =>
      value instanceof Placeholder ? parameters[value.name as keyof Parameters] : value,
    );
    return { ...query, parameters: values };
  };
  return {
    execute: async (db, parameters) => (await db.executeQuery(bind(db, parameters))).rows,
    executeTakeFirst: async (db, parameters) => (await db.executeQuery(bind(db, parameters))).rows[0],
  };
}

export interface PreparedQuery<Parameters, Row> {
  execute(db: Db, parameters: Parameters): Promise<Row[]>;
  executeTakeFirst(db: Db, parameters: Parameters): Promise<Row | undefined>;
}

/** Stands for a parameter of a prepared query while it is built. */
class Placeholder {
  constructor(readonly name: string | symbol) {}
}

/**
 * Inserts rows with one statement whose SQL is written here: kysely spends over a microsecond per
 * value building and compiling a multi-row insert (160 µs for 100 rows of 12 columns, more than
 * SQLite takes to store them). `columns` are the row's properties to insert; values are text,
 * numbers or null.
 */
export async function insertRows<Row extends object>(
  db: Db,
  table: keyof Tables,
  columns: readonly (keyof Row & string)[],
  rows: readonly Row[],
): Promise<void> {
  if (rows.length === 0) return;
  const names = columns.map((column) => `"${column}"`).join(', ');
  if (dialectOf(db) === 'postgres') {
    // The rows as one JSON parameter: the same SQL whatever their number, so a named statement that
    // the server plans once, where a list of rows × columns parameters is planned on every insert
    // (1.8 ms for 100 rows of 12 columns).
    const sql = `insert into "${table}" (${names}) select ${names} from json_populate_recordset(null::"${table}", $1)`;
    nameStatement(sql);
    await db.executeQuery(CompiledQuery.raw(sql, [JSON.stringify(rows)]));
    return;
  }
  const row = `(${columns.map(() => '?').join(', ')})`;
  const values = rows.map(() => row).join(', ');
  const parameters = rows.flatMap((each) => columns.map((column) => each[column]));
  await db.executeQuery(CompiledQuery.raw(`insert into "${table}" (${names}) values ${values}`, parameters));
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
  // With WAL, NORMAL syncs the log at checkpoints rather than at every commit, which spares each
  // commit an fsync (some 0.35 ms). The database cannot be corrupted, but a power failure or an OS
  // crash (not a crash of this process) may roll back the last transactions committed before it,
  // changes phones sent among them; a phone whose SyncKey is then unknown syncs that collection again.
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  return new SqliteDialect({ database: new StatementCache(database, STATEMENT_CACHE_SIZE) });
}

/**
 * The database as kysely's SQLite driver sees it, with its statements reused: the driver prepares
 * every query it runs, and compiling the SQL again costs as much as running a small query. Keyed by
 * SQL text; the least recently used statement is dropped beyond `capacity`. A statement is never
 * asked for while it is still being iterated: the driver runs one query at a time, and a streamed
 * query holds the connection until its iteration ends.
 */
class StatementCache implements SqliteDatabase {
  /** In order of use, the most recent last. */
  private readonly statements = new Map<string, SQLite.Statement>();

  constructor(
    private readonly database: SQLite.Database,
    private readonly capacity: number,
  ) {}

  prepare(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      if (this.statements.size >= this.capacity) {
        this.statements.delete(this.statements.keys().next().value as string);
      }
    } else {
      this.statements.delete(sql);
    }
    this.statements.set(sql, statement);
    return statement;
  }

  close(): void {
    this.statements.clear();
    this.database.close();
  }
}

function postgresDialect(connectionString: string): Dialect {
  const pool = new pg.Pool({ connectionString });
  // The pool drops an idle connection that dies (say, a server restart) and opens another when
  // needed; without a listener, the 'error' event it emits would crash the process.
  pool.on('error', () => {});
  return new PostgresDialect({ pool: new NamingPool(pool) });
}

/** The SQL of the prepared queries, with the name each runs under on PostgreSQL. */
const statementNames = new Map<string, string>();

function nameStatement(sql: string): void {
  if (!statementNames.has(sql)) statementNames.set(sql, `prepared_${statementNames.size + 1}`);
}

/**
 * The pool kysely takes its PostgreSQL connections from, which runs the SQL of prepared queries as
 * named statements: the server parses and plans them once per connection instead of on every run,
 * which for the device gate's six-table join saves a quarter of a millisecond. Only those: they are
 * a fixed, small set, where every SQL text ever run would make each connection hold a plan for every
 * length of every `in` list.
 */
class NamingPool implements PostgresPool {
  private readonly clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();

  constructor(private readonly pool: pg.Pool) {}

  async connect(): Promise<PostgresPoolClient> {
    const client = await this.pool.connect();
    // The same client each time: kysely keeps its connection state per client.
    let naming = this.clients.get(client);
    if (naming === undefined) {
      naming = namingClient(client);
      this.clients.set(client, naming);
    }
    return naming;
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

function namingClient(client: pg.PoolClient): PostgresPoolClient {
  const query = (statement: string | PostgresCursor<unknown>, parameters?: readonly unknown[]) => {
    // A cursor (a streamed query) goes through as it is.
    if (typeof statement !== 'string') return client.query(statement as unknown as pg.Submittable);
    const name = statementNames.get(statement);
    return client.query(name === undefined ? statement : { name, text: statement }, parameters as unknown[]);
  };
  return { query, release: (destroy?: boolean) => client.release(destroy) } as unknown as PostgresPoolClient;
}
