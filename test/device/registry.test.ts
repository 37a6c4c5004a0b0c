// The device store and the policy store on their own: recording requests cheaply and safely, the
// admin actions and their refusals, and how named policy sets are validated, stored and chosen.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { DeviceError, DeviceStore, LAST_SEEN_PRECISION_MS } from '../../src/device/devices.ts';
import { PolicyError, PolicyStore } from '../../src/device/policy-store.ts';
import { defaultPolicySettings } from '../../src/device/policy-settings.ts';
import type { CommandName, EasRequest, ProtocolVersion } from '../../src/http/query.ts';
import { UserStore, type User } from '../../src/state/users.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { addUsers } from './phones.ts';

function easRequest(
  deviceId: string,
  options: { command?: CommandName; version?: ProtocolVersion; userAgent?: string } = {},
): EasRequest {
  return {
    command: options.command ?? 'FolderSync',
    protocolVersion: options.version ?? '14.1',
    deviceId,
    deviceType: 'SmartPhone',
    userAgent: options.userAgent,
    params: {},
    saveInSent: false,
    acceptMultiPart: false,
    clientAddress: '192.0.2.7',
    queryForm: 'plain',
  };
}

describeEachDatabase('device registry', (context) => {
  let devices: DeviceStore;
  let alice: User;
  let bob: User;
  before(async () => {
    await addUsers(context.database.db);
    const users = new UserStore(context.database.db);
    [alice, bob] = [(await users.find('alice')) as User, (await users.find('bob')) as User];
    devices = new DeviceStore(context.database.db);
  });

  const lastSeen = async (deviceId: string) =>
    (
      await context.database.db
        .selectFrom('devices')
        .select('last_seen')
        .where('device_id', '=', deviceId)
        .executeTakeFirstOrThrow()
    ).last_seen;
  const setLastSeen = (deviceId: string, ageMs: number) =>
    context.database.db
      .updateTable('devices')
      .set({ last_seen: new Date(Date.now() - ageMs).toISOString() })
      .where('device_id', '=', deviceId)
      .execute();

  test('concurrent first requests of a new device record it once', async () => {
    const requests = [alice, bob, alice, bob, alice, bob, alice, bob].map((user) =>
      devices.recordRequest(easRequest('RACE1'), user),
    );
    const sessions = await Promise.all(requests);
    assert.equal(new Set(sessions.map((session) => session.accountId)).size, 2);
    const device = await devices.show('RACE1');
    assert.deepEqual(
      device?.accounts.map((account) => account.user),
      ['alice', 'bob'],
    );
    assert.equal((await devices.list()).filter((listed) => listed.id === 'RACE1').length, 1);
  });

  test('a request is recorded with what it says about the device', async () => {
    const session = await devices.recordRequest(
      easRequest('REC1', { command: 'Sync', version: '16.1', userAgent: 'Test/1.0' }),
      alice,
    );
    assert.deepEqual(
      { ...session, accountId: 0 },
      {
        deviceId: 'REC1',
        user: 'alice',
        accountId: 0,
        deviceWipe: 'none',
        accountWipe: 'none',
        policyKey: undefined,
        previousPolicyKey: undefined,
        temporaryPolicyKey: undefined,
        offeredPolicyKey: undefined,
        acknowledgement: undefined,
        policy: { name: undefined, source: 'built-in', settings: defaultPolicySettings },
      },
    );
    const device = await devices.show('REC1');
    assert.equal(device?.type, 'SmartPhone');
    assert.equal(device?.userAgent, 'Test/1.0');
    assert.equal(device?.protocolVersion, '16.1');
    assert.equal(device?.lastCommand, 'Sync');
    assert.equal(device?.lastAddress, '192.0.2.7');
    assert.equal(device?.firstSeen, device?.lastSeen);
  });

  test('a request that changes nothing but the time writes nothing for a while', async () => {
    await devices.recordRequest(easRequest('QUIET1'), alice);
    await setLastSeen('QUIET1', 1000);
    const earlier = await lastSeen('QUIET1');
    await devices.recordRequest(easRequest('QUIET1'), alice);
    assert.equal(await lastSeen('QUIET1'), earlier);
    await devices.recordRequest(easRequest('QUIET1', { command: 'Ping' }), alice);
    assert.notEqual(await lastSeen('QUIET1'), earlier);
    assert.equal((await devices.show('QUIET1'))?.lastCommand, 'Ping');
    await setLastSeen('QUIET1', LAST_SEEN_PRECISION_MS);
    const stale = await lastSeen('QUIET1');
    await devices.recordRequest(easRequest('QUIET1', { command: 'Ping' }), alice);
    assert.notEqual(await lastSeen('QUIET1'), stale);
  });

  test('policy keys above 2^31 read back as numbers', async () => {
    const session = await devices.recordRequest(easRequest('BIG1'), alice);
    await devices.offerPolicy(session, { temporaryKey: 0x7fffffff, finalKey: 0xffffffff });
    const offered = await devices.session('BIG1', alice.id);
    assert.equal(offered?.temporaryPolicyKey, 0x7fffffff);
    assert.equal(offered?.offeredPolicyKey, 0xffffffff);
    const key = await devices.acceptPolicy(offered!, {
      temporaryKey: 0x7fffffff,
      status: 1,
      protocolVersion: '14.1',
    });
    assert.equal(key, 0xffffffff);
    assert.equal((await devices.session('BIG1', alice.id))?.policyKey, 0xffffffff);
    // A second acknowledgement of the same download finds nothing to accept.
    assert.equal(
      await devices.acceptPolicy(offered!, { temporaryKey: 0x7fffffff, status: 1, protocolVersion: '14.1' }),
      undefined,
    );
  });

  test('reprovisioning forgets the key and keeps it as the previous one', async () => {
    const session = await devices.recordRequest(easRequest('REPRO1'), alice);
    await devices.offerPolicy(session, { temporaryKey: 5, finalKey: 0x80000005 });
    await devices.acceptPolicy((await devices.session('REPRO1', alice.id))!, {
      temporaryKey: 5,
      status: 1,
      protocolVersion: '14.1',
    });
    await devices.reprovision('REPRO1', { by: 'admin' });
    const after = await devices.session('REPRO1', alice.id);
    assert.equal(after?.policyKey, undefined);
    assert.equal(after?.previousPolicyKey, 0x80000005);
    assert.equal(after?.acknowledgement, 'applied');
    await devices.resync('REPRO1', { by: 'admin' });
    assert.deepEqual(
      (await devices.history('REPRO1')).map((event) => [event.action, event.actor]),
      [
        ['provisioned', 'device'],
        ['reprovision-requested', 'admin'],
        ['resync-requested', 'admin'],
      ],
    );
  });

  test('DeviceInformation is stored and replaced', async () => {
    await devices.recordRequest(easRequest('INFO1'), alice);
    assert.equal(
      await devices.saveDeviceInformation('INFO1', { model: 'Pixel', imei: '35', enableOutboundSms: false }),
      true,
    );
    assert.deepEqual((await devices.show('INFO1'))?.information, {
      model: 'Pixel',
      imei: '35',
      enableOutboundSms: false,
    });
    await devices.saveDeviceInformation('INFO1', { model: 'Pixel 2', phoneNumber: '+1 555' });
    assert.deepEqual((await devices.show('INFO1'))?.information, { model: 'Pixel 2', phoneNumber: '+1 555' });
    assert.equal(await devices.saveDeviceInformation('NO-SUCH-DEVICE', { model: 'x' }), false);
  });

  test('devices are listed per user, newest first', async () => {
    await devices.recordRequest(easRequest('LIST1'), bob);
    await devices.recordRequest(easRequest('LIST2'), bob);
    const listed = (await devices.list({ user: 'BOB' })).map((device) => device.id);
    assert.deepEqual(
      listed.filter((id) => id.startsWith('LIST')),
      ['LIST2', 'LIST1'],
    );
    assert.ok(!(await devices.list({ user: 'alice' })).some((device) => device.id.startsWith('LIST')));
    assert.equal(await devices.show('NO-SUCH-DEVICE'), undefined);
  });

  test('admin actions on a device or account that is not there are refused', async () => {
    await devices.recordRequest(easRequest('ADMIN1'), alice);
    const notFound = (error: DeviceError) => error instanceof DeviceError && error.code === 'not-found';
    await assert.rejects(devices.requestWipe('NO-SUCH-DEVICE', { by: 'admin' }), notFound);
    await assert.rejects(devices.cancelWipe('ADMIN1', { account: 'bob', by: 'admin' }), notFound);
    await assert.rejects(devices.reprovision('ADMIN1', { account: 'bob', by: 'admin' }), notFound);
    await assert.rejects(devices.removeAccount('ADMIN1', { account: 'bob', by: 'admin' }), notFound);
    assert.equal(await devices.removeDevice('NO-SUCH-DEVICE', { by: 'admin' }), false);
    assert.deepEqual(await devices.history('NO-SUCH-DEVICE'), []);
  });
});

describeEachDatabase('policy sets', (context) => {
  let policies: PolicyStore;
  let devices: DeviceStore;
  let alice: User;
  before(async () => {
    await addUsers(context.database.db);
    alice = (await new UserStore(context.database.db).find('alice')) as User;
    policies = new PolicyStore(context.database.db);
    devices = new DeviceStore(context.database.db);
  });

  test('a set stores only what differs from the defaults', async () => {
    const saved = await policies.save('strict', {
      DevicePasswordEnabled: true,
      AllowCamera: true,
      MinDevicePasswordLength: 8,
      UnapprovedInROMApplicationList: [],
    });
    assert.deepEqual(saved.overrides, { DevicePasswordEnabled: true, MinDevicePasswordLength: 8 });
    assert.equal(saved.settings?.MinDevicePasswordLength, 8);
    assert.equal(saved.settings?.AllowBluetooth, 2);
    assert.equal(saved.isDefault, false);
    const replaced = await policies.save('strict', { AllowCamera: false });
    assert.deepEqual(replaced.overrides, { AllowCamera: false });
    assert.deepEqual(
      (await policies.list()).map((set) => set.name),
      ['strict'],
    );
  });

  test('invalid names and settings are refused, naming every problem', async () => {
    await assert.rejects(policies.save(' padded', {}), (error: PolicyError) => error.code === 'invalid-name');
    await assert.rejects(
      policies.save('bad', { MinDevicePasswordLength: 40, AllowTeleport: true }),
      (error: PolicyError) =>
        error.code === 'invalid-settings' &&
        /MinDevicePasswordLength/.test(error.message) &&
        /AllowTeleport/.test(error.message),
    );
    assert.equal(await policies.find('bad'), undefined);
  });

  test('the device set wins over the user set, which wins over the default set', async () => {
    await devices.recordRequest(
      {
        command: 'FolderSync',
        protocolVersion: '14.1',
        deviceId: 'CHOOSE1',
        deviceType: 'SmartPhone',
        params: {},
        saveInSent: false,
        acceptMultiPart: false,
        clientAddress: '192.0.2.7',
        queryForm: 'plain',
      },
      alice,
    );
    const policyOf = async () => {
      const { name, source } = (await devices.session('CHOOSE1', alice.id))!.policy;
      return [name, source];
    };
    assert.deepEqual(await policyOf(), [undefined, 'built-in']);
    await policies.save('company', { AllowWiFi: false });
    await policies.setDefault('company');
    assert.deepEqual(await policyOf(), ['company', 'default']);
    await policies.save('sales', { AllowBrowser: false });
    await policies.assignToUser('alice', 'sales');
    assert.deepEqual(await policyOf(), ['sales', 'user']);
    await policies.save('kiosk', { AllowCamera: false });
    await policies.assignToDevice('CHOOSE1', 'kiosk');
    assert.deepEqual(await policyOf(), ['kiosk', 'device']);

    // A removed set falls back to the next one; one default at a time.
    assert.equal(await policies.remove('kiosk'), true);
    assert.deepEqual(await policyOf(), ['sales', 'user']);
    await policies.assignToUser('alice', undefined);
    await policies.setDefault('sales');
    assert.deepEqual(
      (await policies.list()).filter((set) => set.isDefault).map((set) => set.name),
      ['sales'],
    );
    await policies.setDefault(undefined);
    assert.deepEqual(await policyOf(), [undefined, 'built-in']);
  });

  test('assigning what is not there is refused', async () => {
    const notFound = (error: PolicyError) => error instanceof PolicyError && error.code === 'not-found';
    await assert.rejects(policies.assignToUser('alice', 'no-such-set'), notFound);
    await assert.rejects(policies.assignToUser('nobody', undefined), notFound);
    await assert.rejects(policies.assignToDevice('NO-SUCH-DEVICE', undefined), notFound);
    await assert.rejects(policies.setDefault('no-such-set'), notFound);
    assert.equal(await policies.remove('no-such-set'), false);
  });
});
