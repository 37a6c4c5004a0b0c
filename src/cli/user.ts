// `airsync user`: the built-in user directory, kept in the server's database.
import { openDatabase } from '../state/db.ts';
import { UserStore, normalizeUserName } from '../state/users.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine } from './options.ts';
import { passwordFromOptions } from './password.ts';

export const USER_USAGE = `Usage: airsync user <action> [options]

Actions:
  add NAME     (--password PW | --password-stdin) [--admin]   create a user
  list                                                        print the user names, one a line,
                                                              administrators marked "(admin)"
  passwd NAME  (--password PW | --password-stdin)             set a new password
  set NAME     [--email ADDR] [--display-name TEXT]           how the user appears in mail (Settings
                                                              UserInformation); '' clears a field
  remove NAME                                                 delete a user

Options:
  --password PW       the password (other local users can see it in the process list)
  --password-stdin    read the password from the first line of standard input
  --admin             the user administers every device and policy set through the /api
  --email ADDR        the user's address; without one it is NAME@mailDomain
  --display-name TEXT the user's name as shown in mail

${COMMON_USAGE}`;

const USER_OPTIONS = {
  password: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  admin: { type: 'boolean' },
  email: { type: 'string' },
  'display-name': { type: 'string' },
} as const;

type UserAction =
  | { action: 'list' }
  | { action: 'remove'; name: string }
  | { action: 'passwd'; name: string; password: string }
  | { action: 'set'; name: string; email?: string; displayName?: string }
  | { action: 'add'; name: string; password: string; admin: boolean };

export async function user(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, USER_OPTIONS, USER_USAGE);
  if (values.help) {
    process.stdout.write(`${USER_USAGE}\n`);
    return 0;
  }
  const request = await userAction(positionals, values);
  const database = await openDatabase(configFor(values));
  try {
    const users = new UserStore(database.db);
    switch (request.action) {
      case 'add':
        await users.add(request.name, request.password, { admin: request.admin });
        process.stdout.write(`added ${request.admin ? 'administrator' : 'user'} ${request.name}\n`);
        break;
      case 'passwd':
        if (!(await users.setPassword(request.name, request.password))) throw noSuchUser(request.name);
        process.stdout.write(`changed the password of ${request.name}\n`);
        break;
      case 'set':
        if (!(await users.setMailIdentity(request.name, request))) throw noSuchUser(request.name);
        process.stdout.write(`changed the mail identity of ${request.name}\n`);
        break;
      case 'remove':
        if (!(await users.remove(request.name))) throw noSuchUser(request.name);
        process.stdout.write(`removed user ${request.name}\n`);
        break;
      case 'list':
        for (const { name, admin } of await users.list()) {
          process.stdout.write(admin ? `${name} (admin)\n` : `${name}\n`);
        }
        break;
    }
  } finally {
    await database.close();
  }
  return 0;
}

/** Checks the arguments before the database is opened; reads the password when the action takes one. */
async function userAction(
  positionals: string[],
  values: {
    password?: string;
    'password-stdin'?: boolean;
    admin?: boolean;
    email?: string;
    'display-name'?: string;
  },
): Promise<UserAction> {
  const [action, name, ...extra] = positionals;
  const refusePassword = () => {
    if (values.password !== undefined || values['password-stdin'] === true) {
      throw new UsageError(`user ${action} takes no password`, USER_USAGE);
    }
  };
  if (action === undefined) throw new UsageError('no action given', USER_USAGE);
  if (values.admin === true && action !== 'add') {
    throw new UsageError(`--admin goes with user add, not user ${action}`, USER_USAGE);
  }
  const identityGiven = values.email !== undefined || values['display-name'] !== undefined;
  if (identityGiven && action !== 'set') {
    throw new UsageError(`--email and --display-name go with user set, not user ${action}`, USER_USAGE);
  }
  if (action === 'list') {
    if (name !== undefined) throw new UsageError(`unexpected argument: ${name}`, USER_USAGE);
    refusePassword();
    return { action };
  }
  if (action !== 'add' && action !== 'passwd' && action !== 'set' && action !== 'remove') {
    throw new UsageError(`unknown action: user ${action}`, USER_USAGE);
  }
  if (name === undefined) throw new UsageError(`user ${action} needs a user name`, USER_USAGE);
  if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra[0]}`, USER_USAGE);
  const userName = normalizeUserName(name);
  if (action === 'remove') {
    refusePassword();
    return { action, name: userName };
  }
  if (action === 'set') {
    refusePassword();
    if (!identityGiven) throw new UsageError('user set needs --email or --display-name', USER_USAGE);
    return { action, name: userName, email: values.email, displayName: values['display-name'] };
  }
  const password = await passwordFromOptions(values, USER_USAGE);
  return action === 'add'
    ? { action, name: userName, password, admin: values.admin === true }
    : { action, name: userName, password };
}

function noSuchUser(name: string): Error {
  return new Error(`there is no user named ${name}`);
}
