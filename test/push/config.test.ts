// The push settings: heartbeat bounds, the cap a reverse proxy's timeout puts on them, the Wait
// values (minutes) they allow, and the change bus the server picks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { changeBusKindFor, toolBusKindFor, type HistoryReader } from '../../src/push/index.ts';
import { boundExceeded, heartbeatLimits, waitLimits } from '../../src/push/heartbeat.ts';

const noHistory: HistoryReader = () => Promise.resolve({ maxSeq: 0, changes: [] });

test('defaults: heartbeats of 60 to 3540 s, Wait of 1 to 59 minutes, 300 folders, the history poller on SQLite', () => {
  const { push, database } = loadConfig();
  assert.deepEqual(heartbeatLimits(push), { min: 60, max: 3540 });
  assert.deepEqual(waitLimits(heartbeatLimits(push)), { min: 1, max: 59 });
  assert.equal(push.maxFolders, 300);
  assert.deepEqual(changeBusKindFor({ database, push }, noHistory), {
    kind: 'poll',
    read: noHistory,
    intervalMs: 1000,
  });
});

test("a proxy's timeout caps the heartbeat ten seconds below it", () => {
  const { push } = loadConfig({ env: { AIRSYNC_PROXY_TIMEOUT: '310' } });
  assert.deepEqual(heartbeatLimits(push), { min: 60, max: 300 });
  assert.deepEqual(waitLimits(heartbeatLimits(push)), { min: 1, max: 5 });
  // A proxy that waits longer than the longest heartbeat changes nothing.
  const generous = loadConfig({ overrides: { push: { proxyTimeout: 3660 } } }).push;
  assert.deepEqual(heartbeatLimits(generous), { min: 60, max: 3540 });
});

test('a proxy timeout that leaves no heartbeat of a minute is refused, naming the setting', () => {
  assert.throws(
    () => loadConfig({ env: { AIRSYNC_PROXY_TIMEOUT: '60' } }),
    /push: the longest heartbeat accepted must be at least 60 s .*proxyTimeout 60 leaves heartbeats up to 50 s: raise the proxy's timeout \(from AIRSYNC_PROXY_TIMEOUT\)/,
  );
  assert.throws(
    () => loadConfig({ overrides: { push: { minHeartbeat: 600, maxHeartbeat: 300 } } }),
    /at least 600 s .*maxHeartbeat is 300/,
  );
});

test('short bounds, as tests use them', () => {
  const { push } = loadConfig({ overrides: { push: { minHeartbeat: 1, maxHeartbeat: 90 } } });
  assert.deepEqual(heartbeatLimits(push), { min: 1, max: 90 });
  assert.deepEqual(waitLimits(heartbeatLimits(push)), { min: 1, max: 1 });
  const limits = { min: 1, max: 90 };
  assert.deepEqual(
    [0, 1, 90, 91, -5].map((value) => boundExceeded(value, limits)),
    [1, undefined, undefined, 90, 1],
  );
});

test('the bus: Redis when given, else LISTEN/NOTIFY on PostgreSQL', () => {
  const database = 'postgres://db.example.org/airsync';
  const redis = loadConfig({
    env: { AIRSYNC_BUS: 'redis://:secret@cache.example.org:6380', AIRSYNC_DATABASE: database },
  });
  assert.deepEqual(changeBusKindFor(redis, noHistory), {
    kind: 'redis',
    url: 'redis://:secret@cache.example.org:6380',
    channel: 'airsync_changes',
  });
  const postgres = loadConfig({ overrides: { database, push: { channel: 'mail_changes' } } });
  assert.deepEqual(changeBusKindFor(postgres, noHistory), {
    kind: 'postgres',
    connectionString: database,
    channel: 'mail_changes',
  });
  assert.throws(
    () => loadConfig({ env: { AIRSYNC_BUS: 'http://cache' } }),
    /push\.bus: expected a redis:\/\//,
  );
  assert.throws(() => loadConfig({ overrides: { push: { channel: 'Bad-Name' } } }), /push\.channel/);
});

test("a tool publishes on the servers' bus; on SQLite the servers read the history instead", () => {
  const database = 'postgres://db.example.org/airsync';
  assert.deepEqual(toolBusKindFor(loadConfig({ overrides: { database } })), {
    kind: 'postgres',
    connectionString: database,
    channel: 'airsync_changes',
  });
  assert.deepEqual(toolBusKindFor(loadConfig({ env: { AIRSYNC_BUS: 'redis://127.0.0.1' } })), {
    kind: 'redis',
    url: 'redis://127.0.0.1',
    channel: 'airsync_changes',
  });
  assert.deepEqual(toolBusKindFor(loadConfig()), { kind: 'memory' });
});
