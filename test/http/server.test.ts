import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '../../src/http/server.ts';
import { SQLITE_FILE_NAME } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { openDatabase } from '../../src/state/db.ts';
import { selfSignedCertificate } from '../helpers/self-signed.ts';
import { createTestDatabase } from '../helpers/databases.ts';
import { ALICE, basic } from './harness.ts';

test('listens on a real socket; port 0 gives a free port in the URL', async () => {
  const testDatabase = await createTestDatabase('sqlite', {
    listen: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
  });
  const seed = await openDatabase(testDatabase.config);
  await new UserStore(seed.db).add(ALICE.name, ALICE.password);
  await seed.close();
  const server = await startServer(testDatabase.config);
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(server.url).port, '0');
    assert.ok(
      existsSync(join(testDatabase.config.dataDir, SQLITE_FILE_NAME)),
      'the server opened its own database',
    );

    const options = await fetch(`${server.url}/Microsoft-Server-ActiveSync`, { method: 'OPTIONS' });
    assert.equal(options.status, 200);
    assert.match(options.headers.get('ms-asprotocolversions') ?? '', /14\.1/);

    const denied = await fetch(`${server.url}/Microsoft-Server-ActiveSync?Cmd=Sync&DeviceId=d`, {
      method: 'POST',
      headers: { authorization: basic(ALICE.name, 'wrong'), 'ms-asprotocolversion': '14.1' },
    });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('www-authenticate'), 'Basic realm="airsync"');

    const unimplemented = await fetch(
      `${server.url}/Microsoft-Server-ActiveSync?Cmd=Search&User=alice&DeviceId=d`,
      {
        method: 'POST',
        headers: { authorization: basic(ALICE.name, ALICE.password), 'ms-asprotocolversion': '14.1' },
      },
    );
    assert.equal(unimplemented.status, 501);
  } finally {
    await server.close();
    await testDatabase.drop();
  }
});

test('serves TLS from certificate files', async () => {
  const testDatabase = await createTestDatabase('sqlite', {
    listen: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
  });
  const certificate = selfSignedCertificate(testDatabase.config.dataDir);
  const config = { ...testDatabase.config, tls: { cert: certificate.certFile, key: certificate.keyFile } };
  const server = await startServer(config);
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      https
        .request(
          `${server.url}/Microsoft-Server-ActiveSync`,
          { method: 'OPTIONS', ca: certificate.cert },
          (response) => {
            response.resume();
            resolve(response.statusCode);
          },
        )
        .on('error', reject)
        .end();
    });
    assert.equal(status, 200);
  } finally {
    await server.close();
    await testDatabase.drop();
  }
});

test('a missing certificate file fails the start', async () => {
  const testDatabase = await createTestDatabase('sqlite', {
    listen: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
  });
  const missing = join(testDatabase.config.dataDir, 'missing.pem');
  await assert.rejects(
    startServer({ ...testDatabase.config, tls: { cert: missing, key: missing } }),
    /ENOENT/,
  );
  await testDatabase.drop();
});
