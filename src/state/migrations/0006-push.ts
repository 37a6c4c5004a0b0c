import type { Kysely } from 'kysely';

// The push parameters of each device account (src/push/schema.ts): what an empty Ping, or an empty
// Sync, repeats. One small row per account, read once per Ping and written only when it changes.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('push_parameters')
    .addColumn('account_id', 'integer', (column) =>
      column.primaryKey().references('device_accounts.id').onDelete('cascade'),
    )
    .addColumn('ping_heartbeat', 'integer')
    .addColumn('ping_folders', 'text')
    .addColumn('sync_heartbeat', 'integer')
    .execute();
}
