// Requests per second through the device gate: `npm run bench:gate`. Prints a table; asserts nothing.
//
// For SQLite and for PostgreSQL, `airsync serve` runs in a child process (so that the load and the
// server do not share an event loop) with provisioning required. A provisioned device then sends
// Settings UserInformation Get — a command that reads one row — from 10 connections at once:
// authentication (from the credential cache), the device record, the policy key check, the command,
// and the protocol log entry written after each answer. A second run switches the protocol log off,
// to show what the gate costs without it. Request log lines are off (log level warn).
//
// PostgreSQL is reached as the tests reach it: AIRSYNC_TEST_POSTGRES, by default the local server
// with trust auth; a database is created for the run and dropped after.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { EasClient, provision } from '../src/client/index.ts';
import { WBXML_MEDIA_TYPE } from '../src/http/activesync.ts';
import { openDatabase } from '../src/state/db.ts';
import { UserStore } from '../src/state/users.ts';
import { childText, el, encode } from '../src/wbxml/index.ts';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../test/helpers/databases.ts';

const MEASURE_SECONDS = 10;
const WARM_UP_SECONDS = 2;
const CONNECTIONS = 10;
const BIN = join(import.meta.dirname, '..', 'bin', 'airsync.js');

const USER = { name: 'bench', password: 'bench password' };
const DEVICE = { deviceId: 'BENCHPHONE01', deviceType: 'iPhone', protocolVersion: '16.1' };
const userInformationGet = el('Settings', 'Settings', [
  el('Settings', 'UserInformation', [el('Settings', 'Get')]),
]);

interface Measurement {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Answers other than 200, and requests that got none. */
  failures: number;
}

/** Starts `airsync serve` on a free loopback port; resolves with its URL once it listens. */
async function serve(
  storage: TestDatabase,
  protocolLog: boolean,
): Promise<{ url: string; server: ChildProcess }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AIRSYNC_PROVISIONING: 'required',
    AIRSYNC_LOG_LEVEL: 'warn',
    AIRSYNC_DEVICE_LOG_ENTRIES: protocolLog ? '200' : '0',
  };
  if (storage.config.database !== undefined) env.AIRSYNC_DATABASE = storage.config.database;
  const server = spawn(
    process.execPath,
    [BIN, 'serve', '--listen', '127.0.0.1:0', '--data', storage.config.dataDir],
    {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    server.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const listening = /listening on (\S+)/.exec(output);
      if (listening) resolve(listening[1] as string);
    });
    server.on('exit', (code) => reject(new Error(`airsync serve exited with ${code}: ${output}`)));
  });
  return { url, server };
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
}

/** Provisions the device and checks that the measured request gets through the gate. */
async function provisionedRequest(
  endpoint: string,
): Promise<autocannon.Request & { headers: Record<string, string> }> {
  const client = new EasClient({ url: endpoint, user: USER.name, password: USER.password, ...DEVICE });
  const outcome = await provision(client);
  if (outcome.kind !== 'provisioned')
    throw new Error(`the bench device was not provisioned: ${outcome.kind}`);
  const check = await client.send('Settings', userInformationGet);
  const status = check.body && childText(check.body, 'Status', 'Settings');
  if (check.status !== 200 || status !== '1') {
    throw new Error(`Settings got HTTP ${check.status}, Status ${status ?? 'none'}: not through the gate`);
  }
  const query = new URLSearchParams({
    Cmd: 'Settings',
    User: USER.name,
    DeviceId: DEVICE.deviceId,
    DeviceType: DEVICE.deviceType,
  });
  return {
    method: 'POST',
    path: `${new URL(endpoint).pathname}?${query}`,
    headers: {
      authorization: `Basic ${Buffer.from(`${USER.name}:${USER.password}`).toString('base64')}`,
      'ms-asprotocolversion': DEVICE.protocolVersion,
      'x-ms-policykey': outcome.policyKey,
      'content-type': WBXML_MEDIA_TYPE,
    },
    body: encode(userInformationGet),
  };
}

async function load(url: string, request: autocannon.Request, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration: seconds, requests: [request] });
}

async function measure(storage: TestDatabase, protocolLog: boolean): Promise<Measurement> {
  const { url, server } = await serve(storage, protocolLog);
  try {
    const request = await provisionedRequest(`${url}/Microsoft-Server-ActiveSync`);
    await load(url, request, WARM_UP_SECONDS);
    const result = await load(url, request, MEASURE_SECONDS);
    return {
      requestsPerSecond: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      failures: result.non2xx + result.errors + result.timeouts,
    };
  } finally {
    await stop(server);
  }
}

const HEADER = ['database', 'protocol log', 'requests/s', 'p50 ms', 'p99 ms', 'failures'];
const WIDTHS = [8, 12, 10, 6, 6, 8];
/** Text columns left-aligned, numbers right-aligned. */
const line = (cells: string[]): string =>
  cells.map((cell, i) => (i >= 2 ? cell.padStart(WIDTHS[i]!) : cell.padEnd(WIDTHS[i]!))).join('  ');

console.log(
  `Node ${process.version}: Settings UserInformation Get from a provisioned device, ${CONNECTIONS} connections, ` +
    `${MEASURE_SECONDS} s per measurement after ${WARM_UP_SECONDS} s warm-up`,
);
console.log(line(HEADER));
console.log(line(WIDTHS.map((width) => '-'.repeat(width))));
for (const database of DATABASE_KINDS) {
  let storage: TestDatabase;
  try {
    storage = await createTestDatabase(database);
  } catch (error) {
    console.log(`${database}: skipped, ${error instanceof Error ? error.message : String(error)}`);
    continue;
  }
  try {
    // The user is added here, once: its password hash is the slow part of setting up.
    const seeded = await openDatabase(storage.config);
    await new UserStore(seeded.db).add(USER.name, USER.password);
    await seeded.close();
    for (const protocolLog of [true, false]) {
      const { requestsPerSecond, p50, p99, failures } = await measure(storage, protocolLog);
      const figures = [requestsPerSecond.toFixed(0), String(p50), String(p99), String(failures)];
      console.log(line([database, protocolLog ? 'on' : 'off', ...figures]));
    }
  } finally {
    await storage.drop();
  }
}
