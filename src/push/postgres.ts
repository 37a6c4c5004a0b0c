// The PostgreSQL transport: LISTEN and NOTIFY on one dedicated connection per process, outside the
// pool, so that waiting requests never hold a pooled connection. A NOTIFY reaches every listener
// once it is committed (here, at once: it is sent outside any transaction), including the sender,
// which skips its own payloads because it delivered them itself.

import pg from 'pg';
import type { ChangeTransport, TransportSink } from './bus.ts';
import { KeepConnected, type Backoff } from './keep-connected.ts';
import { Outbox } from './outbox.ts';
import { decodeMessage, encodeMessage, type BusMessage } from './wire.ts';

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes and more. */
const MAX_PAYLOAD_BYTES = 7999;

export interface PostgresTransportOptions {
  connectionString: string;
  /** Lower case letters, digits and _. */
  channel: string;
  /** How the connection shows in pg_stat_activity (application_name). */
  connectionName: string;
  backoff: Backoff;
}

interface Listener {
  /** Sends a NOTIFY; one at a time, in order, as a pg client takes one query at a time. */
  notify(payload: string): Promise<void>;
  close(): Promise<void>;
}

export class PostgresTransport implements ChangeTransport {
  readonly #instanceId: string;
  readonly #options: PostgresTransportOptions;
  readonly #sink: TransportSink;
  readonly #outbox: Outbox<Listener>;
  #listener: KeepConnected<Listener> | undefined;

  private constructor(instanceId: string, options: PostgresTransportOptions, sink: TransportSink) {
    this.#instanceId = instanceId;
    this.#options = options;
    this.#sink = sink;
    this.#outbox = new Outbox({
      connection: () => this.#listener?.current,
      send: (listener, payload) => listener.notify(payload),
      error: sink.error,
    });
  }

  /** Resolves once this process listens; rejects if the first connection fails. */
  static async start(
    instanceId: string,
    options: PostgresTransportOptions,
    sink: TransportSink,
  ): Promise<PostgresTransport> {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) {
      throw new Error(
        `a channel name is lower case letters, digits and _, not ${JSON.stringify(options.channel)}`,
      );
    }
    const transport = new PostgresTransport(instanceId, options, sink);
    transport.#listener = await KeepConnected.start<Listener>({
      open: (dropped) => transport.#open(dropped),
      reopened: () => {
        transport.#outbox.flush();
        sink.gap();
      },
      error: sink.error,
      backoff: options.backoff,
    });
    return transport;
  }

  send(message: BusMessage): void {
    const payload = encodeMessage(this.#instanceId, message);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      const what = message.kind === 'change' ? `a change of folder ${message.change.folderId}` : 'a message';
      this.#sink.error(new Error(`${what} is too long for a NOTIFY payload`));
      return;
    }
    this.#outbox.push(payload);
  }

  async close(): Promise<void> {
    const unsent = await this.#outbox.drain();
    if (unsent > 0) this.#sink.error(new Error(`${unsent} changes not forwarded: no connection at close`));
    await this.#listener?.close();
  }

  async #open(dropped: (error?: Error) => void): Promise<Listener> {
    const { connectionString, connectionName, channel } = this.#options;
    const client = new pg.Client({
      connectionString,
      application_name: connectionName,
      // The connection is idle while nothing changes; keepalives notice a peer that vanished.
      keepAlive: true,
    });
    client.on('error', dropped);
    client.on('end', () => dropped(new Error('the PostgreSQL connection ended')));
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) this.#receive(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    let previous: Promise<unknown> = Promise.resolve();
    const notify = (payload: string): Promise<void> => {
      const sent = previous.then(async () => {
        await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
      });
      previous = sent.catch(() => {});
      return sent;
    };
    return { notify, close: () => client.end() };
  }

  #receive(payload: string): void {
    const received = decodeMessage(payload);
    if (received === undefined) {
      this.#sink.error(
        new Error(`ignored a payload on channel ${this.#options.channel} that airsync did not send`),
      );
      return;
    }
    if (received.source === this.#instanceId) return;
    const { message } = received;
    if (message.kind === 'change') this.#sink.deliver(message.change);
    else this.#sink.supersede(message.account, message.at);
  }
}
