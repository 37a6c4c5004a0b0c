// One HTTP exchange over node:http/node:https. Built on the core modules rather than fetch so that a
// client can trust an extra CA (a self-signed server) and so that network failures keep Node's error
// codes, which diagnostics turn into plain words.
import http from 'node:http';
import https from 'node:https';

/** Why a request got no HTTP answer at all. */
export type ConnectionFailure = 'refused' | 'dns' | 'timeout' | 'tls' | 'reset' | 'other';

export class EasConnectionError extends Error {
  override readonly name = 'EasConnectionError';

  constructor(
    readonly reason: ConnectionFailure,
    /** Node's error code, e.g. ECONNREFUSED or DEPTH_ZERO_SELF_SIGNED_CERT. */
    readonly code: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface HttpAnswer {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  raw: Buffer;
}

export interface HttpExchange {
  method: 'OPTIONS' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: Buffer;
  /** The connection may stay silent this long (a Ping holds it for its whole heartbeat). */
  timeoutMs: number;
  agent?: http.Agent;
}

/** A keep-alive agent that also trusts `ca`, for servers with a self-signed certificate. */
export function agentTrusting(ca: string | Buffer): https.Agent {
  return new https.Agent({ keepAlive: true, ca });
}

export function exchange({
  method,
  url,
  headers,
  body,
  timeoutMs,
  agent,
}: HttpExchange): Promise<HttpAnswer> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      { method, headers: { ...headers, 'Content-Length': String(body?.length ?? 0) }, agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => reject(connectionError(error, url)));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: flattenHeaders(response.headers),
            raw: Buffer.concat(chunks),
          }),
        );
      },
    );
    request.setTimeout(timeoutMs, () => {
      request.destroy(
        new EasConnectionError('timeout', 'ETIMEDOUT', `no answer from ${url.host} within ${timeoutMs} ms`),
      );
    });
    request.on('error', (error) => reject(connectionError(error, url)));
    request.end(body);
  });
}

function flattenHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|EPROTO$)|CERT|SIGNATURE|ISSUER/;

function connectionError(error: Error, url: URL): EasConnectionError {
  if (error instanceof EasConnectionError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const at = url.host;
  if (code === 'ECONNREFUSED') return new EasConnectionError('refused', code, `connection refused by ${at}`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new EasConnectionError('dns', code, `the host name ${url.hostname} does not resolve`);
  }
  if (code !== undefined && TLS_CODE.test(code)) {
    // OpenSSL's messages run on over several lines of internals; the first one says what failed.
    const reason = error.message.split('\n')[0];
    return new EasConnectionError('tls', code, `TLS with ${at} failed: ${reason}`, { cause: error });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new EasConnectionError('reset', code, `${at} closed the connection without answering`);
  }
  return new EasConnectionError('other', code, `request to ${at} failed: ${error.message}`, { cause: error });
}
