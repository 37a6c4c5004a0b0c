// Device sessions against a real server on loopback: servers in each provisioning mode over one
// test database, and phones that talk to them through EasClient, so that passing the gate can be
// asserted for real.

import assert from 'node:assert/strict';
import { EasClient, type EasResponse } from '../../src/client/index.ts';
import type { Config } from '../../src/config.ts';
import { startServer, type RunningServer } from '../../src/http/server.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import type { Db } from '../../src/state/db.ts';
import { UserStore, type UserDirectory } from '../../src/state/users.ts';
import { childText, el } from '../../src/wbxml/index.ts';

export const USERS = { alice: 'alice-secret', bob: 'bob-secret' } as const;
export type UserName = keyof typeof USERS;

/**
 * Adds the test users. They are checked against USERS by the servers below, not against password
 * hashes: argon2 would make each first request of a user take a second on a busy machine.
 */
export async function addUsers(db: Db): Promise<void> {
  const created_at = new Date().toISOString();
  await db
    .insertInto('users')
    .values(Object.keys(USERS).map((name) => ({ name, password_hash: 'not used', admin: 0, created_at })))
    .execute();
}

function testDirectory(db: Db): UserDirectory {
  const users = new UserStore(db);
  return {
    verify: async (name, password) =>
      Object.hasOwn(USERS, name) && USERS[name as UserName] === password ? users.find(name) : undefined,
  };
}

/** A server on 127.0.0.1, on an ephemeral port, over an open database. */
export async function startDeviceServer(
  config: Config,
  db: Db,
  provisioning: Config['provisioning'],
): Promise<RunningServer> {
  return startServer(
    { ...config, provisioning, listen: { host: '127.0.0.1', port: 0 } },
    { db, users: testDirectory(db), logDestination: { write: () => {} } },
  );
}

let phones = 0;

/** A phone with a DeviceId of its own, unless it is given one. */
export function phone(
  server: RunningServer,
  options: {
    version: ProtocolVersion;
    user?: UserName;
    deviceId?: string;
    deviceType?: string;
    userAgent?: string;
    queryForm?: 'plain' | 'base64';
  },
): EasClient {
  const user = options.user ?? 'alice';
  return new EasClient({
    url: `${server.url}/Microsoft-Server-ActiveSync`,
    user,
    password: USERS[user],
    deviceId: options.deviceId ?? `PHONE${process.pid}X${++phones}`,
    deviceType: options.deviceType ?? 'SmartPhone',
    userAgent: options.userAgent,
    protocolVersion: options.version,
    queryForm: options.queryForm,
  });
}

export function folderSync(client: EasClient): Promise<EasResponse> {
  return client.send(
    'FolderSync',
    el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]),
  );
}

/** An empty Ping: its answer comes at once when the device never pinged (Status 3, nothing cached). */
export function ping(client: EasClient): Promise<EasResponse> {
  return client.send('Ping');
}

/** The response's top-level Status. */
export function statusOf(response: EasResponse): string | undefined {
  return response.body && childText(response.body, 'Status');
}

/**
 * Let through by the gate and answered by the command: FolderSync's success, or for the empty Ping
 * above, Status 3 (a Ping that passed the gate has nothing cached to repeat yet).
 */
export function assertPassed(response: EasResponse): void {
  assert.equal(response.status, 200);
  assert.equal(statusOf(response), response.body?.name === 'Ping' ? '3' : '1');
}

/** Refused by the gate: HTTP 449 up to 12.1, the command's Status from 14.0. */
export function assertGated(response: EasResponse, version: ProtocolVersion, status: number): void {
  if (Number(version) < 14) {
    assert.equal(response.status, 449);
    assert.equal(response.body, undefined);
  } else {
    assert.equal(response.status, 200);
    assert.equal(statusOf(response), String(status));
  }
}
