import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { SECRET_KEY_FILE_NAME, SecretBox, SecretError, secretBoxFor } from '../../src/device/secrets.ts';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  test('opens what it sealed, for the same context only', () => {
    const sealed = box.seal('recovery 1234 é', 'account:1');
    assert.equal(box.open(sealed, 'account:1'), 'recovery 1234 é');
    assert.notEqual(box.seal('recovery 1234 é', 'account:1'), sealed, 'a fresh IV each time');
    assert.ok(!sealed.includes('recovery'));
    assert.throws(() => box.open(sealed, 'account:2'), SecretError);
  });

  test('refuses altered values and values sealed under another key', () => {
    const sealed = box.seal('secret', 'context');
    const bytes = Buffer.from(sealed.slice(3), 'base64');
    bytes[bytes.length - 1] = (bytes.at(-1) as number) ^ 1;
    assert.throws(() => box.open(`v1:${bytes.toString('base64')}`, 'context'), SecretError);
    assert.throws(() => box.open('v1:AAAA', 'context'), SecretError);
    assert.throws(() => box.open('plain text', 'context'), SecretError);
    assert.throws(() => new SecretBox(randomBytes(32)).open(sealed, 'context'), SecretError);
  });
});

describe('secretBoxFor', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'airsync-secrets-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  test('makes one key file, readable by its owner only, that every process on the data dir shares', async () => {
    const configOf = () => loadConfig({ overrides: { dataDir: join(dataDir, 'shared') } });
    const [first, second, third] = [configOf(), configOf(), configOf()];
    // Three processes' first uses at once: one key wins, and all of them use it.
    const boxes = await Promise.all([first, second, third].map((config) => secretBoxFor(config)));
    const sealed = (boxes[0] as SecretBox).seal('shared', 'context');
    for (const box of boxes) assert.equal(box.open(sealed, 'context'), 'shared');
    assert.equal(await secretBoxFor(first), boxes[0], 'loaded once per configuration');
    const file = join(dataDir, 'shared', SECRET_KEY_FILE_NAME);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(dataDir, 'shared')), [SECRET_KEY_FILE_NAME]);
  });

  test('derives the key from secretKey when one is configured, and writes no file', async () => {
    const secretKey = 'a configured secret of at least 32 characters';
    const one = loadConfig({ overrides: { dataDir: join(dataDir, 'one'), secretKey } });
    const other = loadConfig({ overrides: { dataDir: join(dataDir, 'other'), secretKey } });
    const sealed = (await secretBoxFor(one)).seal('shared', 'context');
    assert.equal((await secretBoxFor(other)).open(sealed, 'context'), 'shared');
    const differentKey = loadConfig({ overrides: { dataDir, secretKey: `${secretKey}!` } });
    await assert.rejects(async () => (await secretBoxFor(differentKey)).open(sealed, 'context'), SecretError);
    assert.deepEqual((await readdir(dataDir)).sort(), ['shared']);
  });
});
