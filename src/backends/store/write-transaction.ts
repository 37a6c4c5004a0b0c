// Every write to the store (items and their history rows) is one transaction, and a user's writes
// are serialized, so that the history sequences of a user's folders become visible in order.
//
// Why: readers page through a folder's changes by sequence ("everything after 10"). A sequence is
// handed out when a row is inserted, not when its transaction commits. On PostgreSQL, two writers
// could take 10 and 11, the one holding 11 commit first, and a reader that saw 11 would move its
// cursor past 10 and never see it. Holding a lock per user from before the sequence is taken until
// the commit makes a later sequence commit after an earlier one for every folder of that user; other
// users' writers still run in parallel (their sequences interleave, but never within one folder).
// A lock per folder would not do: a move writes to two folders in one transaction.
//
// PostgreSQL: a transaction-scoped advisory lock, released by the commit itself. The two-key form
// with a constant first key keeps the store's locks apart from any other advisory lock on a user id
// (PostgreSQL keeps the one-key and two-key spaces separate).
//
// SQLite: one writer at a time anyway. The transaction starts with BEGIN IMMEDIATE, which takes the
// write lock first (waiting out the busy timeout when another process holds it): a deferred BEGIN
// that read first and then wrote would fail at once with SQLITE_BUSY when another process committed
// in between.

import { sql, type Kysely } from 'kysely';
import type { Db } from '../../state/db.ts';
import { dialectOf } from '../../state/dialect.ts';
import type { Tables } from '../../state/schema.ts';
import { recordAppended, type AppendedHistory } from './history.ts';

/** The first key of the store's advisory locks: "pims" in ASCII. */
const STORE_LOCK_SPACE = 0x70696d73;

/**
 * Runs `work` in a write transaction of the user's data. `committed` is given the history rows the
 * transaction appended, once they are committed (and so visible to every reader), and not at all
 * when it rolls back.
 */
export async function writeTransaction<T>(
  db: Db,
  userId: number,
  work: (trx: Kysely<Tables>) => Promise<T>,
  committed?: (appended: AppendedHistory[]) => void,
): Promise<T> {
  let appended: AppendedHistory[] = [];
  let result: T;
  if (dialectOf(db) === 'postgres') {
    result = await db.transaction().execute(async (trx) => {
      appended = recordAppended(trx);
      await sql`select pg_advisory_xact_lock(${STORE_LOCK_SPACE}, ${userId})`.execute(trx);
      return work(trx);
    });
  } else {
    // The SQLite driver has one connection behind a mutex: holding it keeps this process's other
    // queries out of the transaction.
    result = await db.connection().execute(async (connection) => {
      appended = recordAppended(connection);
      await sql`begin immediate`.execute(connection);
      try {
        const value = await work(connection);
        await sql`commit`.execute(connection);
        return value;
      } catch (error) {
        await sql`rollback`.execute(connection);
        throw error;
      }
    });
  }
  if (appended.length > 0) committed?.(appended);
  return result;
}
