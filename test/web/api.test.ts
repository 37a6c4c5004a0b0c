import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { EasClient, provision } from '../../src/client/index.ts';
import { startServer, type RunningServer } from '../../src/http/server.ts';
import { UserStore } from '../../src/state/users.ts';
import { childText, el } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

const ALICE = { name: 'alice', password: 'alice-secret' };
const BOB = { name: 'bob', password: 'bob-secret' };
const ROOT = { name: 'root', password: 'root-secret' };
type Login = { name: string; password: string };

const ALICE_PHONE = 'ALICEPHONE01';
const BOB_PHONE = 'BOBPHONE01';

interface ApiAnswer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read whatever the API answered
  body: any;
}

/** One API request; `body` is sent as JSON unless `raw` gives the body and its type. */
async function api(
  server: RunningServer,
  as: Login | undefined,
  method: string,
  path: string,
  options: { body?: unknown; raw?: { type: string; text: string } } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (as !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${as.name}:${as.password}`).toString('base64')}`;
  }
  let body: string | undefined;
  if (options.raw !== undefined) {
    headers['content-type'] = options.raw.type;
    body = options.raw.text;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(`${server.url}/api${path}`, { method, headers, body });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? undefined : JSON.parse(text),
  };
}

function phone(server: RunningServer, login: Login, deviceId: string): EasClient {
  return new EasClient({
    url: `${server.url}/Microsoft-Server-ActiveSync`,
    user: login.name,
    password: login.password,
    deviceId,
    deviceType: 'iPhone',
    protocolVersion: '16.1',
  });
}

const folderSync = el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]);

describeEachDatabase(
  'JSON API',
  (context) => {
    let server: RunningServer;
    before(async () => {
      const users = new UserStore(context.database.db);
      await Promise.all([
        users.add(ALICE.name, ALICE.password),
        users.add(BOB.name, BOB.password),
        users.add(ROOT.name, ROOT.password, { admin: true }),
      ]);
      server = await startServer(context.config, { db: context.database.db });
      // Each phone's first request records it (in `allow` mode an unprovisioned device passes the gate).
      await phone(server, ALICE, ALICE_PHONE).send('FolderSync', folderSync);
      await phone(server, BOB, BOB_PHONE).send('FolderSync', folderSync);
    });
    after(() => server?.close());

    it('lists a user only their own devices, an administrator all or one user’s', async () => {
      const own = await api(server, ALICE, 'GET', '/devices');
      assert.equal(own.status, 200);
      assert.deepEqual(
        own.body.devices.map((device: { id: string }) => device.id),
        [ALICE_PHONE],
      );
      const all = await api(server, ROOT, 'GET', '/devices');
      assert.deepEqual(all.body.devices.map((device: { id: string }) => device.id).sort(), [
        ALICE_PHONE,
        BOB_PHONE,
      ]);
      const bobs = await api(server, ROOT, 'GET', '/devices?user=bob');
      assert.deepEqual(
        bobs.body.devices.map((device: { id: string }) => device.id),
        [BOB_PHONE],
      );
      const snooping = await api(server, ALICE, 'GET', '/devices?user=bob');
      assert.equal(snooping.status, 403);
      assert.match(snooping.body.error, /administrator/);
    });

    it('shows a device: registry fields, accounts, policy, wipe state and history', async () => {
      const { status, body } = await api(server, ALICE, 'GET', `/devices/${ALICE_PHONE}`);
      assert.equal(status, 200);
      assert.equal(body.id, ALICE_PHONE);
      assert.equal(body.type, 'iPhone');
      assert.equal(body.protocolVersion, '16.1');
      assert.equal(body.lastCommand, 'FolderSync');
      assert.equal(body.wipe, 'none');
      assert.deepEqual(body.information, {});
      assert.deepEqual(
        body.accounts.map((account: { user: string }) => account.user),
        ['alice'],
      );
      assert.deepEqual(body.accounts[0].policy, { source: 'built-in' });
      assert.deepEqual(body.history, []);
    });

    it("answers every action on another user's device 404, exactly as for no device", async () => {
      const attempts: [string, string, unknown?][] = [
        ['GET', ''],
        ['POST', '/wipe', {}],
        ['POST', '/wipe', { accountOnly: true }],
        ['POST', '/cancel-wipe'],
        ['POST', '/resync'],
        ['POST', '/reprovision'],
        ['DELETE', ''],
        ['GET', '/log'],
      ];
      for (const [method, action, body] of attempts) {
        const theirs = await api(server, ALICE, method, `/devices/${BOB_PHONE}${action}`, { body });
        const none = await api(server, ALICE, method, `/devices/NOSUCHPHONE${action}`, { body });
        assert.equal(theirs.status, 404, `${method} ${action}`);
        assert.deepEqual(theirs.body, { error: `no device "${BOB_PHONE}"` }, `${method} ${action}`);
        assert.deepEqual(none.body, { error: 'no device "NOSUCHPHONE"' }, `${method} ${action}`);
      }
      const untouched = await api(server, ROOT, 'GET', `/devices/${BOB_PHONE}`);
      assert.equal(untouched.body.wipe, 'none');
      assert.deepEqual(untouched.body.history, [], 'nothing was recorded either');
    });

    it("lets an administrator act on anyone's device, and records who asked", async () => {
      const log = await api(server, ROOT, 'GET', `/devices/${BOB_PHONE}/log`);
      assert.equal(log.status, 200);
      assert.deepEqual(
        log.body.entries.map((entry: { command: string; user: string }) => [entry.command, entry.user]),
        [['FolderSync', 'bob']],
      );

      const wiped = await api(server, ROOT, 'POST', `/devices/${BOB_PHONE}/wipe`);
      assert.equal(wiped.status, 200);
      assert.equal(wiped.body.wipe, 'pending');
      const cancelled = await api(server, ROOT, 'POST', `/devices/${BOB_PHONE}/cancel-wipe`);
      assert.equal(cancelled.body.wipe, 'none');
      const again = await api(server, ROOT, 'POST', `/devices/${BOB_PHONE}/cancel-wipe`);
      assert.equal(again.status, 409);
      assert.deepEqual(again.body, { error: `no wipe is pending on device ${BOB_PHONE}` });
      assert.equal((await api(server, ROOT, 'POST', `/devices/${BOB_PHONE}/resync`)).status, 200);
      assert.equal((await api(server, ROOT, 'POST', `/devices/${BOB_PHONE}/reprovision`)).status, 200);

      const { body } = await api(server, ROOT, 'GET', `/devices/${BOB_PHONE}`);
      assert.deepEqual(
        body.history.map((event: { action: string; actor: string }) => [event.action, event.actor]),
        [
          ['wipe-requested', 'root'],
          ['wipe-cancelled', 'root'],
          ['resync-requested', 'root'],
          ['reprovision-requested', 'root'],
        ],
      );
    });

    it('refuses an account-only wipe the device cannot carry out, and one naming nobody on a shared phone', async () => {
      const old = new EasClient({
        url: `${server.url}/Microsoft-Server-ActiveSync`,
        user: ALICE.name,
        password: ALICE.password,
        deviceId: 'OLDPHONE',
        deviceType: 'Android',
        protocolVersion: '14.1',
      });
      await old.send('FolderSync', folderSync);
      const unsupported = await api(server, ALICE, 'POST', '/devices/OLDPHONE/wipe', {
        body: { accountOnly: true },
      });
      assert.equal(unsupported.status, 409);
      assert.match(unsupported.body.error, /EAS 16\.1/);

      await phone(server, BOB, ALICE_PHONE).send('FolderSync', folderSync);
      const ambiguous = await api(server, ROOT, 'POST', `/devices/${ALICE_PHONE}/wipe`, {
        body: { accountOnly: true },
      });
      assert.equal(ambiguous.status, 400);
      assert.match(ambiguous.body.error, /carries the accounts of alice, bob/);
      const notHers = await api(server, ALICE, 'POST', `/devices/${ALICE_PHONE}/wipe`, {
        body: { accountOnly: true, user: 'bob' },
      });
      assert.equal(notHers.status, 403);
      // On the shared phone each user sees only their own account.
      const shown = await api(server, ALICE, 'GET', `/devices/${ALICE_PHONE}`);
      assert.deepEqual(
        shown.body.accounts.map((account: { user: string }) => account.user),
        ['alice'],
      );
      // Removing her account leaves the phone to bob.
      assert.equal((await api(server, ALICE, 'DELETE', `/devices/${ALICE_PHONE}`)).status, 204);
      assert.equal((await api(server, ALICE, 'GET', `/devices/${ALICE_PHONE}`)).status, 404);
      const bobsNow = await api(server, BOB, 'GET', `/devices/${ALICE_PHONE}`);
      assert.deepEqual(
        bobsNow.body.accounts.map((account: { user: string }) => account.user),
        ['bob'],
      );
      assert.equal((await api(server, ALICE, 'DELETE', '/devices/OLDPHONE')).status, 204);
    });

    it("delivers a wipe asked for through the API on the device's next request", async () => {
      const whole = phone(server, ALICE, 'ALICEWIPE1');
      const accountOnly = phone(server, ALICE, 'ALICEWIPE2');
      for (const client of [whole, accountOnly]) assert.equal((await provision(client)).kind, 'provisioned');

      const wipe = await api(server, ALICE, 'POST', '/devices/ALICEWIPE1/wipe', { body: {} });
      assert.deepEqual([wipe.status, wipe.body.wipe], [200, 'pending']);
      const account = await api(server, ALICE, 'POST', '/devices/ALICEWIPE2/wipe', {
        body: { accountOnly: true },
      });
      assert.deepEqual([account.body.wipe, account.body.accounts[0].wipe], ['none', 'pending']);

      for (const [client, scope] of [
        [whole, 'device'],
        [accountOnly, 'account'],
      ] as const) {
        const next = await client.send('FolderSync', folderSync);
        assert.equal(next.body && childText(next.body, 'Status', 'FolderHierarchy'), '140', scope);
        const outcome = await provision(client);
        assert.deepEqual(outcome.kind === 'wipe-acknowledged' && outcome.scope, scope);
      }
      const wiped = await api(server, ALICE, 'GET', '/devices/ALICEWIPE1');
      assert.equal(wiped.body.wipe, 'wiped');
      assert.deepEqual(
        wiped.body.history.map((event: { action: string; actor: string }) => [event.action, event.actor]),
        [
          ['provisioned', 'device'],
          ['wipe-requested', 'alice'],
          ['wipe-delivered', 'device'],
          ['wipe-acknowledged', 'device'],
        ],
      );
      const accountWiped = await api(server, ALICE, 'GET', '/devices/ALICEWIPE2');
      assert.deepEqual([accountWiped.body.wipe, accountWiped.body.accounts[0].wipe], ['none', 'wiped']);
    });

    it('keeps whole-device actions to the owner: a stranger claiming the DeviceId can neither wipe nor save it', async () => {
      await phone(server, ALICE, 'ALICESTOLEN').send('FolderSync', folderSync);
      // Bob's client sends Alice's DeviceId: he now has an account on her phone.
      await phone(server, BOB, 'ALICESTOLEN').send('FolderSync', folderSync);

      const wipeByStranger = await api(server, BOB, 'POST', '/devices/ALICESTOLEN/wipe', { body: {} });
      assert.equal(wipeByStranger.status, 403);
      assert.equal((await api(server, ROOT, 'GET', '/devices/ALICESTOLEN')).body.wipe, 'none');

      // The administrator wipes the stolen phone; neither the stranger nor its owner calls it off.
      assert.equal((await api(server, ROOT, 'POST', '/devices/ALICESTOLEN/wipe', { body: {} })).status, 200);
      for (const login of [BOB, ALICE]) {
        const cancel = await api(server, login, 'POST', '/devices/ALICESTOLEN/cancel-wipe', { body: {} });
        assert.equal(cancel.status, 403, login.name);
      }
      assert.equal((await api(server, ROOT, 'GET', '/devices/ALICESTOLEN')).body.wipe, 'pending');

      // What the owner asked for, she may cancel.
      assert.equal(
        (await api(server, ROOT, 'POST', '/devices/ALICESTOLEN/cancel-wipe', { body: {} })).status,
        200,
      );
      assert.equal((await api(server, ALICE, 'POST', '/devices/ALICESTOLEN/wipe', { body: {} })).status, 200);
      const ownCancel = await api(server, ALICE, 'POST', '/devices/ALICESTOLEN/cancel-wipe', { body: {} });
      assert.deepEqual([ownCancel.status, ownCancel.body.wipe], [200, 'none']);
    });

    it('manages policy sets for administrators only, validating their settings', async () => {
      const refused = await api(server, ALICE, 'GET', '/policies');
      assert.equal(refused.status, 403);
      assert.deepEqual(refused.body, { error: 'only an administrator may manage policy sets' });
      assert.equal((await api(server, ALICE, 'PUT', '/policies/strict', { body: {} })).status, 403);

      const invalid = await api(server, ROOT, 'PUT', '/policies/strict', {
        body: { MinDevicePasswordLength: 40, Bogus: true },
      });
      assert.equal(invalid.status, 400);
      assert.match(invalid.body.error, /unknown setting Bogus/);
      assert.match(invalid.body.error, /MinDevicePasswordLength: expected a password length from 1 to 16/);

      const saved = await api(server, ROOT, 'PUT', '/policies/strict', {
        body: { DevicePasswordEnabled: true, MinDevicePasswordLength: 6 },
      });
      assert.equal(saved.status, 200);
      assert.deepEqual(saved.body.overrides, { DevicePasswordEnabled: true, MinDevicePasswordLength: 6 });
      const shown = await api(server, ROOT, 'GET', '/policies/strict');
      assert.equal(shown.body.settings.DevicePasswordEnabled, true);
      assert.equal(shown.body.settings.AllowCamera, true);
      const listed = await api(server, ROOT, 'GET', '/policies');
      assert.deepEqual(
        listed.body.policies.map((set: { name: string }) => set.name),
        ['strict'],
      );
      assert.equal((await api(server, ROOT, 'GET', '/policies/lenient')).status, 404);

      const assigned = await api(server, ROOT, 'POST', '/policies/strict/assign', { body: { user: 'bob' } });
      assert.equal(assigned.status, 204);
      const device = await api(server, BOB, 'GET', `/devices/${BOB_PHONE}`);
      assert.deepEqual(device.body.accounts[0].policy, { name: 'strict', source: 'user' });
      const toDevice = await api(server, ROOT, 'POST', '/policies/strict/assign', {
        body: { device: BOB_PHONE },
      });
      assert.equal(toDevice.status, 204);
      assert.equal((await api(server, BOB, 'GET', `/devices/${BOB_PHONE}`)).body.policy, 'strict');

      const both = await api(server, ROOT, 'POST', '/policies/strict/assign', {
        body: { user: 'bob', device: 'x' },
      });
      assert.deepEqual([both.status, both.body], [400, { error: 'give either user or device' }]);
      const nobody = await api(server, ROOT, 'POST', '/policies/strict/assign', { body: { user: 'carol' } });
      assert.equal(nobody.status, 404);
    });

    it('answers errors as JSON: credentials, content type, malformed bodies, unknown routes', async () => {
      const anonymous = await api(server, undefined, 'GET', '/devices');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Basic realm="airsync"');
      assert.match(anonymous.body.error, /^authentication required/);
      const wrong = await api(server, { name: 'alice', password: 'wrong' }, 'GET', '/devices');
      assert.equal(wrong.status, 401);

      // What a cross-site form can send is refused before anything happens.
      for (const type of [
        'application/x-www-form-urlencoded',
        'text/plain',
        'multipart/form-data; boundary=x',
      ]) {
        const form = await api(server, ALICE, 'POST', `/devices/${ALICE_PHONE}/wipe`, {
          raw: { type, text: 'a=1' },
        });
        assert.deepEqual(
          [form.status, form.body],
          [415, { error: 'request bodies must be application/json' }],
          type,
        );
      }
      const notJson = await api(server, ROOT, 'PUT', '/policies/strict', {
        raw: { type: 'application/json', text: '{"DevicePasswordEnabled": tru' },
      });
      assert.deepEqual([notJson.status, notJson.body], [400, { error: 'the body is not valid JSON' }]);
      const badField = await api(server, BOB, 'POST', `/devices/${BOB_PHONE}/wipe`, {
        body: { accountOnly: 'yes', everything: true },
      });
      assert.equal(badField.status, 400);
      assert.match(badField.body.error, /unknown field everything/);
      assert.match(badField.body.error, /accountOnly: /);
      const badLimit = await api(server, BOB, 'GET', `/devices/${BOB_PHONE}/log?limit=0`);
      assert.equal(badLimit.status, 400);
      assert.equal((await api(server, BOB, 'GET', `/devices/${BOB_PHONE}`)).body.wipe, 'none');

      const unknown = await api(server, ALICE, 'GET', '/gadgets');
      assert.deepEqual([unknown.status, unknown.body], [404, { error: 'no such API route' }]);
      assert.equal((await api(server, undefined, 'GET', '/gadgets')).status, 401, 'routes are not revealed');
    });

    it('throttles repeated failed logins as the ActiveSync endpoint does', async () => {
      const guess = (password: string) => api(server, { name: 'carol', password }, 'GET', '/devices');
      assert.equal((await guess('first guess')).status, 401);
      const blocked = await guess('second guess');
      assert.equal(blocked.status, 503);
      assert.deepEqual(blocked.body, { error: 'too many failed logins: try again later' });
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    });
  },
  { listen: { host: '127.0.0.1', port: 0 }, logLevel: 'silent', auth: { maxFailuresPerUser: 1 } },
);
