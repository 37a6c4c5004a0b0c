// The Redis transport: pub/sub on one channel. A subscribed connection may only (un)subscribe, so
// each process keeps two: one subscribed, one that publishes. Every subscriber receives each
// message, the publisher included, which skips its own because it delivered them itself.

import type { ChangeTransport, TransportSink } from './bus.ts';
import { KeepConnected, type Backoff } from './keep-connected.ts';
import { Outbox } from './outbox.ts';
import { RespConnection } from './resp.ts';
import { decodeMessage, encodeMessage, type BusMessage } from './wire.ts';

export interface RedisTransportOptions {
  /** redis://[[user]:password@]host[:port] */
  url: string;
  channel: string;
  /** Prefix of the connections' names in CLIENT LIST (…-subscriber, …-publisher). */
  connectionName: string;
  backoff: Backoff;
}

export class RedisTransport implements ChangeTransport {
  readonly #instanceId: string;
  readonly #options: RedisTransportOptions;
  readonly #sink: TransportSink;
  readonly #outbox: Outbox<RespConnection>;
  #subscriber: KeepConnected<RespConnection> | undefined;
  #publisher: KeepConnected<RespConnection> | undefined;

  private constructor(instanceId: string, options: RedisTransportOptions, sink: TransportSink) {
    this.#instanceId = instanceId;
    this.#options = options;
    this.#sink = sink;
    this.#outbox = new Outbox({
      connection: () => this.#publisher?.current,
      send: async (connection, payload) => {
        await connection.command(['PUBLISH', options.channel, payload]);
      },
      error: sink.error,
    });
  }

  /** Resolves once this process is subscribed and can publish; rejects if either connection fails. */
  static async start(
    instanceId: string,
    options: RedisTransportOptions,
    sink: TransportSink,
  ): Promise<RedisTransport> {
    const transport = new RedisTransport(instanceId, options, sink);
    transport.#subscriber = await KeepConnected.start<RespConnection>({
      open: (dropped) => transport.#openSubscriber(dropped),
      reopened: () => sink.gap(),
      error: sink.error,
      backoff: options.backoff,
    });
    try {
      transport.#publisher = await KeepConnected.start<RespConnection>({
        open: (dropped) =>
          RespConnection.open({
            url: options.url,
            name: `${options.connectionName}-publisher`,
            onClose: dropped,
          }),
        reopened: () => transport.#outbox.flush(),
        error: sink.error,
        backoff: options.backoff,
      });
    } catch (error) {
      await transport.#subscriber.close();
      throw error;
    }
    return transport;
  }

  send(message: BusMessage): void {
    this.#outbox.push(encodeMessage(this.#instanceId, message));
  }

  async close(): Promise<void> {
    const unsent = await this.#outbox.drain();
    if (unsent > 0) this.#sink.error(new Error(`${unsent} changes not forwarded: no connection at close`));
    await Promise.all([this.#publisher?.close(), this.#subscriber?.close()]);
  }

  async #openSubscriber(dropped: (error?: Error) => void): Promise<RespConnection> {
    const { url, connectionName, channel } = this.#options;
    const connection = await RespConnection.open({
      url,
      name: `${connectionName}-subscriber`,
      onMessage: (from, message) => {
        if (from === channel) this.#receive(message);
      },
      onClose: dropped,
    });
    try {
      await connection.command(['SUBSCRIBE', channel]);
    } catch (error) {
      connection.destroy();
      throw error;
    }
    return connection;
  }

  #receive(payload: string): void {
    const received = decodeMessage(payload);
    if (received === undefined) {
      this.#sink.error(
        new Error(`ignored a message on channel ${this.#options.channel} that airsync did not send`),
      );
      return;
    }
    if (received.source === this.#instanceId) return;
    const { message } = received;
    if (message.kind === 'change') this.#sink.deliver(message.change);
    else this.#sink.supersede(message.account, message.at);
  }
}
