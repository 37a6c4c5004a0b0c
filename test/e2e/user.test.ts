import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { airsync, temporaryDirectory } from './cli.ts';

/** Whether the database in `dataDir` accepts this user and password. */
async function passwordWorks(dataDir: string, name: string, password: string): Promise<boolean> {
  const database = await openDatabase({ dataDir, database: undefined });
  try {
    return (await new UserStore(database.db).verify(name, password)) !== undefined;
  } finally {
    await database.close();
  }
}

describe('airsync user', () => {
  let data: Awaited<ReturnType<typeof temporaryDirectory>>;
  let dataArgs: string[];
  before(async () => {
    data = await temporaryDirectory();
    dataArgs = ['--data', data.dir];
  });
  after(() => data?.remove());

  it('adds users with --password and --password-stdin, and lists them', async () => {
    const alice = await airsync(['user', 'add', 'alice', '--password', 'secret', ...dataArgs]);
    assert.deepEqual(alice, { code: 0, stdout: 'added user alice\n', stderr: '' });
    const bob = await airsync(['user', 'add', 'Bob', '--password-stdin', ...dataArgs], {
      stdin: 'bob pw \n',
    });
    assert.deepEqual(bob, { code: 0, stdout: 'added user bob\n', stderr: '' });

    const list = await airsync(['user', 'list', ...dataArgs]);
    assert.deepEqual(list, { code: 0, stdout: 'alice\nbob\n', stderr: '' });
    assert.equal(await passwordWorks(data.dir, 'bob', 'bob pw '), true, 'only the line break is stripped');
  });

  it('refuses to add a user twice, with one line on stderr', async () => {
    const again = await airsync(['user', 'add', 'ALICE', '--password', 'other', ...dataArgs]);
    assert.deepEqual(again, { code: 1, stdout: '', stderr: 'airsync: user "alice" already exists\n' });
  });

  it('changes a password', async () => {
    const changed = await airsync(['user', 'passwd', 'alice', '--password-stdin', ...dataArgs], {
      stdin: 'new secret\r\n',
    });
    assert.deepEqual(changed, { code: 0, stdout: 'changed the password of alice\n', stderr: '' });
    assert.equal(await passwordWorks(data.dir, 'alice', 'new secret'), true);
    assert.equal(await passwordWorks(data.dir, 'alice', 'secret'), false);
  });

  it('sets the address and display name a user appears with', async () => {
    const set = await airsync([
      'user',
      'set',
      'alice',
      '--email',
      'alice@example.org',
      '--display-name',
      'Alice A',
      ...dataArgs,
    ]);
    assert.deepEqual(set, { code: 0, stdout: 'changed the mail identity of alice\n', stderr: '' });
    const database = await openDatabase({ dataDir: data.dir, database: undefined });
    try {
      const row = await database.db
        .selectFrom('users')
        .select(['email', 'display_name'])
        .where('name', '=', 'alice')
        .executeTakeFirstOrThrow();
      assert.deepEqual(row, { email: 'alice@example.org', display_name: 'Alice A' });
    } finally {
      await database.close();
    }
  });

  it('removes a user', async () => {
    const removed = await airsync(['user', 'remove', 'bob', ...dataArgs]);
    assert.deepEqual(removed, { code: 0, stdout: 'removed user bob\n', stderr: '' });
    assert.equal((await airsync(['user', 'list', ...dataArgs])).stdout, 'alice\n');
  });

  it('fails with one line for a user that does not exist, an empty password or a bad name', async () => {
    const cases: [string[], string | undefined, RegExp][] = [
      [['remove', 'carol'], undefined, /^airsync: there is no user named carol\n$/],
      [['passwd', 'carol', '--password', 'x'], undefined, /^airsync: there is no user named carol\n$/],
      [['add', 'carol', '--password-stdin'], '', /^airsync: the password is empty\n$/],
      [
        ['add', 'carol smith', '--password', 'x'],
        undefined,
        /^airsync: invalid user name "carol smith"[^\n]*\n$/,
      ],
    ];
    const results = await Promise.all(
      cases.map(([args, stdin]) => airsync(['user', ...args, ...dataArgs], { stdin })),
    );
    cases.forEach(([args, , stderr], i) => {
      assert.equal(results[i]?.code, 1, args.join(' '));
      assert.match(results[i]?.stderr ?? '', stderr);
    });
  });
});

describe('airsync command line', () => {
  it('prints the usage for --help, on stdout, and exits 0', async () => {
    const commands = ['serve', 'user', 'device', 'policy', 'probe'];
    const [general, ...helps] = await Promise.all([
      airsync(['--help']),
      ...commands.map((command) => airsync([command, '--help'])),
    ]);
    assert.equal(general?.code, 0);
    assert.match(general?.stdout ?? '', /^Usage: airsync <command>/);
    commands.forEach((command, i) => {
      assert.equal(helps[i]?.code, 0, command);
      assert.match(helps[i]?.stdout ?? '', new RegExp(`^Usage: airsync ${command} `));
      assert.match(helps[i]?.stdout ?? '', /--data DIR[^]*--config FILE/);
    });
  });

  it('exits 2 with the usage on stderr when the command line is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^airsync: no command given\n\nUsage: airsync <command>/],
      [['frobnicate'], /^airsync: unknown command: frobnicate\n\nUsage: airsync <command>/],
      [['user'], /^airsync: no action given\n\nUsage: airsync user/],
      [['user', 'list', '--verbose'], /^airsync: unknown option --verbose\n/],
      [['user', 'add', 'alice'], /^airsync: a password is needed: --password PW or --password-stdin\n/],
      [['user', 'remove', 'alice', '--password', 'x'], /^airsync: user remove takes no password\n/],
      [['user', 'list', 'extra'], /^airsync: unexpected argument: extra\n/],
    ];
    const results = await Promise.all(cases.map(([args]) => airsync(args)));
    cases.forEach(([args, stderr], i) => {
      assert.equal(results[i]?.code, 2, args.join(' '));
      assert.equal(results[i]?.stdout, '', args.join(' '));
      assert.match(results[i]?.stderr ?? '', stderr, args.join(' '));
    });
  });

  it('fails with one line for a configuration file it cannot use', async () => {
    const result = await airsync(['user', 'list', '--config', 'no-such-airsync.json']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^airsync: cannot read config file no-such-airsync\.json: [^\n]*\n$/);
  });
});
