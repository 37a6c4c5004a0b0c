// Outgoing changes of a transport whose connection comes and goes. A change published while the
// connection is down, or whose send failed because it went down, is held and sent on the next
// connection: a late wake-up costs a second of latency, a lost one leaves a Ping asleep until its
// heartbeat ends.

/** Changes held at most while disconnected; past that, the oldest are dropped. */
export const MAX_HELD = 10_000;

export interface OutboxOptions<C> {
  /** The open connection, if any. */
  connection(): C | undefined;
  send(connection: C, payload: string): Promise<void>;
  error(error: Error): void;
}

export class Outbox<C> {
  readonly #options: OutboxOptions<C>;
  #held: string[] = [];
  #overflowReported = false;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: OutboxOptions<C>) {
    this.#options = options;
  }

  push(payload: string): void {
    const connection = this.#options.connection();
    if (connection === undefined) this.#hold(payload);
    else this.#sendOn(connection, payload);
  }

  /** Sends what was held; call it when a new connection is ready. */
  flush(): void {
    const connection = this.#options.connection();
    if (connection === undefined) return;
    const held = this.#held;
    this.#held = [];
    this.#overflowReported = false;
    for (const payload of held) this.#sendOn(connection, payload);
  }

  /** Waits for the sends under way; returns how many changes are still held (unsent). */
  async drain(): Promise<number> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    return this.#held.length;
  }

  #sendOn(connection: C, payload: string): void {
    const sending = this.#options
      .send(connection, payload)
      .catch(() => {
        // A failed send means the connection is going down (the transport refuses payloads it
        // cannot send before they get here); whoever watches the connection reports why.
        const now = this.#options.connection();
        if (now === undefined || now === connection) this.#hold(payload);
        else this.#sendOn(now, payload);
      })
      .finally(() => this.#inFlight.delete(sending));
    this.#inFlight.add(sending);
  }

  #hold(payload: string): void {
    if (this.#held.length >= MAX_HELD) {
      this.#held.shift();
      if (!this.#overflowReported) {
        this.#overflowReported = true;
        this.#options.error(
          new Error(`more than ${MAX_HELD} changes waiting to be sent; the oldest are dropped`),
        );
      }
    }
    this.#held.push(payload);
  }
}
