// The backend contract: what the sync engine (src/sync/) needs from wherever a user's data lives.
// The engine talks to nothing else, so the built-in store, IMAP and CalDAV/CardDAV are
// interchangeable, and a user may have several at once. A backend computes its own diff the
// cheapest way it has (a history sequence, MODSEQ, a sync-token) and never knows EAS element names.

import type { PimClass, PimItem } from '../model/types.ts';

/** Whose data: the authenticated user. */
export interface Owner {
  id: number;
  name: string;
}

/**
 * EAS folder types (MS-ASCMD 2.2.3.186.3): the defaults of each class and user-created folders.
 * 7–10 are the default task list, calendar, address book and notes; 13–15 and 17 user-created ones.
 */
export const FOLDER_TYPES = {
  userGeneric: 1,
  inbox: 2,
  drafts: 3,
  deletedItems: 4,
  sentItems: 5,
  outbox: 6,
  defaultTasks: 7,
  defaultCalendar: 8,
  defaultContacts: 9,
  defaultNotes: 10,
  defaultJournal: 11,
  userMail: 12,
  userCalendar: 13,
  userContacts: 14,
  userTasks: 15,
  userJournal: 16,
  userNotes: 17,
  unknown: 18,
  recipientInfoCache: 19,
} as const;

export type FolderType = (typeof FOLDER_TYPES)[keyof typeof FOLDER_TYPES];

export interface BackendFolder {
  /** Stable for the folder's life within its backend; never reused. */
  id: string;
  /** null: at the top of the hierarchy. */
  parentId: string | null;
  name: string;
  type: FolderType;
  dataClass: PimClass;
}

/**
 * How far in time an item reaches, for FilterType: calendar items are in a window when `end` is
 * after its start (null: a series without end); tasks by `complete` (FilterType 8: incomplete only).
 */
export interface ItemWindow {
  end: string | null;
  complete?: boolean;
}

export interface ItemChange {
  id: string;
  deleted: boolean;
  /** Opaque, compares as a string of digits of equal meaning: a later change has a greater version. */
  version: string;
  /** Absent for deletions. */
  window?: ItemWindow;
}

export interface ChangePage {
  changes: ItemChange[];
  /** Where the next call continues; equal to `since` when nothing changed. */
  cursor: string;
  /** More changes follow after `cursor`. */
  more: boolean;
}

export interface StoredItem {
  id: string;
  version: string;
  item: PimItem;
}

/** Who made a change: a device account (so it is not echoed to that device, nor wakes its own Ping), or a tool. */
export type ChangeOrigin = { account: number } | { tool: string };

export type ItemOperation =
  | { kind: 'add'; item: PimItem }
  | { kind: 'change'; id: string; item: PimItem }
  | { kind: 'delete'; id: string };

export type ApplyResult =
  | { status: 'ok'; id: string; version: string; window?: ItemWindow }
  | { status: 'not-found' }
  /** The item is not acceptable to this backend (wrong class for the folder, too large, …). */
  | { status: 'invalid'; reason: string };

export type FolderOperationResult =
  | { status: 'ok'; folder: BackendFolder }
  | { status: 'not-found' }
  | { status: 'exists' }
  | { status: 'special' }
  | { status: 'parent-not-found' }
  | { status: 'invalid'; reason: string };

export interface Backend {
  /** Short and unique among a server's backends, e.g. 'store'. */
  readonly name: string;
  /** The data classes it serves. */
  readonly classes: readonly PimClass[];

  /** The folders the user syncs: every default and the collections the user chose. */
  folders(owner: Owner): Promise<BackendFolder[]>;
  /** Changes after `since` (null: from the beginning, live items only), oldest first, at most `limit`. */
  changes(owner: Owner, folderId: string, since: string | null, limit: number): Promise<ChangePage>;
  /** The cursor a `changes` from now would start at, without listing anything. */
  cursor(owner: Owner, folderId: string): Promise<string>;
  /** The items that exist, in any order; missing ids are left out. */
  fetch(owner: Owner, folderId: string, ids: readonly string[]): Promise<StoredItem[]>;
  apply(owner: Owner, folderId: string, operation: ItemOperation, origin: ChangeOrigin): Promise<ApplyResult>;
  /** Moves an item to another folder of the same class; its id may change. */
  move(
    owner: Owner,
    fromFolderId: string,
    id: string,
    toFolderId: string,
    origin: ChangeOrigin,
  ): Promise<ApplyResult>;

  createFolder(
    owner: Owner,
    parentId: string | null,
    name: string,
    type: FolderType,
    origin: ChangeOrigin,
  ): Promise<FolderOperationResult>;
  renameFolder(
    owner: Owner,
    folderId: string,
    parentId: string | null,
    name: string,
    origin: ChangeOrigin,
  ): Promise<FolderOperationResult>;
  deleteFolder(owner: Owner, folderId: string, origin: ChangeOrigin): Promise<FolderOperationResult>;
}
