// The airsync server of bench/sync.ts, in a child process of its own: what `airsync serve` runs
// (configuration from AIRSYNC_*, its request log line on standard output), plus each request's
// duration to the parent over IPC, to the microsecond: the log line rounds it to whole milliseconds.
// The duration is the one that log line reports: fastify's, from the request's arrival to the
// answer's last byte handed to the kernel. With a path as its argument, the process profiles itself
// (bench/sync-profile.ts) from when the parent says so, and writes the profile there when it stops.

import { buildApp } from '../src/http/server.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/state/db.ts';
import type { ServerRequest } from './sync-client.ts';
import { startProfiling } from './sync-profile.ts';

/** What the parent is told: where the server listens, then what it asks for. */
export type ServerMessage =
  | { kind: 'listening'; url: string }
  | { kind: 'requests'; requests: (ServerRequest & { deviceId: string })[] }
  | { kind: 'cpu'; ms: number }
  | { kind: 'profile' };
/** What the parent asks: the requests measured since it last asked, the CPU time used so far, or to start profiling. */
export type ParentMessage = { kind: 'requests' } | { kind: 'cpu' } | { kind: 'profile' };

const send = (message: ServerMessage) => process.send?.(message);

const config = loadConfig({ env: process.env });
const database = await openDatabase(config);
const app = await buildApp(config, { db: database.db });
let measured: (ServerRequest & { deviceId: string })[] = [];
app.addHook('onResponse', async (request, reply) => {
  const eas = request.easRequest;
  if (eas === null) return;
  measured.push({ deviceId: eas.deviceId, command: eas.command, ms: reply.elapsedTime });
});
await app.listen({ host: config.listen.host, port: config.listen.port });
const profilePath = process.argv[2];
let stopProfiling: (() => Promise<void>) | undefined;
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('the server listens on no TCP port');
send({ kind: 'listening', url: `http://${config.listen.host}:${address.port}` });

process.on('message', (message: ParentMessage) => {
  switch (message.kind) {
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      send({ kind: 'cpu', ms: (user + system) / 1000 });
      break;
    }
    case 'requests':
      send({ kind: 'requests', requests: measured });
      measured = [];
      break;
    case 'profile':
      // On the parent's word: the profile shows the measured requests, not the start or a warm-up.
      void (async () => {
        if (profilePath !== undefined) stopProfiling ??= await startProfiling(profilePath);
        send({ kind: 'profile' });
      })();
      break;
  }
});
process.once('SIGTERM', () => {
  void (async () => {
    await stopProfiling?.();
    await app.close();
    await database.close();
    process.disconnect();
  })();
});
