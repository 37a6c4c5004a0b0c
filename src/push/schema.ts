// The push parameters a device account last gave (migration 0006-push): an empty Ping repeats them,
// and so does an empty or partial Sync, whichever process of the server it reaches.

export interface PushParametersTable {
  /** device_accounts.id; the row goes with the account. */
  account_id: number;
  /** The HeartbeatInterval of the last Ping that gave one, in seconds; null: none yet. */
  ping_heartbeat: number | null;
  /** JSON array of the ServerIds the last Ping with Folders watched; null: none yet. */
  ping_folders: string | null;
  /** How long the cached Sync request waits, in seconds (a Wait converted); null: it does not. */
  sync_heartbeat: number | null;
}

export interface PushTables {
  push_parameters: PushParametersTable;
}
