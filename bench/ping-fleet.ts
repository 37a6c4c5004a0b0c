// The load generators of bench/ping.ts, seen from the parent: child processes (bench/ping-load.ts)
// that share the devices between them, each holding at most MAX_SOCKETS_PER_GENERATOR connections,
// and whose open-file limit is raised to what they will hold.

import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import type { DeviceSpec, LoadCommand, LoadReport, PingEvent } from './ping-load.ts';

export const MAX_SOCKETS_PER_GENERATOR = 5_000;
/** Descriptors a process needs besides its sockets: stdio, IPC, database files, the event loop. */
const SPARE_DESCRIPTORS = 256;
const LOAD_ENTRY = join(import.meta.dirname, 'ping-load.ts');

/** The soft and hard limits on open files of this process, which its children inherit. */
export function openFileLimits(): { soft: number; hard: number } {
  const text = execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' });
  const [soft, hard] = text
    .trim()
    .split('\n')
    .map((line) => (line === 'unlimited' ? Infinity : Number(line)));
  return { soft: soft as number, hard: hard as number };
}

/**
 * Spawns node with `args` allowed to open `sockets` sockets besides its usual descriptors: through
 * a shell that raises its soft limit and then becomes node (so the pid is node's), when the inherited
 * limit is too low. Throws when the hard limit does not allow it.
 */
export function spawnNode(args: readonly string[], sockets: number, options: SpawnOptions): ChildProcess {
  const needed = sockets + SPARE_DESCRIPTORS;
  const { soft, hard } = openFileLimits();
  if (needed <= soft) return spawn(process.execPath, args, options);
  if (needed > hard) {
    throw new Error(
      `${sockets} sockets need ${needed} open files, above the hard limit of ${hard} (ulimit -Hn)`,
    );
  }
  return spawn(
    '/bin/sh',
    ['-c', `ulimit -Sn ${needed} && exec "$0" "$@"`, process.execPath, ...args],
    options,
  );
}

type Setup = Omit<Extract<LoadCommand, { kind: 'setup' }>, 'kind' | 'devices'>;

export class Fleet {
  private readonly listeners = new Set<(events: PingEvent[]) => void>();
  /** Which generator plays which device. */
  private readonly owner = new Map<number, ChildProcess>();

  private constructor(private readonly generators: ChildProcess[]) {
    for (const generator of generators) {
      generator.on('message', (report: LoadReport) => {
        if (report.kind === 'events') for (const listener of this.listeners) listener(report.events);
      });
      generator.on('exit', (code, signal) => {
        if (code !== 0 && signal === null) {
          process.stderr.write(`a ping load generator exited with ${code}\n`);
          process.exit(1);
        }
      });
    }
  }

  /** Shares `devices` among as many generators as it takes, round robin, so every round draws on all. */
  static async start(devices: readonly DeviceSpec[], setup: Setup): Promise<Fleet> {
    const count = Math.max(1, Math.ceil(devices.length / MAX_SOCKETS_PER_GENERATOR));
    const shares = Array.from({ length: count }, (_, g) => devices.filter((_, i) => i % count === g));
    const generators = shares.map((share) =>
      spawnNode(['--import', 'tsx', LOAD_ENTRY], share.length, {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    const fleet = new Fleet(generators);
    shares.forEach((share, g) => {
      for (const device of share) fleet.owner.set(device.index, generators[g] as ChildProcess);
    });
    await fleet.everyone((_generator, g) => ({ kind: 'setup', ...setup, devices: shares[g] ?? [] }), 'ready');
    return fleet;
  }

  get size(): number {
    return this.generators.length;
  }

  onEvents(listener: (events: PingEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Points every device at a server that moved. */
  async moveTo(url: string): Promise<void> {
    await this.everyone(() => ({ kind: 'url', url }), 'ready');
  }

  /** Primes every device, `concurrency` at a time in each generator; the failures. */
  async prime(concurrency: number): Promise<string[]> {
    const reports = await this.everyone(() => ({ kind: 'prime', concurrency }), 'primed');
    return reports.flatMap((report) => (report.kind === 'primed' ? report.failures : []));
  }

  /** Sends the Pings of these devices, `perSecond` in all. */
  hold(indices: readonly number[], perSecond: number, afterChange: 'ping' | 'sync'): void {
    const byGenerator = new Map<ChildProcess, number[]>();
    for (const index of indices) {
      const generator = this.owner.get(index);
      if (generator === undefined) throw new Error(`no generator plays device ${index}`);
      const share = byGenerator.get(generator) ?? [];
      share.push(index);
      byGenerator.set(generator, share);
    }
    for (const [generator, share] of byGenerator) {
      const rate = perSecond / byGenerator.size;
      generator.send({ kind: 'hold', indices: share, perSecond: rate, afterChange } satisfies LoadCommand);
    }
  }

  /** Aborts every Ping and waits for the syncs under way. */
  async release(): Promise<void> {
    await this.everyone(() => ({ kind: 'release' }), 'released');
  }

  async close(): Promise<void> {
    await Promise.all(
      this.generators.map(
        (generator) =>
          new Promise((resolve) => {
            generator.removeAllListeners('exit');
            generator.once('exit', resolve);
            generator.disconnect();
          }),
      ),
    );
  }

  /** Sends each generator its command and waits for every one's report of `kind`. */
  private everyone(
    command: (generator: ChildProcess, g: number) => LoadCommand,
    kind: LoadReport['kind'],
  ): Promise<LoadReport[]> {
    return Promise.all(
      this.generators.map((generator, g) => {
        const reported = new Promise<LoadReport>((resolve) => {
          const onMessage = (report: LoadReport) => {
            if (report.kind !== kind) return;
            generator.off('message', onMessage);
            resolve(report);
          };
          generator.on('message', onMessage);
        });
        generator.send(command(generator, g));
        return reported;
      }),
    );
  }
}
