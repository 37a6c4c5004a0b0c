// Initial and incremental Sync of an address book, side by side with the Horde peer: `npm run bench:sync`.
// Prints a table and the ratios to the targets; asserts nothing.
//
// The same client (src/client, bench/sync-client.ts), the same data (the contact shape of the Horde
// peer bench's horde-seed.php, value for value), the same machine, one run: a new device provisions,
// runs FolderSync, Sync key 0, then Sync windows of 100 over the Contacts folder until MoreAvailable
// is absent, then empty incremental Syncs; a first device does the same to warm each server up, and
// a second one is measured. Server time is each server's own measure of a request:
// Apache's %D for Horde, fastify's elapsed time (what airsync's request log line reports) for airsync;
// round trips are the client's.
//
//   --contacts N        contacts in the address book (default 5000)
//   --empty N           empty incremental Syncs (default 200)
//   --database KIND     airsync's database: sqlite (default) or postgres, reached as the tests reach it
//   --no-peer           airsync only, when the Horde peer (../shared/peers/horde) is not running
//   --cold              measure the first device (by default a first device warms each server up)
//   --profile FILE      profile the airsync server: write its CPU profile (.cpuprofile, lines of the
//                       TypeScript sources) to FILE and print the functions that took the most time
//   --peer-bench DIR    the Horde peer bench, for horde-seed.php (default ../shared/peers/horde-bench)

import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DATABASE_KINDS, type DatabaseKind } from '../test/helpers/databases.ts';
import { startAirsync } from './sync-airsync.ts';
import { runWorkload, type Exchange, type ServerClock, type WorkloadResult } from './sync-client.ts';
import { summarizeProfile } from './sync-profile.ts';
import { HordeClock, HORDE_PASSWORD, HORDE_URL, hordeIsRunning, seedHorde } from './sync-horde.ts';

const WINDOW_SIZE = 100;
const PROFILE_TOP = 25;
/** From the issue: Horde's items/s ×50 and at least 25,000 items/s; its empty Sync p50 ÷20 and at most 0.5 ms. */
const TARGET = { itemsRatio: 50, itemsPerSecond: 25_000, emptyRatio: 20, emptyP50Ms: 0.5 };

const { values: flags } = parseArgs({
  options: {
    contacts: { type: 'string', default: '5000' },
    empty: { type: 'string', default: '200' },
    database: { type: 'string', default: 'sqlite' },
    'no-peer': { type: 'boolean', default: false },
    cold: { type: 'boolean', default: false },
    profile: { type: 'string' },
    'peer-bench': {
      type: 'string',
      default: join(import.meta.dirname, '..', '..', 'shared', 'peers', 'horde-bench'),
    },
  },
});
const contacts = positiveInteger('--contacts', flags.contacts);
const emptySyncs = positiveInteger('--empty', flags.empty);
const database = flags.database as DatabaseKind;
if (!DATABASE_KINDS.includes(database)) fail(`--database is one of ${DATABASE_KINDS.join(', ')}`);
/** horde-seed.php names its contacts after the user: both servers get the same user. */
const user = `bench${contacts}`;

/**
 * Runs the workload on a server, first as a device whose figures are left out unless --cold: a
 * server that has run for a while has its code compiled and its caches filled; one just started has not.
 */
async function measure(
  server: { url: string; password: string; clock: ServerClock },
  beforeMeasuring?: () => Promise<void>,
): Promise<Figures> {
  const { url, password, clock } = server;
  const workload = { url, user, password, clock, windowSize: WINDOW_SIZE, emptySyncs };
  if (!flags.cold) await runWorkload(workload);
  await beforeMeasuring?.();
  return figures(await runWorkload(workload));
}

interface Figures {
  items: number;
  initialRequests: number;
  initialServerMs: number;
  initialWallMs: number;
  initialCpuMs: number;
  windows: Exchange[];
  emptySyncs: Exchange[];
  emptySyncsCpuMs: number;
  bytesPerItem: number;
}

function figures(result: WorkloadResult): Figures {
  const initial = [...result.setup, ...result.windows];
  return {
    items: result.items,
    initialRequests: initial.length,
    initialServerMs: sum(serverMs(initial)),
    initialWallMs: result.initialWallMs,
    initialCpuMs: result.initialCpuMs,
    windows: result.windows,
    emptySyncs: result.emptySyncs,
    emptySyncsCpuMs: result.emptySyncsCpuMs,
    bytesPerItem: sum(result.windows.map((exchange) => exchange.responseBytes)) / Math.max(1, result.items),
  };
}

/** A row of the table. `better`: which way is better (the ratio column), none when it is no contest. */
interface Row {
  label: string;
  digits: number;
  value: (figures: Figures) => number;
  better?: 'higher' | 'lower';
}

const row = (label: string, digits: number, value: Row['value'], better?: Row['better']): Row => ({
  label,
  digits,
  value,
  better,
});

const serverMs = (exchanges: Exchange[]) => exchanges.map((exchange) => exchange.serverMs);
const roundTripMs = (exchanges: Exchange[]) => exchanges.map((exchange) => exchange.roundTripMs);
const itemsPerServerSecond = (f: Figures) => f.items / (f.initialServerMs / 1000);
const emptySyncP50 = (f: Figures) => p50(serverMs(f.emptySyncs));

const ROWS: Row[] = [
  row('items synced', 0, (f) => f.items),
  row('requests (Provision ×2, FolderSync, Syncs)', 0, (f) => f.initialRequests),
  row('response bytes per item', 0, (f) => f.bytesPerItem),
  row('server time / wall time', 2, (f) => f.initialServerMs / f.initialWallMs),
  row('initial sync: items/s over server time', 0, itemsPerServerSecond, 'higher'),
  row('initial sync: items/s over wall time', 0, (f) => f.items / (f.initialWallMs / 1000), 'higher'),
  row('initial sync: items/s over server CPU time', 0, (f) => f.items / (f.initialCpuMs / 1000), 'higher'),
  row('Sync window: server ms, mean', 2, (f) => mean(serverMs(f.windows)), 'lower'),
  row('Sync window: server ms, p50', 2, (f) => p50(serverMs(f.windows)), 'lower'),
  row('Sync window: round trip ms, p50', 2, (f) => p50(roundTripMs(f.windows)), 'lower'),
  row('empty Sync: server ms, p50', 3, emptySyncP50, 'lower'),
  row('empty Sync: server ms, p99', 3, (f) => p99(serverMs(f.emptySyncs)), 'lower'),
  row('empty Sync: round trip ms, p50', 3, (f) => p50(roundTripMs(f.emptySyncs)), 'lower'),
  row('empty Sync: round trip ms, p99', 3, (f) => p99(roundTripMs(f.emptySyncs)), 'lower'),
  row('empty Sync: server CPU ms per request', 3, (f) => f.emptySyncsCpuMs / f.emptySyncs.length, 'lower'),
];

/** How many times better airsync does than Horde on a row. */
function ratio(theirs: number, mine: number, better: 'higher' | 'lower'): number {
  return better === 'higher' ? mine / theirs : theirs / mine;
}

function printTable(peer: Figures | undefined, ours: Figures): void {
  const widths = [44, 10, 10, 10];
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log();
  console.log(line(['', 'Horde', 'airsync', 'better ×']));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const { label, digits, value, better } of ROWS) {
    const theirs = peer && value(peer);
    const mine = value(ours);
    const times = theirs === undefined || better === undefined ? '' : ratio(theirs, mine, better).toFixed(1);
    console.log(line([label, theirs?.toFixed(digits) ?? '—', mine.toFixed(digits), times]));
  }
  console.log('("better ×": airsync ÷ Horde for items/s, Horde ÷ airsync for times)');

  const targets: [string, boolean][] = [
    [
      `initial sync ≥ ${TARGET.itemsPerSecond} items/s over server time`,
      itemsPerServerSecond(ours) >= TARGET.itemsPerSecond,
    ],
    [`empty Sync p50 ≤ ${TARGET.emptyP50Ms} ms server time`, emptySyncP50(ours) <= TARGET.emptyP50Ms],
  ];
  if (peer !== undefined) {
    const items = ratio(itemsPerServerSecond(peer), itemsPerServerSecond(ours), 'higher');
    const empty = ratio(emptySyncP50(peer), emptySyncP50(ours), 'lower');
    targets.push(
      [
        `initial sync ≥ ${TARGET.itemsRatio}× Horde's items/s (${items.toFixed(1)}×)`,
        items >= TARGET.itemsRatio,
      ],
      [
        `empty Sync p50 ≥ ${TARGET.emptyRatio}× faster than Horde's (${empty.toFixed(1)}×)`,
        empty >= TARGET.emptyRatio,
      ],
    );
  }
  console.log();
  for (const [target, met] of targets) console.log(`${met ? 'PASS' : 'FAIL'}  ${target}`);
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

const p50 = (values: number[]) => percentile(values, 50);
const p99 = (values: number[]) => percentile(values, 99);

function mean(values: number[]): number {
  return sum(values) / values.length;
}

/** Nearest rank: the smallest value that at least q% of the values do not exceed. */
function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((q / 100) * sorted.length));
  return sorted[rank - 1] ?? NaN;
}

function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) fail(`${flag} wants a positive whole number, not ${text}`);
  return value;
}

function fail(message: string): never {
  console.error(`bench:sync: ${message}`);
  process.exit(2);
}

console.log(
  `Node ${process.version}: initial sync of ${contacts} contacts (WindowSize ${WINDOW_SIZE}), ` +
    `then ${emptySyncs} empty incremental Syncs; EAS 14.1, user ${user}, ${flags.cold ? 'first device' : 'second device (after a warm-up one)'}; ` +
    `load average ${loadAverage()}`,
);

let horde: Figures | undefined;
if (flags['no-peer']) {
  console.log('Horde peer: not measured (--no-peer); no ratios');
} else {
  if (!(await hordeIsRunning())) {
    fail(
      `the Horde peer does not answer at ${HORDE_URL}: start it (../shared/peers/horde/setup.sh) or pass --no-peer`,
    );
  }
  console.log(`Horde peer: ${await seedHorde(flags['peer-bench'], user, contacts)}`);
  horde = await measure({ url: HORDE_URL, password: HORDE_PASSWORD, clock: await HordeClock.open() });
}

const airsync = await startAirsync({ database, user, contacts, profilePath: flags.profile });
let airsyncFigures: Figures;
try {
  console.log(`airsync (${database}): ${contacts} contacts seeded in ${airsync.seedSeconds.toFixed(1)} s`);
  airsyncFigures = await measure(airsync, () => airsync.startProfiling());
} finally {
  await airsync.stop();
}
printTable(horde, airsyncFigures);
// Times are wall-clock: other work on the machine shows in them (CPU times are the servers' own).
console.log(`load average now ${loadAverage()}`);
if (database === 'postgres') {
  console.log("airsync's CPU time is its own process's: PostgreSQL's is not counted");
}
if (flags.profile !== undefined) {
  console.log(
    `\nairsync server CPU profile of the measured device: ${flags.profile} ` +
      '(the profiler slows the server: the figures above include it)',
  );
  for (const line of await summarizeProfile(flags.profile, join(import.meta.dirname, '..'), PROFILE_TOP)) {
    console.log(line);
  }
}
