import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { Authenticator, accountName, parseBasicAuthorization } from '../../src/http/auth.ts';
import { ALICE, BOB, basic, send, startHarness, type Harness } from './harness.ts';

const OPTIONS_URL = '/Microsoft-Server-ActiveSync';

/** An authenticated OPTIONS: the cheapest request that still checks credentials. */
function login(harness: Harness, name: string, password: string, address = '192.0.2.10') {
  return send(harness, {
    method: 'OPTIONS',
    url: OPTIONS_URL,
    headers: { authorization: basic(name, password) },
    remoteAddress: address,
  });
}

test('parseBasicAuthorization splits at the first colon and reads UTF-8', () => {
  assert.deepEqual(parseBasicAuthorization(basic('zoë', 'pa:ss')), { login: 'zoë', password: 'pa:ss' });
  assert.deepEqual(parseBasicAuthorization(`basic  ${Buffer.from('a:').toString('base64')}`), {
    login: 'a',
    password: '',
  });
  for (const header of [
    undefined,
    '',
    'Basic',
    'Basic !!',
    'Digest abc',
    `Basic ${Buffer.from('nocolon').toString('base64')}`,
  ]) {
    assert.equal(parseBasicAuthorization(header), undefined, header);
  }
});

test('accountName strips DOMAIN\\ and @domain and lower-cases', () => {
  assert.equal(accountName('Alice'), 'alice');
  assert.equal(accountName('EXAMPLE\\Alice'), 'alice');
  assert.equal(accountName('alice@example.com'), 'alice');
  assert.equal(accountName('EXAMPLE\\alice@example.com'), 'alice');
});

describe('the credential cache', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(() => harness.close());

  test('a second request with the same credentials does not verify the password again', async () => {
    const before = harness.verifications();
    assert.equal((await login(harness, ALICE.name, ALICE.password)).response.statusCode, 200);
    assert.equal((await login(harness, ALICE.name, ALICE.password)).response.statusCode, 200);
    assert.equal((await login(harness, 'EXAMPLE\\ALICE', ALICE.password)).response.statusCode, 200);
    assert.equal(harness.verifications(), before + 1);
  });

  test('a different password is verified, and a wrong one is never remembered', async () => {
    const before = harness.verifications();
    assert.equal((await login(harness, ALICE.name, 'wrong')).response.statusCode, 401);
    assert.equal((await login(harness, ALICE.name, 'wrong')).response.statusCode, 401);
    assert.equal(harness.verifications(), before + 2);
  });
});

test('with a TTL of 0 every request verifies', async () => {
  const harness = await startHarness({ overrides: { auth: { cacheTtlSeconds: 0 } } });
  try {
    await login(harness, BOB.name, BOB.password);
    await login(harness, BOB.name, BOB.password);
    assert.equal(harness.verifications(), 2);
  } finally {
    await harness.close();
  }
});

test('requests arriving together with the same credentials share one password check', async () => {
  let verifications = 0;
  const bob = { id: 2, name: 'bob', admin: false, createdAt: '2026-01-01T00:00:00.000Z' };
  const authenticator = new Authenticator(
    {
      verify: async (_name, password) => {
        verifications++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return password === 'secret' ? bob : undefined;
      },
    },
    loadConfig({ overrides: { auth: { cacheTtlSeconds: 0 } } }).auth,
  );
  const credentials = { login: 'bob', password: 'secret' };
  const users = await Promise.all([1, 2, 3].map(() => authenticator.authenticate(credentials, '192.0.2.1')));
  assert.deepEqual(users, [bob, bob, bob]);
  assert.equal(verifications, 1);
});

describe('throttling failed logins', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness({
      overrides: { auth: { maxFailuresPerUser: 3, maxFailuresPerAddress: 5, blockSeconds: 120 } },
    });
  });
  after(() => harness.close());

  test('past the limit per user and address: 503 with Retry-After, even for the right password', async () => {
    const attacker = '198.51.100.1';
    for (let i = 0; i < 3; i++) {
      assert.equal((await login(harness, ALICE.name, `guess${i}`, attacker)).response.statusCode, 401);
    }
    const { response, log } = await login(harness, ALICE.name, 'guess3', attacker);
    assert.equal(response.statusCode, 503);
    assert.ok(Number(response.headers['retry-after']) > 60);
    assert.match(log.reason as string, /too many failed logins for "alice" from 198.51.100.1/);

    const verified = harness.verifications();
    assert.equal((await login(harness, ALICE.name, ALICE.password, attacker)).response.statusCode, 503);
    assert.equal(harness.verifications(), verified, 'a blocked login costs no hash');

    // Alice's own phone elsewhere is not locked out.
    assert.equal((await login(harness, ALICE.name, ALICE.password, '192.0.2.20')).response.statusCode, 200);
  });

  test('a success from one address does not reset the count of another', async () => {
    const other = '198.51.100.2';
    for (let i = 0; i < 2; i++) {
      assert.equal((await login(harness, BOB.name, `guess${i}`, other)).response.statusCode, 401);
    }
    assert.equal((await login(harness, BOB.name, BOB.password, '192.0.2.30')).response.statusCode, 200);
    assert.equal((await login(harness, BOB.name, 'guess2', other)).response.statusCode, 401);
    assert.equal((await login(harness, BOB.name, 'guess3', other)).response.statusCode, 503);
  });

  test('a success forgives the same address its failures for that user', async () => {
    const phone = '198.51.100.3';
    for (let i = 0; i < 2; i++) {
      assert.equal((await login(harness, ALICE.name, `typo${i}`, phone)).response.statusCode, 401);
    }
    assert.equal((await login(harness, ALICE.name, ALICE.password, phone)).response.statusCode, 200);
    for (let i = 0; i < 2; i++) {
      assert.equal((await login(harness, ALICE.name, `typo${i + 2}`, phone)).response.statusCode, 401);
    }
  });

  test('past the limit per address, whatever the users: 503', async () => {
    const scanner = '203.0.113.9';
    const names = ['u1', 'u2', 'u3', 'u4', 'u5'];
    for (const name of names) {
      assert.equal((await login(harness, name, 'x', scanner)).response.statusCode, 401, name);
    }
    assert.equal((await login(harness, 'u6', 'x', scanner)).response.statusCode, 503);
    assert.equal((await login(harness, 'u6', 'x', '203.0.113.10')).response.statusCode, 401);
  });

  test('a block holds even for credentials in the cache, so it tells nothing about a guess', async () => {
    const office = '203.0.113.50';
    assert.equal((await login(harness, BOB.name, BOB.password, office)).response.statusCode, 200);
    for (let i = 0; i < 6; i++) await login(harness, `someone${i}`, 'x', office);
    assert.equal((await login(harness, BOB.name, BOB.password, office)).response.statusCode, 503);
  });
});
