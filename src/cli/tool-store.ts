// The built-in store as a command-line tool writes to it. Its changes are announced on the servers'
// change bus (Redis or PostgreSQL), so a phone's held Ping hears of an import at once; on SQLite the
// servers find them in the history themselves.

import { PimStore } from '../backends/store/store.ts';
import type { Config } from '../config.ts';
import { itemWindow } from '../model/index.ts';
import { createChangeBus, toolBusKindFor } from '../push/index.ts';
import type { Database } from '../state/db.ts';

/** Runs `work` with a store whose changes reach the servers' waiting requests. */
export async function withToolStore<T>(
  config: Config,
  database: Database,
  work: (store: PimStore) => Promise<T>,
): Promise<T> {
  const bus = await createChangeBus(toolBusKindFor(config));
  try {
    return await work(
      new PimStore(database.db, { windowOf: itemWindow, onChange: (change) => bus.publish(change) }),
    );
  } finally {
    // Sends what is still queued before the connection goes.
    await bus.close();
  }
}
