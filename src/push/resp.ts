// A minimal Redis client over node:net, enough for the change bus: commands as RESP2 arrays of bulk
// strings, replies in order, and pub/sub messages. No TLS, no cluster, no RESP3.

import { connect, type Socket } from 'node:net';

export type RespValue = string | number | null | RespError | RespValue[];

/** An error reply (`-ERR …`). */
export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespError';
  }
}

/** Turns a byte stream into complete replies; a reply may arrive split over any number of chunks. */
export class RespParser {
  #buffer: Buffer = Buffer.alloc(0);

  /** The replies completed by this chunk, in order. */
  push(chunk: Buffer): RespValue[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const values: RespValue[] = [];
    let offset = 0;
    for (;;) {
      const parsed = parseValue(this.#buffer, offset);
      if (parsed === undefined) break;
      values.push(parsed.value);
      offset = parsed.end;
    }
    this.#buffer = this.#buffer.subarray(offset);
    return values;
  }
}

interface Parsed {
  value: RespValue;
  end: number;
}

/** The value starting at `offset`, or undefined when its bytes have not all arrived. */
function parseValue(buffer: Buffer, offset: number): Parsed | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd === -1) return undefined;
  const type = String.fromCharCode(buffer[offset] as number);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  const length = type === '$' || type === '*' ? Number(line) : 0;
  if (!Number.isInteger(length)) throw new RespError(`not a RESP length: ${JSON.stringify(line)}`);
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      if (length < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let index = 0; index < length; index++) {
        const item = parseValue(buffer, end);
        if (item === undefined) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new RespError(`not a RESP reply: ${JSON.stringify(buffer.toString('utf8', offset, lineEnd))}`);
  }
}

export function encodeCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(parts.join(''));
}

export interface RespConnectOptions {
  /** redis://[[user]:password@]host[:port]; a database number has no meaning for pub/sub and is ignored. */
  url: string;
  /** CLIENT SETNAME, so that the connection can be told apart in CLIENT LIST. */
  name?: string;
  /** A pub/sub message on a subscribed channel. */
  onMessage?: (channel: string, message: string) => void;
  /** The connection failed or closed; after this, every command fails. */
  onClose?: (error?: Error) => void;
  connectTimeoutMs?: number;
}

interface PendingReply {
  resolve(value: RespValue): void;
  reject(error: Error): void;
}

export class RespConnection {
  readonly #socket: Socket;
  readonly #pending: PendingReply[] = [];
  readonly #onMessage: ((channel: string, message: string) => void) | undefined;
  #closed: Error | undefined;

  private constructor(socket: Socket, options: RespConnectOptions) {
    this.#socket = socket;
    this.#onMessage = options.onMessage;
    const parser = new RespParser();
    socket.on('data', (chunk: Buffer) => {
      let replies: RespValue[];
      try {
        replies = parser.push(chunk);
      } catch (error) {
        socket.destroy(error as Error);
        return;
      }
      for (const reply of replies) this.#dispatch(reply);
    });
    // The 'close' event that follows an 'error' reports it.
    socket.on('error', (error) => {
      this.#closed ??= error;
    });
    socket.on('close', () => {
      const error = this.#closed ?? new Error('the Redis connection closed');
      this.#closed = error;
      for (const pending of this.#pending.splice(0)) pending.reject(error);
      options.onClose?.(error);
    });
  }

  /** Connects, authenticates when the URL has a password, and names the connection. */
  static async open(options: RespConnectOptions): Promise<RespConnection> {
    const url = new URL(options.url);
    if (url.protocol !== 'redis:') throw new Error(`expected a redis:// URL, not ${url.protocol}//…`);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    const port = url.port === '' ? 6379 : Number(url.port);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host, port });
      socket.setTimeout(options.connectTimeoutMs ?? 10_000, () => {
        socket.destroy(new Error(`no connection to Redis at ${host}:${port} in time`));
      });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setTimeout(0);
        resolve(socket);
      });
    });
    socket.setNoDelay(true);
    // The subscriber connection is idle while nothing changes; keepalives notice a peer that vanished.
    socket.setKeepAlive(true, 10_000);
    const connection = new RespConnection(socket, options);
    try {
      if (url.password !== '') {
        const password = decodeURIComponent(url.password);
        const user = decodeURIComponent(url.username);
        await connection.command(user === '' ? ['AUTH', password] : ['AUTH', user, password]);
      }
      if (options.name !== undefined) await connection.command(['CLIENT', 'SETNAME', options.name]);
    } catch (error) {
      connection.destroy();
      throw error;
    }
    return connection;
  }

  /** Sends a command; resolves with its reply, rejects with an error reply or a lost connection. */
  command(args: readonly string[]): Promise<RespValue> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#socket.write(encodeCommand(args));
    });
  }

  /** QUIT: the server answers what came before it, then closes. */
  async close(): Promise<void> {
    if (this.#closed !== undefined) return;
    const closed = new Promise((resolve) => this.#socket.once('close', resolve));
    await this.command(['QUIT']).catch(() => {});
    await closed;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #dispatch(reply: RespValue): void {
    // In subscribed mode, messages arrive between replies as ['message', channel, payload].
    if (Array.isArray(reply) && reply[0] === 'message' && this.#onMessage !== undefined) {
      const [, channel, message] = reply;
      if (typeof channel === 'string' && typeof message === 'string') this.#onMessage(channel, message);
      return;
    }
    const pending = this.#pending.shift();
    if (pending === undefined) return;
    if (reply instanceof RespError) pending.reject(reply);
    else pending.resolve(reply);
  }
}
