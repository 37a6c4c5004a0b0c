// CPU profiles of the airsync server of bench/ping.ts, one per phase of a round (the Pings arriving,
// the idle hold, the changes). The server profiles itself through the inspector, so that before a
// profile is written every frame can be pointed at its TypeScript line: tsx hands V8 transformed code,
// whose source maps only the process that loaded it knows. The summary lists where the time went.

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

const SAMPLING_INTERVAL_US = 500;

let session: Session | undefined;

/** Starts profiling this process. */
export async function startProfile(): Promise<void> {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
}

/** Stops the profile started last and writes it to `path`, its frames at their TypeScript lines. */
export async function stopProfile(path: string): Promise<void> {
  if (session === undefined) throw new Error('no profile is running');
  const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
  session.disconnect();
  session = undefined;
  for (const { callFrame } of profile.nodes) {
    if (!callFrame.url.startsWith('file:') || callFrame.lineNumber < 0) continue;
    const entry = findSourceMap(callFrame.url)?.findEntry(callFrame.lineNumber, callFrame.columnNumber);
    if (entry === undefined || !('originalLine' in entry)) continue;
    callFrame.lineNumber = entry.originalLine;
    callFrame.columnNumber = entry.originalColumn;
  }
  await writeFile(path, JSON.stringify(profile));
}

/**
 * The `top` places of a profile by self time, and airsync's own functions by the time spent in them
 * or in the library code they call directly, as `name file:line` relative to `root`.
 */
export async function summarizeProfile(path: string, root: string, top: number): Promise<string[]> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const childId of node.children ?? []) parents.set(childId, node.id);
  const self = new Map<string, number>();
  const owned = new Map<string, number>();
  const add = (map: Map<string, number>, where: string, ms: number) =>
    map.set(where, (map.get(where) ?? 0) + ms);
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const stack: string[] = [];
    for (let current: number | undefined = id; current !== undefined; current = parents.get(current)) {
      const node = byId.get(current);
      if (node !== undefined) stack.push(describe(node, root));
    }
    add(self, stack[0] ?? '(unknown)', ms);
    const owner = stack.find((where) => where.includes(' src/'));
    if (owner !== undefined) add(owned, owner, ms);
  });
  const idleMs = self.get('(idle)') ?? 0;
  self.delete('(idle)');
  const busyMs = [...self.values()].reduce((sum, ms) => sum + ms, 0);
  const list = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([where, ms]) =>
          `${ms.toFixed(0).padStart(7)} ms ${((ms / busyMs) * 100).toFixed(1).padStart(5)}%  ${where}`,
      );
  return [
    `busy ${busyMs.toFixed(0)} ms, idle ${idleMs.toFixed(0)} ms`,
    'by self time:',
    ...list(self),
    'airsync functions, with the library and native code they call directly:',
    ...list(owned),
  ];
}

function describe(node: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (url === '') return name;
  const file = url.startsWith('file:') ? relative(root, fileURLToPath(url)) : url;
  return `${name} ${file}:${lineNumber + 1}`;
}
