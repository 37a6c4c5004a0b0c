// For SQLite, which cannot notify other processes: one poller per process reads the history of
// changes (the built-in store's history table) once per interval, for the whole server and never
// per waiting request, and delivers what other processes wrote there (the CLI, an import) to this
// process's subscribers. What this process itself writes it publishes at once, so the poller is
// only the way in for the others.
//
// A change this process published with its `seq` is not delivered a second time when the poller
// reads its rows: SQLite writes one transaction at a time, so every row of the same folder and
// origin at or below that seq was committed before the publish, and whoever that publish woke will
// see those rows on its next sync. A change published without `seq`, or only after the poller had
// already read its rows, wakes its subscribers twice: harmless, it costs a sync that finds nothing.

import { folderKey, type ChangeTransport, type FolderChange, type TransportSink } from './bus.ts';
import type { BusMessage } from './wire.ts';

export interface HistoryChange extends FolderChange {
  seq: number;
}

export interface HistoryPage {
  /** Where the next read continues: the highest seq this answer covers (for `read(null)`, the newest there is; 0 when empty). */
  maxSeq: number;
  /** The changes after `afterSeq`, oldest first; always empty for `read(null)`. */
  changes: HistoryChange[];
  /** The answer was capped and more changes follow `maxSeq`: the poller reads again at once. */
  more?: boolean;
}

/**
 * Reads the history after a seq; `null` asks only where the history ends now. It runs once per
 * interval whether or not anything changed, so it should cost one index probe when nothing did
 * (`seq > ?` on the primary key). Several rows of one folder may come back as one change.
 */
export type HistoryReader = (afterSeq: number | null) => Promise<HistoryPage>;

export const DEFAULT_POLL_INTERVAL_MS = 1000;

export interface HistoryPollerOptions {
  read: HistoryReader;
  intervalMs: number;
}

export class HistoryPoller implements ChangeTransport {
  readonly #read: HistoryReader;
  readonly #intervalMs: number;
  readonly #sink: TransportSink;
  #lastSeq: number;
  /** For each folder, origin and kind this process published: the highest seq it announced. */
  readonly #announced = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  private constructor(options: HistoryPollerOptions, sink: TransportSink, lastSeq: number) {
    this.#read = options.read;
    this.#intervalMs = options.intervalMs;
    this.#sink = sink;
    this.#lastSeq = lastSeq;
  }

  /** Resolves once the poller knows where the history ends; rejects if it cannot read it. */
  static async start(options: HistoryPollerOptions, sink: TransportSink): Promise<HistoryPoller> {
    const head = await options.read(null);
    const poller = new HistoryPoller(options, sink, head.maxSeq);
    poller.#schedule();
    return poller;
  }

  /**
   * Nothing travels: this only notes the changes this process announced, so that the poller skips
   * them. A supersede has no way to other processes here (on SQLite, one server process is usual).
   */
  send(message: BusMessage): void {
    if (message.kind !== 'change') return;
    const { change } = message;
    if (change.seq === undefined || change.seq <= this.#lastSeq) return;
    const identity = changeIdentity(change);
    if ((this.#announced.get(identity) ?? -Infinity) < change.seq) this.#announced.set(identity, change.seq);
  }

  /** Stops polling once the read under way, if any, is done. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#polling;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#polling = this.#poll()
        .catch((error: unknown) =>
          this.#sink.error(error instanceof Error ? error : new Error(String(error))),
        )
        .finally(() => {
          this.#polling = undefined;
          if (!this.#closed) this.#schedule();
        });
    }, this.#intervalMs);
    // Polling alone does not keep the process alive.
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    for (;;) {
      const page = await this.#read(this.#lastSeq);
      // Several rows of one folder, origin and kind wake its subscribers once.
      const news = new Map<string, HistoryChange>();
      for (const change of page.changes) {
        const identity = changeIdentity(change);
        if ((this.#announced.get(identity) ?? -Infinity) >= change.seq) continue;
        news.set(identity, change);
      }
      const moved = page.maxSeq > this.#lastSeq;
      if (moved) this.#forgetUpTo(page.maxSeq);
      for (const change of news.values()) this.#sink.deliver(change);
      if (page.more !== true || !moved || this.#closed) return;
    }
  }

  #forgetUpTo(seq: number): void {
    this.#lastSeq = seq;
    for (const [identity, announcedSeq] of this.#announced) {
      if (announcedSeq <= seq) this.#announced.delete(identity);
    }
  }
}

function changeIdentity(change: FolderChange): string {
  return `${change.hierarchy === true ? 'folders' : 'items'}\n${change.origin ?? ''}\n${folderKey(change)}`;
}
