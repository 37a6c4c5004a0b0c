// The sync engine's state tables (migration 0005-sync-state). Every row hangs off one device account
// (device_accounts.id) and goes with it. State is kept in rows that change independently — the
// folder map, one row per collection, one row per item a device holds — never in serialized blobs.

/** One device account's folder hierarchy: its FolderSync key and the counter ServerIds come from. */
export interface SyncHierarchyTable {
  account_id: number;
  /** The key of the last answer; 0: the account must start over with key 0. */
  sync_key: number;
  /** The next folder ServerId to hand out; ServerIds are never reused. */
  next_folder: number;
}

/**
 * A folder as one device account knows it: its ServerId ⇄ (backend, backend folder id), and what the
 * device was last told of it (name, parent, type), which a FolderSync compares with the backend.
 */
export interface SyncFoldersTable {
  account_id: number;
  server_id: string;
  backend: string;
  folder_id: string;
  /** The parent's ServerId; null at the top. */
  parent_id: string | null;
  name: string;
  type: number;
  class: string;
  /** 0/1: the device was told the folder is gone (the row stays so its ServerId is never reused). */
  deleted: number;
  /** The hierarchy key whose answer last reported this folder, and how (see FolderReport). */
  reported_key: number | null;
  reported_as: string | null;
  /** The next item ServerId number of this collection. */
  next_item: number;
}

/** A collection's sync state on one device account: key, backend cursor, remembered options. */
export interface SyncCollectionsTable {
  account_id: number;
  collection_id: string;
  /** Random per SyncKey 0: a key from before a reset never matches. */
  epoch: string;
  /** The n of the current key `{epoch}:{n}`. */
  generation: number;
  /** The backend's change cursor at this generation, and at the one before (for a repeated request). */
  cursor: string | null;
  previous_cursor: string | null;
  filter_type: number;
  /** 1: the server's version wins a conflict (the default); 0: the client's. */
  conflict: number;
  /** JSON of the BodyPreference list; null: none sent. */
  body_preferences: string | null;
  /** 2.5 Truncation. */
  truncation: number | null;
  mime_support: number;
  /** JSON array of the `Namespace:Name`s of Supported; null: the device sent no Supported. */
  supported: string | null;
  window_size: number | null;
  /** 0/1: part of the last full Sync request, which an empty or partial Sync repeats. */
  requested: number;
}

/** One item a device holds in a collection, with enough history to go back one generation. */
export interface SyncItemsTable {
  account_id: number;
  collection_id: string;
  /** `<collection>:<n>`. */
  server_id: string;
  /** The backend's item id. */
  item_id: string;
  /** The version the device has. */
  version: string;
  /** The version before `version_gen` set it; equal to `version` when the device itself made the change. */
  previous_version: string | null;
  version_gen: number;
  added_gen: number;
  /** The generation the device was told the item is gone in; null while it holds it. */
  removed_gen: number | null;
  /** ItemWindow: the end of a calendar item (null: none), whether a task is complete. */
  window_end: string | null;
  window_complete: number | null;
  /** The ClientId of the Add that created it on the device. */
  client_id: string | null;
}

export interface SyncStateTables {
  sync_hierarchy: SyncHierarchyTable;
  sync_folders: SyncFoldersTable;
  sync_collections: SyncCollectionsTable;
  sync_items: SyncItemsTable;
}
