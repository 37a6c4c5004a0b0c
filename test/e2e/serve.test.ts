// The foundation's "done when": users added with the CLI, `airsync serve` in its own process, and a
// client talking to it as a phone would.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EasClient } from '../../src/client/index.ts';
import type { EasClientOptions } from '../../src/client/index.ts';
import { el } from '../../src/wbxml/index.ts';
import { selfSignedCertificate } from '../helpers/self-signed.ts';
import type { CertificateFiles } from '../helpers/self-signed.ts';
import { airsync, serveWithAlice, temporaryDirectory } from './cli.ts';
import type { RunningServer, TemporaryDirectory } from './cli.ts';

const phone: Omit<EasClientOptions, 'url'> = {
  user: 'alice',
  password: 'secret',
  deviceId: 'E2EPHONE0001',
  deviceType: 'iPhone',
  protocolVersion: '14.1',
};

const ALL_VERSIONS = '2.5,12.0,12.1,14.0,14.1,16.0,16.1';

/** The server's JSON log lines for POSTs from this device. */
function requestLogLines(server: RunningServer, deviceId: string): Record<string, unknown>[] {
  return server
    .output()
    .stdout.split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.method === 'POST' && line.deviceId === deviceId);
}

describe('airsync serve', () => {
  let data: TemporaryDirectory;
  let server: RunningServer;
  let endpoint: string;

  before(async () => {
    ({ data, server } = await serveWithAlice());
    endpoint = `${server.url}/Microsoft-Server-ActiveSync`;
  });
  after(async () => {
    await server?.stop();
    await data?.remove();
  });

  it('prints the address it listens on, with the real port', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.doesNotMatch(server.url, /:0$/);
  });

  it('answers OPTIONS with the versions and commands it offers', async () => {
    const offered = await new EasClient({ ...phone, url: endpoint }).options();
    assert.equal(offered.status, 200);
    assert.equal(offered.headers['ms-asprotocolversions'], ALL_VERSIONS);
    assert.equal(offered.headers['ms-server-activesync'], '16.1');
    assert.ok('ms-asprotocolcommands' in offered.headers);
    assert.match(offered.headers.allow ?? '', /OPTIONS/);
    assert.match(offered.headers.public ?? '', /POST/);
  });

  it('answers a wrong password with 401 and the same headers', async () => {
    const client = new EasClient({ ...phone, url: endpoint, password: 'wrong' });
    const response = await client.send('FolderSync');
    assert.equal(response.status, 401);
    assert.match(response.headers['www-authenticate'] ?? '', /^Basic /);
    assert.equal(response.headers['ms-asprotocolversions'], ALL_VERSIONS);
    assert.ok('ms-asprotocolcommands' in response.headers);
  });

  it('answers Autodiscover with its own URL', async () => {
    const result = await new EasClient({ ...phone, url: endpoint }).autodiscover('alice@example.org');
    assert.equal(result.status, 200);
    assert.equal(result.error, undefined);
    assert.equal(result.serverUrl?.toLowerCase(), endpoint.toLowerCase());
  });

  it('logs the parsed request of a POST in either query form, and answers 501', async () => {
    const tree = el('ResolveRecipients', 'ResolveRecipients', [el('ResolveRecipients', 'To', 'bob')]);
    for (const queryForm of ['plain', 'base64'] as const) {
      const deviceId = `E2E${queryForm.toUpperCase()}`;
      const client = new EasClient({ ...phone, url: endpoint, deviceId, queryForm, policyKey: '1234' });
      const response = await client.send('ResolveRecipients', tree);
      assert.equal(response.status, 501, queryForm);

      await server.waitForOutput(new RegExp(`"deviceId":"${deviceId}"`));
      const [line, ...more] = requestLogLines(server, deviceId);
      assert.equal(more.length, 0);
      assert.deepEqual(
        {
          user: line?.user,
          deviceId: line?.deviceId,
          deviceType: line?.deviceType,
          cmd: line?.cmd,
          version: line?.version,
          status: line?.status,
        },
        {
          user: 'alice',
          deviceId,
          deviceType: 'iPhone',
          cmd: 'ResolveRecipients',
          version: '14.1',
          status: 501,
        },
        queryForm,
      );
    }
  });

  it('stops gracefully on SIGTERM', async () => {
    assert.equal(await server.stop(), 0);
    assert.match(server.output().stdout, /SIGTERM received, closing/);
  });
});

describe('airsync serve with --tls-cert and --tls-key', () => {
  let data: TemporaryDirectory;
  let server: RunningServer;
  let certificate: CertificateFiles;

  before(async () => {
    ({ data, server } = await serveWithAlice((dir) => {
      certificate = selfSignedCertificate(dir);
      return ['--tls-cert', certificate.certFile, '--tls-key', certificate.keyFile];
    }));
  });
  after(async () => {
    await server?.stop();
    await data?.remove();
  });

  it('answers OPTIONS over HTTPS to a client that trusts its certificate', async () => {
    assert.match(server.url, /^https:\/\//);
    const url = `${server.url}/Microsoft-Server-ActiveSync`;
    const offered = await new EasClient({ ...phone, url, ca: certificate.cert }).options();
    assert.equal(offered.status, 200);
    assert.equal(offered.headers['ms-asprotocolversions'], ALL_VERSIONS);
  });

  it('is named self-signed by probe, which trusts it when given with --ca', async () => {
    const env = { AIRSYNC_PASSWORD: 'secret' };
    const [untrusted, trusted] = await Promise.all([
      airsync(['probe', server.url, '--user', 'alice'], { env }),
      airsync(['probe', server.url, '--user', 'alice', '--ca', certificate.certFile], { env }),
    ]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stdout, /^reachable: +no: TLS error: the certificate is self-signed/m);
    assert.equal(trusted.code, 0, trusted.stdout + trusted.stderr);
    assert.match(trusted.stdout, /^endpoint: +https:\/\//m);
    assert.match(trusted.stdout, /^credentials: +accepted for alice$/m);
  });
});

describe('airsync serve refuses a bad command line', () => {
  let data: TemporaryDirectory;
  before(async () => {
    data = await temporaryDirectory();
  });
  after(() => data?.remove());

  it('exits 2 with the usage for an unknown flag, a malformed --listen or a certificate without its key', async () => {
    const cases: [string[], RegExp][] = [
      [['--port', '8080'], /^airsync: unknown option --port\n\nUsage: airsync serve/],
      [
        ['--listen', '8080'],
        /^airsync: --listen wants HOST:PORT, e\.g\. 127\.0\.0\.1:8080, not 8080\n\nUsage:/,
      ],
      [['--tls-cert', 'cert.pem'], /^airsync: --tls-cert and --tls-key go together\n\nUsage:/],
    ];
    const results = await Promise.all(cases.map(([args]) => airsync(['serve', ...args])));
    cases.forEach(([args, stderr], i) => {
      assert.equal(results[i]?.code, 2, args.join(' '));
      assert.match(results[i]?.stderr ?? '', stderr);
    });
  });

  it('exits 1 with one line when the certificate cannot be read', async () => {
    const tls = ['--tls-cert', 'missing.pem', '--tls-key', 'missing.key'];
    const result = await airsync(['serve', '--data', data.dir, '--listen', '127.0.0.1:0', ...tls]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^airsync: [^\n]*missing\.pem[^\n]*\n$/);
  });
});
