// The Horde peer for bench/sync.ts: Horde Groupware with Horde_ActiveSync in a private Apache on
// loopback, set up by the peer's own setup.sh. Contacts are seeded with the peer bench's
// horde-seed.php (Turba's import API, as www-data), and server time is Apache's %D — the last field
// of each access log line, in microseconds.

import { execFile } from 'node:child_process';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { EasClient } from '../src/client/index.ts';
import type { ServerClock, ServerRequest } from './sync-client.ts';

const run = promisify(execFile);

/** The peer's own knobs (its setup.sh reads the same variables). */
const PORT = process.env.HORDE_PEER_PORT ?? '8081';
const STATE = process.env.HORDE_PEER_STATE ?? '/var/lib/horde-peer';

export const HORDE_URL = `http://127.0.0.1:${PORT}/Microsoft-Server-ActiveSync`;
export const HORDE_PASSWORD = 'secret';
const ACCESS_LOG = join(STATE, 'log', 'apache-access.log');
const PID_FILE = join(STATE, 'run', 'apache2.pid');
/** The unit of /proc/PID/stat times (USER_HZ), 100 on every Linux a bench runs on. */
const CLOCK_TICK_MS = 10;

/** LogFormat "%h %l %u %t \"%r\" %>s %b %D": the request line, then status, bytes and µs. */
const ACCESS_LINE = /"POST (\S+) HTTP\/[\d.]+" \d{3} \S+ (\d+)$/;
const LOG_WAIT_MS = 5_000;

/** Whether the peer answers OPTIONS with its EAS headers (it sends them even with a 401). */
export async function hordeIsRunning(): Promise<boolean> {
  const client = new EasClient({
    url: HORDE_URL,
    user: 'probe',
    password: 'probe',
    deviceId: 'SYNCBENCHPROBE',
    deviceType: 'SyncBench',
    protocolVersion: '14.1',
    timeoutMs: 5_000,
  });
  try {
    return (await client.options()).versions.length > 0;
  } catch {
    return false;
  }
}

/** Makes `user` (password "secret") hold at least `count` contacts; returns horde-seed.php's report. */
export async function seedHorde(peerBenchDir: string, user: string, count: number): Promise<string> {
  const seed = join(peerBenchDir, 'lib', 'horde-seed.php');
  const php = ['-d', 'error_reporting=E_ALL & ~E_DEPRECATED & ~E_NOTICE', '-d', 'display_errors=stderr'];
  const { stdout } = await run(
    'runuser',
    ['-u', 'www-data', '--', 'php', ...php, seed, 'ensure', user, String(count)],
    {
      // www-data must be able to enter the working directory.
      cwd: '/',
      maxBuffer: 1 << 20,
    },
  );
  return stdout.trim();
}

/** Reads the access log lines written since it was created, and Apache's CPU time from /proc. */
export class HordeClock implements ServerClock {
  private offset = 0;

  private constructor(
    private readonly accessLog: string,
    private readonly apachePid: number,
  ) {}

  static async open(): Promise<HordeClock> {
    const clock = new HordeClock(ACCESS_LOG, Number((await readFile(PID_FILE, 'utf8')).trim()));
    clock.offset = (await stat(ACCESS_LOG)).size;
    return clock;
  }

  /** Apache's parent and its workers, and the workers that have ended (the parent's children's times). */
  async cpuMs(): Promise<number> {
    const processes = await readdir('/proc');
    const stats = await Promise.all(
      processes
        .filter((name) => /^\d+$/.test(name))
        .map((pid) => readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')),
    );
    let ticks = 0;
    for (const line of stats) {
      // pid (comm) state ppid … utime stime cutime cstime: fields 14–17, counted after the command name.
      const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
      const pid = Number(line.slice(0, line.indexOf(' ')));
      const parent = Number(fields[1]);
      if (pid === this.apachePid)
        ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      else if (parent === this.apachePid) ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks * CLOCK_TICK_MS;
  }

  async take(deviceId: string, count: number): Promise<ServerRequest[]> {
    const deadline = Date.now() + LOG_WAIT_MS;
    // Apache logs a request after answering it: wait for the last lines to land.
    for (;;) {
      const { lines, bytes } = await this.completeLines();
      const requests = lines.flatMap((line) => parseLine(line, deviceId));
      if (requests.length >= count || Date.now() > deadline) {
        this.offset += bytes;
        return requests;
      }
      await sleep(20);
    }
  }

  /** The complete lines after the offset (a line still being written is read next time), and their length. */
  private async completeLines(): Promise<{ lines: string[]; bytes: number }> {
    const file = await open(this.accessLog);
    try {
      const { size } = await file.stat();
      const buffer = Buffer.alloc(size - this.offset);
      await file.read(buffer, 0, buffer.length, this.offset);
      const bytes = buffer.lastIndexOf('\n') + 1;
      return { lines: buffer.subarray(0, bytes).toString('utf8').split('\n').slice(0, -1), bytes };
    } finally {
      await file.close();
    }
  }
}

function parseLine(line: string, deviceId: string): ServerRequest[] {
  const match = ACCESS_LINE.exec(line);
  if (match === null) return [];
  const query = new URL(match[1] as string, 'http://peer').searchParams;
  const command = query.get('Cmd');
  if (query.get('DeviceId') !== deviceId || command === null) return [];
  return [{ command, ms: Number(match[2]) / 1000 }];
}
