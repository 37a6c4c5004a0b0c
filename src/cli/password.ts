// Passwords come from a flag, the environment or the first line of standard input. A terminal gets a
// prompt; a script whose stdin is closed or empty gets an empty password, which callers refuse, rather
// than a hang.
import { createInterface } from 'node:readline';
import { UsageError } from './options.ts';

/** The first line of standard input, without its line break; a terminal gets a prompt on stderr. */
export async function readPasswordLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of lines) return line;
    return '';
  } finally {
    lines.close();
  }
}

/** --password PW or --password-stdin, exactly one of them, and not empty. */
export async function passwordFromOptions(
  values: { password?: string; 'password-stdin'?: boolean },
  usage: string,
): Promise<string> {
  if (values.password !== undefined && values['password-stdin'] === true) {
    throw new UsageError('give either --password or --password-stdin, not both', usage);
  }
  const password = values['password-stdin'] === true ? await readPasswordLine() : values.password;
  if (password === undefined) {
    throw new UsageError('a password is needed: --password PW or --password-stdin', usage);
  }
  if (password === '') throw new Error('the password is empty');
  return password;
}
