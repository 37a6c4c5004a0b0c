import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EasClient } from '../../src/client/index.ts';
import { commands, type CommandTable } from '../../src/commands/index.ts';
import {
  LOGGED_SYNC_ITEMS,
  logXml,
  readDeviceLog,
  setFullLogging,
  type DeviceLogSubject,
} from '../../src/device/protocol-log.ts';
import { startServer, type RunningServer } from '../../src/http/server.ts';
import type { Db } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { el, type WbxmlElement } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

const MAX_ENTRIES = 4;
const ALICE = { user: 'alice', password: 'alice-login-secret' };
const BOB = { user: 'bob', password: 'bob-login-secret' };
const BODY = 'the secret body text';

/** A Sync-shaped tree carrying a body both ways, for the test Sync command to echo. */
function syncWithBody(): WbxmlElement {
  return el('AirSync', 'Sync', [
    el('AirSync', 'Collections', [
      el('AirSync', 'Collection', [
        el('AirSync', 'ApplicationData', [
          el('Email', 'Subject', 'Lunch'),
          el('AirSyncBase', 'Body', [el('AirSyncBase', 'Type', '1'), el('AirSyncBase', 'Data', BODY)]),
          el('Email', 'MIMEData', Buffer.from(BODY)),
        ]),
      ]),
    ]),
  ]);
}

describe('logXml', () => {
  const tree = el('ItemOperations', 'ItemOperations', [
    el('Settings', 'Password', 'device-pin'),
    el('Search', 'Password', 'search-password'),
    el('ItemOperations', 'Password', 'fetch-password'),
    el('AirSyncBase', 'Data', 'body'),
    el('AirSyncBase', 'Preview', 'preview'),
    el('Email', 'Body', 'old body'),
    el('ComposeMail', 'Mime', Buffer.from('From: a\r\n\r\nmime')),
    el('Contacts', 'Picture', 'cGhvdG8='),
    el('Calendar', 'Body', 'agenda'),
    el('Tasks', 'Body', 'todo'),
    el('ItemOperations', 'Data', Buffer.from('attachment')),
    el('GAL', 'Data', 'cGhvdG8='),
    el('Email', 'Subject', 'kept'),
  ]);

  test('passwords are always hidden, bodies and attachments shown as their size', () => {
    const xml = logXml(tree, false);
    for (const secret of [
      'device-pin',
      'search-password',
      'fetch-password',
      'body',
      'preview',
      'agenda',
      'todo',
    ]) {
      assert.ok(!xml.includes(`>${secret}<`), secret);
    }
    assert.equal(xml.match(/\[redacted\]/g)?.length, 3);
    assert.ok(xml.includes('<airsyncbase:Data>[redacted 4 bytes]</airsyncbase:Data>'));
    assert.ok(xml.includes('<composemail:Mime>[redacted 15 bytes]</composemail:Mime>'));
    assert.ok(xml.includes('<Data>[redacted 10 bytes]</Data>'));
    assert.equal(xml.match(/\[redacted \d+ bytes\]/g)?.length, 9);
    assert.ok(xml.includes('<email:Subject>kept</email:Subject>'));
  });

  test('full logging shows bodies, never passwords', () => {
    const xml = logXml(tree, true);
    assert.ok(xml.includes('<airsyncbase:Data>body</airsyncbase:Data>'));
    assert.ok(
      xml.includes(
        `<composemail:Mime opaque="base64">${Buffer.from('From: a\r\n\r\nmime').toString('base64')}`,
      ),
    );
    assert.equal(xml.match(/\[redacted\]/g)?.length, 3);
    assert.ok(!xml.includes('device-pin'));
  });
});

describe('logXml of a big Sync', () => {
  const contact = (n: number) =>
    el('AirSync', 'ApplicationData', [
      el('Contacts', 'FileAs', `Contact ${n}`),
      el('AirSyncBase', 'Body', [el('AirSyncBase', 'Type', '1'), el('AirSyncBase', 'Data', `note ${n}`)]),
    ]);
  const commands = [
    ...Array.from({ length: LOGGED_SYNC_ITEMS + 2 }, (_, i) =>
      el('AirSync', 'Add', [el('AirSync', 'ServerId', `3:${i + 1}`), contact(i + 1)]),
    ),
    el('AirSync', 'Delete', [el('AirSync', 'ServerId', '3:99')]),
  ];
  const sync = el('AirSync', 'Sync', [
    el('AirSync', 'Collections', [
      el('AirSync', 'Collection', [
        el('AirSync', 'SyncKey', 'k:2'),
        el('AirSync', 'CollectionId', '3'),
        el('AirSync', 'Commands', commands),
      ]),
    ]),
  ]);

  test('shows the first items in full, then each command without its item, and says how many', () => {
    const xml = logXml(sync, false);
    for (let n = 1; n <= LOGGED_SYNC_ITEMS; n++) assert.ok(xml.includes(`Contact ${n}<`), `item ${n}`);
    assert.ok(!xml.includes(`Contact ${LOGGED_SYNC_ITEMS + 1}<`));
    assert.ok(xml.includes('<ApplicationData>[… 3 more commands: items not logged]</ApplicationData>'));
    assert.equal(xml.match(/<ApplicationData>\[…\]<\/ApplicationData>/g)?.length, 1);
    // Every command keeps its kind and ServerId.
    for (let n = 1; n <= LOGGED_SYNC_ITEMS + 2; n++) assert.ok(xml.includes(`<ServerId>3:${n}</ServerId>`));
    assert.ok(xml.includes('<Delete>'));
    assert.ok(!xml.includes('note 1<'));
  });

  test('full logging shows every item', () => {
    const xml = logXml(sync, true);
    for (let n = 1; n <= LOGGED_SYNC_ITEMS + 2; n++) assert.ok(xml.includes(`Contact ${n}<`), `item ${n}`);
    assert.ok(xml.includes('note 12<'));
    assert.ok(!xml.includes('[…'));
  });
});

describeEachDatabase(
  'the protocol log',
  (context) => {
    let server: RunningServer;
    let db: Db;
    const logLines: { msg: string; deviceId?: string }[] = [];

    // Test commands around the real Settings: Sync echoes its request, Ping makes the device provision.
    const table: CommandTable = {
      ...commands,
      Sync: async (_context, body) => ({ kind: 'wbxml', tree: body ?? syncWithBody() }),
      Ping: async () => ({ kind: 'http', status: 449, reason: 'provision first' }),
      SendMail: async () => ({ kind: 'empty' }),
    };

    before(async () => {
      db = context.database.db;
      const users = new UserStore(db);
      await users.add(ALICE.user, ALICE.password);
      await users.add(BOB.user, BOB.password);
      server = await startServer(context.config, {
        db,
        commands: table,
        logDestination: { write: (line: string) => void logLines.push(JSON.parse(line)) },
      });
    });
    after(() => server.close());

    const clientOf = (login: { user: string; password: string }, deviceId: string) =>
      new EasClient({
        url: `${server.url}/Microsoft-Server-ActiveSync`,
        user: login.user,
        password: login.password,
        deviceId,
        deviceType: 'TestPhone',
        protocolVersion: '14.1',
      });

    /** A request carrying a password. */
    const recoveryPassword = el('Settings', 'Settings', [
      el('Settings', 'DevicePassword', [el('Settings', 'Set', [el('Settings', 'Password', 'recovery-pin')])]),
    ]);

    /** Reads until `done` holds: the log is written after the answer has gone out. */
    async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
      for (let attempt = 0; attempt < 200; attempt++) {
        const value = await read();
        if (done(value)) return value;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('the awaited log entry never came');
    }

    const logOf = (subject: DeviceLogSubject, count: number) =>
      eventually(
        () => readDeviceLog(db, subject),
        (entries) => entries.length >= count,
      );

    test('holds the decoded request and answer, without credentials or passwords', async () => {
      const client = clientOf(ALICE, 'log-secrets');
      const response = await client.send('Settings', recoveryPassword);
      assert.equal(response.status, 200);
      const [entry] = await logOf({ deviceId: 'log-secrets' }, 1);
      assert.ok(entry);
      assert.equal(entry.user, 'alice');
      assert.equal(entry.command, 'Settings');
      assert.equal(entry.httpStatus, 200);
      assert.match(entry.request ?? '', /<DevicePassword>\s*<Set>\s*<Password>\[redacted\]<\/Password>/);
      assert.match(
        entry.response ?? '',
        /<Settings xmlns="Settings:">\s*<Status>1<\/Status>\s*<DevicePassword>/,
      );
      const stored = JSON.stringify(entry);
      for (const secret of [
        'recovery-pin',
        ALICE.password,
        Buffer.from(`alice:${ALICE.password}`).toString('base64'),
      ]) {
        assert.ok(!stored.includes(secret), secret);
      }
      assert.ok(!/authorization|basic /i.test(stored));
    });

    test('redacts bodies and attachments unless full logging is on for the device', async () => {
      const client = clientOf(ALICE, 'log-bodies');
      await client.send('Sync', syncWithBody());
      const [redacted] = await logOf({ deviceId: 'log-bodies' }, 1);
      assert.equal(redacted?.command, 'Sync');
      for (const xml of [redacted?.request ?? '', redacted?.response ?? '']) {
        assert.ok(!xml.includes(BODY));
        assert.ok(xml.includes(`<airsyncbase:Data>[redacted ${BODY.length} bytes]</airsyncbase:Data>`));
        assert.ok(xml.includes(`<email:MIMEData>[redacted ${BODY.length} bytes]</email:MIMEData>`));
        assert.ok(xml.includes('<email:Subject>Lunch</email:Subject>'));
      }

      assert.equal(await setFullLogging(db, 'log-bodies', true), true);
      await client.send('Sync', syncWithBody());
      await client.send('Settings', recoveryPassword);
      const [settings, full] = await logOf({ deviceId: 'log-bodies' }, 3);
      assert.ok(full?.request?.includes(`<airsyncbase:Data>${BODY}</airsyncbase:Data>`));
      assert.ok(full?.response?.includes(Buffer.from(BODY).toString('base64')));
      assert.ok(settings?.request?.includes('<Password>[redacted]</Password>'));
      assert.ok(!settings?.request?.includes('recovery-pin'));
      assert.equal(await setFullLogging(db, 'no-such-device', true), false);
    });

    test('shows a message sent as MIME as its size', async () => {
      const mime = `From: alice@example.org\r\nSubject: Hi\r\n\r\n${BODY}\r\n`;
      const query = 'Cmd=SendMail&User=alice&DeviceId=log-mime&DeviceType=TestPhone&SaveInSent=T';
      const response = await fetch(`${server.url}/Microsoft-Server-ActiveSync?${query}`, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${Buffer.from(`${ALICE.user}:${ALICE.password}`).toString('base64')}`,
          'MS-ASProtocolVersion': '12.1',
          'Content-Type': 'message/rfc822',
        },
        body: mime,
      });
      assert.equal(response.status, 200);
      const [entry] = await logOf({ deviceId: 'log-mime' }, 1);
      assert.equal(entry?.request, `[message/rfc822, redacted ${Buffer.byteLength(mime)} bytes]`);
      assert.equal(entry?.response, null);
    });

    test('keeps bare HTTP answers with their status and no body', async () => {
      const client = clientOf(ALICE, 'log-http');
      assert.equal((await client.send('Ping')).status, 449);
      assert.equal(
        (await client.send('ResolveRecipients', el('ResolveRecipients', 'ResolveRecipients'))).status,
        501,
      );
      const [notImplemented, provision] = await logOf({ deviceId: 'log-http' }, 2);
      assert.deepEqual(
        [provision?.command, provision?.httpStatus, provision?.request, provision?.response],
        ['Ping', 449, null, null],
      );
      assert.deepEqual(
        [notImplemented?.command, notImplemented?.httpStatus, notImplemented?.response],
        ['ResolveRecipients', 501, null],
      );
    });

    test('keeps the newest entries of each account, and reads per account or per device', async () => {
      const alice = clientOf(ALICE, 'log-bounded');
      const bob = clientOf(BOB, 'log-bounded');
      await bob.send('Settings', recoveryPassword);
      for (let i = 0; i < MAX_ENTRIES + 2; i++) await alice.send('Ping');
      await alice.send('Sync', syncWithBody());
      const newest = await eventually(
        () => readDeviceLog(db, { deviceId: 'log-bounded' }),
        (entries) => entries[0]?.command === 'Sync',
      ).then((entries) => readDeviceLog(db, { accountId: entries[0]?.accountId as number }));
      assert.equal(newest.length, MAX_ENTRIES);
      assert.deepEqual(
        newest.map((entry) => entry.command),
        ['Sync', 'Ping', 'Ping', 'Ping'],
      );
      assert.deepEqual(
        newest.map((entry) => entry.id),
        [...newest.map((entry) => entry.id)].sort((a, b) => b - a),
      );
      const all = await readDeviceLog(db, { deviceId: 'log-bounded' });
      assert.deepEqual(
        all.filter((entry) => entry.user === 'bob').map((entry) => entry.command),
        ['Settings'],
      );
      assert.equal((await readDeviceLog(db, { deviceId: 'log-bounded' }, { limit: 2 })).length, 2);
    });

    test('a log that cannot be written is reported and leaves the answer alone', async () => {
      const client = clientOf(ALICE, 'log-broken');
      await db.schema.alterTable('device_log').renameTo('device_log_away').execute();
      try {
        const linesBefore = logLines.length;
        assert.equal((await client.send('Ping')).status, 449);
        const failure = await eventually(
          async () =>
            logLines.slice(linesBefore).find((line) => line.msg === 'protocol log entry not written'),
          (line) => line !== undefined,
        );
        assert.equal(failure?.deviceId, 'log-broken');
      } finally {
        await db.schema.alterTable('device_log_away').renameTo('device_log').execute();
      }
    });
  },
  { listen: { port: 0 }, logLevel: 'info', deviceLogEntries: MAX_ENTRIES },
);
