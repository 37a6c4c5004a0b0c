// What the front door learns about a request on its way through — for the handlers, and for the
// request's one log line, which is written whether the request succeeded or not.

import type { FastifyInstance } from 'fastify';
import type { DeviceSession } from '../device/devices.ts';
import type { User } from '../state/users.ts';
import type { WbxmlElement } from '../wbxml/index.ts';
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
    /** The device and account the request comes from, recorded before the gate let it through. */
    deviceSession: DeviceSession | null;
    /** The command's Status, when its handler reported one. */
    protocolStatus: number | null;
    failure: RequestFailure | null;
    /** The request's body and the answer's, decoded, for the device's protocol log. */
    protocolBodies: { request?: WbxmlElement | Buffer; response?: WbxmlElement } | null;
  }
}

export function decorateRequestState(app: FastifyInstance): void {
  for (const field of [
    'loginName',
    'account',
    'easRequest',
    'deviceSession',
    'protocolStatus',
    'failure',
    'protocolBodies',
  ] as const) {
    app.decorateRequest(field, null);
  }
}
