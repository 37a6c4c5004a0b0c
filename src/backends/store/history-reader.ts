// The store's history as the change bus's poller reads it (src/push/history-poller.ts): on SQLite,
// which cannot notify other processes, this is how a server hears of what the CLI or an import wrote.
// When nothing changed, a read is one probe of the history's primary key.

import type { HistoryChange, HistoryReader } from '../../push/history-poller.ts';
import type { Db } from '../../state/db.ts';
import { FOLDER_HISTORY_KINDS, STORE_BACKEND } from './store.ts';

/** History rows per read; the poller reads again at once when a read is full. */
const ROWS_PER_READ = 500;

export function storeHistoryReader(db: Db): HistoryReader {
  return async (afterSeq) => {
    if (afterSeq === null) {
      const head = await db
        .selectFrom('pim_history')
        .select(({ fn }) => fn.max('seq').as('seq'))
        .executeTakeFirst();
      return { maxSeq: Number(head?.seq ?? 0), changes: [] };
    }
    const rows = await db
      .selectFrom('pim_history')
      .select(['seq', 'user_id', 'collection_id', 'kind', 'origin'])
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(ROWS_PER_READ)
      .execute();
    const changes = rows.map((row): HistoryChange => ({
      userId: row.user_id,
      backend: STORE_BACKEND,
      folderId: String(row.collection_id),
      origin: row.origin,
      hierarchy: FOLDER_HISTORY_KINDS.includes(row.kind),
      seq: Number(row.seq),
    }));
    return { maxSeq: changes.at(-1)?.seq ?? afterSeq, changes, more: rows.length === ROWS_PER_READ };
  };
}
