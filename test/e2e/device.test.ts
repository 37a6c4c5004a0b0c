// The operator's commands — user add --admin, policy, device — and probe's provisioning report, in
// child processes against a server that requires provisioning. Each launch costs a second or more,
// so independent commands run side by side and the state they leave is checked in-process.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EasClient } from '../../src/client/index.ts';
import { loadConfig } from '../../src/config.ts';
import { DeviceStore } from '../../src/device/devices.ts';
import { PolicyStore } from '../../src/device/policy-store.ts';
import { startServer, type RunningServer } from '../../src/http/server.ts';
import { openDatabase, type Database } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { el } from '../../src/wbxml/index.ts';
import { airsync, temporaryDirectory, type Finished, type TemporaryDirectory } from './cli.ts';

const PROBE_DEVICE = 'airsyncprobe';
const OTHER_DEVICE = 'OTHERPHONE1';

function succeeded(result: Finished): string {
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.stderr, '');
  return result.stdout;
}

describe('airsync device, policy and user --admin, and probe provisioning', () => {
  let data: TemporaryDirectory;
  let dataArgs: string[];
  let database: Database;
  let server: RunningServer;
  const probe = () =>
    airsync(['probe', server.url, '--user', 'alice'], { env: { AIRSYNC_PASSWORD: 'secret' } });

  before(async () => {
    data = await temporaryDirectory();
    dataArgs = ['--data', data.dir];
    const config = loadConfig({
      overrides: {
        dataDir: data.dir,
        listen: { host: '127.0.0.1', port: 0 },
        provisioning: 'required',
        logLevel: 'silent',
      },
    });
    // Migrated and seeded here, before any command runs, so that commands never migrate side by side.
    database = await openDatabase(config);
    await new UserStore(database.db).add('alice', 'secret');
    server = await startServer(config, { db: database.db });
  });
  after(async () => {
    await server?.close();
    await database?.close();
    await data?.remove();
  });

  it('adds an administrator, and saves policy sets from a file and from SETTING=VALUE pairs', async () => {
    const settingsFile = join(data.dir, 'strict.json');
    await writeFile(
      settingsFile,
      JSON.stringify({ DevicePasswordEnabled: true, MinDevicePasswordLength: 6 }),
    );
    const [admin, fromFile, fromPairs] = await Promise.all([
      airsync(['user', 'add', 'root', '--admin', '--password', 'root pw', ...dataArgs]),
      airsync(['policy', 'set', 'strict', '--file', settingsFile, ...dataArgs]),
      airsync(['policy', 'set', 'no-camera', 'AllowCamera=false', 'MaxAttachmentSize=1048576', ...dataArgs]),
    ]);
    assert.equal(succeeded(admin), 'added administrator root\n');
    assert.equal(succeeded(fromFile), 'saved policy set strict: 2 settings differ from the defaults\n');
    assert.equal(succeeded(fromPairs), 'saved policy set no-camera: 2 settings differ from the defaults\n');

    const [users, madeDefault, shown] = await Promise.all([
      airsync(['user', 'list', ...dataArgs]),
      airsync(['policy', 'default', 'strict', ...dataArgs]),
      airsync(['policy', 'show', 'no-camera', ...dataArgs]),
    ]);
    assert.equal(succeeded(users), 'alice\nroot (admin)\n');
    assert.equal(succeeded(madeDefault), 'strict is the default policy set\n');
    assert.match(succeeded(shown), /^\* AllowCamera = false$/m);
    assert.match(shown.stdout, /^ {2}AllowWiFi = true$/m);
    assert.equal((await new PolicyStore(database.db).find('strict'))?.isDefault, true);
  });

  it('probe provisions in two phases, shows the policy and the keys, and then gets through', async () => {
    const out = succeeded(await probe());
    assert.match(
      out,
      /^request: +FolderSync \(SyncKey 0, EAS 16\.1\) got HTTP 200: status 142: the server requires this device to accept its security policy first$/m,
    );
    assert.match(out, /^provision: +policy downloaded with temporary key \d+$/m);
    assert.match(out, /^policy: +DevicePasswordEnabled = 1$/m);
    assert.match(out, /^ +MinDevicePasswordLength = 6$/m);
    assert.match(out, /^ +MaxAttachmentSize = \(empty\)$/m);
    const finalKey = /^provision: +policy acknowledged as applied; final policy key (\d+)$/m.exec(out)?.[1];
    assert.ok(finalKey !== undefined, out);
    assert.match(
      out,
      new RegExp(`^request: +FolderSync with policy key ${finalKey} got HTTP 200: status 1`, 'm'),
    );
  });

  it('wipes a device from the command line; probe reports the wipe and leaves it pending', async () => {
    assert.equal(
      succeeded(await airsync(['device', 'wipe', PROBE_DEVICE, ...dataArgs])),
      `a wipe of device ${PROBE_DEVICE} is pending: it happens on the device's next request\n`,
    );
    const out = succeeded(await probe());
    assert.match(
      out,
      /status 140: a remote wipe is pending for this device — probe does NOT acknowledge it$/m,
    );
    assert.match(out, /^wipe: +a remote wipe is pending for this device .* so the wipe stays pending$/m);
    assert.doesNotMatch(out, /^policy:/m);

    const device = await new DeviceStore(database.db).show(PROBE_DEVICE);
    assert.equal(device?.wipe, 'pending');
    const actions = (await new DeviceStore(database.db).history(PROBE_DEVICE)).map((event) => event.action);
    assert.deepEqual(actions, ['provisioned', 'wipe-requested', 'wipe-delivered']);
  });

  it('lists, shows and logs devices, as tables and as JSON, and refuses what makes no sense', async () => {
    // A second device, so that the list has two rows.
    await new EasClient({
      url: `${server.url}/Microsoft-Server-ActiveSync`,
      user: 'alice',
      password: 'secret',
      deviceId: OTHER_DEVICE,
      deviceType: 'Android',
      protocolVersion: '14.1',
    }).send('FolderSync', el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]));

    const [list, shown, json, log, missing, misused] = await Promise.all([
      airsync(['device', 'list', ...dataArgs]),
      airsync(['device', 'show', PROBE_DEVICE, ...dataArgs]),
      airsync(['device', 'show', PROBE_DEVICE, '--json', ...dataArgs]),
      airsync(['device', 'log', PROBE_DEVICE, '--limit', '2', ...dataArgs]),
      airsync(['device', 'cancel-wipe', 'NOSUCHPHONE', ...dataArgs]),
      airsync(['device', 'wipe', PROBE_DEVICE, '--user', 'alice', ...dataArgs]),
    ]);
    const rows = succeeded(list).split('\n');
    assert.match(rows[0] ?? '', /^DEVICE ID +TYPE +MODEL +EAS +USERS +WIPE +LAST SEEN$/);
    assert.match(rows[1] ?? '', new RegExp(`^${OTHER_DEVICE} +Android +14\\.1 +alice +\\S+$`));
    assert.match(
      rows[2] ?? '',
      new RegExp(`^${PROBE_DEVICE} +airsyncprobe +airsync-client +16\\.1 +alice +pending +`),
    );

    const human = succeeded(shown);
    assert.match(human, new RegExp(`^device ID: +${PROBE_DEVICE}$`, 'm'));
    assert.match(human, /^wipe: +pending$/m);
    assert.match(human, /^alice +strict \(default\) +\S+ applied \(EAS 16\.1\) +\d+ +none /m);
    assert.match(human, /^\S+ +wipe-requested +cli:\S+ +device$/m);

    const details = JSON.parse(succeeded(json)) as { id: string; wipe: string; history: unknown[] };
    assert.deepEqual([details.id, details.wipe, details.history.length], [PROBE_DEVICE, 'pending', 3]);

    const entries = succeeded(log).split(/^--- /m).slice(1);
    assert.equal(entries.length, 2);
    assert.match(entries[1] ?? '', /^\S+ alice Provision: HTTP 200\nrequest:\n<Provision/);

    assert.deepEqual([missing.code, missing.stderr], [1, 'airsync: no device "NOSUCHPHONE"\n']);
    assert.equal(misused.code, 2);
    assert.match(misused.stderr, /^airsync: --user goes with --account-only/);
  });

  it('cancels a pending wipe, assigns a policy set to a device, and removes a device', async () => {
    const [cancelled, assigned, removed] = await Promise.all([
      airsync(['device', 'cancel-wipe', PROBE_DEVICE, ...dataArgs]),
      airsync(['policy', 'assign', 'no-camera', '--device', PROBE_DEVICE, ...dataArgs]),
      airsync(['device', 'remove', OTHER_DEVICE, ...dataArgs]),
    ]);
    assert.equal(
      succeeded(cancelled),
      `cancelled the pending wipe of the whole device on device ${PROBE_DEVICE}\n`,
    );
    assert.equal(succeeded(assigned), `assigned policy set no-camera to device ${PROBE_DEVICE}\n`);
    assert.equal(succeeded(removed), `removed device ${OTHER_DEVICE}\n`);

    const devices = new DeviceStore(database.db);
    const probed = await devices.show(PROBE_DEVICE);
    assert.deepEqual([probed?.wipe, probed?.policy], ['none', 'no-camera']);
    assert.equal(await devices.show(OTHER_DEVICE), undefined);
  });
});
