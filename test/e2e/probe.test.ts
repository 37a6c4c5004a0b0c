import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WBXML_MEDIA_TYPE } from '../../src/http/activesync.ts';
import { el, encode } from '../../src/wbxml/index.ts';
import { airsync, serveWithAlice } from './cli.ts';
import type { RunningServer, TemporaryDirectory } from './cli.ts';

/** A port nothing listens on: one the kernel just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('airsync probe', () => {
  let data: TemporaryDirectory;
  let server: RunningServer;
  before(async () => {
    ({ data, server } = await serveWithAlice());
  });
  after(async () => {
    await server?.stop();
    await data?.remove();
  });

  it('reports the versions, accepted credentials, the folders and their item counts', async () => {
    // Two devices: a device held to the policy once it applied it would turn the other probe away.
    const [fromEnvironment, fromStdin] = await Promise.all([
      airsync(['probe', server.url, '--user', 'alice'], { env: { AIRSYNC_PASSWORD: 'secret' } }),
      airsync(['probe', server.url, '--user', 'alice', '--version', '14.1', '--device-id', 'probe2'], {
        stdin: 'secret\n',
      }),
    ]);
    for (const result of [fromEnvironment, fromStdin]) {
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal(result.stderr, '');
      assert.match(result.stdout, /^endpoint: +http:\/\/127\.0\.0\.1:\d+\/Microsoft-Server-ActiveSync$/m);
      assert.match(result.stdout, /^reachable: +yes: OPTIONS answered HTTP 200 /m);
      assert.match(result.stdout, /^versions: +2\.5, 12\.0, 12\.1, 14\.0, 14\.1, 16\.0, 16\.1$/m);
      assert.match(result.stdout, /^credentials: +accepted for alice$/m);
      assert.match(result.stdout, /^provision: +policy acknowledged as applied; final policy key \d+$/m);
    }
    assert.match(
      fromEnvironment.stdout,
      /^request: +FolderSync \(SyncKey 0, EAS 16\.1\) got HTTP 200: status 1, success: 4 folders$/m,
    );
    assert.match(fromStdin.stdout, /FolderSync \(SyncKey 0, EAS 14\.1\) got HTTP 200: status 1/);
    for (const name of ['Contacts', 'Calendar', 'Tasks', 'Notes']) {
      assert.match(
        fromEnvironment.stdout,
        new RegExp(`^folder: +${name} \\(${name}, ServerId \\d+\\): 0 items in 2 Sync requests$`, 'm'),
      );
    }
  });

  it('says so when the server rejects the password, and when nothing listens', async () => {
    const port = await closedPort();
    const [wrongPassword, refused] = await Promise.all([
      airsync(['probe', server.url, '--user', 'alice'], { env: { AIRSYNC_PASSWORD: 'wrong' } }),
      airsync(['probe', `http://127.0.0.1:${port}`, '--user', 'alice'], {
        env: { AIRSYNC_PASSWORD: 'secret' },
      }),
    ]);
    assert.equal(wrongPassword.code, 1);
    assert.match(wrongPassword.stdout, /^reachable: +yes/m);
    assert.match(
      wrongPassword.stdout,
      /^credentials: +rejected: the server rejected the user name or password/m,
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stdout,
      /^reachable: +no: connection refused by 127\.0\.0\.1:\d+: is the server running/m,
    );
  });

  it('needs a user and a password', async () => {
    const [noUser, noPassword] = await Promise.all([
      airsync(['probe', server.url], { env: { AIRSYNC_PASSWORD: 'secret' } }),
      airsync(['probe', server.url, '--user', 'alice']),
    ]);
    assert.equal(noUser.code, 2);
    assert.match(noUser.stderr, /^airsync: --user is required\n\nUsage: airsync probe/);
    assert.equal(noPassword.code, 1);
    assert.equal(
      noPassword.stderr,
      'airsync: no password: set AIRSYNC_PASSWORD or give it on standard input\n',
    );
  });
});

interface FakeAnswer {
  /** OPTIONS status, 200 when unset. */
  options?: number;
  post: number;
  headers?: Record<string, string>;
  body?: Buffer;
}

describe('airsync probe, told other answers', () => {
  const folderSync = el('FolderHierarchy', 'FolderSync', [
    el('FolderHierarchy', 'Status', '1'),
    el('FolderHierarchy', 'Changes', [
      el('FolderHierarchy', 'Add', [el('FolderHierarchy', 'ServerId', '1')]),
      el('FolderHierarchy', 'Add', [el('FolderHierarchy', 'ServerId', '2')]),
    ]),
  ]);
  // What the fake server answers, by the first segment of the path the probe is pointed at.
  const answers: Record<string, FakeAnswer> = {
    throttled: { options: 503, post: 503, headers: { 'Retry-After': '120' } },
    forbidden: { post: 403 },
    provision: { post: 449 },
    synced: { post: 200, headers: { 'Content-Type': WBXML_MEDIA_TYPE }, body: encode(folderSync) },
  };
  const fake = http.createServer((request, response) => {
    const answer = answers[request.url?.split('/')[1] ?? ''];
    if (answer === undefined) return response.writeHead(404).end();
    request.resume();
    const status = request.method === 'OPTIONS' ? (answer.options ?? 200) : answer.post;
    response.writeHead(status, { 'MS-ASProtocolVersions': '14.0,14.1', ...answer.headers });
    response.end(request.method === 'POST' ? answer.body : undefined);
  });
  let base: string;
  before(async () => {
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => fake.close(() => resolve())));

  it('says what each answer means', async () => {
    const probe = (name: string) =>
      airsync(['probe', `${base}/${name}/Microsoft-Server-ActiveSync`, '--user', 'alice'], {
        env: { AIRSYNC_PASSWORD: 'secret' },
      });
    const [throttled, forbidden, provision, synced] = await Promise.all(Object.keys(answers).map(probe));
    assert.equal(throttled?.code, 1);
    assert.match(
      throttled?.stdout ?? '',
      /^credentials: +not checked: the server is throttling.*retry in 120 s$/m,
    );
    assert.equal(forbidden?.code, 1);
    assert.match(forbidden?.stdout ?? '', /^credentials: +refused: the server does not let this user/m);
    assert.equal(provision?.code, 0);
    assert.match(provision?.stdout ?? '', /got HTTP 449: the server requires this device to provision first/);
    assert.match(provision?.stdout ?? '', /^provision: +download refused: HTTP 449$/m);
    assert.equal(synced?.code, 0);
    assert.match(
      synced?.stdout ?? '',
      /^request: +FolderSync \(SyncKey 0, EAS 14\.1\) got HTTP 200: status 1, success: 2 folders$/m,
    );
    assert.match(
      synced?.stdout ?? '',
      /^provision: +download refused: the answer is not a Provision response$/m,
    );
  });
});
