// The built-in PIM store's tables (migration 0004-pim-store).
//
// Every change to an item or a collection appends a row to `pim_history`; its sequence number is the
// store's clock. An item carries the sequence of its last change and a deleted or moved-away item
// leaves a tombstone with the sequence of its removal, so "what changed in this folder since N" is
// one range scan over items and tombstones by (collection_id, seq).

import type { Generated } from 'kysely';
import type { PimClass } from '../../model/types.ts';

export interface PimStoreTables {
  pim_collections: PimCollectionsTable;
  pim_items: PimItemsTable;
  pim_tombstones: PimTombstonesTable;
  pim_history: PimHistoryTable;
}

/** A history sequence number: `bigint` on PostgreSQL (read back as a string), an integer on SQLite. */
export type Sequence = string | number;

export interface PimCollectionsTable {
  id: Generated<number>;
  user_id: number;
  class: PimClass;
  name: string;
  /** null: at the top of the hierarchy. */
  parent_id: number | null;
  /** 1 for the one default collection of each class a user has (EAS folder types 7–10). */
  is_default: number;
  /** 1: the user's phones sync it; defaults always are. */
  synced: number;
  created_at: string;
}

export interface PimItemsTable {
  id: Generated<number>;
  collection_id: number;
  /** The iCalendar or vCard UID an import matches on; null when there is none. */
  uid: string;
  /** The PimItem as JSON. */
  data: string;
  /** The sequence of the item's last change. */
  seq: Sequence;
  /** ItemWindow.end; null: no end (a series without end, or a class without a time window). */
  window_end: string | null;
  /** ItemWindow.complete as 0/1; null when the window has none. */
  complete: number | null;
  created_at: string;
  updated_at: string;
}

/** An item deleted from, or moved out of, a collection. */
export interface PimTombstonesTable {
  collection_id: number;
  item_id: number;
  seq: Sequence;
}

export type HistoryKind =
  'add' | 'change' | 'delete' | 'move-in' | 'move-out' | 'folder-add' | 'folder-change' | 'folder-delete';

export interface PimHistoryTable {
  seq: Generated<Sequence>;
  user_id: number;
  /** Not a foreign key: the row of a deleted collection outlives it. */
  collection_id: number;
  /** null for changes to the collection itself. */
  item_id: number | null;
  kind: HistoryKind;
  /** Who made the change: 'account:<device account id>' or 'tool:<name>'. */
  origin: string;
  at: string;
}
