import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailIdentityOf } from '../../src/state/mail-identity.ts';
import { UserError, UserStore, normalizeUserName } from '../../src/state/users.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

describeEachDatabase('UserStore', (context) => {
  const users = () => new UserStore(context.database.db);

  test('adds a user under its lower-case name and verifies the password', async () => {
    const added = await users().add('Alice', 'correct horse');
    assert.equal(added.name, 'alice');
    assert.equal(added.admin, false);
    assert.match(added.createdAt, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(await users().verify('ALICE', 'correct horse'), added);
    assert.equal(await users().verify('alice', 'wrong'), undefined);
    assert.deepEqual(await users().find('alice'), added);
  });

  test('stores an argon2id hash, never the password', async () => {
    await users().add('hashed', 'secret');
    const row = await context.database.db
      .selectFrom('users')
      .select('password_hash')
      .where('name', '=', 'hashed')
      .executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$/);
  });

  test('an unknown user verifies as undefined', async () => {
    assert.equal(await users().verify('nobody', 'secret'), undefined);
    assert.equal(await users().verify('not a valid name', 'secret'), undefined);
    assert.equal(await users().find('nobody'), undefined);
  });

  test('refuses a second user with the same name in any letter case', async () => {
    await users().add('bob', 'one');
    await assert.rejects(users().add('BOB', 'two'), (error: unknown) => {
      return error instanceof UserError && error.code === 'exists';
    });
  });

  test('refuses invalid names and empty passwords', async () => {
    for (const name of ['', 'a b', 'dom\\carol', 'carol@example.com', 'x:y', 'a/b', 'x'.repeat(65)]) {
      await assert.rejects(
        users().add(name, 'pw'),
        (error: unknown) => {
          return error instanceof UserError && error.code === 'invalid-name';
        },
        name,
      );
    }
    await assert.rejects(users().add('carol', ''), (error: unknown) => {
      return error instanceof UserError && error.code === 'empty-password';
    });
  });

  test('keeps the admin flag', async () => {
    const admin = await users().add('root', 'pw', { admin: true });
    assert.equal(admin.admin, true);
    assert.equal((await users().find('root'))?.admin, true);
  });

  test('changes a password', async () => {
    await users().add('dave', 'old');
    assert.equal(await users().setPassword('Dave', 'new'), true);
    assert.equal(await users().verify('dave', 'old'), undefined);
    assert.equal((await users().verify('dave', 'new'))?.name, 'dave');
    assert.equal(await users().setPassword('nobody', 'new'), false);
  });

  test('sets, keeps and clears the mail identity the user appears with', async () => {
    const mailer = await users().add('mailer', 'secret');
    const identity = () => mailIdentityOf(context.database.db, mailer, 'example.org');
    assert.deepEqual(await identity(), { address: 'mailer@example.org', displayName: null });
    assert.equal(
      await users().setMailIdentity('mailer', { email: 'M.Ailer@Example.COM', displayName: ' Mai Ler ' }),
      true,
    );
    assert.deepEqual(await identity(), { address: 'm.ailer@example.com', displayName: 'Mai Ler' });
    assert.equal(await users().setMailIdentity('mailer', { displayName: 'Mai' }), true);
    assert.deepEqual(await identity(), { address: 'm.ailer@example.com', displayName: 'Mai' });
    assert.equal(await users().setMailIdentity('mailer', { email: '' }), true);
    assert.deepEqual(await identity(), { address: 'mailer@example.org', displayName: 'Mai' });
    await assert.rejects(
      users().setMailIdentity('mailer', { email: 'not an address' }),
      (error) => error instanceof UserError && error.code === 'invalid-email',
    );
    assert.deepEqual(await identity(), { address: 'mailer@example.org', displayName: 'Mai' });
    assert.equal(await users().setMailIdentity('nobody', { email: 'n@example.org' }), false);
  });

  test('removes a user', async () => {
    await users().add('erin', 'pw');
    assert.equal(await users().remove('ERIN'), true);
    assert.equal(await users().find('erin'), undefined);
    assert.equal(await users().verify('erin', 'pw'), undefined);
    assert.equal(await users().remove('erin'), false);
  });

  test('lists users by name', async () => {
    const names = (await users().list()).map((user) => user.name);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('alice') && names.includes('root'));
    assert.ok(!names.includes('erin'));
  });
});

test('normalizeUserName trims and lower-cases', () => {
  assert.equal(normalizeUserName('  Zoë '), 'zoë');
});
