// The history poller, over a history table in a SQLite file that another connection (standing for
// another process: the CLI, an import) writes to. The table has the shape of the built-in store's.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import {
  createChangeBus,
  type ChangeBus,
  type HistoryChange,
  type HistoryReader,
} from '../../src/push/index.ts';
import { recorder, waitFor } from './helpers.ts';

const INTERVAL_MS = 20;
const inbox = { userId: 1, backend: 'store', folderId: 'inbox' };

interface HistoryRow {
  seq: number;
  user_id: number;
  folder_id: string;
  origin: string;
  hierarchy: number;
}

/** A reader as the store would write one: an index probe when nothing moved, at most `limit` rows. */
function historyReader(database: SQLite.Database, limit: number): HistoryReader {
  const head = database.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM history');
  const after = database.prepare<[number, number], HistoryRow>(
    'SELECT seq, user_id, folder_id, origin, hierarchy FROM history WHERE seq > ? ORDER BY seq LIMIT ?',
  );
  return (afterSeq) => {
    if (afterSeq === null) return Promise.resolve({ maxSeq: head.get()?.seq ?? 0, changes: [] });
    const rows = after.all(afterSeq, limit);
    const changes = rows.map((row): HistoryChange => ({
      userId: row.user_id,
      backend: 'store',
      folderId: row.folder_id,
      origin: row.origin,
      hierarchy: row.hierarchy === 1,
      seq: row.seq,
    }));
    return Promise.resolve({
      maxSeq: rows.at(-1)?.seq ?? afterSeq,
      changes,
      more: rows.length === limit,
    });
  };
}

describe('change bus polling the history', () => {
  let directory: string;
  let server: SQLite.Database;
  /** The other process's connection. */
  let tool: SQLite.Database;
  let bus: ChangeBus | undefined;

  const write = (folderId: string, origin = 'tool:import', hierarchy = false): number => {
    const result = tool
      .prepare('INSERT INTO history (user_id, folder_id, origin, hierarchy) VALUES (?, ?, ?, ?)')
      .run(1, folderId, origin, hierarchy ? 1 : 0);
    return Number(result.lastInsertRowid);
  };

  const open = async (
    read: HistoryReader,
    errors: Error[] = [],
    intervalMs = INTERVAL_MS,
  ): Promise<ChangeBus> => {
    bus = await createChangeBus({ kind: 'poll', read, intervalMs, onError: (error) => errors.push(error) });
    return bus;
  };

  /** Waits for polls enough that anything written before would have been delivered. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 5));

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'airsync-push-'));
    server = new SQLite(join(directory, 'history.sqlite'));
    server.pragma('journal_mode = WAL');
    tool = new SQLite(join(directory, 'history.sqlite'));
  });
  after(async () => {
    server.close();
    tool.close();
    await rm(directory, { recursive: true, force: true });
  });
  beforeEach(() => {
    server.exec(`DROP TABLE IF EXISTS history;
      CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL,
        folder_id TEXT NOT NULL, origin TEXT NOT NULL, hierarchy INTEGER NOT NULL)`);
  });
  afterEach(async () => {
    await bus?.close();
    bus = undefined;
  });

  test('changes another process writes wake the subscribers; older history is not replayed', async () => {
    write('inbox');
    const heard = recorder();
    const bus = await open(historyReader(server, 100));
    bus.subscribe([inbox], { userId: 1, hierarchy: true }, heard.listener);
    await settle();
    assert.equal(heard.changes.length, 0, 'what was there before the bus opened');

    const seq = write('inbox');
    await waitFor(() => heard.changes.length === 1, 'the change');
    assert.deepEqual(heard.changes, [{ ...inbox, origin: 'tool:import', hierarchy: false, seq }]);
    write('new-folder', 'tool:import', true);
    await waitFor(() => heard.changes.length === 2, 'the hierarchy change');
  });

  test('several rows of one folder and origin in one read wake once', async () => {
    const heard = recorder();
    const bus = await open(historyReader(server, 100));
    bus.subscribe([inbox], { userId: 1 }, heard.listener);
    tool.transaction(() => {
      for (let index = 0; index < 5; index++) write('inbox');
    })();
    await waitFor(() => heard.changes.length === 1, 'the change');
    await settle();
    assert.equal(heard.changes.length, 1);
  });

  test("a change this process published with its seq is not delivered again, nor its folder's earlier rows", async () => {
    const heard = recorder();
    const bus = await open(historyReader(server, 100));
    bus.subscribe([inbox], { userId: 1 }, heard.listener);
    // This process writes two rows of the inbox, then announces the change with the last seq.
    write('inbox', 'account:4');
    const seq = write('inbox', 'account:4');
    bus.publish({ ...inbox, origin: 'account:4', seq });
    assert.equal(heard.changes.length, 1);
    await settle();
    assert.equal(heard.changes.length, 1, 'the poller skipped both rows');

    // A row of another origin is another process's change, and wakes.
    write('inbox', 'tool:import');
    await waitFor(() => heard.changes.length === 2, 'the other origin');
  });

  test('a capped read is continued at once, so a burst is delivered in one poll', async () => {
    const heard: Array<{ folderId: string; at: number }> = [];
    const intervalMs = 300;
    const bus = await open(historyReader(server, 2), [], intervalMs);
    const folders = ['a', 'b', 'c', 'd', 'e'].map((folderId) => ({ ...inbox, folderId }));
    bus.subscribe(folders, { userId: 1 }, (change) =>
      heard.push({ folderId: change.folderId, at: Date.now() }),
    );
    tool.transaction(() => {
      for (const folder of folders) write(folder.folderId);
    })();
    await waitFor(() => heard.length === 5, 'the five changes');
    assert.deepEqual(
      heard.map((change) => change.folderId),
      ['a', 'b', 'c', 'd', 'e'],
    );
    const spread = (heard.at(-1)?.at ?? 0) - (heard[0]?.at ?? 0);
    assert.ok(spread < intervalMs / 2, `delivered over ${spread} ms`);
  });

  test('reads once per interval for the whole process, however many subscribers wait', async () => {
    let reads = 0;
    const reader = historyReader(server, 100);
    const bus = await open((afterSeq) => {
      reads++;
      return reader(afterSeq);
    });
    for (let index = 0; index < 1000; index++) {
      bus.subscribe([{ ...inbox, folderId: `folder-${index}` }], { userId: 1 }, () => {});
    }
    reads = 0;
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 10));
    assert.ok(reads >= 3 && reads <= 12, `${reads} reads in 10 intervals`);
  });

  test('a failed read is reported, and the next one catches up without losing a change', async () => {
    const errors: Error[] = [];
    const heard = recorder();
    const reader = historyReader(server, 100);
    let failNext = false;
    const bus = await open((afterSeq) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('database is locked'));
      }
      return reader(afterSeq);
    }, errors);
    bus.subscribe([inbox], { userId: 1 }, heard.listener);
    failNext = true;
    write('inbox');
    await waitFor(() => heard.changes.length === 1, 'the change after the failure');
    assert.deepEqual(
      errors.map((error) => error.message),
      ['database is locked'],
    );
  });

  test('closing waits for the read under way', async () => {
    let finished = false;
    let reading = false;
    const bus = await open(async (afterSeq) => {
      if (afterSeq === null) return { maxSeq: 0, changes: [] };
      reading = true;
      await new Promise((resolve) => setTimeout(resolve, 50));
      finished = true;
      return { maxSeq: afterSeq, changes: [] };
    });
    await waitFor(() => reading, 'a read');
    await bus.close();
    assert.equal(finished, true);
  });

  test('a bus that cannot read the history at startup fails to open', async () => {
    await assert.rejects(
      createChangeBus({ kind: 'poll', read: () => Promise.reject(new Error('no such table: history')) }),
      /no such table/,
    );
  });
});
