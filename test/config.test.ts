import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig, parseListenAddress } from '../src/config.ts';

describe('loadConfig', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airsync-config-'));
    file = join(dir, 'airsync.json');
    await writeFile(
      file,
      JSON.stringify({
        listen: { port: 9000 },
        dataDir: '/srv/airsync',
        logLevel: 'debug',
        auth: { cacheTtlSeconds: 5 },
      }),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('has sane defaults', () => {
    const config = loadConfig();
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8080 });
    assert.equal(config.dataDir, './data');
    assert.equal(config.database, undefined);
    assert.equal(config.publicUrl, undefined);
    assert.equal(config.tls, undefined);
    assert.deepEqual(config.protocolVersions, ['2.5', '12.0', '12.1', '14.0', '14.1', '16.0', '16.1']);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.auth.cacheTtlSeconds, 60);
    assert.equal(config.limits.maxBodyBytes, 50 * 1024 * 1024);
  });

  test('file, then environment, then overrides', () => {
    const config = loadConfig({
      file,
      env: {
        AIRSYNC_LISTEN: '0.0.0.0:9443',
        AIRSYNC_LOG_LEVEL: 'warn',
        AIRSYNC_DATABASE: 'postgres://airsync@db/airsync',
        AIRSYNC_PUBLIC_URL: 'https://mail.example.com/',
        AIRSYNC_PROTOCOL_VERSIONS: '14.1, 16.1',
        AIRSYNC_TLS_CERT: 'cert.pem',
        AIRSYNC_TLS_KEY: 'key.pem',
        AIRSYNC_TRUST_PROXY: '10.0.0.1,10.0.0.2',
        AIRSYNC_UNRELATED: 'ignored',
        AIRSYNC_DATA: '',
      },
      overrides: { listen: { port: 8443, host: undefined }, logLevel: 'error' },
    });
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8443 });
    assert.equal(config.dataDir, '/srv/airsync', 'an empty variable leaves the file’s value');
    assert.equal(config.logLevel, 'error');
    assert.equal(config.database, 'postgres://airsync@db/airsync');
    assert.equal(config.publicUrl, 'https://mail.example.com');
    assert.deepEqual(config.protocolVersions, ['14.1', '16.1']);
    assert.deepEqual(config.tls, { cert: 'cert.pem', key: 'key.pem' });
    assert.deepEqual(config.trustProxy, ['10.0.0.1', '10.0.0.2']);
    assert.equal(config.auth.cacheTtlSeconds, 5);
    assert.equal(config.auth.maxFailuresPerUser, 10, 'nested defaults survive a partial object');
  });

  test('errors name the field and where its value came from', () => {
    const cases: [Parameters<typeof loadConfig>[0], RegExp][] = [
      [{ env: { AIRSYNC_LISTEN: '127.0.0.1:70000' } }, /listen\.port: .*65535.* \(from AIRSYNC_LISTEN\)/],
      [{ env: { AIRSYNC_LISTEN: 'localhost' } }, /AIRSYNC_LISTEN: expected HOST:PORT, got "localhost"/],
      [
        { env: { AIRSYNC_PROTOCOL_VERSIONS: '14.1,15.0' } },
        /protocolVersions\.1: .* \(from AIRSYNC_PROTOCOL_VERSIONS\)/,
      ],
      [{ env: { AIRSYNC_TLS_CERT: 'cert.pem' } }, /tls\.key: TLS needs both .* \(from AIRSYNC_TLS_CERT\)/],
      [
        { env: { AIRSYNC_DATABASE: 'mysql://db' } },
        /database: expected a postgres:\/\/ URL .* \(from AIRSYNC_DATABASE\)/,
      ],
      [
        { env: { AIRSYNC_PUBLIC_URL: 'mail.example.com' } },
        /publicUrl: expected an http:\/\/ or https:\/\/ URL/,
      ],
      [{ env: { AIRSYNC_LOG_LEVEL: 'loud' } }, /logLevel: .* \(from AIRSYNC_LOG_LEVEL\)/],
      [{ overrides: { listen: { port: 1.5 } } }, /listen\.port: .* \(from command line\)/],
      [{ overrides: { protocolVersions: [] } }, /protocolVersions: .* \(from command line\)/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => loadConfig(options),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  test('errors in the file name the file; unknown keys are errors', async () => {
    const typo = join(dir, 'typo.json');
    await writeFile(typo, JSON.stringify({ lsten: { port: 1 }, auth: { cacheTTL: 1 } }));
    assert.throws(
      () => loadConfig({ file: typo }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          new RegExp(`lsten: Unrecognized key: "lsten" \\(from ${typo.replace(/[.\\]/g, '\\$&')}\\)`),
        );
        assert.match(error.message, /auth\.cacheTTL: /);
        return true;
      },
    );
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{ "listen": ');
    assert.throws(() => loadConfig({ file: broken }), /config file .*broken\.json is not valid JSON/);
    assert.throws(
      () => loadConfig({ file: join(dir, 'absent.json') }),
      /cannot read config file .*absent\.json/,
    );
    const array = join(dir, 'array.json');
    await writeFile(array, '[]');
    assert.throws(() => loadConfig({ file: array }), /must hold a JSON object/);
  });
});

test('parseListenAddress', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListenAddress('mail.example.com:443'), { host: 'mail.example.com', port: 443 });
  for (const text of ['8080', '::1:8080', 'host:', ':80', 'host:port'])
    assert.equal(parseListenAddress(text), undefined, text);
});
