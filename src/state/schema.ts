// The tables as Kysely sees them. Conventions that keep SQLite and PostgreSQL interchangeable:
// - timestamps are ISO-8601 UTC strings (`text`): they sort and compare the same on both;
// - flags are `integer` 0/1: SQLite has no boolean and better-sqlite3 cannot bind one;
// - ids and counters are `integer`; PostgreSQL returns `bigint` (int8) columns and `count(*)` as
//   strings, so a bigint column must be typed `string` here and converted where it is read.

import type { ColumnType, Generated } from 'kysely';
import type { PimStoreTables } from '../backends/store/schema.ts';
import type { PushTables } from '../push/schema.ts';
import type { SyncStateTables } from '../sync/schema.ts';

export interface Tables extends PimStoreTables, SyncStateTables, PushTables {
  users: UsersTable;
  policies: PoliciesTable;
  devices: DevicesTable;
  device_accounts: DeviceAccountsTable;
  device_events: DeviceEventsTable;
  device_log: DeviceLogTable;
  oof_settings: OofSettingsTable;
}

export interface UsersTable {
  id: Generated<number>;
  /** Lower case; unique. */
  name: string;
  /** argon2id, in the PHC string format. */
  password_hash: string;
  admin: number;
  created_at: string;
  /** The user's policy set; null means the default set. */
  policy_id: number | null;
  /** The user's e-mail address; null: derived from the name and the mail domain. */
  email: string | null;
  display_name: string | null;
}

export interface PoliciesTable {
  id: Generated<number>;
  name: string;
  /** JSON of the settings that differ from the defaults. */
  settings: string;
  is_default: number;
  updated_at: string;
}

export interface DevicesTable {
  id: Generated<number>;
  /** The DeviceId the phone sends. */
  device_id: string;
  device_type: string;
  user_agent: string | null;
  protocol_version: string | null;
  policy_id: number | null;
  first_seen: string;
  last_seen: string;
  last_command: string | null;
  last_address: string | null;
  model: string | null;
  imei: string | null;
  friendly_name: string | null;
  os: string | null;
  os_language: string | null;
  phone_number: string | null;
  mobile_operator: string | null;
  information_user_agent: string | null;
  enable_outbound_sms: number | null;
  /** A wipe of the whole device. */
  wipe_state: Generated<WipeState>;
  /** 1: the protocol log keeps message bodies and attachments unredacted. */
  full_log: Generated<number>;
}

export type WipeState = 'none' | 'pending' | 'wiped';

/** A uint32 policy key in a `bigint` column: a string from PostgreSQL, a number from SQLite. */
type PolicyKeyColumn = ColumnType<string | number | null, number | null, number | null>;

/** One user's account on one device: its policy key, wipe state and recovery password. */
export interface DeviceAccountsTable {
  id: Generated<number>;
  device_id: number;
  user_id: number;
  first_seen: string;
  last_seen: string;
  /** The final key the account acknowledged, and the protocol version it was computed for. */
  policy_key: PolicyKeyColumn;
  policy_version: string | null;
  /** The key held before the current one (the quirks table may accept it). */
  previous_policy_key: PolicyKeyColumn;
  /** A policy download not yet acknowledged: its temporary key and the final key it leads to. */
  temporary_policy_key: PolicyKeyColumn;
  offered_policy_key: PolicyKeyColumn;
  /** The Policy Status of the last acknowledgement: 1 applied, 2 partly, 3 not at all, 4 by a third party. */
  policy_ack_status: number | null;
  provisioned_at: string | null;
  /** An account-only wipe (EAS 16.1). */
  wipe_state: Generated<WipeState>;
  recovery_password: string | null;
}

export interface DeviceEventsTable {
  id: Generated<number>;
  device_ident: string;
  /** The account concerned; null for the whole device. */
  user_name: string | null;
  at: string;
  action: string;
  actor: string;
  detail: string | null;
}

export interface DeviceLogTable {
  id: Generated<number>;
  account_id: number;
  at: string;
  command: string;
  http_status: number;
  request: string | null;
  response: string | null;
}

export interface OofSettingsTable {
  user_id: number;
  settings: string;
  updated_at: string;
}
