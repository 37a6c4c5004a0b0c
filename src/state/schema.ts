// The tables as Kysely sees them. Conventions that keep SQLite and PostgreSQL interchangeable:
// - timestamps are ISO-8601 UTC strings (`text`): they sort and compare the same on both;
// - flags are `integer` 0/1: SQLite has no boolean and better-sqlite3 cannot bind one;
// - ids and counters are `integer`; PostgreSQL returns `bigint` (int8) columns and `count(*)` as
//   strings, so a bigint column must be typed `string` here and converted where it is read.

import type { ColumnType, Generated } from 'kysely';

export interface Tables {
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
}

/** One user's account on one device: its policy key, wipe state and recovery password. */
export interface DeviceAccountsTable {
  id: Generated<number>;
  device_id: number;
  user_id: number;
  first_seen: string;
  last_seen: string;
  /** bigint: a string from PostgreSQL, a number from SQLite. */
  policy_key: ColumnType<string | number | null, number | null, number | null>;
  policy_version: string | null;
  previous_policy_key: ColumnType<string | number | null, number | null, number | null>;
  temporary_policy_key: ColumnType<string | number | null, number | null, number | null>;
  provisioned_at: string | null;
  wipe_state: Generated<'none' | 'pending' | 'wiped'>;
  wipe_scope: 'device' | 'account' | null;
  recovery_password: string | null;
}

export interface DeviceEventsTable {
  id: Generated<number>;
  device_ident: string;
  user_name: string;
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
