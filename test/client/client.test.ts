import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EasClient, EasConnectionError } from '../../src/client/index.ts';
import type { EasClientOptions } from '../../src/client/index.ts';
import { PROTOCOL_VERSIONS, parseEasRequest } from '../../src/http/query.ts';
import { decode, el, encode } from '../../src/wbxml/index.ts';
import { selfSignedCertificate } from '../helpers/self-signed.ts';

interface Captured {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** A server that records each request and answers with `reply`. */
function captureServer(server: http.Server | https.Server) {
  const requests: Captured[] = [];
  let reply: Reply = {};
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks),
      });
      response.writeHead(reply.status ?? 200, reply.headers ?? {});
      response.end(reply.body);
    });
  });
  return {
    requests,
    answerWith(next: Reply) {
      reply = next;
    },
    async listen(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const scheme = server instanceof https.Server ? 'https' : 'http';
      return `${scheme}://127.0.0.1:${port}/Microsoft-Server-ActiveSync`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const phone: Omit<EasClientOptions, 'url'> = {
  user: 'alice',
  password: 'secret',
  deviceId: 'ApplF17XK0AAHG7F',
  deviceType: 'iPhone',
  protocolVersion: '14.1',
  userAgent: 'Apple-iPhone9C1/1602.92',
};

describe('EasClient', () => {
  const capture = captureServer(http.createServer());
  let url: string;
  before(async () => {
    url = await capture.listen();
  });
  after(() => capture.close());

  const lastRequest = (): Captured => {
    const request = capture.requests.at(-1);
    assert.ok(request, 'the server saw no request');
    return request;
  };

  it('sends the plain query with version, policy key, Basic auth and user agent', async () => {
    capture.answerWith({ status: 501 });
    const client = new EasClient({ ...phone, url, policyKey: '3942919513' });
    const response = await client.send('FolderSync', undefined, { params: { collectionId: '5' } });

    assert.equal(response.status, 501);
    assert.equal(response.body, undefined);
    const request = lastRequest();
    assert.equal(request.method, 'POST');
    assert.equal(
      request.url,
      '/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=ApplF17XK0AAHG7F&DeviceType=iPhone&CollectionId=5',
    );
    assert.equal(request.headers.authorization, `Basic ${Buffer.from('alice:secret').toString('base64')}`);
    assert.equal(request.headers['user-agent'], 'Apple-iPhone9C1/1602.92');
    assert.equal(request.headers['ms-asprotocolversion'], '14.1');
    assert.equal(request.headers['x-ms-policykey'], '3942919513');
    assert.equal(request.headers['content-type'], undefined);
  });

  it('gives the server the same request in the base64 and the plain form, at every version', async () => {
    const options = {
      params: { collectionId: '7', itemId: '7:12', longId: 'RgAAAA', occurrence: '20240101T000000Z' },
      saveInSent: true,
      acceptMultiPart: true,
    };
    for (const protocolVersion of PROTOCOL_VERSIONS) {
      const parsed = [];
      for (const queryForm of ['plain', 'base64'] as const) {
        const client = new EasClient({ ...phone, url, protocolVersion, queryForm, policyKey: '1234567' });
        await client.send('SmartReply', undefined, options);
        const { url: path, headers } = lastRequest();
        const query = path.slice(path.indexOf('?') + 1);
        const {
          queryForm: form,
          locale,
          ...request
        } = parseEasRequest({ query, headers, clientAddress: '' });
        assert.equal(form, queryForm);
        assert.equal(locale, queryForm === 'base64' ? 0x0409 : undefined);
        if (queryForm === 'base64') {
          assert.equal(headers['ms-asprotocolversion'], undefined, 'the base64 query carries the version');
          assert.equal(headers['x-ms-policykey'], undefined, 'the base64 query carries the policy key');
        }
        parsed.push(request);
      }
      assert.deepEqual(parsed[1], parsed[0], `EAS ${protocolVersion}`);
      assert.equal(parsed[0]?.policyKey, 1234567);
      assert.deepEqual(parsed[0]?.params, options.params);
    }
  });

  it('refuses a version the base64 query cannot carry', async () => {
    const client = new EasClient({ ...phone, url, protocolVersion: '9.9', queryForm: 'base64' });
    await assert.rejects(client.send('Sync'), /cannot carry protocol version 9\.9/);
  });

  it('encodes the request tree and decodes a WBXML answer', async () => {
    const answer = el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'Status', '1')]);
    capture.answerWith({
      headers: { 'Content-Type': 'application/vnd.ms-sync.wbxml' },
      body: encode(answer),
    });
    const client = new EasClient({ ...phone, url });
    const tree = el('FolderHierarchy', 'FolderSync', [el('FolderHierarchy', 'SyncKey', '0')]);
    const response = await client.send('FolderSync', tree);

    assert.equal(response.status, 200);
    assert.deepEqual(response.body, answer);
    assert.deepEqual(response.raw, encode(answer));
    const request = lastRequest();
    assert.equal(request.headers['content-type'], 'application/vnd.ms-sync.wbxml');
    assert.deepEqual(decode(request.body), tree);
  });

  it('reads the offered versions and commands from OPTIONS, whatever the status', async () => {
    capture.answerWith({
      status: 401,
      headers: { 'MS-ASProtocolVersions': '2.5,12.0, 14.1', 'MS-ASProtocolCommands': 'Sync,FolderSync' },
    });
    const offered = await new EasClient({ ...phone, url }).options();
    assert.equal(offered.status, 401);
    assert.deepEqual(offered.versions, ['2.5', '12.0', '14.1']);
    assert.deepEqual(offered.commands, ['Sync', 'FolderSync']);
    assert.equal(lastRequest().method, 'OPTIONS');
  });

  it('asks Autodiscover for an address and reads the server URL from the answer', async () => {
    capture.answerWith({
      headers: { 'Content-Type': 'text/xml' },
      body: `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006">
    <Culture>en:us</Culture>
    <User><DisplayName>alice</DisplayName><EMailAddress>alice@example.org</EMailAddress></User>
    <Action><Settings><Server>
      <Type>MobileSync</Type>
      <Url>https://mail.example.org/Microsoft-Server-ActiveSync?a=1&amp;b=2</Url>
      <Name>https://mail.example.org/Microsoft-Server-ActiveSync</Name>
    </Server></Settings></Action>
  </Response>
</Autodiscover>`,
    });
    const result = await new EasClient({ ...phone, url }).autodiscover('alice@example.org');
    assert.equal(result.status, 200);
    assert.equal(result.serverUrl, 'https://mail.example.org/Microsoft-Server-ActiveSync?a=1&b=2');
    assert.equal(result.error, undefined);
    const request = lastRequest();
    assert.equal(request.url, '/autodiscover/autodiscover.xml');
    assert.match(request.body.toString(), /<EMailAddress>alice@example\.org<\/EMailAddress>/);
    assert.match(request.body.toString(), /mobilesync\/responseschema\/2006<\/AcceptableResponseSchema>/);
  });

  it('reads an Autodiscover error', async () => {
    capture.answerWith({
      body: `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response><Error Time="10:00:00" Id="1"><ErrorCode>600</ErrorCode><Message>Invalid Request</Message></Error></Response>
</Autodiscover>`,
    });
    const result = await new EasClient({ ...phone, url }).autodiscover('alice@example.org');
    assert.equal(result.serverUrl, undefined);
    assert.equal(result.error, 'Invalid Request');
  });
});

describe('EasClient connection failures', () => {
  it('says the connection was refused', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));

    const client = new EasClient({ ...phone, url: `http://127.0.0.1:${port}/Microsoft-Server-ActiveSync` });
    await assert.rejects(client.options(), (error) => {
      assert.ok(error instanceof EasConnectionError);
      assert.equal(error.reason, 'refused');
      assert.equal(error.code, 'ECONNREFUSED');
      return true;
    });
  });

  it('gives up on a server that does not answer', async () => {
    const silent = http.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const client = new EasClient({ ...phone, url: `http://127.0.0.1:${port}/`, timeoutMs: 200 });
      await assert.rejects(client.send('Ping'), (error) => {
        assert.ok(error instanceof EasConnectionError);
        assert.equal(error.reason, 'timeout');
        return true;
      });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  describe('over TLS with a self-signed certificate', () => {
    let dir: string;
    let capture: ReturnType<typeof captureServer>;
    let url: string;
    let cert: Buffer;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'airsync-client-tls-'));
      const certificate = selfSignedCertificate(dir);
      cert = certificate.cert;
      capture = captureServer(https.createServer({ cert: certificate.cert, key: certificate.key }));
      url = await capture.listen();
    });
    after(async () => {
      await capture.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('rejects the certificate as a TLS failure', async () => {
      await assert.rejects(new EasClient({ ...phone, url }).options(), (error) => {
        assert.ok(error instanceof EasConnectionError);
        assert.equal(error.reason, 'tls');
        assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
        return true;
      });
    });

    it('talks to the server once told to trust the certificate', async () => {
      capture.answerWith({ headers: { 'MS-ASProtocolVersions': '16.1' } });
      const offered = await new EasClient({ ...phone, url, ca: cert }).options();
      assert.equal(offered.status, 200);
      assert.deepEqual(offered.versions, ['16.1']);
    });
  });
});
