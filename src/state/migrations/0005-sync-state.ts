import type { Kysely } from 'kysely';

// The sync engine's state (src/sync/schema.ts): per device account its folder map and hierarchy key,
// per collection its key and options, per item the device holds one row. Everything cascades from
// device_accounts, so removing a device or an account removes its sync state.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sync_hierarchy')
    .addColumn('account_id', 'integer', (column) =>
      column.primaryKey().references('device_accounts.id').onDelete('cascade'),
    )
    .addColumn('sync_key', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('next_folder', 'integer', (column) => column.notNull().defaultTo(1))
    .execute();

  await db.schema
    .createTable('sync_folders')
    .addColumn('account_id', 'integer', (column) =>
      column.notNull().references('device_accounts.id').onDelete('cascade'),
    )
    .addColumn('server_id', 'text', (column) => column.notNull())
    .addColumn('backend', 'text', (column) => column.notNull())
    .addColumn('folder_id', 'text', (column) => column.notNull())
    .addColumn('parent_id', 'text')
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('type', 'integer', (column) => column.notNull())
    .addColumn('class', 'text', (column) => column.notNull())
    .addColumn('deleted', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('reported_key', 'integer')
    .addColumn('reported_as', 'text')
    .addColumn('next_item', 'integer', (column) => column.notNull().defaultTo(1))
    .addPrimaryKeyConstraint('sync_folders_pk', ['account_id', 'server_id'])
    // Two FolderSyncs that both map a new backend folder agree on one ServerId.
    .addUniqueConstraint('sync_folders_backend_folder', ['account_id', 'backend', 'folder_id'])
    .execute();

  await db.schema
    .createTable('sync_collections')
    .addColumn('account_id', 'integer', (column) => column.notNull())
    .addColumn('collection_id', 'text', (column) => column.notNull())
    .addColumn('epoch', 'text', (column) => column.notNull())
    .addColumn('generation', 'integer', (column) => column.notNull())
    .addColumn('cursor', 'text')
    .addColumn('previous_cursor', 'text')
    .addColumn('filter_type', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('conflict', 'integer', (column) => column.notNull().defaultTo(1))
    .addColumn('body_preferences', 'text')
    .addColumn('truncation', 'integer')
    .addColumn('mime_support', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('supported', 'text')
    .addColumn('window_size', 'integer')
    .addColumn('requested', 'integer', (column) => column.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('sync_collections_pk', ['account_id', 'collection_id'])
    .addForeignKeyConstraint(
      'sync_collections_folder',
      ['account_id', 'collection_id'],
      'sync_folders',
      ['account_id', 'server_id'],
      (constraint) => constraint.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('sync_items')
    .addColumn('account_id', 'integer', (column) => column.notNull())
    .addColumn('collection_id', 'text', (column) => column.notNull())
    .addColumn('server_id', 'text', (column) => column.notNull())
    .addColumn('item_id', 'text', (column) => column.notNull())
    .addColumn('version', 'text', (column) => column.notNull())
    .addColumn('previous_version', 'text')
    .addColumn('version_gen', 'integer', (column) => column.notNull())
    .addColumn('added_gen', 'integer', (column) => column.notNull())
    .addColumn('removed_gen', 'integer')
    .addColumn('window_end', 'text')
    .addColumn('window_complete', 'integer')
    .addColumn('client_id', 'text')
    .addPrimaryKeyConstraint('sync_items_pk', ['account_id', 'server_id'])
    .addForeignKeyConstraint(
      'sync_items_collection',
      ['account_id', 'collection_id'],
      'sync_collections',
      ['account_id', 'collection_id'],
      (constraint) => constraint.onDelete('cascade'),
    )
    .execute();
  // A page of backend changes is matched against the device's items by backend id.
  await db.schema
    .createIndex('sync_items_by_item')
    .on('sync_items')
    .columns(['account_id', 'collection_id', 'item_id'])
    .execute();
  // Items that left the FilterType window over time: one range scan over the window ends. Partial,
  // as are the next two, because most rows have no value there (contacts and notes never have a
  // window end): a row pays only for the indexes that can find it, which takes a third off the cost
  // of adding a window of items. Both databases use a partial index for `window_end < ?`, which
  // implies `is not null`.
  await db.schema
    .createIndex('sync_items_by_window_end')
    .on('sync_items')
    .columns(['account_id', 'collection_id', 'window_end'])
    .where('window_end', 'is not', null)
    .execute();
  // Rows of removed items are purged once no key can go back to them.
  await db.schema
    .createIndex('sync_items_by_removal')
    .on('sync_items')
    .columns(['account_id', 'collection_id', 'removed_gen'])
    .where('removed_gen', 'is not', null)
    .execute();
  // A repeated Add is recognised by its ClientId.
  await db.schema
    .createIndex('sync_items_by_client_id')
    .on('sync_items')
    .columns(['account_id', 'collection_id', 'client_id'])
    .where('client_id', 'is not', null)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['sync_items', 'sync_collections', 'sync_folders', 'sync_hierarchy']) {
    await db.schema.dropTable(table).execute();
  }
}
