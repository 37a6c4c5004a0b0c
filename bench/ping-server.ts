// The airsync server of bench/ping.ts: `airsync serve` itself, in a child process, plus what the
// parent may ask for over IPC: a full garbage collection followed by the process's memory figures
// (run with --expose-gc), a heap snapshot written to a file, and CPU profiles.

import { writeHeapSnapshot } from 'node:v8';
import { serve } from '../src/cli/serve.ts';
import { startProfile, stopProfile } from './ping-profile.ts';

export type ServerProbeRequest =
  | { kind: 'collect' }
  | { kind: 'snapshot'; path: string }
  | { kind: 'profile-start' }
  | { kind: 'profile-stop'; path: string };
export type ServerProbeAnswer =
  | { kind: 'collected'; memory: NodeJS.MemoryUsage }
  | { kind: 'snapshot'; path: string }
  | { kind: 'profiling' }
  | { kind: 'profile'; path: string };

async function answer(request: ServerProbeRequest): Promise<ServerProbeAnswer> {
  switch (request.kind) {
    case 'collect':
      // Twice: the first pass may only queue finalizers whose objects the second one frees.
      globalThis.gc?.();
      globalThis.gc?.();
      return { kind: 'collected', memory: process.memoryUsage() };
    case 'snapshot':
      return { kind: 'snapshot', path: writeHeapSnapshot(request.path) };
    case 'profile-start':
      await startProfile();
      return { kind: 'profiling' };
    case 'profile-stop':
      await stopProfile(request.path);
      return { kind: 'profile', path: request.path };
  }
}

process.on('message', (request: ServerProbeRequest) => {
  answer(request).then(
    (reply) => process.send?.(reply),
    (error: unknown) => process.stderr.write(`ping bench probe: ${String(error)}\n`),
  );
});
// The channel must not keep the process alive once `serve` has closed the server.
process.channel?.unref();

process.exitCode = await serve(process.argv.slice(2));
