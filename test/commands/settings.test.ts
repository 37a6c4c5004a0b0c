import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EasClient } from '../../src/client/index.ts';
import { PolicyStore } from '../../src/device/policy-store.ts';
import { readRecoveryPassword } from '../../src/device/recovery-password.ts';
import { startServer, type RunningServer } from '../../src/http/server.ts';
import type { Db } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { child, childText, children, el, type WbxmlElement } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

const VERSIONS = ['12.1', '14.1', '16.1'] as const;
const PASSWORD = 'phone-secret';
const PUBLIC_HOST = 'mail.example.net';

const s = (name: string, content?: string | WbxmlElement[]) => el('Settings', name, content);

/** Settings Status, then the named property responses in order. */
function summary(response: WbxmlElement): { status: string | undefined; properties: string[] } {
  return {
    status: childText(response, 'Status'),
    properties: response.children.filter((c) => c.name !== 'Status').map((c) => c.name),
  };
}

function propertyStatus(response: WbxmlElement, property: string, index = 0): string | undefined {
  const element = children(response, property)[index];
  assert.ok(element, `response has ${property} #${index}`);
  assert.equal(element.children[0]?.name, 'Status', 'Status comes first');
  return childText(element, 'Status');
}

const oofGet = (bodyType = 'Text') => s('Oof', [s('Get', [s('BodyType', bodyType)])]);
const oofSet = (content: WbxmlElement[]) => s('Oof', [s('Set', content)]);
const oofMessage = (audience: string, fields: { enabled?: string; reply?: string; bodyType?: string }) =>
  s('OofMessage', [
    s(audience),
    ...(fields.enabled === undefined ? [] : [s('Enabled', fields.enabled)]),
    ...(fields.reply === undefined ? [] : [s('ReplyMessage', fields.reply)]),
    ...(fields.bodyType === undefined ? [] : [s('BodyType', fields.bodyType)]),
  ]);
const devicePassword = (password?: string) =>
  s('DevicePassword', [s('Set', password === undefined ? [] : [s('Password', password)])]);
const deviceInformation = (values: Record<string, string>) =>
  s('DeviceInformation', [
    s(
      'Set',
      Object.entries(values).map(([name, value]) => s(name, value)),
    ),
  ]);

describeEachDatabase(
  'Settings',
  (context) => {
    let server: RunningServer;
    let db: Db;
    before(async () => {
      db = context.database.db;
      const users = new UserStore(db);
      for (const version of VERSIONS) await users.add(userOf(version), PASSWORD);
      // Recovery passwords are kept only where the policy allows them.
      const policies = new PolicyStore(db);
      await policies.save('recovery', { PasswordRecoveryEnabled: true });
      await policies.setDefault('recovery');
      await policies.save('no-recovery', {});
      server = await startServer(context.config, { db });
    });
    after(() => server.close());

    const userOf = (version: string) => `user${version.replace('.', '')}`;
    const deviceOf = (version: string) => `settings${version.replace('.', '')}`;
    const clientAt = (version: string, deviceId = deviceOf(version)) =>
      new EasClient({
        url: `${server.url}/Microsoft-Server-ActiveSync`,
        user: userOf(version),
        password: PASSWORD,
        deviceId,
        deviceType: 'TestPhone',
        protocolVersion: version,
      });

    async function settings(client: EasClient, ...properties: WbxmlElement[]): Promise<WbxmlElement> {
      const response = await client.send('Settings', s('Settings', properties));
      assert.equal(response.status, 200);
      assert.ok(response.body);
      assert.equal(response.body.name, 'Settings');
      return response.body;
    }

    const deviceRow = (deviceId: string) =>
      db.selectFrom('devices').selectAll().where('device_id', '=', deviceId).executeTakeFirstOrThrow();
    const accountRow = (deviceId: string) =>
      db
        .selectFrom('device_accounts')
        .innerJoin('devices', 'devices.id', 'device_accounts.device_id')
        .select(['device_accounts.id', 'device_accounts.recovery_password'])
        .where('devices.device_id', '=', deviceId)
        .executeTakeFirstOrThrow();

    for (const version of VERSIONS) {
      describe(`at ${version}`, () => {
        const atLeast14 = version !== '12.1';

        test('DeviceInformation Set stores every value it carries', async () => {
          const client = clientAt(version);
          const values: Record<string, string> = {
            Model: 'Pixel 9',
            IMEI: '356938035643809',
            FriendlyName: "Alice's phone",
            OS: 'Android 15',
            OSLanguage: 'en-GB',
            PhoneNumber: '+44 20 7946 0000',
            UserAgent: 'TestPhone/1.0',
            ...(atLeast14 ? { MobileOperator: 'Example Mobile', EnableOutboundSMS: '1' } : {}),
          };
          const response = await settings(client, deviceInformation(values));
          assert.deepEqual(summary(response), { status: '1', properties: ['DeviceInformation'] });
          assert.equal(propertyStatus(response, 'DeviceInformation'), '1');
          const row = await deviceRow(client.deviceId);
          assert.equal(row.model, 'Pixel 9');
          assert.equal(row.imei, '356938035643809');
          assert.equal(row.friendly_name, "Alice's phone");
          assert.equal(row.os, 'Android 15');
          assert.equal(row.os_language, 'en-GB');
          assert.equal(row.phone_number, '+44 20 7946 0000');
          assert.equal(row.information_user_agent, 'TestPhone/1.0');
          assert.equal(row.mobile_operator, atLeast14 ? 'Example Mobile' : null);
          assert.equal(row.enable_outbound_sms, atLeast14 ? 1 : null);
        });

        test('DeviceInformation: bad values get their own status and change nothing', async () => {
          const client = clientAt(version);
          const before = await deviceRow(client.deviceId);
          const tooLong = await settings(client, deviceInformation({ Model: 'x'.repeat(1025) }));
          assert.equal(propertyStatus(tooLong, 'DeviceInformation'), '5');
          const empty = await settings(client, deviceInformation({}));
          assert.equal(propertyStatus(empty, 'DeviceInformation'), '2');
          if (atLeast14) {
            const sms = await settings(client, deviceInformation({ EnableOutboundSMS: '2' }));
            assert.equal(propertyStatus(sms, 'DeviceInformation'), '5');
          } else {
            // 12.1 has no MobileOperator: the request does not follow the schema of its version.
            const operator = await settings(client, deviceInformation({ MobileOperator: 'Example Mobile' }));
            assert.deepEqual(summary(operator), { status: '2', properties: [] });
          }
          assert.deepEqual(await deviceRow(client.deviceId), before);
        });

        test('UserInformation Get: the address, per account from 14.1', async () => {
          const client = clientAt(version);
          const response = await settings(client, s('UserInformation', [s('Get')]));
          assert.equal(propertyStatus(response, 'UserInformation'), '1');
          const get = child(child(response, 'UserInformation') as WbxmlElement, 'Get') as WbxmlElement;
          const derived = `${userOf(version)}@${PUBLIC_HOST}`;
          if (!atLeast14) {
            assert.deepEqual(
              get.children.map((c) => c.name),
              ['EmailAddresses'],
            );
            assert.equal(childText(child(get, 'EmailAddresses') as WbxmlElement, 'SMTPAddress'), derived);
            return;
          }
          assert.deepEqual(
            get.children.map((c) => c.name),
            ['Accounts'],
          );
          const accounts = children(child(get, 'Accounts') as WbxmlElement, 'Account');
          assert.equal(accounts.length, 1);
          const addresses = child(accounts[0] as WbxmlElement, 'EmailAddresses') as WbxmlElement;
          assert.equal(childText(addresses, 'SMTPAddress'), derived);
          assert.equal(childText(addresses, 'PrimarySmtpAddress'), derived);
          assert.equal(child(accounts[0] as WbxmlElement, 'UserDisplayName'), undefined);

          // A user's own address and display name win over the derived address.
          await db
            .updateTable('users')
            .set({ email: 'Someone@Example.org', display_name: 'Some One' })
            .where('name', '=', userOf(version))
            .execute();
          try {
            const own = await settings(client, s('UserInformation', [s('Get')]));
            const account = child(
              child(
                child(child(own, 'UserInformation') as WbxmlElement, 'Get') as WbxmlElement,
                'Accounts',
              ) as WbxmlElement,
              'Account',
            ) as WbxmlElement;
            assert.equal(childText(account, 'UserDisplayName'), 'Some One');
            assert.equal(
              childText(child(account, 'EmailAddresses') as WbxmlElement, 'PrimarySmtpAddress'),
              'Someone@Example.org',
            );
          } finally {
            await db
              .updateTable('users')
              .set({ email: null, display_name: null })
              .where('name', '=', userOf(version))
              .execute();
          }
        });

        test('Oof: Get answers the defaults, all three audiences', async () => {
          const client = clientAt(version);
          const response = await settings(client, oofGet());
          assert.equal(propertyStatus(response, 'Oof'), '1');
          const get = child(child(response, 'Oof') as WbxmlElement, 'Get') as WbxmlElement;
          assert.equal(childText(get, 'OofState'), '0');
          const messages = children(get, 'OofMessage');
          assert.deepEqual(
            messages.map((m) => m.children.map((c) => c.name)),
            [
              ['AppliesToInternal', 'Enabled'],
              ['AppliesToExternalKnown', 'Enabled'],
              ['AppliesToExternalUnknown', 'Enabled'],
            ],
          );
          assert.deepEqual(
            messages.map((m) => childText(m, 'Enabled')),
            ['0', '0', '0'],
          );
        });

        test('Oof: Set stores state, period and replies; Get answers them in the body type asked for', async () => {
          const client = clientAt(version);
          const set = await settings(
            client,
            oofSet([
              s('OofState', '2'),
              s('StartTime', '2030-07-01T08:00:00.000Z'),
              s('EndTime', '2030-07-15T17:00:00.000Z'),
              oofMessage('AppliesToInternal', {
                enabled: '1',
                reply: 'Away <until> the 15th\nBack soon',
                bodyType: 'TEXT',
              }),
              oofMessage('AppliesToExternalKnown', {
                enabled: '1',
                reply: '<p>Out of office</p>',
                bodyType: 'HTML',
              }),
              oofMessage('AppliesToExternalUnknown', {
                enabled: '0',
                reply: '<p>Out of office</p>',
                bodyType: 'HTML',
              }),
            ]),
          );
          assert.equal(propertyStatus(set, 'Oof'), '1');

          const text = await settings(client, oofGet('TEXT'));
          const get = child(child(text, 'Oof') as WbxmlElement, 'Get') as WbxmlElement;
          assert.equal(childText(get, 'OofState'), '2');
          assert.equal(childText(get, 'StartTime'), '2030-07-01T08:00:00.000Z');
          assert.equal(childText(get, 'EndTime'), '2030-07-15T17:00:00.000Z');
          const [internal, known, unknown] = children(get, 'OofMessage') as [
            WbxmlElement,
            WbxmlElement,
            WbxmlElement,
          ];
          assert.equal(childText(internal, 'Enabled'), '1');
          assert.equal(childText(internal, 'ReplyMessage'), 'Away <until> the 15th\nBack soon');
          assert.equal(childText(internal, 'BodyType'), 'TEXT');
          assert.equal(childText(known, 'ReplyMessage'), 'Out of office');
          assert.equal(childText(unknown, 'Enabled'), '0');
          assert.equal(childText(unknown, 'ReplyMessage'), 'Out of office');

          const html = await settings(client, oofGet('HTML'));
          const htmlGet = child(child(html, 'Oof') as WbxmlElement, 'Get') as WbxmlElement;
          const htmlInternal = children(htmlGet, 'OofMessage')[0] as WbxmlElement;
          assert.equal(
            childText(htmlInternal, 'ReplyMessage'),
            '<html><body>Away &lt;until&gt; the 15th<br>Back soon</body></html>',
          );
          assert.equal(childText(htmlInternal, 'BodyType'), 'HTML');
          assert.equal(
            childText(children(htmlGet, 'OofMessage')[1] as WbxmlElement, 'ReplyMessage'),
            '<p>Out of office</p>',
          );
        });

        test('Oof: an OofMessage replaces its audience; a state other than 2 keeps no period', async () => {
          const client = clientAt(version);
          await settings(
            client,
            oofSet([s('OofState', '0'), oofMessage('AppliesToInternal', { enabled: '0' })]),
          );
          const state1 = await settings(
            client,
            oofSet([
              s('OofState', '1'),
              s('StartTime', '2040-01-01T00:00:00.000Z'),
              s('EndTime', '2040-01-02T00:00:00.000Z'),
            ]),
          );
          assert.equal(propertyStatus(state1, 'Oof'), '1');
          const get = child(
            child(await settings(client, oofGet()), 'Oof') as WbxmlElement,
            'Get',
          ) as WbxmlElement;
          assert.equal(childText(get, 'OofState'), '1');
          assert.notEqual(childText(get, 'StartTime'), '2040-01-01T00:00:00.000Z');
          const internal = children(get, 'OofMessage')[0] as WbxmlElement;
          assert.deepEqual(
            internal.children.map((c) => c.name),
            ['AppliesToInternal', 'Enabled'],
          );
          assert.equal(childText(internal, 'Enabled'), '0');
        });

        for (const audience of ['AppliesToExternalKnown', 'AppliesToExternalUnknown']) {
          test(`Oof: an OofMessage for ${audience} alone turns that audience on with its TEXT reply`, async () => {
            const client = clientAt(version);
            const oofMessages = async () =>
              children(
                child(
                  child(await settings(client, oofGet('TEXT')), 'Oof') as WbxmlElement,
                  'Get',
                ) as WbxmlElement,
                'OofMessage',
              );
            await settings(client, oofSet([oofMessage(audience, { enabled: '0' })]));
            const before = await oofMessages();
            const reply = `Away, ${audience} reply`;
            const set = await settings(
              client,
              oofSet([oofMessage(audience, { enabled: '1', reply, bodyType: 'TEXT' })]),
            );
            assert.equal(propertyStatus(set, 'Oof'), '1');

            const after = await oofMessages();
            const index = after.findIndex((m) => m.children[0]?.name === audience);
            const message = after[index] as WbxmlElement;
            assert.deepEqual(
              message.children.map((c) => c.name),
              [audience, 'Enabled', 'ReplyMessage', 'BodyType'],
            );
            assert.equal(childText(message, 'Enabled'), '1');
            assert.equal(childText(message, 'ReplyMessage'), reply);
            assert.equal(childText(message, 'BodyType'), 'TEXT');
            // The other audiences are as they were.
            assert.deepEqual(
              after.filter((_, i) => i !== index),
              before.filter((m) => m.children[0]?.name !== audience),
            );
          });
        }

        test('Oof: bad Sets get their status and change nothing', async () => {
          const client = clientAt(version);
          const before = await settings(client, oofGet());
          const cases: [string, WbxmlElement[]][] = [
            ['2', [s('OofState', '2'), s('StartTime', '2030-01-01T00:00:00.000Z')]],
            ['2', [s('OofState', '2'), s('EndTime', '2030-01-01T00:00:00.000Z')]],
            ['5', [s('OofState', '3')]],
            ['5', [s('OofState', '2'), s('StartTime', 'tomorrow'), s('EndTime', '2030-01-01T00:00:00.000Z')]],
            [
              '6',
              [
                s('OofState', '2'),
                s('StartTime', '2030-01-02T00:00:00.000Z'),
                s('EndTime', '2030-01-01T00:00:00.000Z'),
              ],
            ],
            [
              '5',
              [
                oofMessage('AppliesToExternalKnown', {
                  enabled: '1',
                  reply: 'Oof',
                  bodyType: 'InvalidValue',
                }),
              ],
            ],
            ['2', [oofMessage('AppliesToInternal', { enabled: '1', reply: 'No body type' })]],
            ['2', [s('OofMessage', [s('Enabled', '1')])]],
            ['5', [oofMessage('AppliesToInternal', { enabled: 'yes' })]],
            [
              '6',
              [
                oofMessage('AppliesToInternal', { enabled: '1' }),
                oofMessage('AppliesToInternal', { enabled: '0' }),
              ],
            ],
            [
              '6',
              [
                oofMessage('AppliesToExternalKnown', {
                  enabled: '1',
                  reply: 'Message to known',
                  bodyType: 'TEXT',
                }),
                oofMessage('AppliesToExternalUnknown', {
                  enabled: '1',
                  reply: 'Message to unknown',
                  bodyType: 'TEXT',
                }),
              ],
            ],
          ];
          for (const [status, content] of cases) {
            const response = await settings(client, oofSet(content));
            assert.equal(summary(response).status, '1');
            assert.equal(propertyStatus(response, 'Oof'), status, JSON.stringify(content));
          }
          assert.deepEqual(await settings(client, oofGet()), before);
        });

        test('DevicePassword: kept encrypted, cleared by an empty Password', async () => {
          const client = clientAt(version);
          const secret = 'recovery-1234';
          const response = await settings(client, devicePassword(secret));
          assert.equal(propertyStatus(response, 'DevicePassword'), '1');
          const row = await accountRow(client.deviceId);
          assert.ok(row.recovery_password);
          assert.ok(!row.recovery_password.includes(secret));
          assert.ok(!Buffer.from(row.recovery_password.slice(3), 'base64').includes(secret));
          assert.equal(await readRecoveryPassword(db, context.config, row.id), secret);

          const longest = 'é'.repeat(255);
          assert.equal(
            propertyStatus(await settings(client, devicePassword(longest)), 'DevicePassword'),
            '1',
          );
          assert.equal(await readRecoveryPassword(db, context.config, row.id), longest);

          const cleared = await settings(client, devicePassword(''));
          assert.equal(propertyStatus(cleared, 'DevicePassword'), '1');
          assert.equal((await accountRow(client.deviceId)).recovery_password, null);
        });

        test('DevicePassword: too long is 5, no Password is a protocol error, both change nothing', async () => {
          const client = clientAt(version);
          await settings(client, devicePassword('kept'));
          const before = await accountRow(client.deviceId);
          const long = await settings(client, devicePassword('password'.padEnd(256, 'a')));
          assert.equal(propertyStatus(long, 'DevicePassword'), '5');
          const noPassword = await settings(client, devicePassword());
          assert.deepEqual(summary(noPassword), { status: '2', properties: [] });
          assert.deepEqual(await accountRow(client.deviceId), before);
        });

        test('DevicePassword: denied by a policy without password recovery', async () => {
          const client = clientAt(version, `${deviceOf(version)}-denied`);
          await settings(client, deviceInformation({ Model: 'Pixel 9' })); // records the device
          await new PolicyStore(db).assignToDevice(client.deviceId, 'no-recovery');
          const response = await settings(client, devicePassword('not kept'));
          assert.equal(propertyStatus(response, 'DevicePassword'), '7');
          assert.equal((await accountRow(client.deviceId)).recovery_password, null);
        });

        test('RightsManagementInformation: IRM is disabled from 14.1, unknown before', async () => {
          const client = clientAt(version);
          const response = await settings(client, s('RightsManagementInformation', [s('Get')]));
          if (!atLeast14) {
            assert.deepEqual(summary(response), { status: '2', properties: [] });
            return;
          }
          assert.equal(propertyStatus(response, 'RightsManagementInformation'), '168');
        });

        test('responses come in request order, each property as often as asked', async () => {
          const client = clientAt(version);
          const response = await settings(
            client,
            s('UserInformation', [s('Get')]),
            oofSet([s('OofState', '0')]),
            oofGet(),
            deviceInformation({ Model: 'Pixel 9' }),
            s('UserInformation', [s('Get')]),
          );
          assert.deepEqual(summary(response), {
            status: '1',
            properties: ['UserInformation', 'Oof', 'Oof', 'DeviceInformation', 'UserInformation'],
          });
          assert.equal(propertyStatus(response, 'Oof', 0), '1');
          assert.equal(child(children(response, 'Oof')[1] as WbxmlElement, 'Get') !== undefined, true);
        });

        test('a request that does not follow the schema is Status 2 and changes nothing', async () => {
          const client = clientAt(version);
          await settings(client, oofSet([s('OofState', '0')]));
          const malformed: WbxmlElement[][] = [
            [],
            [s('Oof')],
            [s('Oof', [s('Get'), s('Set')])],
            [s('Oof', [s('Get', [])])],
            [s('Oof', [s('Get', [s('BodyType', 'Text'), s('BodyType', 'HTML')])])],
            [s('UserInformation')],
            [s('UserInformation', [s('Get', [s('SMTPAddress', 'x')])])],
            [s('Model', 'not a property')],
            [el('AirSync', 'Status', '1')],
            [s('DeviceInformation', [s('Set', [s('Model', [s('Model', 'nested')])])])],
            [s('DevicePassword', [s('Set', [el('Settings', 'Password', Buffer.from('opaque'))])])],
            // A valid Set first: it must not run either.
            [
              oofSet([s('OofState', '1')]),
              s('Oof', [s('Set', [s('OofState', '1'), s('Password', 'misplaced')])]),
            ],
          ];
          for (const properties of malformed) {
            const response = await settings(client, ...properties);
            assert.deepEqual(summary(response), { status: '2', properties: [] }, JSON.stringify(properties));
          }
          const notSettings = await client.send(
            'Settings',
            el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]),
          );
          assert.equal(childText(notSettings.body as WbxmlElement, 'Status'), '2');
          const empty = await client.send('Settings');
          assert.equal(empty.status, 200);
          assert.equal(childText(empty.body as WbxmlElement, 'Status'), '2');
          const get = child(
            child(await settings(client, oofGet()), 'Oof') as WbxmlElement,
            'Get',
          ) as WbxmlElement;
          assert.equal(childText(get, 'OofState'), '0');
        });
      });
    }

    test('the mail domain, when configured, completes addresses', async () => {
      const other = await startServer({ ...context.config, mailDomain: 'example.org' }, { db });
      try {
        const client = new EasClient({
          url: `${other.url}/Microsoft-Server-ActiveSync`,
          user: userOf('12.1'),
          password: PASSWORD,
          deviceId: 'maildomain',
          deviceType: 'TestPhone',
          protocolVersion: '12.1',
        });
        const response = await client.send('Settings', s('Settings', [s('UserInformation', [s('Get')])]));
        const get = child(
          child(response.body as WbxmlElement, 'UserInformation') as WbxmlElement,
          'Get',
        ) as WbxmlElement;
        assert.equal(
          childText(child(get, 'EmailAddresses') as WbxmlElement, 'SMTPAddress'),
          'user121@example.org',
        );
      } finally {
        await other.close();
      }
    });

    test('a property the server cannot serve is Status 4; the others still run', async () => {
      const client = clientAt('14.1');
      const { id } = await db
        .selectFrom('users')
        .select('id')
        .where('name', '=', userOf('14.1'))
        .executeTakeFirstOrThrow();
      const stored = await db
        .selectFrom('oof_settings')
        .selectAll()
        .where('user_id', '=', id)
        .executeTakeFirstOrThrow();
      await db.updateTable('oof_settings').set({ settings: '{"state":' }).where('user_id', '=', id).execute();
      try {
        const response = await settings(client, oofGet(), s('UserInformation', [s('Get')]));
        assert.equal(summary(response).status, '1');
        assert.equal(propertyStatus(response, 'Oof'), '4');
        assert.equal(propertyStatus(response, 'UserInformation'), '1');
      } finally {
        await db
          .updateTable('oof_settings')
          .set({ settings: stored.settings })
          .where('user_id', '=', id)
          .execute();
      }
    });

    test('EAS 2.5 has no Settings command: HTTP 400', async () => {
      const client = clientAt('12.1');
      client.protocolVersion = '2.5';
      const response = await client.send('Settings', s('Settings', [oofGet()]));
      assert.equal(response.status, 400);
    });
  },
  { listen: { port: 0 }, logLevel: 'silent', publicUrl: `https://${PUBLIC_HOST}` },
);
