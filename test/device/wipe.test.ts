// Remote wipe through whole device sessions: asked for, not delivered on Ping, delivered by the next
// Provision, acknowledged, repeated on every reconnect until the device is removed, cancelled; the
// account-only wipe of EAS 16.1 on a phone shared by two users; and wipes in every provisioning mode.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { provision } from '../../src/client/index.ts';
import { DeviceError, DeviceStore } from '../../src/device/devices.ts';
import type { RunningServer } from '../../src/http/server.ts';
import { el } from '../../src/wbxml/index.ts';
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

describeEachDatabase('remote wipe', (context) => {
  let required: RunningServer;
  let off: RunningServer;
  let devices: DeviceStore;
  before(async () => {
    await addUsers(context.database.db);
    [required, off] = await Promise.all([
      startDeviceServer(context.config, context.database.db, 'required'),
      startDeviceServer(context.config, context.database.db, 'off'),
    ]);
    devices = new DeviceStore(context.database.db);
  });
  after(async () => {
    await Promise.all([required?.close(), off?.close()]);
  });

  const actions = async (deviceId: string) =>
    (await devices.history(deviceId)).map((event) => [event.action, event.user, event.actor, event.detail]);

  for (const version of ['12.1', '14.1'] as const) {
    test(`${version}: pending, not delivered on Ping, delivered and acknowledged, repeated until removed`, async () => {
      const client = phone(required, { version });
      const provisioned = await provision(client);
      assert.ok(provisioned.kind === 'provisioned');
      assert.equal(await devices.requestWipe(client.deviceId, { by: 'admin' }), 'pending');
      assert.equal((await devices.show(client.deviceId))?.wipe, 'pending');

      assertPassed(await ping(client));
      assertGated(await folderSync(client), version, 140);
      assertGated(await client.send('Settings', el('Settings', 'Settings')), version, 140);
      const outcome = await provision(client);
      assert.ok(outcome.kind === 'wipe-acknowledged');
      assert.equal(outcome.scope, 'device');
      assert.deepEqual(outcome.response.body, el('Provision', 'Provision', [el('Provision', 'Status', '1')]));
      assert.equal((await devices.show(client.deviceId))?.wipe, 'wiped');

      // The phone, reset, comes back: it is wiped again, with whichever account.
      const again = phone(required, { version, deviceId: client.deviceId, user: 'bob' });
      assertGated(await folderSync(again), version, 140);
      const repeated = await provision(again);
      assert.ok(repeated.kind === 'wipe-acknowledged' && repeated.scope === 'device');
      assert.deepEqual(await actions(client.deviceId), [
        ['provisioned', 'alice', 'device', `EAS ${version}, key ${provisioned.policyKey}, policy applied`],
        ['wipe-requested', undefined, 'admin', 'device'],
        ['wipe-delivered', 'alice', 'device', 'device'],
        ['wipe-acknowledged', 'alice', 'device', 'device, status 1 (wiped)'],
        ['wipe-delivered', 'bob', 'device', 'device'],
        ['wipe-acknowledged', 'bob', 'device', 'device, status 1 (wiped)'],
      ]);

      // Once removed, it is a new device.
      assert.equal(await devices.removeDevice(client.deviceId, { by: 'admin' }), true);
      const fresh = phone(required, { version, deviceId: client.deviceId });
      assertGated(await folderSync(fresh), version, 142);
      assert.equal((await provision(fresh)).kind, 'provisioned');
      assertPassed(await folderSync(fresh));
      assert.deepEqual((await actions(client.deviceId)).slice(6, 7), [
        ['removed', undefined, 'admin', undefined],
      ]);
    });
  }

  test('an empty Provision is answered with the wipe directive', async () => {
    const client = phone(required, { version: '16.1' });
    await folderSync(client);
    await devices.requestWipe(client.deviceId, { by: 'admin' });
    const response = await client.send('Provision', el('Provision', 'Provision'));
    assert.deepEqual(
      response.body,
      el('Provision', 'Provision', [el('Provision', 'Status', '1'), el('Provision', 'RemoteWipe')]),
    );
  });

  test('a failed wipe is asked for again and stays pending', async () => {
    const client = phone(required, { version: '14.1' });
    await folderSync(client);
    await devices.requestWipe(client.deviceId, { by: 'admin' });
    const outcome = await provision(client, { wipeStatus: 2 });
    assert.ok(outcome.kind === 'wipe-acknowledged');
    assert.deepEqual(
      outcome.response.body,
      el('Provision', 'Provision', [el('Provision', 'Status', '2'), el('Provision', 'RemoteWipe')]),
    );
    assert.equal((await devices.show(client.deviceId))?.wipe, 'pending');
  });

  test('a pending wipe can be cancelled, a wiped device cannot', async () => {
    const client = phone(required, { version: '14.1' });
    assert.equal((await provision(client)).kind, 'provisioned');
    await devices.requestWipe(client.deviceId, { by: 'alice' });
    assertGated(await folderSync(client), '14.1', 140);
    assert.equal(await devices.cancelWipe(client.deviceId, { by: 'admin' }), true);
    assert.equal(await devices.cancelWipe(client.deviceId, { by: 'admin' }), false);
    assertPassed(await folderSync(client));
    assert.deepEqual((await actions(client.deviceId)).slice(1), [
      ['wipe-requested', undefined, 'alice', 'device'],
      ['wipe-cancelled', undefined, 'admin', 'device'],
    ]);

    await devices.requestWipe(client.deviceId, { by: 'admin' });
    assert.equal((await provision(client)).kind, 'wipe-acknowledged');
    assert.equal(await devices.cancelWipe(client.deviceId, { by: 'admin' }), false);
    assert.equal(await devices.requestWipe(client.deviceId, { by: 'admin' }), 'wiped');
  });

  test('16.1: an account-only wipe leaves the other account on the phone alone', async () => {
    const deviceId = `SHARED${process.pid}`;
    const alice = phone(required, { version: '16.1', deviceId });
    const bob = phone(required, { version: '16.1', deviceId, user: 'bob' });
    for (const client of [alice, bob]) assert.equal((await provision(client)).kind, 'provisioned');

    assert.equal(await devices.requestWipe(deviceId, { account: 'bob', by: 'admin' }), 'pending');
    assertPassed(await folderSync(alice));
    assertGated(await folderSync(bob), '16.1', 140);
    const outcome = await provision(bob);
    assert.ok(outcome.kind === 'wipe-acknowledged');
    assert.equal(outcome.scope, 'account');
    assertPassed(await folderSync(alice));

    const device = await devices.show(deviceId);
    assert.equal(device?.wipe, 'none');
    assert.deepEqual(
      device?.accounts.map((account) => [account.user, account.wipe]),
      [
        ['alice', 'none'],
        ['bob', 'wiped'],
      ],
    );
    // Bob's account comes back: it is wiped again; removing it ends that.
    assertGated(await folderSync(bob), '16.1', 140);
    assert.equal(await devices.removeAccount(deviceId, { account: 'bob', by: 'admin' }), true);
    assertGated(await folderSync(bob), '16.1', 142);
    assertPassed(await folderSync(alice));
  });

  test('16.1: an account-only wipe is answered Status 1, asked for again when it fails, gone once the account is removed', async () => {
    const deviceId = `ACCOUNT${process.pid}`;
    const alice = phone(required, { version: '16.1', deviceId });
    const bob = phone(required, { version: '16.1', deviceId, user: 'bob' });
    for (const client of [alice, bob]) assert.equal((await provision(client)).kind, 'provisioned');
    await devices.requestWipe(deviceId, { account: 'bob', by: 'admin' });
    const directive = el('Provision', 'Provision', [
      el('Provision', 'Status', '1'),
      el('Provision', 'AccountOnlyRemoteWipe'),
    ]);
    const acknowledgement = (status: string) =>
      el('Provision', 'Provision', [
        el('Provision', 'AccountOnlyRemoteWipe', [el('Provision', 'Status', status)]),
      ]);

    assert.deepEqual((await bob.send('Provision', el('Provision', 'Provision'))).body, directive);
    assert.deepEqual(
      (await bob.send('Provision', acknowledgement('2'))).body,
      el('Provision', 'Provision', [
        el('Provision', 'Status', '2'),
        el('Provision', 'AccountOnlyRemoteWipe'),
      ]),
    );
    assert.equal((await devices.show(deviceId))?.accounts.find((a) => a.user === 'bob')?.wipe, 'pending');
    assert.deepEqual((await bob.send('Provision', el('Provision', 'Provision'))).body, directive);
    assert.deepEqual(
      (await bob.send('Provision', acknowledgement('1'))).body,
      el('Provision', 'Provision', [el('Provision', 'Status', '1')]),
    );
    assert.equal((await devices.show(deviceId))?.accounts.find((a) => a.user === 'bob')?.wipe, 'wiped');

    assert.equal(await devices.removeAccount(deviceId, { account: 'bob', by: 'admin' }), true);
    assert.deepEqual(
      (await bob.send('Provision', el('Provision', 'Provision'))).body,
      el('Provision', 'Provision', [el('Provision', 'Status', '1')]),
    );
  });

  test('a whole-device wipe reaches every account on the phone', async () => {
    const deviceId = `FAMILY${process.pid}`;
    const alice = phone(required, { version: '14.1', deviceId });
    const bob = phone(required, { version: '14.1', deviceId, user: 'bob' });
    for (const client of [alice, bob]) assert.equal((await provision(client)).kind, 'provisioned');
    await devices.requestWipe(deviceId, { by: 'alice' });
    assertGated(await folderSync(alice), '14.1', 140);
    assertGated(await folderSync(bob), '14.1', 140);
  });

  test('an account-only wipe needs a device that speaks 16.1', async () => {
    const client = phone(required, { version: '14.1' });
    await folderSync(client);
    await assert.rejects(
      devices.requestWipe(client.deviceId, { account: 'alice', by: 'admin' }),
      (error: DeviceError) => error.code === 'account-wipe-unsupported' && /EAS 14\.1/.test(error.message),
    );
    assert.deepEqual((await devices.show(client.deviceId))?.accounts[0]?.wipe, 'none');

    // Asked for at 16.1, then the device goes back to 14.1: it cannot be served, nor fully wiped.
    const downgraded = phone(required, { version: '16.1', deviceId: `DOWN${process.pid}` });
    await folderSync(downgraded);
    await devices.requestWipe(downgraded.deviceId, { account: 'alice', by: 'admin' });
    downgraded.protocolVersion = '14.1';
    assert.equal((await folderSync(downgraded)).status, 403);
    assert.equal((await downgraded.send('Provision', el('Provision', 'Provision'))).status, 403);
  });

  test('off: wipes are delivered all the same', async () => {
    const client = phone(off, { version: '14.1' });
    assertPassed(await folderSync(client));
    await devices.requestWipe(client.deviceId, { by: 'admin' });
    assertPassed(await ping(client));
    assertGated(await folderSync(client), '14.1', 140);
    const outcome = await provision(client);
    assert.ok(outcome.kind === 'wipe-acknowledged');
    assert.equal(statusOf(outcome.response), '1');
  });
});
