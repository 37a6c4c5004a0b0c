// The store's writes to items, each with its history row, inside a transaction the caller opened
// with writeTransaction. An item carries the sequence of its last history row; a deleted or
// moved-away item leaves a tombstone with the sequence of its removal.

import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { PimClass } from '../../model/types.ts';
import { originText } from '../../push/bus.ts';
import type { Tables } from '../../state/schema.ts';
import type { ChangeOrigin, ItemWindow, Owner } from '../contract.ts';
import type { HistoryKind, Sequence } from './schema.ts';

export type Executor = Kysely<Tables>;

/** An item ready to be written: its JSON and window computed once, outside any transaction. */
export interface PreparedItem {
  pimClass: PimClass;
  data: string;
  uid: string | null;
  window: ItemWindow;
}

export interface HistoryEntry {
  collectionId: number;
  /** null for a change to the collection itself. */
  itemId: number | null;
  kind: HistoryKind;
}

/** A history row a write transaction appended: once it commits, the store announces what changed. */
export interface AppendedHistory {
  collectionId: number;
  kind: HistoryKind;
  /** As the row holds it: 'account:<id>' or 'tool:<name>'. */
  origin: string;
  seq: Sequence;
}

/** What each open write transaction appended, by the executor its work runs on. */
const journals = new WeakMap<Executor, AppendedHistory[]>();

/** Starts recording what is appended through `trx`; the list fills as the transaction goes. */
export function recordAppended(trx: Executor): AppendedHistory[] {
  const appended: AppendedHistory[] = [];
  journals.set(trx, appended);
  return appended;
}

/** Rows per multi-row INSERT: 500 items of 8 columns stay far below both databases' parameter limits. */
const INSERT_CHUNK = 500;

/**
 * Appends history rows; their sequences, ascending. Neither database promises RETURNING rows in the
 * order of VALUES, so a caller that must know which sequence went to which entry appends one at a
 * time.
 */
export async function appendHistory(
  trx: Executor,
  owner: Owner,
  entries: readonly HistoryEntry[],
  origin: ChangeOrigin,
): Promise<Sequence[]> {
  const at = new Date().toISOString();
  const text = originText(origin);
  const rows = await trx
    .insertInto('pim_history')
    .values(
      entries.map(({ collectionId, itemId, kind }) => ({
        user_id: owner.id,
        collection_id: collectionId,
        item_id: itemId,
        kind,
        origin: text,
        at,
      })),
    )
    .returning(['seq', 'collection_id', 'kind'])
    .execute();
  const journal = journals.get(trx);
  for (const row of rows) {
    journal?.push({ collectionId: row.collection_id, kind: row.kind, origin: text, seq: row.seq });
  }
  return rows.map(({ seq }) => seq).sort(compareSequences);
}

/** Appends one history row; its sequence. */
async function appendOne(
  trx: Executor,
  owner: Owner,
  entry: HistoryEntry,
  origin: ChangeOrigin,
): Promise<Sequence> {
  const [seq] = await appendHistory(trx, owner, [entry], origin);
  if (seq === undefined) throw new Error(`the ${entry.kind} was not recorded`);
  return seq;
}

/**
 * Inserts items with one 'add' history row each, in chunks of multi-row inserts; their ids and
 * sequences in the order given, so the items' changes list in that order.
 */
export async function insertItems(
  trx: Executor,
  owner: Owner,
  collectionId: number,
  items: readonly PreparedItem[],
  origin: ChangeOrigin,
): Promise<{ id: number; seq: Sequence }[]> {
  const added: { id: number; seq: Sequence }[] = [];
  for (let start = 0; start < items.length; start += INSERT_CHUNK) {
    const chunk = items.slice(start, start + INSERT_CHUNK);
    // The history rows come first, for the sequences the items carry (the rows are all alike, so
    // which gets which sequence does not matter); then each is linked to its item in one
    // statement, by the sequence they share within the collection.
    const seqs = await appendHistory(
      trx,
      owner,
      chunk.map(() => ({ collectionId, itemId: null, kind: 'add' as const })),
      origin,
    );
    const first = seqs[0];
    const last = seqs.at(-1);
    if (first === undefined || last === undefined || seqs.length !== chunk.length) {
      throw new Error('the additions were not recorded');
    }
    const at = new Date().toISOString();
    const rows = await trx
      .insertInto('pim_items')
      .values(
        chunk.map((item, index) => ({
          collection_id: collectionId,
          // Every item has a UID from its creation on, also one a phone made without, so that an
          // exported file imports again onto the same items instead of copies.
          uid: item.uid ?? randomUUID(),
          data: item.data,
          seq: seqs[index] ?? first,
          ...windowColumns(item.window),
          created_at: at,
          updated_at: at,
        })),
      )
      .returning(['id', 'seq'])
      .execute();
    await trx
      .updateTable('pim_history')
      .set((eb) => ({
        item_id: eb
          .selectFrom('pim_items')
          .select('pim_items.id')
          .whereRef('pim_items.collection_id', '=', 'pim_history.collection_id')
          .whereRef('pim_items.seq', '=', 'pim_history.seq'),
      }))
      .where('user_id', '=', owner.id)
      .where('collection_id', '=', collectionId)
      .where('seq', '>=', first)
      .where('seq', '<=', last)
      .where('item_id', 'is', null)
      .execute();
    const idBySeq = new Map(rows.map(({ id, seq }) => [String(seq), id]));
    for (const seq of seqs) {
      const id = idBySeq.get(String(seq));
      if (id === undefined) throw new Error(`no item was written for sequence ${seq}`);
      added.push({ id, seq });
    }
  }
  return added;
}

/** Inserts one item with its 'add' history row; its id and sequence. */
export async function insertItem(
  trx: Executor,
  owner: Owner,
  collectionId: number,
  item: PreparedItem,
  origin: ChangeOrigin,
): Promise<{ id: number; seq: Sequence }> {
  const [added] = await insertItems(trx, owner, collectionId, [item], origin);
  if (added === undefined) throw new Error('the item was not added');
  return added;
}

/** Rewrites an item the collection holds; the sequence of the change. A UID is kept unless the item brings one. */
export async function changeItem(
  trx: Executor,
  owner: Owner,
  collectionId: number,
  id: number,
  item: PreparedItem,
  origin: ChangeOrigin,
): Promise<Sequence> {
  const seq = await appendOne(trx, owner, { collectionId, itemId: id, kind: 'change' }, origin);
  await trx
    .updateTable('pim_items')
    .set({
      data: item.data,
      seq,
      ...windowColumns(item.window),
      ...(item.uid === null ? {} : { uid: item.uid }),
      updated_at: new Date().toISOString(),
    })
    .where('id', '=', id)
    .where('collection_id', '=', collectionId)
    .execute();
  return seq;
}

/** Deletes an item and leaves its tombstone; the sequence of the deletion, undefined when there was no such item. */
export async function deleteItem(
  trx: Executor,
  owner: Owner,
  collectionId: number,
  id: number,
  origin: ChangeOrigin,
): Promise<Sequence | undefined> {
  const deleted = await trx
    .deleteFrom('pim_items')
    .where('id', '=', id)
    .where('collection_id', '=', collectionId)
    .executeTakeFirst();
  if (deleted.numDeletedRows === 0n) return undefined;
  const seq = await appendOne(trx, owner, { collectionId, itemId: id, kind: 'delete' }, origin);
  await trx.insertInto('pim_tombstones').values({ collection_id: collectionId, item_id: id, seq }).execute();
  return seq;
}

/**
 * Moves an item the source collection holds to the target, keeping its id: a tombstone in the
 * source, the item live in the target. The sequence of its arrival.
 */
export async function moveItem(
  trx: Executor,
  owner: Owner,
  sourceId: number,
  targetId: number,
  id: number,
  origin: ChangeOrigin,
): Promise<Sequence> {
  const left = await appendOne(trx, owner, { collectionId: sourceId, itemId: id, kind: 'move-out' }, origin);
  const arrived = await appendOne(
    trx,
    owner,
    { collectionId: targetId, itemId: id, kind: 'move-in' },
    origin,
  );
  await trx
    .insertInto('pim_tombstones')
    .values({ collection_id: sourceId, item_id: id, seq: left })
    .execute();
  // The item may return to where it was once: its live row supersedes the tombstone it left there.
  await trx
    .deleteFrom('pim_tombstones')
    .where('collection_id', '=', targetId)
    .where('item_id', '=', id)
    .execute();
  await trx
    .updateTable('pim_items')
    .set({ collection_id: targetId, seq: arrived, updated_at: new Date().toISOString() })
    .where('id', '=', id)
    .execute();
  return arrived;
}

function windowColumns(window: ItemWindow): { window_end: string | null; complete: number | null } {
  return { window_end: window.end, complete: window.complete === undefined ? null : Number(window.complete) };
}

function compareSequences(a: Sequence, b: Sequence): number {
  const [x, y] = [BigInt(a), BigInt(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
