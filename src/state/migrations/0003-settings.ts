import type { Kysely } from 'kysely';

// What the Settings command and the protocol log add: a user's own address and display name
// (Settings UserInformation), and a per-device switch for logging bodies unredacted.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('email', 'text').execute();
  await db.schema.alterTable('users').addColumn('display_name', 'text').execute();
  await db.schema
    .alterTable('devices')
    .addColumn('full_log', 'integer', (column) => column.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('devices').dropColumn('full_log').execute();
  await db.schema.alterTable('users').dropColumn('display_name').execute();
  await db.schema.alterTable('users').dropColumn('email').execute();
}
