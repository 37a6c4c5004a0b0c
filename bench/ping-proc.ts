// What a server process costs, read from /proc: resident and proportional memory, and CPU time. A
// server is one process (airsync) or a process tree (Apache prefork and its workers); both are
// measured as the tree under one pid.

import { readdir, readFile } from 'node:fs/promises';

/** The unit of /proc/PID/stat times (USER_HZ), 100 on every Linux a bench runs on. */
export const CLOCK_TICK_MS = 10;

export interface Memory {
  /** Resident set summed over the processes: shared pages count once per process. */
  rssKiB: number;
  /** Proportional set: each shared page split among the processes that map it. */
  pssKiB: number;
  processes: number;
}

/** The pid and all its descendants. */
export async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readStat(Number(entry));
    if (stat === undefined) continue;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(Number(entry));
    children.set(stat.ppid, siblings);
  }
  const tree: number[] = [];
  const pending = [root];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

export async function memoryOf(root: number): Promise<Memory> {
  const memory: Memory = { rssKiB: 0, pssKiB: 0, processes: 0 };
  for (const pid of await processTree(root)) {
    let text: string;
    try {
      text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    memory.rssKiB += kibField(text, 'Rss');
    memory.pssKiB += kibField(text, 'Pss');
    memory.processes += 1;
  }
  return memory;
}

/**
 * CPU time of the tree so far, in ms: each live process's own, plus what the root has collected
 * from children that ended (so a worker that exits between two readings is not lost).
 */
export async function cpuMsOf(root: number): Promise<number> {
  let ticks = 0;
  for (const pid of await processTree(root)) {
    const stat = await readStat(pid);
    if (stat === undefined) continue;
    ticks += stat.utime + stat.stime;
    if (pid === root) ticks += stat.cutime + stat.cstime;
  }
  return ticks * CLOCK_TICK_MS;
}

interface Stat {
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

async function readStat(pid: number): Promise<Stat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  // Counting from there, field 3 of proc(5) (state) is index 0.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const at = (field: number) => Number(fields[field - 3]);
  return { ppid: at(4), utime: at(14), stime: at(15), cutime: at(16), cstime: at(17) };
}

function kibField(text: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return match === null ? 0 : Number(match[1]);
}
