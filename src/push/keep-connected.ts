// Keeps one connection to a server open. The first one must open, so that a wrong address fails at
// startup; after that, a dropped connection is replaced after a pause that doubles with each failed
// attempt, with jitter so that processes cut off together do not all come back at the same moment.

export interface Closable {
  close(): Promise<void>;
}

export interface Backoff {
  /** The pause before the first attempt after a drop. */
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, maxMs: 30_000 };

/** The pause before retry number `failures` (0: after a drop): between half and all of the doubled pause. */
export function backoffDelay(failures: number, backoff: Backoff): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** failures);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

export interface KeepConnectedOptions<C> {
  /**
   * Opens a connection ready for use (connected, subscribed…). It calls `dropped` when the
   * connection fails or ends, whenever that happens; calling it more than once does no harm.
   */
  open(dropped: (error?: Error) => void): Promise<C>;
  /** A replacement connection is ready. */
  reopened(connection: C): void;
  /** A drop, or a failed attempt to reopen; the connection is retried. */
  error(error: Error): void;
  backoff: Backoff;
}

export class KeepConnected<C extends Closable> {
  readonly #options: KeepConnectedOptions<C>;
  #current: C | undefined;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #reopening: Promise<void> | undefined;
  #closed = false;

  private constructor(options: KeepConnectedOptions<C>) {
    this.#options = options;
  }

  /** Resolves once the first connection is open; rejects if it cannot be. */
  static async start<C extends Closable>(options: KeepConnectedOptions<C>): Promise<KeepConnected<C>> {
    const keeper = new KeepConnected(options);
    await keeper.#connect();
    return keeper;
  }

  /** The open connection; undefined while it is being replaced. */
  get current(): C | undefined {
    return this.#current;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#reopening;
    const current = this.#current;
    this.#current = undefined;
    await current?.close();
  }

  async #connect(): Promise<void> {
    let dropped = false;
    let ready = false;
    const onDrop = (error?: Error): void => {
      if (dropped) return;
      dropped = true;
      // A drop during setup is the failure of `open` itself, handled by its caller. A connection
      // drops once, and its replacement is opened only after that, so a ready one is the current one.
      if (!ready) return;
      this.#current = undefined;
      if (this.#closed) return;
      this.#options.error(error ?? new Error('connection closed'));
      this.#scheduleReopen();
    };
    const opened = await this.#options.open(onDrop);
    if (dropped || this.#closed) {
      await opened.close().catch(() => {});
      if (dropped) throw new Error('connection closed while it was being set up');
      return;
    }
    ready = true;
    this.#current = opened;
  }

  #scheduleReopen(): void {
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#reopening = this.#connect()
          .then(
            () => {
              this.#failures = 0;
              if (this.#current !== undefined) this.#options.reopened(this.#current);
            },
            (error: unknown) => {
              this.#failures += 1;
              if (this.#closed) return;
              this.#options.error(error instanceof Error ? error : new Error(String(error)));
              this.#scheduleReopen();
            },
          )
          .finally(() => {
            this.#reopening = undefined;
          });
      },
      backoffDelay(this.#failures, this.#options.backoff),
    );
    // Reconnecting alone does not keep the process alive.
    this.#timer.unref();
  }
}
