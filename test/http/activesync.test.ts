import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { CommandContext, CommandTable } from '../../src/commands/index.ts';
import { encodeBase64Query } from '../../src/http/query.ts';
import { decode, el, type WbxmlElement } from '../../src/wbxml/index.ts';
import { ALICE, basic, send, startHarness, type Harness } from './harness.ts';

const FOLDER_SYNC = readFileSync(
  new URL('../fixtures/ms-as-examples/ms-ascmd/foldersync-request-4.4.1.wbxml', import.meta.url),
);
const WBXML = 'application/vnd.ms-sync.wbxml';
const PATH = '/Microsoft-Server-ActiveSync';
const DISCOVERY = [
  'ms-server-activesync',
  'ms-asprotocolversions',
  'ms-asprotocolcommands',
  'allow',
  'public',
];

/** What the test commands saw, newest last. */
const calls: { context: CommandContext; body: WbxmlElement | undefined }[] = [];
const lastCall = () => calls.at(-1) as (typeof calls)[number];

const COMMANDS: CommandTable = {
  FolderSync: async (context, body) => {
    calls.push({ context, body });
    return {
      kind: 'wbxml',
      tree: el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'Status', '1')]),
      protocolStatus: 1,
    };
  },
  Ping: async (context, body) => {
    calls.push({ context, body });
    return { kind: 'empty' };
  },
  SendMail: async (context, body) => {
    calls.push({ context, body });
    return { kind: 'empty' };
  },
  Provision: async () => ({
    kind: 'http',
    status: 449,
    headers: { 'X-Test': 'yes' },
    reason: 'provision first',
  }),
  Settings: async () => {
    throw new Error('handler bug');
  },
};

function post(query: string, options: { headers?: Record<string, string>; payload?: Buffer | string } = {}) {
  return {
    method: 'POST' as const,
    url: `${PATH}?${query}`,
    headers: {
      authorization: basic(ALICE.name, ALICE.password),
      'ms-asprotocolversion': '14.1',
      'content-type': WBXML,
      ...options.headers,
    },
    payload: options.payload,
  };
}

const folderSync = (extra = '') => `Cmd=FolderSync&User=alice&DeviceId=dev1&DeviceType=SmartPhone${extra}`;

describe('/Microsoft-Server-ActiveSync', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness({
      commands: COMMANDS,
      overrides: { protocolVersions: ['12.1', '14.0', '14.1'], limits: { maxBodyBytes: 4096 } },
    });
  });
  after(() => harness.close());

  test('OPTIONS answers with versions, commands, Allow and Public, without credentials', async () => {
    const { response } = await send(harness, { method: 'OPTIONS', url: PATH });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['ms-asprotocolversions'], '12.1,14.0,14.1');
    assert.equal(response.headers['ms-asprotocolcommands'], 'SendMail,FolderSync,Settings,Ping,Provision');
    assert.equal(response.headers['ms-server-activesync'], '14.1');
    assert.equal(response.headers.allow, 'OPTIONS,POST');
    assert.equal(response.headers.public, 'OPTIONS,POST');
  });

  test('OPTIONS with wrong credentials is refused', async () => {
    const { response } = await send(harness, {
      method: 'OPTIONS',
      url: PATH,
      headers: { authorization: basic('alice', 'wrong') },
    });
    assert.equal(response.statusCode, 401);
  });

  test('401 for missing, malformed or wrong credentials, with the OPTIONS headers', async () => {
    for (const authorization of [
      undefined,
      'Basic !!!',
      'Bearer abc',
      basic('alice', 'wrong'),
      basic('nobody', 'x'),
    ]) {
      const request = post(folderSync(), { payload: FOLDER_SYNC });
      if (authorization === undefined) delete (request.headers as Record<string, string>).authorization;
      else request.headers.authorization = authorization;
      const { response, log } = await send(harness, request);
      assert.equal(response.statusCode, 401, authorization);
      assert.equal(response.headers['www-authenticate'], 'Basic realm="airsync"');
      for (const name of DISCOVERY) assert.ok(response.headers[name] !== undefined, name);
      assert.equal(log.status, 401);
      assert.ok(log.reason);
      assert.equal(log.deviceId, 'dev1', 'the log names the device that failed');
    }
  });

  test('runs a command: decoded body in, WBXML out, one log line with everything', async () => {
    const { response, log } = await send(harness, post(folderSync(), { payload: FOLDER_SYNC }));
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], WBXML);
    assert.equal(response.headers['ms-server-activesync'], '14.1');
    assert.deepEqual(
      decode(response.rawPayload),
      el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'Status', '1')]),
    );
    const { context, body } = lastCall();
    assert.deepEqual(body, el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]));
    assert.equal(context.user.name, 'alice');
    assert.equal(context.request.deviceId, 'dev1');
    assert.equal(context.config, harness.config);
    assert.ok(context.db);
    assert.deepEqual(
      {
        user: log.user,
        deviceId: log.deviceId,
        deviceType: log.deviceType,
        cmd: log.cmd,
        version: log.version,
      },
      { user: 'alice', deviceId: 'dev1', deviceType: 'SmartPhone', cmd: 'FolderSync', version: '14.1' },
    );
    assert.equal(log.status, 200);
    assert.equal(log.protocolStatus, 1);
    assert.equal(typeof log.ms, 'number');
  });

  test('the base64 query reaches the handler as the same request', async () => {
    await send(harness, post(folderSync(), { payload: FOLDER_SYNC }));
    const plain = lastCall().context.request;
    const query = encodeBase64Query({
      protocolVersion: '14.1',
      command: 'FolderSync',
      locale: 0x0409,
      deviceId: 'dev1',
      deviceType: 'SmartPhone',
      user: 'alice',
      params: {},
      saveInSent: false,
      acceptMultiPart: false,
    });
    const request = post(query, { payload: FOLDER_SYNC });
    delete (request.headers as Record<string, string>)['ms-asprotocolversion'];
    const { response } = await send(harness, request);
    assert.equal(response.statusCode, 200);
    const { queryForm, locale, ...fromBase64 } = lastCall().context.request;
    assert.equal(queryForm, 'base64');
    assert.equal(locale, 0x0409);
    const { queryForm: plainForm, ...fromPlain } = plain;
    assert.equal(plainForm, 'plain');
    assert.deepEqual(fromBase64, fromPlain);
  });

  test('the spec example base64 query parses and is answered 501 for an absent command', async () => {
    const query = readFileSync(
      new URL('../fixtures/ms-as-examples/ms-ashttp/query-base64-2.2.1.1.1.1.b64', import.meta.url),
      'utf8',
    ).trim();
    const { response, log } = await send(harness, post(query, { payload: FOLDER_SYNC }));
    assert.equal(response.statusCode, 501);
    assert.equal(log.cmd, 'Sync');
    assert.equal(log.deviceId, 'v140Device');
    assert.equal(log.version, '14.0');
  });

  test('the User parameter may carry a domain, in either form and any case', async () => {
    for (const user of ['alice', 'ALICE', 'EXAMPLE%5Calice', 'alice%40example.com']) {
      const { response } = await send(harness, post(`Cmd=Ping&User=${user}&DeviceId=d&DeviceType=t`));
      assert.equal(response.statusCode, 200, user);
    }
    const { response } = await send(harness, {
      ...post('Cmd=Ping&User=alice&DeviceId=d&DeviceType=t'),
      headers: { authorization: basic('EXAMPLE\\Alice', ALICE.password), 'ms-asprotocolversion': '14.1' },
    });
    assert.equal(response.statusCode, 200);
  });

  test('a User parameter naming someone else is 403', async () => {
    const { response, log } = await send(harness, post('Cmd=Ping&User=bob&DeviceId=d&DeviceType=t'));
    assert.equal(response.statusCode, 403);
    assert.match(log.reason as string, /"bob".*"alice"/);
  });

  test('a version not offered is 400 with a clear log line', async () => {
    const { response, log } = await send(
      harness,
      post(folderSync(), { headers: { 'ms-asprotocolversion': '16.1' } }),
    );
    assert.equal(response.statusCode, 400);
    assert.equal(log.reason, 'protocol version 16.1 is not offered (offered: 12.1,14.0,14.1)');
    const unknown = await send(harness, post(folderSync(), { headers: { 'ms-asprotocolversion': '3.0' } }));
    assert.equal(unknown.response.statusCode, 400);
    assert.match(unknown.log.reason as string, /unknown protocol version "3.0"/);
  });

  test('a missing DeviceId or Cmd is 400', async () => {
    const noDevice = await send(
      harness,
      post('Cmd=FolderSync&User=alice&DeviceType=t', { payload: FOLDER_SYNC }),
    );
    assert.equal(noDevice.response.statusCode, 400);
    assert.equal(noDevice.log.reason, 'query has no DeviceId');
    const noCommand = await send(harness, post('User=alice&DeviceId=d', { payload: FOLDER_SYNC }));
    assert.equal(noCommand.response.statusCode, 400);
  });

  test('a bad base64 query is 400', async () => {
    for (const query of ['jAAJBAp2', 'jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25', 'jAAJBAp2MTQwRGV2aWNl%ZZ']) {
      const { response, log } = await send(harness, post(query, { payload: FOLDER_SYNC }));
      assert.equal(response.statusCode, 400, query);
      assert.ok(log.reason, query);
    }
  });

  test('a command not in the table is 501, before its body is decoded', async () => {
    const { response, log } = await send(
      harness,
      post('Cmd=Sync&User=alice&DeviceId=d&DeviceType=t', { payload: Buffer.from([0x03, 0x01, 0x6a]) }),
    );
    assert.equal(response.statusCode, 501);
    assert.equal(log.reason, 'command Sync is not implemented');
    const unknown = await send(
      harness,
      post('Cmd=Frobnicate&User=alice&DeviceId=d', { payload: FOLDER_SYNC }),
    );
    assert.equal(unknown.response.statusCode, 501);
  });

  test('a truncated WBXML body is 400, with the offset in the log', async () => {
    const { response, log } = await send(
      harness,
      post(folderSync(), { payload: FOLDER_SYNC.subarray(0, 9) }),
    );
    assert.equal(response.statusCode, 400);
    assert.match(log.reason as string, /malformed WBXML body: .* at byte \d+/);
  });

  test('a body over the limit is 413', async () => {
    const { response, log } = await send(harness, post(folderSync(), { payload: Buffer.alloc(5000) }));
    assert.equal(response.statusCode, 413);
    assert.ok(log.reason);
  });

  test('a body of the wrong content type is 415', async () => {
    for (const type of ['text/plain', 'application/json', 'message/rfc822']) {
      const { response, log } = await send(
        harness,
        post(folderSync(), { headers: { 'content-type': type }, payload: FOLDER_SYNC }),
      );
      assert.equal(response.statusCode, 415, type);
      assert.match(log.reason as string, /not accepted for FolderSync/);
    }
    const untyped = post(folderSync(), { payload: FOLDER_SYNC });
    delete (untyped.headers as Record<string, string>)['content-type'];
    assert.equal((await send(harness, untyped)).response.statusCode, 415);
  });

  test('the EAS 2.5 WBXML type and parameters on the type are accepted', async () => {
    for (const type of ['application/vnd.ms-sync', 'Application/Vnd.Ms-Sync.Wbxml; charset=utf-8']) {
      const { response } = await send(
        harness,
        post(folderSync(), { headers: { 'content-type': type }, payload: FOLDER_SYNC }),
      );
      assert.equal(response.statusCode, 200, type);
    }
  });

  test('a message/rfc822 body reaches SendMail as MIME', async () => {
    const mime = 'From: alice@example.com\r\nSubject: hi\r\n\r\nHello\r\n';
    const { response } = await send(
      harness,
      post('Cmd=SendMail&User=alice&DeviceId=d&DeviceType=t&SaveInSent=T', {
        headers: { 'content-type': 'message/rfc822', 'ms-asprotocolversion': '12.1' },
        payload: mime,
      }),
    );
    assert.equal(response.statusCode, 200);
    assert.equal(lastCall().context.mime?.toString(), mime);
    assert.equal(lastCall().context.request.saveInSent, true);
    assert.equal(lastCall().body, undefined);
  });

  test('an empty body reaches the handler as undefined, whatever its type', async () => {
    const { response } = await send(
      harness,
      post('Cmd=Ping&User=alice&DeviceId=d&DeviceType=t', { headers: { 'content-type': 'text/plain' } }),
    );
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-length'], '0');
    assert.equal(lastCall().body, undefined);
  });

  test('a handler can answer with a bare HTTP status', async () => {
    const { response, log } = await send(harness, post('Cmd=Provision&User=alice&DeviceId=d&DeviceType=t'));
    assert.equal(response.statusCode, 449);
    assert.equal(response.headers['x-test'], 'yes');
    assert.equal(log.reason, 'provision first');
  });

  test('a failing handler is 500 with the error logged, and the server keeps serving', async () => {
    const { response, log } = await send(harness, post('Cmd=Settings&User=alice&DeviceId=d&DeviceType=t'));
    assert.equal(response.statusCode, 500);
    assert.equal(response.body, '');
    assert.equal(log.level, 50);
    assert.match(JSON.stringify(log.err), /handler bug/);
    assert.equal(
      (await send(harness, post(folderSync(), { payload: FOLDER_SYNC }))).response.statusCode,
      200,
    );
  });

  test('paths match in any letter case; other paths are 404', async () => {
    const lower = {
      ...post(folderSync(), { payload: FOLDER_SYNC }),
      url: `/microsoft-server-activesync?${folderSync()}`,
    };
    assert.equal((await send(harness, lower)).response.statusCode, 200);
    assert.equal((await send(harness, { method: 'GET', url: '/elsewhere' })).response.statusCode, 404);
  });
});
