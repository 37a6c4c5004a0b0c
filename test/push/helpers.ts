// Shared by the change bus tests: where Redis is, and waiting for what another process (here:
// another bus) does without fixed sleeps.

import type { FolderChange } from '../../src/push/index.ts';

export const REDIS_URL = process.env.AIRSYNC_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** Resolves once `condition` holds, checking every few milliseconds; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A listener that keeps what it heard. */
export function recorder(): { changes: FolderChange[]; listener: (change: FolderChange) => void } {
  const changes: FolderChange[] = [];
  return { changes, listener: (change) => changes.push(change) };
}
