// The Horde peer side of bench/ping.ts: Horde Groupware with Horde_ActiveSync behind the peer
// bench's second Apache (../shared/peers/horde-bench/wide.sh: the same Horde on port 8091 with up to
// 200 prefork workers, since every held Ping takes one worker and the peer's own Apache allows 20).
// Users are created, and contacts added, with the peer bench's horde-seed.php (Turba's import API,
// run as www-data); `add` prints the Unix time right after its insert returned.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EasClient } from '../src/client/index.ts';

const run = promisify(execFile);

/** wide.sh's own knobs. */
const WIDE_STATE = process.env.WIDE_STATE ?? '/var/lib/horde-peer/wide';
const WIDE_PORT = process.env.WIDE_PORT ?? '8091';

export const HORDE_URL = `http://127.0.0.1:${WIDE_PORT}/Microsoft-Server-ActiveSync`;
export const HORDE_PASSWORD = 'secret';
const PID_FILE = join(WIDE_STATE, 'run', 'apache2.pid');
const PHP_FLAGS = ['-d', 'error_reporting=E_ALL & ~E_DEPRECATED & ~E_NOTICE', '-d', 'display_errors=stderr'];

/** Whether the wide Apache answers OPTIONS with its EAS headers. */
export async function hordeIsRunning(): Promise<boolean> {
  const client = new EasClient({
    url: HORDE_URL,
    user: 'probe',
    password: 'probe',
    deviceId: 'PINGBENCHPROBE',
    deviceType: 'PingBench',
    protocolVersion: '14.1',
    timeoutMs: 5_000,
  });
  try {
    return (await client.options()).versions.length > 0;
  } catch {
    return false;
  }
}

/** The pid of the wide Apache's parent, whose workers hold the Pings. */
export async function hordeApachePid(): Promise<number> {
  return Number((await readFile(PID_FILE, 'utf8')).trim());
}

export class HordeSeeder {
  constructor(private readonly peerBenchDir: string) {}

  /** Creates the users that do not exist yet (password "secret"). */
  async ensureUsers(users: readonly string[]): Promise<void> {
    for (const user of users) await this.php('ensure', user, '0');
  }

  /** Adds one contact to the user's address book; resolves with the time of the insert, ms since the epoch. */
  async addContact(user: string): Promise<number> {
    const output = await this.php('add', user);
    const added = /ADDED ([\d.]+)/.exec(output);
    if (added === null) throw new Error(`horde-seed.php add ${user} printed no time: ${output}`);
    return Number(added[1]) * 1000;
  }

  private async php(...args: string[]): Promise<string> {
    const seed = join(this.peerBenchDir, 'lib', 'horde-seed.php');
    const { stdout } = await run('runuser', ['-u', 'www-data', '--', 'php', ...PHP_FLAGS, seed, ...args], {
      // www-data must be able to enter the working directory.
      cwd: '/',
    });
    return stdout;
  }
}
