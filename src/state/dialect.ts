// The few places where SQLite and PostgreSQL differ, so migrations and stores stay dialect-free.

import { PostgresAdapter, type ColumnDefinitionBuilder, type Kysely } from 'kysely';

export type SqlDialect = 'sqlite' | 'postgres';

export function dialectOf<DB>(db: Kysely<DB>): SqlDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * An `integer` primary key the database numbers itself: an identity column on PostgreSQL, AUTOINCREMENT
 * on SQLite (so a deleted row's id is never handed out again). Use: `.addColumn('id', 'integer', idColumn(db))`.
 */
export function idColumn<DB>(db: Kysely<DB>): (column: ColumnDefinitionBuilder) => ColumnDefinitionBuilder {
  return dialectOf(db) === 'postgres'
    ? (column) => column.primaryKey().generatedByDefaultAsIdentity()
    : (column) => column.primaryKey().autoIncrement();
}

/** Whether an error is a UNIQUE constraint violation, as better-sqlite3 or pg reports it. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}
