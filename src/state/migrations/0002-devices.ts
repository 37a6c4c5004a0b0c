import type { Kysely } from 'kysely';
import { idColumn } from '../dialect.ts';

// Devices, the accounts each carries, named policy sets, wipe history and the protocol log.
// A policy key is a uint32 (final keys have the high bit set), so it needs `bigint` on PostgreSQL.
// A remote wipe is kept where its scope is: a whole-device wipe on the device (every account on it
// is answered with it), an account-only wipe on that one account.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('policies')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('name', 'text', (column) => column.notNull().unique())
    /** JSON of the settings that differ from the defaults. */
    .addColumn('settings', 'text', (column) => column.notNull())
    .addColumn('is_default', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .execute();
  // At most one default set.
  await db.schema
    .createIndex('policies_one_default')
    .on('policies')
    .column('is_default')
    .unique()
    .where('is_default', '=', 1)
    .execute();

  await db.schema
    .alterTable('users')
    .addColumn('policy_id', 'integer', (column) => column.references('policies.id').onDelete('set null'))
    .execute();

  await db.schema
    .createTable('devices')
    .addColumn('id', 'integer', idColumn(db))
    /** The DeviceId the phone sends; unique per server. */
    .addColumn('device_id', 'text', (column) => column.notNull().unique())
    .addColumn('device_type', 'text', (column) => column.notNull())
    .addColumn('user_agent', 'text')
    .addColumn('protocol_version', 'text')
    .addColumn('policy_id', 'integer', (column) => column.references('policies.id').onDelete('set null'))
    .addColumn('first_seen', 'text', (column) => column.notNull())
    .addColumn('last_seen', 'text', (column) => column.notNull())
    .addColumn('last_command', 'text')
    .addColumn('last_address', 'text')
    // Settings DeviceInformation.
    .addColumn('model', 'text')
    .addColumn('imei', 'text')
    .addColumn('friendly_name', 'text')
    .addColumn('os', 'text')
    .addColumn('os_language', 'text')
    .addColumn('phone_number', 'text')
    .addColumn('mobile_operator', 'text')
    .addColumn('information_user_agent', 'text')
    .addColumn('enable_outbound_sms', 'integer')
    /** 'none' | 'pending' | 'wiped': a wipe of the whole device. */
    .addColumn('wipe_state', 'text', (column) => column.notNull().defaultTo('none'))
    .execute();

  await db.schema
    .createTable('device_accounts')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('device_id', 'integer', (column) =>
      column.notNull().references('devices.id').onDelete('cascade'),
    )
    .addColumn('user_id', 'integer', (column) => column.notNull().references('users.id').onDelete('cascade'))
    .addColumn('first_seen', 'text', (column) => column.notNull())
    .addColumn('last_seen', 'text', (column) => column.notNull())
    /** The final key the account acknowledged, and the version it was computed for. */
    .addColumn('policy_key', 'bigint')
    .addColumn('policy_version', 'text')
    /** The key it held before; some clients keep sending it for a while (quirks table). */
    .addColumn('previous_policy_key', 'bigint')
    /** The temporary key of a policy download not yet acknowledged, and the final key it leads to. */
    .addColumn('temporary_policy_key', 'bigint')
    .addColumn('offered_policy_key', 'bigint')
    /** The Policy Status of the last acknowledgement: 1 applied, 2 partly, 3 not at all, 4 by a third party. */
    .addColumn('policy_ack_status', 'integer')
    .addColumn('provisioned_at', 'text')
    /** 'none' | 'pending' | 'wiped': an account-only wipe (EAS 16.1). */
    .addColumn('wipe_state', 'text', (column) => column.notNull().defaultTo('none'))
    /** Settings DevicePassword: the recovery password, encrypted at rest. */
    .addColumn('recovery_password', 'text')
    .addUniqueConstraint('device_accounts_device_user', ['device_id', 'user_id'])
    .execute();

  // Kept without foreign keys: the history of a wipe outlives the device record it concerned.
  await db.schema
    .createTable('device_events')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('device_ident', 'text', (column) => column.notNull())
    /** The account concerned; null for the whole device. */
    .addColumn('user_name', 'text')
    .addColumn('at', 'text', (column) => column.notNull())
    /** One of DeviceEventAction (src/device/devices.ts). */
    .addColumn('action', 'text', (column) => column.notNull())
    /** Who asked: a user name, or 'device' for what the device answered. */
    .addColumn('actor', 'text', (column) => column.notNull())
    .addColumn('detail', 'text')
    .execute();
  await db.schema.createIndex('device_events_by_device').on('device_events').column('device_ident').execute();

  await db.schema
    .createTable('device_log')
    .addColumn('id', 'integer', idColumn(db))
    .addColumn('account_id', 'integer', (column) =>
      column.notNull().references('device_accounts.id').onDelete('cascade'),
    )
    .addColumn('at', 'text', (column) => column.notNull())
    .addColumn('command', 'text', (column) => column.notNull())
    .addColumn('http_status', 'integer', (column) => column.notNull())
    .addColumn('request', 'text')
    .addColumn('response', 'text')
    .execute();
  await db.schema
    .createIndex('device_log_by_account')
    .on('device_log')
    .columns(['account_id', 'id'])
    .execute();

  await db.schema
    .createTable('oof_settings')
    .addColumn('user_id', 'integer', (column) =>
      column.primaryKey().references('users.id').onDelete('cascade'),
    )
    /** JSON of the Oof settings as the user last set them. */
    .addColumn('settings', 'text', (column) => column.notNull())
    .addColumn('updated_at', 'text', (column) => column.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['oof_settings', 'device_log', 'device_events', 'device_accounts', 'devices']) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.alterTable('users').dropColumn('policy_id').execute();
  await db.schema.dropTable('policies').execute();
}
