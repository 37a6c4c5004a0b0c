// Requests that wait: a Ping, or a Sync with Wait or HeartbeatInterval, parked until a folder it
// watches changes, its heartbeat ends, a newer request of the same device account supersedes it, the
// client hangs up, or the server shuts down. A waiting request holds a subscription on the bus, one
// timer and its entry in the registry below — no database connection, and nothing polls for it.
//
// The registry is keyed by device account, so a phone that reconnects never has two: its new request
// ends the old one at once, in this process directly and in the others through the bus.

import { folderKey, originText, type ChangeBus, type FolderChange, type FolderRef } from './bus.ts';

/** Changes arriving this close together wake a request once, with all of them. */
export const SETTLE_MS = 20;

/** How long a shutdown waits at most for the answers it gave to reach their clients. */
const SHUTDOWN_GRACE_MS = 5000;

/** The HTTP exchange a waiting request belongs to. */
export interface ClientConnection {
  /** Aborted when the client hangs up before it has its answer. */
  readonly hangUp: AbortSignal;
  /** Resolves once the answer has gone out, or the connection is gone. */
  readonly done: Promise<void>;
}

export interface WaitOptions {
  /** The device account waiting: a newer request of the same account ends this one. */
  account: number;
  userId: number;
  folders: readonly FolderRef[];
  /** Also wake when the user's folder list changes. */
  hierarchy?: boolean;
  heartbeatMs: number;
  connection: ClientConnection;
}

/** Why a wait ended without changes. */
export type EndReason = 'heartbeat' | 'superseded' | 'shutdown' | 'hang-up';

export type Wake =
  | {
      kind: 'changes';
      /** The watched folders whose items changed, each once. */
      folders: FolderRef[];
      /** The user's folder list changed. */
      hierarchy: boolean;
      /** Changes made in other processes may have been missed: every folder needs a look. */
      gap: boolean;
    }
  | { kind: 'end'; reason: EndReason };

/** One waiting request. Ask `next()` for what woke it, and `end()` it once answered. */
export class Waiter {
  readonly #registry: WaitingRequests;
  readonly #options: WaitOptions;
  /** When the wait started, ms since the epoch. */
  readonly startedAt = Date.now();
  readonly #changed = new Map<string, FolderRef>();
  #hierarchy = false;
  #gap = false;
  /** The settling time of the changes collected is over: they are ready to be taken. */
  #due = false;
  #ended: EndReason | 'answered' | undefined;
  #wake: ((wake: Wake) => void) | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  readonly #onHangUp = () => this.stop('hang-up');

  constructor(registry: WaitingRequests, bus: ChangeBus, options: WaitOptions) {
    this.#registry = registry;
    this.#options = options;
    this.#unsubscribe = bus.subscribe(
      options.folders,
      {
        userId: options.userId,
        hierarchy: options.hierarchy,
        // A change the device made itself is no news to it.
        ignoreOrigin: originText({ account: options.account }),
        onGap: () => {
          this.#gap = true;
          this.#registry.settle(this);
        },
      },
      (change) => this.#heard(change),
    );
    this.#timer = setTimeout(() => this.stop('heartbeat'), options.heartbeatMs);
    options.connection.hangUp.addEventListener('abort', this.#onHangUp, { once: true });
    if (options.connection.hangUp.aborted) this.stop('hang-up');
  }

  get account(): number {
    return this.#options.account;
  }

  get connection(): ClientConnection {
    return this.#options.connection;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** What woke the request: changes (it keeps waiting until `end()`), or the end of the wait. */
  next(): Promise<Wake> {
    if (this.#wake !== undefined) throw new Error('a waiting request is already being waited for');
    const ended = this.#ended;
    if (ended === 'answered') throw new Error('the waiting request was answered');
    if (ended !== undefined) return Promise.resolve({ kind: 'end', reason: ended });
    if (this.#due) return Promise.resolve(this.#take());
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  /** Ends the wait with `reason`, waking the request if it is waiting; nothing once it has ended. */
  stop(reason: EndReason): void {
    if (this.#release(reason)) this.#deliver({ kind: 'end', reason });
  }

  /** Releases what the request held; call it when the request is answered. */
  end(): void {
    this.#release('answered');
  }

  /** The changes collected have settled (the registry's call). */
  settled(): void {
    if (this.#ended !== undefined) return;
    this.#due = true;
    if (this.#wake !== undefined) this.#deliver(this.#take());
  }

  #heard(change: FolderChange): void {
    if (change.hierarchy === true) this.#hierarchy = true;
    else this.#changed.set(folderKey(change), change);
    this.#registry.settle(this);
  }

  #take(): Wake {
    const wake: Wake = {
      kind: 'changes',
      folders: [...this.#changed.values()],
      hierarchy: this.#hierarchy,
      gap: this.#gap,
    };
    this.#changed.clear();
    this.#hierarchy = false;
    this.#gap = false;
    this.#due = false;
    return wake;
  }

  #deliver(wake: Wake): void {
    const resolve = this.#wake;
    this.#wake = undefined;
    resolve?.(wake);
  }

  /** False when the request had ended already. */
  #release(reason: EndReason | 'answered'): boolean {
    if (this.#ended !== undefined) return false;
    this.#ended = reason;
    clearTimeout(this.#timer);
    this.#unsubscribe();
    this.#options.connection.hangUp.removeEventListener('abort', this.#onHangUp);
    this.#registry.forget(this);
    return true;
  }
}

/** The waiting requests of one server process. */
export class WaitingRequests {
  readonly #bus: ChangeBus;
  readonly #byAccount = new Map<number, Waiter>();
  /** Waiters that heard changes in the current settling time; one timer serves them all. */
  #settling = new Set<Waiter>();
  #settleTimer: NodeJS.Timeout | undefined;
  #closing = false;
  readonly #stopListening: () => void;

  constructor(bus: ChangeBus) {
    this.#bus = bus;
    // Only a request older than the other process's ends: its word may arrive after a newer one here.
    this.#stopListening = bus.onSupersede((account, at) => {
      const waiter = this.#byAccount.get(account);
      if (waiter !== undefined && waiter.startedAt <= at) waiter.stop('superseded');
    });
  }

  /** How many requests wait now. */
  get size(): number {
    return this.#byAccount.size;
  }

  /** Ends the waiting request of this device account, if one waits here: a newer one came. */
  supersede(account: number): void {
    this.#byAccount.get(account)?.stop('superseded');
  }

  /**
   * Starts waiting: the account's earlier waiting request, here or in another process, ends. Once
   * the server is closing, the wait ends at once.
   */
  wait(options: WaitOptions): Waiter {
    this.supersede(options.account);
    const waiter = new Waiter(this, this.#bus, options);
    if (this.#closing) {
      waiter.stop('shutdown');
    } else if (!waiter.ended) {
      this.#byAccount.set(options.account, waiter);
      this.#bus.supersede(options.account, waiter.startedAt);
    }
    return waiter;
  }

  /**
   * Answers every waiting request (their wait ends with 'shutdown'), refuses to start new ones, and
   * resolves once the answers have gone out — or after a few seconds, for clients too slow to take them.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stopListening();
    const waiters = [...this.#byAccount.values()];
    for (const waiter of waiters) waiter.stop('shutdown');
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(waiters.map((waiter) => waiter.connection.done)),
      new Promise((resolve) => (grace = setTimeout(resolve, SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(grace);
    clearTimeout(this.#settleTimer);
  }

  /** A waiter heard a change: it wakes when the settling time is over (a Waiter's call). */
  settle(waiter: Waiter): void {
    this.#settling.add(waiter);
    this.#settleTimer ??= setTimeout(() => {
      this.#settleTimer = undefined;
      const settled = this.#settling;
      this.#settling = new Set();
      for (const each of settled) each.settled();
    }, SETTLE_MS);
  }

  /** A waiter ended: it leaves the registry, unless a newer one of its account took its place (a Waiter's call). */
  forget(waiter: Waiter): void {
    if (this.#byAccount.get(waiter.account) === waiter) this.#byAccount.delete(waiter.account);
    this.#settling.delete(waiter);
  }
}
