import { sql, type Kysely } from 'kysely';
import { dialectOf, idColumn } from '../dialect.ts';

// The built-in PIM store (src/backends/store): collections, items, tombstones and the history whose
// sequence orders every change. Sequences are `bigint` on PostgreSQL; on SQLite an AUTOINCREMENT key
// must be declared `integer`, which holds 64 bits there anyway. A removed collection's row is
// deleted, its items and tombstones with it (ids are never handed out again); its history stays.

/** The history kinds of changes to collections; the store's query repeats this list, so the index serves it. */
const FOLDER_HISTORY_KINDS = ['folder-add', 'folder-change', 'folder-delete'];

export async function up(db: Kysely<unknown>): Promise<void> {
  const sequenceType = dialectOf(db) === 'postgres' ? 'bigint' : 'integer';

  await db.schema
    .createTable('pim_collections')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('user_id', 'integer', (column) => column.notNull().references('users.id').onDelete('cascade'))
    /** 'Contacts' | 'Calendar' | 'Tasks' | 'Notes'. */
    .addColumn('class', 'text', (column) => column.notNull())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('parent_id', 'integer', (column) =>
      column.references('pim_collections.id').onDelete('cascade'),
    )
    .addColumn('is_default', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('synced', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (column) => column.notNull())
    .execute();
  await db.schema.createIndex('pim_collections_by_user').on('pim_collections').column('user_id').execute();
  // At most one default per user and class: two processes creating the defaults at once cannot both win.
  await db.schema
    .createIndex('pim_collections_one_default')
    .on('pim_collections')
    .columns(['user_id', 'class'])
    .unique()
    .where(sql.ref('is_default'), '=', 1)
    .execute();
  // One name per user, class and parent. NULLs are distinct in a unique index, so the top level
  // (no parent) needs an index of its own.
  await db.schema
    .createIndex('pim_collections_top_name')
    .on('pim_collections')
    .columns(['user_id', 'class', 'name'])
    .unique()
    .where(sql.ref('parent_id'), 'is', null)
    .execute();
  await db.schema
    .createIndex('pim_collections_sub_name')
    .on('pim_collections')
    .columns(['user_id', 'class', 'parent_id', 'name'])
    .unique()
    .where(sql.ref('parent_id'), 'is not', null)
    .execute();

  await db.schema
    .createTable('pim_history')
    .addColumn('seq', sequenceType, idColumn(db))
    // No index on user_id alone: it would only serve removing a user, which may scan.
    .addColumn('user_id', 'integer', (column) => column.notNull().references('users.id').onDelete('cascade'))
    .addColumn('collection_id', 'integer', (column) => column.notNull())
    .addColumn('item_id', 'integer')
    .addColumn('kind', 'text', (column) => column.notNull())
    .addColumn('origin', 'text', (column) => column.notNull())
    .addColumn('at', 'text', (column) => column.notNull())
    .execute();
  // The hierarchy version of a user: the newest change to any of their collections.
  await db.schema
    .createIndex('pim_history_folders')
    .on('pim_history')
    .columns(['user_id', 'seq'])
    .where(sql.ref('kind'), 'in', FOLDER_HISTORY_KINDS)
    .execute();

  await db.schema
    .createTable('pim_items')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('collection_id', 'integer', (column) =>
      column.notNull().references('pim_collections.id').onDelete('cascade'),
    )
    .addColumn('uid', 'text', (column) => column.notNull())
    .addColumn('data', 'text', (column) => column.notNull())
    .addColumn('seq', 'bigint', (column) => column.notNull())
    .addColumn('window_end', 'text')
    .addColumn('complete', 'integer')
    .addColumn('created_at', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .execute();
  // Unique: two changes in one folder never share a sequence, or paging by sequence would skip one.
  await db.schema
    .createIndex('pim_items_changes')
    .on('pim_items')
    .columns(['collection_id', 'seq'])
    .unique()
    .execute();
  // Not unique: a phone may well hold two events with one UID; an import updates the first.
  await db.schema.createIndex('pim_items_by_uid').on('pim_items').columns(['collection_id', 'uid']).execute();

  await db.schema
    .createTable('pim_tombstones')
    .addColumn('collection_id', 'integer', (column) =>
      column.notNull().references('pim_collections.id').onDelete('cascade'),
    )
    .addColumn('item_id', 'integer', (column) => column.notNull())
    .addColumn('seq', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('pim_tombstones_key', ['collection_id', 'item_id'])
    .execute();
  await db.schema
    .createIndex('pim_tombstones_changes')
    .on('pim_tombstones')
    .columns(['collection_id', 'seq'])
    .unique()
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['pim_tombstones', 'pim_items', 'pim_history', 'pim_collections']) {
    await db.schema.dropTable(table).execute();
  }
}
