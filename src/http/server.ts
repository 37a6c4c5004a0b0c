// The HTTP server: fastify with the ActiveSync, Autodiscover and JSON API routes, one log line per
// request, and every failure turned into a status code (for phones, its reason logged, never sent).

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import { pino, type DestinationStream } from 'pino';
import type { Backend } from '../backends/contract.ts';
import { storeHistoryReader } from '../backends/store/history-reader.ts';
import { PimStore } from '../backends/store/store.ts';
import { commands as implementedCommands, type CommandTable } from '../commands/index.ts';
import type { Config } from '../config.ts';
import { itemWindow } from '../model/index.ts';
import { changeBusKindFor, createChangeBus, WaitingRequests, type ChangeBus } from '../push/index.ts';
import { openDatabase, type Database, type Db } from '../state/db.ts';
import { UserStore, type UserDirectory } from '../state/users.ts';
import { Backends } from '../sync/backends.ts';
import { SyncEngine } from '../sync/engine.ts';
import { apiRoutes } from '../web/api.ts';
import { activeSyncRoutes, discoveryHeaders } from './activesync.ts';
import { Authenticator } from './auth.ts';
import { autodiscoverRoutes } from './autodiscover.ts';
import { HttpError } from './errors.ts';
import { decorateRequestState } from './request-state.ts';

/** Thousands of phones reconnect at once after a restart; the kernel caps this at somaxconn. */
const LISTEN_BACKLOG = 4096;

export interface AppDeps {
  db: Db;
  /** Where passwords are checked; by default the built-in users in `db`. */
  users?: UserDirectory;
  /** By default the implemented commands of src/commands. */
  commands?: CommandTable;
  /** Where log lines go (one JSON object a line); by default standard output. */
  logDestination?: DestinationStream;
  /** Where users' data lives; by default the built-in PIM store in `db`. */
  backends?: readonly Backend[];
  /**
   * The change bus `backends` publish to, closed by whoever opened it; by default the app opens one
   * as the configuration says (and closes it), and its built-in store publishes to it.
   */
  bus?: ChangeBus;
}

export async function buildApp(config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const commands = deps.commands ?? implementedCommands;
  const tls = config.tls && { cert: await readFile(config.tls.cert), key: await readFile(config.tls.key) };
  const logger: FastifyBaseLogger = pino(
    { level: config.logLevel },
    deps.logDestination ?? pino.destination(1),
  );

  const app = fastify({
    loggerInstance: logger,
    // The onResponse hook below writes the one line per request; fastify's own would add two more.
    logController: new LogController({ disableRequestLogging: true }),
    // IIS, which clients were written against, matches paths in any letter case.
    routerOptions: { caseSensitive: false },
    trustProxy: config.trustProxy,
    serverFactory: (handler): http.Server =>
      tls ? https.createServer(tls, handler) : http.createServer(handler),
  });
  decorateRequestState(app);

  // Bodies reach the routes as bytes, whatever their type: each route checks the type it accepts.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError) {
      request.failure = { reason: error.reason };
      return reply.code(error.status).headers(error.headers).send();
    }
    // fastify's own client errors: body too large (413), malformed Content-Length (400), …
    const clientError = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500;
    request.failure = clientError ? { reason: error.message } : { reason: error.message, error };
    return reply.code(clientError ? (error.statusCode as number) : 500).send();
  });
  app.setNotFoundHandler((request, reply) => {
    request.failure = { reason: 'no such route' };
    return reply.code(404).send();
  });

  const unauthorizedHeaders = {
    'WWW-Authenticate': 'Basic realm="airsync"',
    ...discoveryHeaders(config, commands),
  };
  app.addHook('onSend', async (_request, reply) => {
    if (reply.statusCode === 401) reply.headers(unauthorizedHeaders);
  });
  app.addHook('onResponse', async (request, reply) => {
    const eas = request.easRequest;
    const line = {
      method: request.method,
      url: request.url,
      address: request.ip,
      user: request.account?.name ?? request.loginName ?? undefined,
      deviceId: eas?.deviceId,
      deviceType: eas?.deviceType,
      cmd: eas?.command,
      version: eas?.protocolVersion,
      status: reply.statusCode,
      protocolStatus: request.protocolStatus ?? undefined,
      // Two decimals: most requests take well under a millisecond.
      ms: Math.round(reply.elapsedTime * 100) / 100,
      reason: request.failure?.reason,
      err: request.failure?.error,
    };
    const message = `${request.method} ${eas?.command ?? request.url} ${reply.statusCode}`;
    // Refusals are routine (phones probe, retry, get throttled); only an exception is an error.
    if (line.err !== undefined) request.log.error(line, message);
    else request.log.info(line, message);
  });

  const bus = deps.bus ?? (await openChangeBus(config, deps.db, logger));
  // Waiting requests are answered first, while the bus and the database still serve them.
  const push = new WaitingRequests(bus);
  app.addHook('preClose', () => push.close());
  if (deps.bus === undefined) app.addHook('onClose', () => bus.close());

  const authenticator = new Authenticator(deps.users ?? new UserStore(deps.db), config.auth);
  const backends = new Backends(
    deps.backends ?? [
      new PimStore(deps.db, { windowOf: itemWindow, onChange: (change) => bus.publish(change) }),
    ],
  );
  const sync = new SyncEngine(deps.db, backends, (error, context) =>
    logger.error({ err: error }, `${context} failed`),
  );
  activeSyncRoutes(app, { config, db: deps.db, authenticator, commands, sync, push });
  autodiscoverRoutes(app, { config, authenticator });
  apiRoutes(app, { db: deps.db, authenticator });
  return app;
}

/** The bus of the configuration; a failure it recovers from (a lost connection) is a warning in the log. */
function openChangeBus(config: Config, db: Db, logger: FastifyBaseLogger): Promise<ChangeBus> {
  return createChangeBus({
    ...changeBusKindFor(config, storeHistoryReader(db)),
    onError: (error) => logger.warn({ err: error }, 'change bus: %s', error.message),
  });
}

export interface RunningServer {
  /** Where the server listens, with the real port when the config asked for port 0. */
  url: string;
  app: FastifyInstance;
  /** Stops accepting, lets open requests finish, and closes the database if the server opened it. */
  close(): Promise<void>;
}

/** Listens on config.listen; opens the database from the config unless deps bring one. */
export async function startServer(config: Config, deps: Partial<AppDeps> = {}): Promise<RunningServer> {
  let database: Database | undefined;
  let db = deps.db;
  if (db === undefined) {
    database = await openDatabase(config);
    db = database.db;
  }
  let app: FastifyInstance;
  try {
    app = await buildApp(config, { ...deps, db });
  } catch (error) {
    await database?.close();
    throw error;
  }
  const close = async () => {
    await app.close();
    await database?.close();
  };
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port, backlog: LISTEN_BACKLOG });
  } catch (error) {
    await close();
    throw error;
  }
  const { port } = app.server.address() as AddressInfo;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return { url: `${config.tls ? 'https' : 'http'}://${host}:${port}`, app, close };
}
