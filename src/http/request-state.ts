// What the front door learns about a request on its way through — for the handlers, and for the
// request's one log line, which is written whether the request succeeded or not.

import type { FastifyInstance } from 'fastify';
import type { User } from '../state/users.ts';
import type { EasRequest } from './query.ts';

export interface RequestFailure {
  reason: string;
  /** The exception behind a 5xx, logged with its stack. */
  error?: unknown;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The login of the Authorization header as sent, kept also when authentication fails. */
    loginName: string | null;
    /** The authenticated user. */
    account: User | null;
    easRequest: EasRequest | null;
    /** The command's Status, when its handler reported one. */
    protocolStatus: number | null;
    failure: RequestFailure | null;
  }
}

export function decorateRequestState(app: FastifyInstance): void {
  for (const field of ['loginName', 'account', 'easRequest', 'protocolStatus', 'failure'] as const) {
    app.decorateRequest(field, null);
  }
}
