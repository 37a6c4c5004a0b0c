// Push across processes, with the real `airsync` command: two servers on one PostgreSQL database
// (their changes travel by LISTEN/NOTIFY, and again by Redis with --bus), where a change made through
// one wakes a Ping held by the other, a device's own change does not, and a Ping of the same device
// on the other server ends the first; on SQLite, a contact `airsync import` writes wakes a Ping the
// running server holds, `airsync probe --ping` says why its Ping woke, and SIGTERM answers the Pings
// that wait before the server exits.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FOLDER_TYPES } from '../../src/backends/contract.ts';
import { EasClient } from '../../src/client/index.ts';
import { openDatabase, type Database } from '../../src/state/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { REDIS_URL } from '../push/helpers.ts';
import { ping } from '../push/world.ts';
import { contact, Phone } from '../sync/session.ts';
import {
  airsync,
  startServe,
  temporaryDirectory,
  type RunningServer,
  type TemporaryDirectory,
} from './cli.ts';

const PASSWORD = 'secret';
/** Settings of every server here: heartbeats from a second, no provisioning, a quiet log. */
const SETTINGS = { provisioning: 'off', logLevel: 'warn', push: { minHeartbeat: 1, pollIntervalMs: 50 } };

function phoneOn(server: RunningServer, deviceId: string): Phone {
  const client = new EasClient({
    url: `${server.url}/Microsoft-Server-ActiveSync`,
    user: 'alice',
    password: PASSWORD,
    deviceId,
    deviceType: 'SmartPhone',
    protocolVersion: '14.1',
  });
  return new Phone(client, '14.1');
}

/** FolderSync and the address book synced to its end; the Ping folder list of the address book. */
async function syncContacts(
  phone: Phone,
): Promise<{ contacts: string; folders: { id: string; className: string }[] }> {
  await phone.folderSync();
  const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
  await phone.start(contacts);
  await phone.syncToEnd(contacts);
  return { contacts, folders: [{ id: contacts, className: 'Contacts' }] };
}

/**
 * Resolves once the device's Ping with this heartbeat is past its first look and waits: a Ping
 * stores its parameters before it looks, and looking takes a few milliseconds.
 */
async function pingHeld(database: Database, deviceId: string, heartbeat: number): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    const row = await database.db
      .selectFrom('push_parameters as p')
      .innerJoin('device_accounts as a', 'a.id', 'p.account_id')
      .innerJoin('devices as d', 'd.id', 'a.device_id')
      .select('p.ping_heartbeat')
      .where('d.device_id', '=', deviceId)
      .executeTakeFirst();
    if (row?.ping_heartbeat === heartbeat) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the Ping of ${deviceId} never waited`);
}

/** Imports one contact with `airsync import`, from another process. */
async function importContact(
  dir: string,
  args: string[],
  name: string,
  env: Record<string, string> = {},
): Promise<void> {
  const file = join(dir, `${name}.vcf`);
  await writeFile(
    file,
    [
      'BEGIN:VCARD',
      'VERSION:3.0',
      `FN:${name}`,
      `N:${name};;;;`,
      `UID:${name}@example.org`,
      'END:VCARD',
      '',
    ].join('\r\n'),
  );
  const imported = await airsync(['import', 'alice', file, ...args], { env });
  assert.equal(imported.code, 0, imported.stderr);
}

/** Two `airsync serve` on one fresh PostgreSQL database, with `extraArgs`. */
function describeTwoServers(
  title: string,
  extraArgs: string[],
  settings: object = {},
  cliEnv: Record<string, string> = {},
): void {
  describe(title, () => {
    let testDatabase: TestDatabase;
    let database: Database;
    let files: TemporaryDirectory;
    let a: RunningServer;
    let b: RunningServer;
    let args: string[];

    before(async () => {
      testDatabase = await createTestDatabase('postgres');
      files = await temporaryDirectory();
      const config = join(files.dir, 'airsync.json');
      await writeFile(
        config,
        JSON.stringify({ ...SETTINGS, ...settings, database: testDatabase.config.database }),
      );
      args = ['--config', config, '--data', files.dir];
      const added = await airsync(['user', 'add', 'alice', '--password', PASSWORD, ...args]);
      assert.equal(added.code, 0, added.stderr);
      const start = () => startServe(['--listen', '127.0.0.1:0', ...args, ...extraArgs]);
      [a, b] = await Promise.all([start(), start()]);
      database = await openDatabase(testDatabase.config);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await database?.close();
      await testDatabase?.drop();
      await files?.remove();
    });

    it("a change made through one server wakes the Ping held by the other, the device's own does not", async () => {
      const run = randomBytes(3).toString('hex');
      const waiting = phoneOn(b, `WAITS${run}`);
      const writer = phoneOn(a, `WRITES${run}`);
      const { contacts, folders } = await syncContacts(waiting);
      const written = await syncContacts(writer);

      const held = ping(waiting.client, { heartbeat: 120, folders });
      await pingHeld(database, waiting.client.deviceId, 120);
      // Through A, the waiting device's own change: not news to it, and not a request that waits.
      const own = phoneOn(a, waiting.client.deviceId);
      own.folders.set(
        contacts,
        waiting.folders.get(contacts) as NonNullable<ReturnType<Phone['folders']['get']>>,
      );
      own.keys.set(contacts, waiting.keys.get(contacts) as string);
      await own.sync(contacts, { commands: [own.add(contact('Mine'))] });
      await new Promise((resolve) => setTimeout(resolve, 500));
      await writer.sync(written.contacts, { commands: [writer.add(contact('Theirs'))] });
      const answer = await held;
      assert.deepEqual([answer.status, answer.folders], [2, [contacts]]);
      assert.ok(answer.ms >= 500, `answered after ${answer.ms} ms: woken by the device's own change`);
    });

    it('a contact imported by the CLI wakes a Ping a server holds', async () => {
      const phone = phoneOn(b, `IMPORTS${randomBytes(3).toString('hex')}`);
      const { contacts, folders } = await syncContacts(phone);
      const held = ping(phone.client, { heartbeat: 120, folders });
      await pingHeld(database, phone.client.deviceId, 120);
      await importContact(files.dir, args, `Imported${randomBytes(3).toString('hex')}`, cliEnv);
      const answer = await held;
      assert.deepEqual([answer.status, answer.folders], [2, [contacts]]);
    });

    it('a Ping of the same device on the other server ends the first at once', async () => {
      const run = randomBytes(3).toString('hex');
      const onB = phoneOn(b, `MOVES${run}`);
      const { folders } = await syncContacts(onB);
      const first = ping(onB.client, { heartbeat: 121, folders });
      await pingHeld(database, onB.client.deviceId, 121);
      const onA = phoneOn(a, onB.client.deviceId);
      const second = ping(onA.client, { heartbeat: 1, folders });
      const ended = await first;
      assert.equal(ended.status, 1);
      assert.equal((await second).status, 1);
    });
  });
}

describeTwoServers('two servers on one PostgreSQL database', []);
describeTwoServers(
  'two servers with a Redis bus',
  ['--bus', REDIS_URL],
  { push: { ...SETTINGS.push, channel: `airsync_test_${randomBytes(6).toString('hex')}` } },
  { AIRSYNC_BUS: REDIS_URL },
);

describe('one server on SQLite', () => {
  let files: TemporaryDirectory;
  let config: string;
  let server: RunningServer;
  let database: Database;
  const args = () => ['--config', config, '--data', files.dir];

  before(async () => {
    files = await temporaryDirectory();
    config = join(files.dir, 'airsync.json');
    await writeFile(config, JSON.stringify(SETTINGS));
    const added = await airsync(['user', 'add', 'alice', '--password', PASSWORD, ...args()]);
    assert.equal(added.code, 0, added.stderr);
    server = await startServe(['--listen', '127.0.0.1:0', ...args()]);
    database = await openDatabase({ dataDir: files.dir, database: undefined });
  });
  after(async () => {
    await server?.stop();
    await database?.close();
    await files?.remove();
  });

  it('a contact imported by the CLI wakes the Ping the server holds', async () => {
    const phone = phoneOn(server, 'IMPORTED');
    const { contacts, folders } = await syncContacts(phone);
    const held = ping(phone.client, { heartbeat: 120, folders });
    await pingHeld(database, phone.client.deviceId, 120);
    await importContact(files.dir, args(), 'Imported');
    const answer = await held;
    assert.deepEqual([answer.status, answer.folders], [2, [contacts]]);
  });

  it('probe --ping holds a Ping and says when and why it woke', async () => {
    const env = { AIRSYNC_PASSWORD: PASSWORD };
    const quiet = await airsync(['probe', server.url, '--user', 'alice', '--ping', '1'], { env });
    assert.equal(quiet.code, 0, quiet.stdout + quiet.stderr);
    assert.match(
      quiet.stdout,
      /^ping: +holding a Ping on 4 folders \(Contacts, Calendar, Tasks, Notes\) with a heartbeat of 1 s$/m,
    );
    assert.match(
      quiet.stdout,
      /^ping: +answered after \d+\.\d s: status 1, the heartbeat ended without changes$/m,
    );

    const woken = airsync(['probe', server.url, '--user', 'alice', '--ping', '90'], { env });
    await pingHeld(database, 'airsyncprobe', 90);
    await importContact(files.dir, args(), 'Probed');
    const result = await woken;
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /^ping: +answered after \d+\.\d s: status 2, changes in Contacts \(ServerId \d+\)$/m,
    );
  });

  it('SIGTERM answers the Ping that waits before the server exits', async () => {
    const phone = phoneOn(server, 'STOPPED');
    const { folders } = await syncContacts(phone);
    const held = ping(phone.client, { heartbeat: 122, folders });
    await pingHeld(database, phone.client.deviceId, 122);
    const started = performance.now();
    assert.equal(await server.stop(), 0);
    const answer = await held;
    assert.equal(answer.status, 1);
    assert.ok(performance.now() - started < 10_000);
    assert.match(server.output().stdout, /SIGTERM received, closing/);
  });
});
