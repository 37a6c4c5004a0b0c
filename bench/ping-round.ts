// One measured round of bench/ping.ts against one server: N devices each hold a Ping; the server's
// memory before and with them held, its CPU time while nothing happens, then changes to random
// users' address books and the time from each change's commit to each of that user's Pings
// answering. The same round runs against airsync and against the Horde peer.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Fleet } from './ping-fleet.ts';
import type { PingEvent } from './ping-load.ts';
import { cpuMsOf, memoryOf, type Memory } from './ping-proc.ts';

export interface Target {
  /** The server's process, or the parent of its process tree. */
  pid: number;
  /** Which clock `change` reads, of the two each Ping answer carries. */
  clock: 'mono' | 'wall';
  /** Changes the user's address book; resolves with the time of the commit, ms on `clock`. */
  change(user: number): Promise<number>;
  /** Memory after a full garbage collection, when the server can be asked for it. */
  collect?(): Promise<NodeJS.MemoryUsage>;
  /** Called when the memory is read, before and with the N Pings held (for a heap snapshot, say). */
  inspect?(moment: 'before' | 'held'): Promise<void>;
  /** Called around each phase of the round, for a CPU profile of it. */
  phase?(phase: Phase, event: 'start' | 'end'): Promise<void>;
}

/** The Pings arriving and settling; the idle hold; the changes and their answers. */
export type Phase = 'arrival' | 'idle' | 'changes';

export interface RoundOptions {
  n: number;
  devicesPerUser: number;
  changes: number;
  /** Pause between the starts of two changes. */
  changeIntervalMs: number;
  /**
   * A change is made this long at most (a random share of it) after its user is picked, so that it
   * falls at any phase of a server that looks for changes periodically rather than right after the
   * user's Pings arrived.
   */
  changeJitterMs: number;
  /** How long after the last change a Ping may still answer. */
  pushTimeoutMs: number;
  idleSeconds: number;
  /** Users whose Pings are held, changed and answered first, for the server's code to warm up. */
  warmUpUsers: number;
  /** How fast the N Pings arrive. */
  pingsPerSecond: number;
}

export interface RoundResult {
  n: number;
  /** With a target that can collect garbage, read after a full collection. */
  before: Memory;
  held: Memory;
  /** With the N Pings held, before that collection. */
  heldUncollected: Memory;
  /** The server's own figures after the collection, when the target offers one. */
  heapBefore?: NodeJS.MemoryUsage;
  heapHeld?: NodeJS.MemoryUsage;
  /** CPU time over the idle window, in % of one core. */
  idleCpuPercent: number;
  /** CPU time from the first Ping sent until the server settled, per Ping. */
  arrivalCpuMsPerPing: number;
  /** Change committed → Ping answered, ms, one per device woken. */
  latencies: number[];
  changesMade: number;
  failures: Failures;
  warmUp: { woken: number; expected: number } | undefined;
}

export interface Failures {
  /** A Ping or the sync after it that got no answer or a wrong one. */
  errors: string[];
  /** Pings that answered Status 2 although no change was pending for their user (not a failure). */
  spurious: string[];
  /** Pings that answered Status 1 during the round: the heartbeat ended, or the server ended it (not a failure). */
  expired: number;
  /** Devices a change should have woken and did not, within the push timeout. */
  missed: number;
  /** Devices whose Ping was never sent. */
  notSent: number;
}

export function failureCount(failures: Failures): number {
  return failures.errors.length + failures.missed + failures.notSent;
}

/** Pings sent this long ago are taken to be parked in the server before their user is changed. */
const PARKED_AFTER_MS = 300;
const SEND_TIMEOUT_MS = 180_000;
/**
 * A server has settled when, for `stableMs`, its number of processes has not changed (Apache starts
 * workers for new connections and ends idle ones a second at a time) and its CPU use has stayed
 * below `cpuPercent` of a core.
 */
const SETTLED = { windowMs: 500, stableMs: 3_000, cpuPercent: 5, maximumMs: 90_000 };

interface DeviceState {
  /** When the device's current Ping was sent; undefined while it has none. */
  sentAt: number | undefined;
}

interface PendingChange {
  committed: number | undefined;
  /** The devices still to answer, and the answers in before the commit time was known. */
  waiting: Set<number>;
  early: number[];
}

const monoNow = () => Number(process.hrtime.bigint()) / 1e6;

export async function runRound(fleet: Fleet, target: Target, options: RoundOptions): Promise<RoundResult> {
  const { n, devicesPerUser } = options;
  const users = Math.ceil(n / devicesPerUser);
  const devicesOf = (user: number) =>
    Array.from({ length: devicesPerUser }, (_, d) => user * devicesPerUser + d).filter((index) => index < n);
  const userOf = (index: number) => Math.floor(index / devicesPerUser);

  const devices = new Map<number, DeviceState>();
  const pending = new Map<number, PendingChange>();
  const latencies: number[] = [];
  const failures: Failures = { errors: [], spurious: [], expired: 0, missed: 0, notSent: 0 };
  /** The commit time of each user's last change. */
  const lastChange = new Map<number, number>();
  /** Devices whose Ping has been sent at least once. */
  const sent = new Set<number>();

  const resolveIfDone = (user: number, change: PendingChange) => {
    if (change.committed === undefined) return;
    lastChange.set(user, change.committed);
    for (const at of change.early) latencies.push(at - change.committed);
    change.early = [];
    if (change.waiting.size === 0) pending.delete(user);
  };
  const onEvents = (events: PingEvent[]) => {
    for (const event of events) {
      const state = devices.get(event.index);
      if (state === undefined) continue; // a device of the warm-up, or of no round
      if (event.kind === 'sent') {
        sent.add(event.index);
        state.sentAt = event.mono;
        continue;
      }
      if (event.kind === 'failure') {
        failures.errors.push(`device ${event.index}: ${event.what}`);
        continue;
      }
      state.sentAt = undefined;
      const user = userOf(event.index);
      const change = pending.get(user);
      if (event.status === 2 && change?.waiting.has(event.index)) {
        change.waiting.delete(event.index);
        const at = target.clock === 'mono' ? event.mono : event.wall;
        if (change.committed === undefined) change.early.push(at);
        else latencies.push(at - change.committed);
        resolveIfDone(user, change);
      } else if (event.status === 1) {
        failures.expired++;
      } else if (event.status === 2) {
        const at = target.clock === 'mono' ? event.mono : event.wall;
        const last = lastChange.get(user);
        const since =
          last === undefined
            ? 'no change to its user before'
            : `${(at - last).toFixed(0)} ms after its user's last change`;
        failures.spurious.push(`device ${event.index}, ${since}`);
      } else {
        failures.errors.push(
          `device ${event.index}: HTTP ${event.httpStatus}, Ping Status ${event.status ?? 'none'}`,
        );
      }
    }
  };

  const warmUp = options.warmUpUsers > 0 ? await warmUpServer(fleet, target, options, devicesOf) : undefined;
  await settle(target.pid);
  const heapBefore = await target.collect?.();
  const before = await memoryOf(target.pid);
  await target.inspect?.('before');

  // In random order: the devices of one user come back at different moments, as phones do.
  const indices = shuffled(Array.from({ length: n }, (_, index) => index));
  for (const index of indices) devices.set(index, { sentAt: undefined });
  const stopListening = fleet.onEvents(onEvents);
  try {
    await target.phase?.('arrival', 'start');
    const arrivalCpuStart = await cpuMsOf(target.pid);
    fleet.hold(indices, options.pingsPerSecond, 'ping');
    const sendDeadline = monoNow() + SEND_TIMEOUT_MS;
    while (sent.size < n && monoNow() < sendDeadline) await sleep(50);
    failures.notSent = n - sent.size;
    await settle(target.pid);
    const arrivalCpuMsPerPing = ((await cpuMsOf(target.pid)) - arrivalCpuStart) / n;
    await target.phase?.('arrival', 'end');

    const heldUncollected = await memoryOf(target.pid);
    const heapHeld = await target.collect?.();
    const held = target.collect === undefined ? heldUncollected : await memoryOf(target.pid);
    await target.inspect?.('held');

    await target.phase?.('idle', 'start');
    const cpuStart = await cpuMsOf(target.pid);
    const idleStart = monoNow();
    await sleep(options.idleSeconds * 1000);
    const idleCpuPercent = (((await cpuMsOf(target.pid)) - cpuStart) / (monoNow() - idleStart)) * 100;
    await target.phase?.('idle', 'end');
    await target.phase?.('changes', 'start');

    // Changes, each to a random user whose Pings are all parked and who has no change pending.
    let changesMade = 0;
    const parked = (user: number) =>
      !pending.has(user) &&
      devicesOf(user).every((index) => {
        const sentAt = devices.get(index)?.sentAt;
        return sentAt !== undefined && monoNow() - sentAt >= PARKED_AFTER_MS;
      });
    const changesDeadline =
      monoNow() +
      options.changes * options.changeIntervalMs +
      options.changeJitterMs +
      10 * options.pushTimeoutMs;
    const changing: Promise<void>[] = [];
    while (changesMade < options.changes && monoNow() < changesDeadline) {
      const started = monoNow();
      const user = pickRandom(users, parked);
      if (user === undefined) {
        await sleep(5);
        continue;
      }
      const change: PendingChange = { committed: undefined, waiting: new Set(devicesOf(user)), early: [] };
      pending.set(user, change);
      changesMade++;
      changing.push(
        (async () => {
          await sleep(Math.random() * options.changeJitterMs);
          change.committed = await target.change(user);
          resolveIfDone(user, change);
        })(),
      );
      await sleep(Math.max(0, options.changeIntervalMs - (monoNow() - started)));
    }
    await Promise.all(changing);
    const answerDeadline = monoNow() + options.pushTimeoutMs;
    while (pending.size > 0 && monoNow() < answerDeadline) await sleep(20);
    failures.missed = [...pending.values()].reduce((sum, change) => sum + change.waiting.size, 0);
    await target.phase?.('changes', 'end');

    return {
      n,
      before,
      held,
      heldUncollected,
      heapBefore,
      heapHeld,
      idleCpuPercent,
      arrivalCpuMsPerPing,
      latencies,
      changesMade,
      failures,
      warmUp,
    };
  } finally {
    stopListening();
    await fleet.release();
  }
}

/**
 * Holds the Pings of the first `warmUpUsers` users, changes each of them once and waits until their
 * Pings have answered and their devices synced: every path a round measures has run once.
 */
async function warmUpServer(
  fleet: Fleet,
  target: Target,
  options: RoundOptions,
  devicesOf: (user: number) => number[],
): Promise<{ woken: number; expected: number }> {
  const users = Array.from(
    { length: Math.min(options.warmUpUsers, Math.ceil(options.n / options.devicesPerUser)) },
    (_, u) => u,
  );
  const indices = new Set(users.flatMap(devicesOf));
  const sent = new Set<number>();
  const woken = new Set<number>();
  const stopListening = fleet.onEvents((events) => {
    for (const event of events) {
      if (!indices.has(event.index)) continue;
      if (event.kind === 'sent') sent.add(event.index);
      else if (event.kind === 'answer' && event.status === 2) woken.add(event.index);
    }
  });
  try {
    fleet.hold([...indices], options.pingsPerSecond, 'sync');
    const deadline = monoNow() + SEND_TIMEOUT_MS;
    while (sent.size < indices.size && monoNow() < deadline) await sleep(20);
    await sleep(PARKED_AFTER_MS);
    for (const user of users) await target.change(user);
    const answerDeadline = monoNow() + options.pushTimeoutMs;
    while (woken.size < indices.size && monoNow() < answerDeadline) await sleep(20);
  } finally {
    stopListening();
    await fleet.release();
  }
  return { woken: woken.size, expected: indices.size };
}

async function settle(pid: number): Promise<void> {
  const start = monoNow();
  let cpu = await cpuMsOf(pid);
  let processes = (await memoryOf(pid)).processes;
  let stableSince = start;
  for (;;) {
    await sleep(SETTLED.windowMs);
    const cpuNow = await cpuMsOf(pid);
    const processesNow = (await memoryOf(pid)).processes;
    const busy = ((cpuNow - cpu) / SETTLED.windowMs) * 100 >= SETTLED.cpuPercent;
    if (busy || processesNow !== processes) stableSince = monoNow();
    cpu = cpuNow;
    processes = processesNow;
    if (monoNow() - stableSince >= SETTLED.stableMs || monoNow() - start >= SETTLED.maximumMs) return;
  }
}

/** A random number below `count` among those that pass `accept`; undefined when none does. */
function pickRandom(count: number, accept: (value: number) => boolean): number | undefined {
  const candidates = Array.from({ length: count }, (_, value) => value).filter(accept);
  return candidates[Math.floor(Math.random() * candidates.length)];
}

function shuffled<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: readonly number[], fraction: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}
