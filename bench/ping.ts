// Held Pings and push latency, side by side with the Horde peer: `npm run bench:ping`. Prints a
// table, the ratios and the targets; asserts nothing.
//
// airsync: a fresh data dir and database, N/10 users with 10 devices each, provisioned by writing
// their accounts (see bench/ping-airsync.ts), `airsync serve` in a child process requiring
// provisioning. Load generators in child processes (bench/ping-load.ts, at most 5,000 connections
// each) prime every device once (FolderSync, Sync of the Contacts folder), then, for each N, against
// a server process of its own: the Pings of a few users are held and woken once so the server's code
// is warm; the server's memory is read (VmRSS and PSS from /proc, right after a full garbage
// collection the server is asked for, so that what startup and the warm-up left behind is not
// counted); N devices each hold a Ping on their Contacts folder; memory again, the same way (the
// figure before that collection is printed too); CPU time over an idle window; then contacts are
// added to random users' address books from this process, through the built-in store, and each of
// the user's Pings is timed from the change's commit to the answer's arrival. A device syncs after
// its Ping answers and pings again, as a phone does. On SQLite the change reaches the server through
// its history poller, whose interval adds up to its length to the latency; on PostgreSQL through
// LISTEN/NOTIFY.
//
// Horde: the same client and round at --peer-n (default 100) against the peer bench's second Apache
// (../shared/peers/horde-bench/wide.sh start: 200 prefork workers), contacts added with horde-seed.php.
// Its memory is summed over Apache's process tree, where PSS is the fair figure (RSS counts the
// pages the workers share once per worker).
//
//   --n LIST              held Pings per round (default 1000,5000,10000)
//   --database KIND       sqlite (default) or postgres, reached as the tests reach it
//   --changes N           changes per airsync round (default 200)
//   --rate N              airsync changes per second (default 5: each wakes a user's 10 devices,
//                         which sync and Ping again, so 5 changes a second are 100 requests a second)
//   --devices-per-user N  (default 10)
//   --ping-rate N         Pings sent a second when a round starts holding them (default 250: phones
//                         coming back over 40 s; 1000 and more is a reconnection storm, which on
//                         PostgreSQL outruns the server and leaves its heap grown)
//   --idle-seconds N      the window CPU is measured over while the Pings are held (default 15,
//                         one poll cycle of Horde)
//   --heartbeat SECONDS   the Pings' HeartbeatInterval on airsync (default 900)
//   --poll-ms N           on SQLite, the server's history poll interval (push.pollIntervalMs; default:
//                         the server's own, 1000 ms)
//   --no-peer             airsync only
//   --peer-n N            Pings held on Horde (default 100)
//   --peer-changes N      changes made on Horde (default 30: each takes up to its 15 s poll)
//   --peer-heartbeat S    the Pings' HeartbeatInterval on Horde (default 300: a Horde worker does not
//                         notice that its client hung up, and keeps waiting out the heartbeat)
//   --peer-bench DIR      the Horde peer bench (default ../shared/peers/horde-bench)
//   --profile DIR         write CPU profiles of each airsync round's phases (the Pings arriving, the
//                         idle hold, the changes), at TypeScript lines, and heap snapshots before and
//                         with the N Pings held to DIR

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import type { ProtocolVersion } from '../src/http/query.ts';
import { openDatabase } from '../src/state/db.ts';
import { createTestDatabase, DATABASE_KINDS, type DatabaseKind } from '../test/helpers/databases.ts';
import { AIRSYNC_PASSWORD, AirsyncChanges, seedAirsync, startAirsync } from './ping-airsync.ts';
import { Fleet, openFileLimits } from './ping-fleet.ts';
import { HORDE_PASSWORD, HORDE_URL, hordeApachePid, hordeIsRunning, HordeSeeder } from './ping-horde.ts';
import { summarizeProfile } from './ping-profile.ts';
import { failureCount, percentile, runRound, type RoundResult } from './ping-round.ts';

/** Horde speaks up to 14.1: both servers are measured at it. */
const PROTOCOL_VERSION: ProtocolVersion = '14.1';
const DEVICE_TYPE = 'PingBench';
const USER_AGENT = 'airsync-ping-bench';
/** From the issue, at N = 10,000: ≤ 20 KiB per held Ping, p99 ≤ 100 ms, idle CPU near zero. */
const TARGET = { n: 10_000, kibPerPing: 20, p99Ms: 100, idleCpuPercent: 1 };
/** Concurrent priming requests per load generator. */
const PRIME_CONCURRENCY = 8;
const AIRSYNC_ROUND = { changeJitterMs: 0, pushTimeoutMs: 10_000, warmUpUsers: 20 };
/**
 * Horde's Pings look for changes every 15 s (its waitinterval), each on its own cycle: a change is
 * made at a random point of that cycle, as bench.py of the peer bench does.
 */
const HORDE_ROUND = {
  changeIntervalMs: 1_000,
  changeJitterMs: 15_000,
  pushTimeoutMs: 40_000,
  warmUpUsers: 0,
  // Apache starts a worker for each: a few at a time, as its prefork does.
  pingsPerSecond: 20,
};

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000,5000,10000' },
    database: { type: 'string', default: 'sqlite' },
    changes: { type: 'string', default: '200' },
    rate: { type: 'string', default: '5' },
    'devices-per-user': { type: 'string', default: '10' },
    'ping-rate': { type: 'string', default: '250' },
    'idle-seconds': { type: 'string', default: '15' },
    heartbeat: { type: 'string', default: '900' },
    'poll-ms': { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    'peer-n': { type: 'string', default: '100' },
    'peer-changes': { type: 'string', default: '30' },
    'peer-heartbeat': { type: 'string', default: '300' },
    'peer-bench': {
      type: 'string',
      default: join(import.meta.dirname, '..', '..', 'shared', 'peers', 'horde-bench'),
    },
    profile: { type: 'string' },
  },
});
const ns = (flags.n ?? '').split(',').map((text) => positiveInteger('--n', text));
const database = flags.database as DatabaseKind;
if (!DATABASE_KINDS.includes(database)) fail(`--database is one of ${DATABASE_KINDS.join(', ')}`);
const changes = positiveInteger('--changes', flags.changes);
const changeIntervalMs = 1000 / positiveInteger('--rate', flags.rate);
const devicesPerUser = positiveInteger('--devices-per-user', flags['devices-per-user']);
const pingsPerSecond = positiveInteger('--ping-rate', flags['ping-rate']);
const idleSeconds = positiveInteger('--idle-seconds', flags['idle-seconds']);
const heartbeatSeconds = positiveInteger('--heartbeat', flags.heartbeat);
const peerN = positiveInteger('--peer-n', flags['peer-n']);
const peerChanges = positiveInteger('--peer-changes', flags['peer-changes']);
const peerHeartbeatSeconds = positiveInteger('--peer-heartbeat', flags['peer-heartbeat']);
const pollIntervalMs =
  flags['poll-ms'] === undefined ? undefined : positiveInteger('--poll-ms', flags['poll-ms']);
const profileDir = flags.profile === undefined ? undefined : resolve(flags.profile);

/** The CPU profiles written, for the summary after the table. */
const profiles: { title: string; path: string }[] = [];
const PROFILE_TOP = 12;

interface Row {
  server: string;
  result: RoundResult;
}

async function measureHorde(): Promise<Row> {
  const seeder = new HordeSeeder(flags['peer-bench'] as string);
  const users = Array.from(
    { length: Math.ceil(peerN / devicesPerUser) },
    (_, u) => `pingbench${String(u + 1).padStart(2, '0')}`,
  );
  await seeder.ensureUsers(users);
  // New devices every run: a device Horde knows may still have a Ping of an earlier run parked.
  const tag = randomBytes(3).toString('hex').toUpperCase();
  const devices = Array.from({ length: peerN }, (_, index) => ({
    index,
    user: users[Math.floor(index / devicesPerUser)] as string,
    deviceId: `PB${tag}D${String(index).padStart(4, '0')}`,
  }));
  const fleet = await Fleet.start(devices, {
    url: HORDE_URL,
    password: HORDE_PASSWORD,
    protocolVersion: PROTOCOL_VERSION,
    deviceType: DEVICE_TYPE,
    userAgent: USER_AGENT,
    heartbeatSeconds: peerHeartbeatSeconds,
  });
  try {
    const started = performance.now();
    const failures = await fleet.prime(PRIME_CONCURRENCY);
    if (failures.length > 0)
      throw new Error(`priming Horde's devices failed: ${failures.slice(0, 5).join('; ')}`);
    progress(`Horde: ${peerN} devices provisioned and synced in ${seconds(performance.now() - started)}`);
    const result = await runRound(
      fleet,
      {
        pid: await hordeApachePid(),
        clock: 'wall',
        change: (user) => seeder.addContact(users[user] as string),
      },
      { n: peerN, devicesPerUser, changes: peerChanges, idleSeconds, ...HORDE_ROUND },
    );
    progress(`Horde: N=${peerN} done`);
    return { server: 'Horde', result };
  } finally {
    await fleet.close();
  }
}

async function measureAirsync(): Promise<Row[]> {
  const storage = await createTestDatabase(database);
  const rows: Row[] = [];
  try {
    const maxN = Math.max(...ns);
    const seeded = await openDatabase(storage.config);
    let started = performance.now();
    const population = await seedAirsync(seeded.db, {
      users: Math.ceil(maxN / devicesPerUser),
      devicesPerUser,
      protocolVersion: PROTOCOL_VERSION,
      deviceType: DEVICE_TYPE,
      userAgent: USER_AGENT,
    });
    await seeded.close();
    progress(
      `airsync (${database}): ${population.users.length} users and ${population.devices.length} provisioned devices ` +
        `written in ${seconds(performance.now() - started)}`,
    );
    const configFile = join(storage.config.dataDir, 'ping-bench.json');
    const push = pollIntervalMs === undefined ? {} : { pollIntervalMs };
    await writeFile(configFile, JSON.stringify({ provisioning: 'required', logLevel: 'warn', push }));

    const primer = await startAirsync(storage.config, configFile);
    const fleet = await Fleet.start(population.devices, {
      url: `${primer.url}/Microsoft-Server-ActiveSync`,
      password: AIRSYNC_PASSWORD,
      protocolVersion: PROTOCOL_VERSION,
      deviceType: DEVICE_TYPE,
      userAgent: USER_AGENT,
      heartbeatSeconds,
    });
    const changeMaker = await AirsyncChanges.open(storage.config);
    try {
      started = performance.now();
      const failures = await fleet.prime(PRIME_CONCURRENCY);
      await primer.stop();
      if (failures.length > 0) throw new Error(`priming failed: ${failures.slice(0, 5).join('; ')}`);
      progress(
        `airsync: ${population.devices.length} devices ran FolderSync and synced Contacts in ` +
          `${seconds(performance.now() - started)} (${fleet.size} load generators)`,
      );
      for (const n of ns) {
        const server = await startAirsync(storage.config, configFile);
        const file = (what: string) => join(profileDir as string, `ping-${database}-${n}-${what}`);
        try {
          await fleet.moveTo(`${server.url}/Microsoft-Server-ActiveSync`);
          const result = await runRound(
            fleet,
            {
              pid: server.pid,
              clock: 'mono',
              change: (user) =>
                changeMaker.change(population.users[user] as (typeof population.users)[number]),
              collect: server.collect,
              inspect:
                profileDir === undefined
                  ? undefined
                  : async (moment) => {
                      progress(`heap snapshot ${await server.snapshot(file(`${moment}.heapsnapshot`))}`);
                    },
              phase:
                profileDir === undefined
                  ? undefined
                  : async (phase, event) => {
                      if (event === 'start') return server.startProfile();
                      const path = file(`${phase}.cpuprofile`);
                      await server.stopProfile(path);
                      profiles.push({ title: `airsync N=${n}, ${phase}`, path });
                    },
            },
            { n, devicesPerUser, changes, changeIntervalMs, idleSeconds, pingsPerSecond, ...AIRSYNC_ROUND },
          );
          rows.push({ server: 'airsync', result });
          progress(`airsync: N=${n} done`);
        } finally {
          await server.stop();
        }
      }
    } finally {
      await changeMaker.close();
      await fleet.close();
      await primer.stop();
    }
  } finally {
    await storage.drop();
  }
  return rows;
}

// ---- Output -------------------------------------------------------------------------------------

const COLUMNS = [
  ['server', 8],
  ['N', 6],
  ['RSS before', 10],
  ['RSS held', 10],
  ['KiB/Ping', 8],
  ['PSS KiB/Ping', 12],
  ['idle CPU', 8],
  ['p50 ms', 8],
  ['p99 ms', 8],
  ['max ms', 8],
  ['samples', 7],
  ['failures', 8],
] as const;

const line = (cells: readonly string[]) =>
  cells
    .map((cell, i) => (i === 0 ? cell.padEnd(COLUMNS[i]?.[1] ?? 0) : cell.padStart(COLUMNS[i]?.[1] ?? 0)))
    .join('  ');

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const kibPerPing = (row: Row, field: 'rssKiB' | 'pssKiB') =>
  (row.result.held[field] - row.result.before[field]) / row.result.n;
const ms = (value: number | undefined) =>
  value === undefined ? '–' : value >= 100 ? value.toFixed(0) : value.toFixed(1);

function printTable(rows: readonly Row[]): void {
  console.log(line(COLUMNS.map(([title]) => title)));
  console.log(line(COLUMNS.map(([, width]) => '-'.repeat(width))));
  for (const row of rows) {
    const { result } = row;
    console.log(
      line([
        row.server,
        result.n.toLocaleString('en'),
        mib(result.before.rssKiB),
        mib(result.held.rssKiB),
        kibPerPing(row, 'rssKiB').toFixed(1),
        kibPerPing(row, 'pssKiB').toFixed(1),
        `${result.idleCpuPercent.toFixed(2)} %`,
        ms(percentile(result.latencies, 0.5)),
        ms(percentile(result.latencies, 0.99)),
        ms(percentile(result.latencies, 1)),
        String(result.latencies.length),
        String(failureCount(result.failures)),
      ]),
    );
  }
}

function printNotes(rows: readonly Row[]): void {
  for (const row of rows) {
    const { result } = row;
    const notes: string[] = [];
    if (result.heapBefore !== undefined && result.heapHeld !== undefined) {
      const heap = (result.heapHeld.heapUsed - result.heapBefore.heapUsed) / result.n;
      const external = (result.heapHeld.external - result.heapBefore.external) / result.n;
      const committed = (result.heapHeld.heapTotal - result.heapBefore.heapTotal) / result.n;
      notes.push(
        `heap ${heap.toFixed(0)} B used (${committed.toFixed(0)} B committed) + external ${external.toFixed(0)} B per Ping`,
      );
      notes.push(`RSS with the Pings held before the GC ${mib(result.heldUncollected.rssKiB)}`);
    }
    notes.push(`${result.arrivalCpuMsPerPing.toFixed(2)} ms CPU per Ping arriving`);
    notes.push(`processes ${result.before.processes} → ${result.held.processes}`);
    notes.push(`${result.changesMade} changes`);
    if (result.warmUp !== undefined)
      notes.push(`warm-up woke ${result.warmUp.woken}/${result.warmUp.expected}`);
    const { errors, spurious, expired, missed, notSent } = result.failures;
    if (failureCount(result.failures) > 0) {
      notes.push(`failures: ${errors.length} errors, ${missed} pushes missed, ${notSent} Pings not sent`);
    }
    if (expired > 0) notes.push(`${expired} Pings ended their heartbeat (Status 1) and were sent again`);
    if (spurious.length > 0) notes.push(`${spurious.length} Pings woken with no change pending`);
    console.log(`  ${row.server} N=${result.n}: ${notes.join('; ')}`);
    for (const error of errors.slice(0, 5)) console.log(`    ${error}`);
    for (const wakeUp of spurious.slice(0, 3)) console.log(`    woken: ${wakeUp}`);
  }
}

function printComparison(airsync: readonly Row[], horde: Row): void {
  const reference = airsync.reduce((largest, row) => (row.result.n > largest.result.n ? row : largest));
  const ratio = (h: number | undefined, a: number | undefined) =>
    h === undefined || a === undefined || a <= 0 ? '–' : `${(h / a).toFixed(0)}×`;
  const p = (row: Row, fraction: number) => percentile(row.result.latencies, fraction);
  console.log(
    `Horde at N=${horde.result.n} ÷ airsync at N=${reference.result.n.toLocaleString('en')}: ` +
      `memory per held Ping ${ratio(kibPerPing(horde, 'pssKiB'), kibPerPing(reference, 'pssKiB'))} (PSS), ` +
      `${ratio(kibPerPing(horde, 'rssKiB'), kibPerPing(reference, 'rssKiB'))} (RSS); ` +
      `idle CPU per held Ping ${ratio(horde.result.idleCpuPercent / horde.result.n, reference.result.idleCpuPercent / reference.result.n)}; ` +
      `push latency p50 ${ratio(p(horde, 0.5), p(reference, 0.5))}, p99 ${ratio(p(horde, 0.99), p(reference, 0.99))}`,
  );
}

function printTargets(airsync: readonly Row[]): void {
  const row = airsync.find((candidate) => candidate.result.n === TARGET.n);
  if (row === undefined) {
    console.log(`Targets apply at N=${TARGET.n.toLocaleString('en')}, which this run did not measure.`);
    return;
  }
  const kib = kibPerPing(row, 'rssKiB');
  const p99 = percentile(row.result.latencies, 0.99);
  const cpu = row.result.idleCpuPercent;
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  console.log(`Targets at N=${TARGET.n.toLocaleString('en')}:`);
  console.log(
    `  ≤ ${TARGET.kibPerPing} KiB per held Ping (RSS): ${kib.toFixed(1)} KiB, ${verdict(kib <= TARGET.kibPerPing)}`,
  );
  console.log(
    `  p99 ≤ ${TARGET.p99Ms} ms: ${ms(p99)} ms, ${verdict(p99 !== undefined && p99 <= TARGET.p99Ms)}`,
  );
  console.log(
    `  idle CPU near zero (≤ ${TARGET.idleCpuPercent} % of a core): ${cpu.toFixed(2)} %, ${verdict(cpu <= TARGET.idleCpuPercent)}`,
  );
  const failures = failureCount(row.result.failures);
  if (failures > 0) console.log(`  and ${failures} failures`);
}

// ---- Run ----------------------------------------------------------------------------------------

const limits = openFileLimits();
console.log(
  `Node ${process.version}, ${cpus().length} cores, load ${loadavg()
    .map((load) => load.toFixed(2))
    .join(' ')}, open files ${limits.soft}/${limits.hard} (soft/hard); EAS ${PROTOCOL_VERSION}, ` +
    `${devicesPerUser} devices a user, Ping on Contacts with HeartbeatInterval ${heartbeatSeconds} s ` +
    `(Horde ${peerHeartbeatSeconds} s), ` +
    `idle CPU over ${idleSeconds} s in % of one core`,
);
if (profileDir !== undefined) {
  await mkdir(profileDir, { recursive: true });
  console.log(`Profiling into ${profileDir}: the profiler's sampling and the snapshots distort the figures.`);
}
if (!flags['no-peer'] && !(await hordeIsRunning())) {
  fail(
    `the Horde peer's wide Apache does not answer at ${HORDE_URL}: start it (as root: ` +
      `../shared/peers/horde/setup.sh, then ../shared/peers/horde-bench/wide.sh start) or pass --no-peer`,
  );
}
// airsync first: the Horde workers that held Pings go on waiting out their heartbeat after the round.
const airsync = await measureAirsync();
const horde = flags['no-peer'] ? undefined : await measureHorde();
const rows = horde === undefined ? airsync : [...airsync, horde];

console.log();
console.log(
  `Push latency: change committed → Ping answer received; airsync on ${database}` +
    `${database === 'sqlite' ? ` (changes reach the server through its history poller, every ${pollIntervalMs ?? loadConfig().push.pollIntervalMs} ms)` : ' (LISTEN/NOTIFY)'}` +
    `, ${changes} changes per round, ${1000 / changeIntervalMs} a second; Horde ${peerChanges} changes.`,
);
printTable(rows);
printNotes(rows);
if (horde !== undefined && airsync.length > 0) printComparison(airsync, horde);
printTargets(airsync);
for (const { title, path } of profiles) {
  console.log(`\nProfile of ${title} (${path}):`);
  for (const text of await summarizeProfile(path, join(import.meta.dirname, '..'), PROFILE_TOP)) {
    console.log(`  ${text}`);
  }
}

function progress(message: string): void {
  console.log(`  … ${message}`);
}

function seconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(1)} s`;
}

function positiveInteger(name: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) fail(`${name} takes a positive whole number, not ${text}`);
  return value;
}

function fail(message: string): never {
  console.error(`bench:ping: ${message}`);
  process.exit(2);
}
