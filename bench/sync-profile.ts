// A CPU profile of the airsync server for bench/sync.ts --profile. The server process profiles itself
// through the inspector rather than with --cpu-prof, so that before writing the profile it can point
// every frame at its TypeScript line (tsx hands V8 transformed code; its source maps are known to the
// process that loaded it). The summary lists the functions that took the most time.

import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { findSourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** V8's sampling profile (the Profiler domain of the inspector protocol). */
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

const SAMPLING_INTERVAL_US = 200;

/** Starts profiling this process; the returned function stops and writes the profile to `path`. */
export async function startProfiling(path: string): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
    session.disconnect();
    await writeFile(path, JSON.stringify(toSourceLines(profile)));
  };
}

/** Frames in transformed code point at their original line and column; line numbers stay 0-based. */
function toSourceLines(profile: Profile): Profile {
  for (const { callFrame } of profile.nodes) {
    if (!callFrame.url.startsWith('file:') || callFrame.lineNumber < 0) continue;
    const entry = findSourceMap(callFrame.url)?.findEntry(callFrame.lineNumber, callFrame.columnNumber);
    if (entry === undefined || !('originalLine' in entry)) continue;
    callFrame.lineNumber = entry.originalLine;
    callFrame.columnNumber = entry.originalColumn;
  }
  return profile;
}

interface FunctionTime {
  where: string;
  /** Samples with the function on top of the stack. */
  selfMs: number;
  /** Samples with the function anywhere on the stack. */
  totalMs: number;
  /** Samples whose innermost airsync frame is the function: its own time and that of the libraries it calls. */
  ownedMs: number;
}

/**
 * The `top` functions of a profile written by startProfiling, as `name file:line` relative to `root`:
 * airsync's own by total time, and by the time spent in them or in library code they call directly;
 * then all code by self time.
 */
export async function summarizeProfile(path: string, root: string, top: number): Promise<string[]> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const childId of node.children ?? []) parents.set(childId, node.id);
  const micros = new Map<number, number>();
  profile.samples.forEach((id, i) => micros.set(id, (micros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const functions = new Map<string, FunctionTime>();
  const at = (where: string) => {
    let entry = functions.get(where);
    if (entry === undefined) functions.set(where, (entry = { where, selfMs: 0, totalMs: 0, ownedMs: 0 }));
    return entry;
  };
  for (const [id, sampled] of micros) {
    const ms = sampled / 1000;
    const stack: string[] = [];
    for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
      const frame = byId.get(current);
      if (frame !== undefined) stack.push(describe(frame, root));
    }
    at(stack[0] ?? '(unknown)').selfMs += ms;
    // Recursion counts once.
    for (const where of new Set(stack)) at(where).totalMs += ms;
    const owner = stack.find(isOwnCode);
    if (owner !== undefined) at(owner).ownedMs += ms;
  }

  const all = [...functions.values()];
  const profiledMs = (profile.endTime - profile.startTime) / 1000;
  const idleMs = functions.get('(idle)')?.selfMs ?? 0;
  const busyMs = profiledMs - idleMs;
  const list = (entries: FunctionTime[], key: 'selfMs' | 'totalMs' | 'ownedMs') =>
    entries
      .sort((a, b) => b[key] - a[key])
      .slice(0, top)
      .map((entry) => {
        const share = ((entry[key] / busyMs) * 100).toFixed(1);
        return `${entry[key].toFixed(0).padStart(7)} ms ${share.padStart(5)}%  ${entry.where}`;
      });
  const own = all.filter((entry) => isOwnCode(entry.where));
  return [
    `profiled ${profiledMs.toFixed(0)} ms, idle ${idleMs.toFixed(0)} ms; shares are of the busy ${busyMs.toFixed(0)} ms`,
    'airsync functions by total time (with everything they call):',
    ...list(own, 'totalMs'),
    'airsync functions by own time (with the library and native code they call directly):',
    ...list(own, 'ownedMs'),
    'all functions by self time:',
    ...list(
      all.filter((entry) => entry.where !== '(idle)'),
      'selfMs',
    ),
  ];
}

function isOwnCode(where: string): boolean {
  return where.includes(' src/');
}

function describe(node: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (url === '') return name;
  const file = url.startsWith('file:') ? relative(root, fileURLToPath(url)) : url;
  return `${name} ${file}:${lineNumber + 1}`;
}
