// The JSON API under /api: devices and policy sets, for their users and administrators (and the web
// UI to come). Requests authenticate with the same Basic credentials, and through the same
// Authenticator (cache, throttling), as phones. Who may see and do what is decided by DeviceAdmin;
// here, requests become its calls and errors become `{error}` bodies.
//
// Cross-site requests: a browser attaches remembered Basic credentials to a form another site posts
// here, but a form can only send urlencoded, multipart or text/plain bodies, and anything else
// cross-origin needs a CORS preflight this API never grants. So refusing every body that is not
// application/json (415) is the whole CSRF defence.

import http from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DeviceAccessError, DeviceAdmin, type Caller } from '../device/device-admin.ts';
import { DeviceError } from '../device/devices.ts';
import { PolicyError, PolicyStore } from '../device/policy-store.ts';
import type { Authenticator } from '../http/auth.ts';
import { HttpError } from '../http/errors.ts';
import type { Db } from '../state/db.ts';
import { UserError } from '../state/users.ts';
import '../http/request-state.ts'; // the request fields set here

export const API_PREFIX = '/api';

/** Settings documents are small; this leaves room for long application lists. */
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_LOG_ENTRIES = 1000;

export interface ApiOptions {
  db: Db;
  authenticator: Authenticator;
}

/** A refusal whose message is meant for the client. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const accountChoice = z.strictObject({ user: z.string().optional() });
const wipeRequest = z.strictObject({ accountOnly: z.boolean().optional(), user: z.string().optional() });
const logQuery = z.strictObject({
  user: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LOG_ENTRIES).optional(),
});
const assignment = z
  .strictObject({ user: z.string().optional(), device: z.string().optional() })
  .refine((body) => (body.user === undefined) !== (body.device === undefined), {
    error: 'give either user or device',
  });

type DeviceParams = { Params: { id: string } };
type PolicyParams = { Params: { name: string } };

export function apiRoutes(app: FastifyInstance, options: ApiOptions): void {
  // Registered as its own plugin, so that the content types, errors and 404s here are JSON without
  // changing the ActiveSync routes.
  void app.register(async (api) => defineApi(api, options), { prefix: API_PREFIX });
}

function defineApi(api: FastifyInstance, { db, authenticator }: ApiOptions): void {
  api.removeAllContentTypeParsers();
  api.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: MAX_BODY_BYTES },
    (_request, text, done) => {
      if (text === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text as string));
      } catch {
        done(new ApiError(400, 'the body is not valid JSON'));
      }
    },
  );
  api.setErrorHandler(sendError);
  api.setNotFoundHandler((request, reply) =>
    sendError(new ApiError(404, 'no such API route'), request, reply),
  );
  api.addHook('onRequest', async (request) => {
    await authenticator.authenticateRequest(request);
  });

  const devices = (request: FastifyRequest) => new DeviceAdmin(db, callerOf(request));
  /** Actions answer with the device as it is afterwards. */
  const afterAction = (request: FastifyRequest<DeviceParams>) => devices(request).show(request.params.id);

  api.get('/devices', async (request) => {
    const { user } = parse(accountChoice, request.query);
    return { devices: await devices(request).list({ user }) };
  });
  api.get<DeviceParams>('/devices/:id', async (request) => devices(request).show(request.params.id));
  api.post<DeviceParams>('/devices/:id/wipe', async (request) => {
    await devices(request).wipe(request.params.id, parse(wipeRequest, request.body ?? {}));
    return afterAction(request);
  });
  api.post<DeviceParams>('/devices/:id/cancel-wipe', async (request) => {
    await devices(request).cancelWipe(request.params.id, parse(accountChoice, request.body ?? {}));
    return afterAction(request);
  });
  api.post<DeviceParams>('/devices/:id/resync', async (request) => {
    await devices(request).resync(request.params.id, parse(accountChoice, request.body ?? {}));
    return afterAction(request);
  });
  api.post<DeviceParams>('/devices/:id/reprovision', async (request) => {
    await devices(request).reprovision(request.params.id, parse(accountChoice, request.body ?? {}));
    return afterAction(request);
  });
  api.delete<DeviceParams>('/devices/:id', async (request, reply) => {
    await devices(request).remove(request.params.id, parse(accountChoice, request.query));
    return reply.code(204).send();
  });
  api.get<DeviceParams>('/devices/:id/log', async (request) => {
    const query = parse(logQuery, request.query);
    return { entries: await devices(request).log(request.params.id, query) };
  });

  const policies = (request: FastifyRequest) => {
    if (!callerOf(request).admin) throw new ApiError(403, 'only an administrator may manage policy sets');
    return new PolicyStore(db);
  };
  api.get('/policies', async (request) => ({ policies: await policies(request).list() }));
  api.get<PolicyParams>('/policies/:name', async (request) => {
    const set = await policies(request).find(request.params.name);
    if (set === undefined) throw new ApiError(404, `no policy set "${request.params.name}"`);
    return set;
  });
  // The body is the whole set: settings left out take their defaults.
  api.put<PolicyParams>('/policies/:name', async (request) =>
    policies(request).save(request.params.name, request.body ?? {}),
  );
  api.post<PolicyParams>('/policies/:name/assign', async (request, reply) => {
    const store = policies(request);
    const to = parse(assignment, request.body ?? {});
    if (to.user !== undefined) await store.assignToUser(to.user, request.params.name);
    else await store.assignToDevice(to.device as string, request.params.name);
    return reply.code(204).send();
  });
}

function callerOf(request: FastifyRequest): Caller {
  const user = request.account;
  if (user === null) throw new Error('an API request reached its handler unauthenticated');
  return { name: user.name, admin: user.admin };
}

/** Validates a body or query; a mismatch is a 400 naming each problem. */
function parse<Output>(schema: z.ZodType<Output>, input: unknown): Output {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.join(', ')}`;
    const path = issue.path.map(String).join('.');
    return path === '' ? issue.message : `${path}: ${issue.message}`;
  });
  throw new ApiError(400, problems.join('; '));
}

function sendError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, message, headers } = describeError(error);
  // The reason goes to the request's log line; a server failure's stack too, and not to the client.
  request.failure = status >= 500 ? { reason: error.message, error } : { reason: message };
  return reply
    .code(status)
    .headers(headers ?? {})
    .send({ error: message });
}

function describeError(error: FastifyError | Error): {
  status: number;
  message: string;
  headers?: Record<string, string>;
} {
  if (error instanceof ApiError) return { status: error.status, message: error.message };
  if (error instanceof HttpError) {
    // From the Authenticator, whose reasons are for the log: the client learns no more than a phone.
    const message =
      error.status === 401
        ? 'authentication required: a user name and password (HTTP Basic)'
        : error.status === 503
          ? 'too many failed logins: try again later'
          : (http.STATUS_CODES[error.status] ?? 'refused');
    return { status: error.status, message, headers: error.headers };
  }
  if (error instanceof DeviceError) {
    return { status: error.code === 'not-found' ? 404 : 409, message: error.message };
  }
  if (error instanceof DeviceAccessError) {
    const status = { forbidden: 403, invalid: 400, conflict: 409 }[error.code];
    return { status, message: error.message };
  }
  if (error instanceof PolicyError) {
    return { status: error.code === 'not-found' ? 404 : 400, message: error.message };
  }
  if (error instanceof UserError) return { status: 400, message: error.message };
  // fastify's own refusals: a body of another type (415), too large (413), …
  const status = 'statusCode' in error ? error.statusCode : undefined;
  if (status !== undefined && status >= 400 && status < 500) {
    const message = status === 415 ? 'request bodies must be application/json' : error.message;
    return { status, message };
  }
  return { status: 500, message: 'internal server error' };
}
