// Whole device sessions through EasClient against a real server: the gate, the two provisioning
// phases at every policy format, stale and foreign keys, policy changes, the modes, the quirks, and
// requests that must be answered with a protocol status and change nothing.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { provision } from '../../src/client/index.ts';
import { DeviceStore } from '../../src/device/devices.ts';
import { PolicyStore } from '../../src/device/policy-store.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import type { RunningServer } from '../../src/http/server.ts';
import type { Db } from '../../src/state/db.ts';
import { child, childText, el, type WbxmlElement } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import {
  addUsers,
  assertGated,
  assertPassed,
  folderSync,
  phone,
  ping,
  startDeviceServer,
  statusOf,
} from './phones.ts';

const IOS_4 = { deviceType: 'iPhone', userAgent: 'Apple-iPhone3C1/806.190' };
const ANDROID_4_1 = { deviceType: 'Android', userAgent: 'Android/4.1.2-EAS-1.3' };

/** An account's provisioning state and the device's history: what a refused request must not touch. */
async function provisioningState(db: Db, deviceId: string) {
  const accounts = await db
    .selectFrom('device_accounts as a')
    .innerJoin('devices as d', 'd.id', 'a.device_id')
    .select([
      'a.policy_key',
      'a.previous_policy_key',
      'a.temporary_policy_key',
      'a.offered_policy_key',
      'a.policy_version',
      'a.policy_ack_status',
      'a.provisioned_at',
      'a.wipe_state',
      'd.wipe_state as device_wipe',
    ])
    .where('d.device_id', '=', deviceId)
    .execute();
  const events = await db
    .selectFrom('device_events')
    .selectAll()
    .where('device_ident', '=', deviceId)
    .execute();
  return { accounts, events };
}

function provisionRequest(...content: WbxmlElement[]): WbxmlElement {
  return el('Provision', 'Provision', content);
}

function policyRequest(...content: WbxmlElement[]): WbxmlElement {
  return provisionRequest(el('Provision', 'Policies', [el('Provision', 'Policy', content)]));
}

const WBXML_POLICY = el('Provision', 'PolicyType', 'MS-EAS-Provisioning-WBXML');

/** The Status of the response's Policy. */
function policyStatusOf(body: WbxmlElement | undefined): string | undefined {
  const policy = body && child(body, 'Policies', 'Provision')?.children[0];
  return policy && childText(policy, 'Status', 'Provision');
}

describeEachDatabase('provisioning', (context) => {
  let required: RunningServer;
  let allow: RunningServer;
  let off: RunningServer;
  let devices: DeviceStore;
  before(async () => {
    await addUsers(context.database.db);
    [required, allow, off] = await Promise.all([
      startDeviceServer(context.config, context.database.db, 'required'),
      startDeviceServer(context.config, context.database.db, 'allow'),
      startDeviceServer(context.config, context.database.db, 'off'),
    ]);
    devices = new DeviceStore(context.database.db);
  });
  after(async () => {
    await Promise.all([required?.close(), allow?.close(), off?.close()]);
  });

  const versions: readonly ProtocolVersion[] = ['2.5', '12.1', '14.1', '16.1'];
  for (const version of versions) {
    test(`${version}: a new device is gated, provisions in two phases, then passes`, async () => {
      const client = phone(required, { version });
      assertGated(await folderSync(client), version, 142);

      const outcome = await provision(client, { deviceInformation: { model: 'Test Phone', os: 'TestOS 1' } });
      assert.equal(outcome.kind, 'provisioned');
      assert.ok(outcome.kind === 'provisioned');
      if (version === '2.5') assert.match(String(outcome.policy), /^<wap-provisioningdoc>/);
      else assert.equal((outcome.policy as WbxmlElement).name, 'EASProvisionDoc');
      // Final keys have the high bit set; temporary ones never do.
      assert.ok(Number(outcome.policyKey) >= 0x80000000);
      assertPassed(await folderSync(client));

      const device = await devices.show(client.deviceId);
      assert.equal(device?.protocolVersion, version);
      assert.equal(device?.lastCommand, 'FolderSync');
      assert.deepEqual(
        device?.accounts.map((account) => [account.user, account.policyKey, account.acknowledgement]),
        [['alice', Number(outcome.policyKey), 'applied']],
      );
      // DeviceInformation comes with the download from 14.1 on.
      const information =
        version === '14.1' || version === '16.1' ? { model: 'Test Phone', os: 'TestOS 1' } : {};
      assert.deepEqual(device?.information, information);
      const history = await devices.history(client.deviceId);
      assert.deepEqual(
        history.map((event) => [event.action, event.user, event.actor]),
        [['provisioned', 'alice', 'device']],
      );
      assert.match(
        history[0]?.detail ?? '',
        new RegExp(`EAS ${version}, key ${outcome.policyKey}, policy applied`),
      );
    });
  }

  for (const version of versions) {
    test(`${version}: the download's Policy carries the policy, the acknowledgement's only the final key`, async () => {
      const client = phone(required, { version });
      const type = version === '2.5' ? 'MS-WAP-Provisioning-XML' : 'MS-EAS-Provisioning-WBXML';
      const policyType = el('Provision', 'PolicyType', type);
      const policyOf = (body: WbxmlElement | undefined) => {
        assert.ok(body);
        assert.equal(childText(body, 'Status', 'Provision'), '1');
        const policies = child(body, 'Policies', 'Provision');
        assert.ok(policies);
        assert.equal(policies.children.length, 1);
        return policies.children[0]!;
      };

      const download = policyOf((await client.send('Provision', policyRequest(policyType))).body);
      assert.deepEqual(
        download.children.map((c) => c.name),
        ['PolicyType', 'Status', 'PolicyKey', 'Data'],
      );
      assert.equal(childText(download, 'PolicyType', 'Provision'), type);
      assert.equal(childText(download, 'Status', 'Provision'), '1');
      const temporaryKey = childText(download, 'PolicyKey', 'Provision');
      assert.ok(Number(temporaryKey) >= 1 && Number(temporaryKey) <= 0x7fffffff);
      const data = child(download, 'Data', 'Provision')!;
      if (version === '2.5')
        assert.match(childText(download, 'Data', 'Provision') ?? '', /^<wap-provisioningdoc>/);
      else assert.equal(data.children[0]?.name, 'EASProvisionDoc');

      const acknowledgement = policyOf(
        (
          await client.send(
            'Provision',
            policyRequest(
              policyType,
              el('Provision', 'PolicyKey', String(temporaryKey)),
              el('Provision', 'Status', '1'),
            ),
          )
        ).body,
      );
      assert.deepEqual(
        acknowledgement.children.map((c) => c.name),
        ['PolicyType', 'Status', 'PolicyKey'],
      );
      assert.equal(childText(acknowledgement, 'PolicyType', 'Provision'), type);
      assert.equal(childText(acknowledgement, 'Status', 'Provision'), '1');
      const finalKey = childText(acknowledgement, 'PolicyKey', 'Provision');
      assert.ok(Number(finalKey) >= 0x80000000);
      assert.equal((await devices.show(client.deviceId))?.accounts[0]?.policyKey, Number(finalKey));
      client.policyKey = finalKey;
      assertPassed(await folderSync(client));
    });
  }

  test('the base64 query carries the policy key', async () => {
    const client = phone(required, { version: '14.1', queryForm: 'base64' });
    assertGated(await folderSync(client), '14.1', 142);
    assert.equal((await provision(client)).kind, 'provisioned');
    assertPassed(await folderSync(client));
  });

  test('missing, unknown and temporary keys are refused with 142 and 144', async () => {
    for (const version of ['12.1', '14.1'] as const) {
      const client = phone(required, { version });
      const outcome = await provision(client);
      assert.ok(outcome.kind === 'provisioned');
      client.policyKey = undefined;
      assertGated(await folderSync(client), version, 142);
      client.policyKey = '0';
      assertGated(await folderSync(client), version, 142);
      client.policyKey = String((Number(outcome.policyKey) ^ 1) >>> 0);
      assertGated(await folderSync(client), version, 144);
      client.policyKey = outcome.policyKey;
      assertPassed(await folderSync(client));
    }
    // A key handed out as temporary is not a key to sync with.
    const client = phone(required, { version: '14.1' });
    const download = await client.send('Provision', policyRequest(WBXML_POLICY));
    const temporaryKey = childText(child(child(download.body!, 'Policies')!, 'Policy')!, 'PolicyKey');
    client.policyKey = temporaryKey;
    assertGated(await folderSync(client), '14.1', 144);
  });

  test('Ping is not gated: it carries no policy key', async () => {
    assertPassed(await ping(phone(required, { version: '14.1' })));
  });

  test('commands without a top-level Status are answered 449 at every version', async () => {
    const client = phone(required, { version: '16.1' });
    const moved = await client.send('MoveItems', el('Move', 'MoveItems'));
    assert.equal(moved.status, 449);
    assert.equal(moved.body, undefined);
  });

  test("a change of the user's policy makes their devices provision again (143, 449)", async () => {
    const policies = new PolicyStore(context.database.db);
    const phones = {
      '12.1': phone(required, { version: '12.1', user: 'bob' }),
      '14.1': phone(required, { version: '14.1', user: 'bob' }),
    };
    const keys: Record<string, string> = {};
    for (const [version, client] of Object.entries(phones)) {
      const outcome = await provision(client);
      assert.ok(outcome.kind === 'provisioned');
      keys[version] = outcome.policyKey;
    }
    // Saving a set nobody uses, or one that changes nothing a version receives, changes no key.
    await policies.save('pin', { DevicePasswordEnabled: true, MinDevicePasswordLength: 6 });
    for (const client of Object.values(phones)) assertPassed(await folderSync(client));

    await policies.assignToUser('bob', 'pin');
    assertGated(await folderSync(phones['12.1']), '12.1', 449);
    assertGated(await folderSync(phones['14.1']), '14.1', 143);
    for (const [version, client] of Object.entries(phones)) {
      const outcome = await provision(client);
      assert.ok(outcome.kind === 'provisioned');
      assert.notEqual(outcome.policyKey, keys[version]);
      const document = outcome.policy as WbxmlElement;
      assert.equal(childText(document, 'DevicePasswordEnabled'), '1');
      assert.equal(childText(document, 'MinDevicePasswordLength'), '6');
      assertPassed(await folderSync(client));
      // The key it held before is stale now.
      client.policyKey = keys[version];
      assertGated(await folderSync(client), version as ProtocolVersion, 144);
    }
    const history = await devices.history(phones['14.1'].deviceId);
    assert.deepEqual(
      history.map((event) => event.action),
      ['provisioned', 'provisioned'],
    );

    // A set of the device's own wins over the user's.
    await policies.save('camera-off', { AllowCamera: false });
    await policies.assignToDevice(phones['14.1'].deviceId, 'camera-off');
    phones['14.1'].policyKey = undefined;
    const outcome = await provision(phones['14.1']);
    assert.ok(outcome.kind === 'provisioned');
    const document = outcome.policy as WbxmlElement;
    assert.equal(childText(document, 'AllowCamera'), '0');
    assert.equal(childText(document, 'DevicePasswordEnabled'), '0');
    const account = (await devices.show(phones['14.1'].deviceId))?.accounts[0];
    assert.deepEqual(account?.policy, { name: 'camera-off', source: 'device' });
  });

  test('iOS 4 may keep sending its previous key, and only that one', async () => {
    const policies = new PolicyStore(context.database.db);
    const client = phone(required, { version: '12.1', ...IOS_4 });
    const other = phone(required, { version: '12.1' });
    await policies.save('ios-a', { AllowBrowser: false });
    await policies.save('ios-b', { AllowBrowser: false, AllowCamera: false });
    await Promise.all([folderSync(client), folderSync(other)]);
    const keys: string[] = [];
    for (const set of [undefined, 'ios-a', 'ios-b']) {
      for (const device of [client, other]) {
        await policies.assignToDevice(device.deviceId, set);
        const outcome = await provision(device);
        assert.ok(outcome.kind === 'provisioned');
        if (device === client) keys.push(outcome.policyKey);
      }
    }
    const [oldest, previous, current] = keys;
    client.policyKey = previous;
    assertPassed(await folderSync(client));
    client.policyKey = oldest;
    assertGated(await folderSync(client), '12.1', 144);
    client.policyKey = current;
    assertPassed(await folderSync(client));
    // Other clients get no such leeway.
    other.policyKey = previous;
    assertGated(await folderSync(other), '12.1', 144);
  });

  test('clients that need it get HTTP 449 together with the Status', async () => {
    const response = await folderSync(phone(required, { version: '14.1', ...ANDROID_4_1 }));
    assert.equal(response.status, 449);
    assert.equal(statusOf(response), '142');
  });

  test('required: a device that cannot apply the policy is refused (139, 145; 403 before 14.0)', async () => {
    const partly = phone(required, { version: '14.1' });
    const outcome = await provision(partly, { applied: 2 });
    assert.ok(outcome.kind === 'refused' && outcome.phase === 'acknowledgement');
    assert.equal(statusOf(outcome.response), '139');
    assertGated(await folderSync(partly), '14.1', 142);
    const account = (await devices.show(partly.deviceId))?.accounts[0];
    assert.equal(account?.policyKey, undefined);
    assert.equal(account?.acknowledgement, 'partly-applied');
    assert.deepEqual(
      (await devices.history(partly.deviceId)).map((event) => [event.action, event.detail]),
      [['policy-refused', 'policy partly-applied']],
    );

    const managed = await provision(phone(required, { version: '16.1' }), { applied: 4 });
    assert.ok(managed.kind === 'refused');
    assert.equal(statusOf(managed.response), '145');

    const old = await provision(phone(required, { version: '12.1' }), { applied: 3 });
    assert.ok(old.kind === 'refused');
    assert.equal(old.response.status, 403);
  });

  test('allow: devices that never provisioned or could not apply the policy are let in', async () => {
    assertPassed(await folderSync(phone(allow, { version: '14.1' })));
    assertPassed(await folderSync(phone(allow, { version: '12.1' })));

    const partly = phone(allow, { version: '14.1', user: 'bob' });
    const outcome = await provision(partly, { applied: 2 });
    assert.ok(outcome.kind === 'provisioned');
    assertPassed(await folderSync(partly));
    partly.policyKey = undefined;
    assertPassed(await folderSync(partly));
    assert.equal((await devices.show(partly.deviceId))?.accounts[0]?.acknowledgement, 'partly-applied');
  });

  test('allow: a device that applied the policy is held to it', async () => {
    const policies = new PolicyStore(context.database.db);
    const client = phone(allow, { version: '14.1' });
    assert.equal((await provision(client)).kind, 'provisioned');
    assertPassed(await folderSync(client));
    await policies.save('allow-change', { AllowWiFi: false });
    await policies.assignToDevice(client.deviceId, 'allow-change');
    assertGated(await folderSync(client), '14.1', 143);
    // Asked to provision again, it is gated until it does.
    await devices.reprovision(client.deviceId, { by: 'admin' });
    assertGated(await folderSync(client), '14.1', 142);
    assert.equal((await provision(client)).kind, 'provisioned');
    assertPassed(await folderSync(client));
  });

  test('off: no policy is sent and nothing is gated', async () => {
    const client = phone(off, { version: '14.1' });
    assertPassed(await folderSync(client));
    const outcome = await provision(client);
    assert.equal(outcome.kind, 'no-policy');
    assert.equal(client.policyKey, undefined);
    assertPassed(await folderSync(client));
    const account = (await devices.show(client.deviceId))?.accounts[0];
    assert.equal(account?.policyKey, undefined);
  });

  test('malformed Provision requests are answered Status 2 and change nothing', async () => {
    const client = phone(required, { version: '14.1' });
    assert.equal((await provision(client)).kind, 'provisioned');
    const before = await provisioningState(context.database.db, client.deviceId);
    const malformed: (WbxmlElement | undefined)[] = [
      undefined,
      el('FolderHierarchy', 'FolderSync'),
      provisionRequest(el('Provision', 'Status', '1')),
      provisionRequest(el('Provision', 'Policies')),
      provisionRequest(
        el('Provision', 'Policies', [
          el('Provision', 'Policy', [WBXML_POLICY]),
          el('Provision', 'Policy', [WBXML_POLICY]),
        ]),
      ),
      policyRequest(el('Provision', 'PolicyKey', '1')),
      policyRequest(WBXML_POLICY, el('Provision', 'PolicyKey', '12')),
      policyRequest(WBXML_POLICY, el('Provision', 'PolicyKey', 'abc'), el('Provision', 'Status', '1')),
      policyRequest(WBXML_POLICY, el('Provision', 'PolicyKey', '4294967296'), el('Provision', 'Status', '1')),
      policyRequest(WBXML_POLICY, el('Provision', 'PolicyKey', '12'), el('Provision', 'Status', '7')),
      policyRequest(WBXML_POLICY, WBXML_POLICY),
      policyRequest(el('Provision', 'PolicyType', [el('Provision', 'Data')])),
      provisionRequest(el('Provision', 'RemoteWipe')),
      provisionRequest(el('Provision', 'RemoteWipe', [el('Provision', 'Status', '3')])),
      provisionRequest(
        el('Provision', 'RemoteWipe', [el('Provision', 'Status', '1')]),
        el('Provision', 'AccountOnlyRemoteWipe', [el('Provision', 'Status', '1')]),
      ),
      provisionRequest(el('Settings', 'DeviceInformation', [el('Settings', 'Model', 'no Set')])),
      provisionRequest(
        el('Settings', 'DeviceInformation', [
          el('Settings', 'Set', [el('Settings', 'Model', 'x'.repeat(1025))]),
        ]),
        el('Provision', 'Policies', [el('Provision', 'Policy', [WBXML_POLICY])]),
      ),
    ];
    for (const body of malformed) {
      const response = await client.send('Provision', body);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body, el('Provision', 'Provision', [el('Provision', 'Status', '2')]));
    }
    assert.deepEqual(await provisioningState(context.database.db, client.deviceId), before);
    assertPassed(await folderSync(client));
  });

  test('an unknown policy type is answered Policy Status 3 and changes nothing', async () => {
    const client = phone(required, { version: '12.1' });
    await folderSync(client);
    const before = await provisioningState(context.database.db, client.deviceId);
    for (const type of ['MS-WAP-Provisioning-XML', 'application/x-unknown']) {
      const response = await client.send('Provision', policyRequest(el('Provision', 'PolicyType', type)));
      assert.equal(statusOf(response), '1');
      assert.equal(policyStatusOf(response.body), '3');
    }
    assert.deepEqual(await provisioningState(context.database.db, client.deviceId), before);
  });

  test('acknowledging a key that was not handed out is answered Policy Status 5 and changes nothing', async () => {
    const client = phone(required, { version: '16.1' });
    const download = await client.send('Provision', policyRequest(WBXML_POLICY));
    const temporaryKey = Number(childText(child(child(download.body!, 'Policies')!, 'Policy')!, 'PolicyKey'));
    assert.ok(temporaryKey >= 1 && temporaryKey <= 0x7fffffff);
    const before = await provisioningState(context.database.db, client.deviceId);
    for (const key of [temporaryKey + 1, 0]) {
      const response = await client.send(
        'Provision',
        policyRequest(
          WBXML_POLICY,
          el('Provision', 'PolicyKey', String(key)),
          el('Provision', 'Status', '1'),
        ),
      );
      assert.equal(policyStatusOf(response.body), '5');
      assert.equal(child(child(response.body!, 'Policies')!, 'Policy')!.children.length, 2);
    }
    assert.deepEqual(await provisioningState(context.database.db, client.deviceId), before);
    // The download on record can still be acknowledged.
    const acknowledged = await client.send(
      'Provision',
      policyRequest(
        WBXML_POLICY,
        el('Provision', 'PolicyKey', String(temporaryKey)),
        el('Provision', 'Status', '1'),
      ),
    );
    assert.equal(policyStatusOf(acknowledged.body), '1');
  });

  test('acknowledging a download again once it was acknowledged is answered Policy Status 5 and changes nothing', async () => {
    const client = phone(required, { version: '14.1' });
    const download = await client.send('Provision', policyRequest(WBXML_POLICY));
    const temporaryKey = childText(child(child(download.body!, 'Policies')!, 'Policy')!, 'PolicyKey');
    const acknowledge = () =>
      client.send(
        'Provision',
        policyRequest(
          WBXML_POLICY,
          el('Provision', 'PolicyKey', String(temporaryKey)),
          el('Provision', 'Status', '1'),
        ),
      );
    const first = await acknowledge();
    assert.equal(policyStatusOf(first.body), '1');
    const finalKey = childText(child(child(first.body!, 'Policies')!, 'Policy')!, 'PolicyKey');
    const before = await provisioningState(context.database.db, client.deviceId);
    assert.equal(before.accounts[0]?.temporary_policy_key, null);

    const again = await acknowledge();
    assert.equal(statusOf(again), '1');
    assert.equal(policyStatusOf(again.body), '5');
    assert.deepEqual(
      child(child(again.body!, 'Policies')!, 'Policy')!.children.map((c) => c.name),
      ['PolicyType', 'Status'],
    );
    assert.deepEqual(await provisioningState(context.database.db, client.deviceId), before);
    // The key the first acknowledgement gave still lets the device in.
    client.policyKey = finalKey;
    assertPassed(await folderSync(client));
  });

  test('a policy set that no longer validates is answered Policy Status 4', async () => {
    const client = phone(required, { version: '14.1' });
    await folderSync(client);
    await context.database.db
      .insertInto('policies')
      .values({ name: 'broken', settings: '{"MinDevicePasswordLength":99}', is_default: 0, updated_at: '' })
      .execute();
    await new PolicyStore(context.database.db).assignToDevice(client.deviceId, 'broken');
    const response = await client.send('Provision', policyRequest(WBXML_POLICY));
    assert.equal(policyStatusOf(response.body), '4');
    await new PolicyStore(context.database.db).remove('broken');
  });
});
