// A user's collections: how they are read and created, how they appear to phones as folders, and
// the rules their names follow.

import type { Selectable } from 'kysely';
import type { PimClass } from '../../model/types.ts';
import {
  FOLDER_TYPES,
  type BackendFolder,
  type ChangeOrigin,
  type FolderType,
  type Owner,
} from '../contract.ts';
import { preparedQuery } from '../../state/db.ts';
import { appendHistory, type Executor } from './history.ts';
import type { PimCollectionsTable } from './schema.ts';

export const PIM_CLASSES = ['Contacts', 'Calendar', 'Tasks', 'Notes'] as const satisfies readonly PimClass[];

export type CollectionRow = Selectable<PimCollectionsTable>;

/** The longest collection name accepted, in characters. */
const MAX_NAME_LENGTH = 256;

const DEFAULT_FOLDER_TYPES: Record<PimClass, FolderType> = {
  Contacts: FOLDER_TYPES.defaultContacts,
  Calendar: FOLDER_TYPES.defaultCalendar,
  Tasks: FOLDER_TYPES.defaultTasks,
  Notes: FOLDER_TYPES.defaultNotes,
};

const USER_FOLDER_TYPES: Record<PimClass, FolderType> = {
  Contacts: FOLDER_TYPES.userContacts,
  Calendar: FOLDER_TYPES.userCalendar,
  Tasks: FOLDER_TYPES.userTasks,
  Notes: FOLDER_TYPES.userNotes,
};

/** The class of the folders a phone creates with this type; undefined for a type the store does not hold. */
export function classOfUserFolderType(type: FolderType): PimClass | undefined {
  return PIM_CLASSES.find((pimClass) => USER_FOLDER_TYPES[pimClass] === type);
}

export async function ownedCollection(
  db: Executor,
  owner: Owner,
  id: number,
): Promise<CollectionRow | undefined> {
  return OWNED_COLLECTION.executeTakeFirst(db, { id, user: owner.id });
}

/** Built once: every read and write of the store checks the collection is the owner's. */
const OWNED_COLLECTION = preparedQuery((db, collection: { id: number; user: number }) =>
  db
    .selectFrom('pim_collections')
    .select(['id', 'user_id', 'class', 'name', 'parent_id', 'is_default', 'synced', 'created_at'])
    .where('id', '=', collection.id)
    .where('user_id', '=', collection.user),
);

export async function ownedCollections(db: Executor, owner: Owner): Promise<CollectionRow[]> {
  return db.selectFrom('pim_collections').selectAll().where('user_id', '=', owner.id).execute();
}

export async function defaultClasses(db: Executor, owner: Owner): Promise<Set<PimClass>> {
  const rows = await db
    .selectFrom('pim_collections')
    .select('class')
    .where('user_id', '=', owner.id)
    .where('is_default', '=', 1)
    .execute();
  return new Set(rows.map((row) => row.class));
}

/** Creates a collection and records its creation. */
export async function insertCollection(
  trx: Executor,
  owner: Owner,
  collection: {
    pimClass: PimClass;
    name: string;
    parentId: number | null;
    isDefault: boolean;
    synced: boolean;
  },
  origin: ChangeOrigin,
): Promise<CollectionRow> {
  const row = await trx
    .insertInto('pim_collections')
    .values({
      user_id: owner.id,
      class: collection.pimClass,
      name: collection.name,
      parent_id: collection.parentId,
      is_default: Number(collection.isDefault),
      synced: Number(collection.synced),
      created_at: new Date().toISOString(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await appendHistory(trx, owner, [{ collectionId: row.id, itemId: null, kind: 'folder-add' }], origin);
  return row;
}

/** Phones see the defaults and the synced collections. */
export function isVisible(row: CollectionRow): boolean {
  return row.is_default === 1 || row.synced === 1;
}

/**
 * The visible ancestors of a collection, nearest first: the first is its parent as phones see it
 * (a synced collection under one that is not appears under its nearest synced ancestor, or at the
 * top). `rows` are all the user's collections.
 */
export function visibleAncestors(rows: readonly CollectionRow[], row: CollectionRow): number[] {
  const byId = new Map(rows.map((each) => [each.id, each]));
  const ancestors: number[] = [];
  // A chain never loops: renameFolder refuses to put a folder under itself.
  for (let parentId = row.parent_id; parentId !== null;) {
    const parent = byId.get(parentId);
    if (parent === undefined) break;
    if (isVisible(parent)) ancestors.push(parent.id);
    parentId = parent.parent_id;
  }
  return ancestors;
}

/** The collection as a folder, under `parentId` as phones see it. */
export function toFolder(row: CollectionRow, parentId: number | null): BackendFolder {
  return {
    id: String(row.id),
    parentId: parentId === null ? null : String(parentId),
    name: row.name,
    type: (row.is_default === 1 ? DEFAULT_FOLDER_TYPES : USER_FOLDER_TYPES)[row.class],
    dataClass: row.class,
  };
}

/** The collection and every collection under it. */
export function subtreeOf(rows: readonly CollectionRow[], id: number): number[] {
  const subtree = [id];
  for (let index = 0; index < subtree.length; index++) {
    for (const row of rows) if (row.parent_id === subtree[index]) subtree.push(row.id);
  }
  return subtree;
}

/** A collection name, trimmed, or why it cannot be one. */
export function checkName(name: string): string | { reason: string } {
  const trimmed = name.trim();
  if (trimmed === '') return { reason: 'a folder name cannot be empty' };
  if ([...trimmed].length > MAX_NAME_LENGTH) {
    return { reason: `a folder name has at most ${MAX_NAME_LENGTH} characters` };
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/u.test(trimmed))
    return { reason: 'a folder name cannot hold control characters' };
  return trimmed;
}
