// `/Microsoft-Server-ActiveSync`: OPTIONS tells a client what the server speaks; POST carries one
// command. Everything that can be refused from the headers alone — credentials, query, version, the
// device gate (src/device/gate.ts: provisioning and remote wipe), command, content type — is refused
// before the body is read.

import type { FastifyInstance, FastifyReply, FastifyRequest, onSendAsyncHookHandler } from 'fastify';
import {
  isCommandDefinedAt,
  type CommandHandler,
  type CommandResult,
  type CommandTable,
} from '../commands/index.ts';
import type { Config } from '../config.ts';
import type { Db } from '../state/db.ts';
import { DeviceStore } from '../device/devices.ts';
import { checkGate, refusalAnswer, type GateRefusal, type RefusalAnswer } from '../device/gate.ts';
import { DeviceLogWriter } from '../device/protocol-log.ts';
import { quirksOf } from '../device/quirks.ts';
import type { ClientConnection, WaitingRequests } from '../push/waiting.ts';
import type { SyncEngine } from '../sync/engine.ts';
import { decode, encode, WbxmlError, type WbxmlElement } from '../wbxml/index.ts';
import { accountName, type Authenticator } from './auth.ts';
import { HttpError } from './errors.ts';
import { COMMAND_NAMES, parseEasRequest, type CommandName, type EasRequest } from './query.ts';
import './request-state.ts'; // the request fields set here

export const ACTIVESYNC_PATH = '/Microsoft-Server-ActiveSync';
export const WBXML_MEDIA_TYPE = 'application/vnd.ms-sync.wbxml';

/** EAS 2.5 clients may send the older name of the WBXML type. */
const WBXML_MEDIA_TYPES = new Set([WBXML_MEDIA_TYPE, 'application/vnd.ms-sync']);
/** In EAS 12.1 and earlier these commands send the message itself, as message/rfc822, not WBXML. */
const MIME_COMMANDS = new Set<CommandName>(['SendMail', 'SmartForward', 'SmartReply']);
const MIME_MEDIA_TYPE = 'message/rfc822';

export interface ActiveSyncOptions {
  config: Config;
  db: Db;
  authenticator: Authenticator;
  commands: CommandTable;
  sync: SyncEngine;
  push: WaitingRequests;
}

/** The highest protocol version offered doubles as the server's version. */
function serverVersion(config: Config): string {
  return Math.max(...config.protocolVersions.map(Number)).toFixed(1);
}

/** What a client learns from OPTIONS — and from every 401, since clients probe with bad credentials. */
export function discoveryHeaders(config: Config, commands: CommandTable): Record<string, string> {
  return {
    'MS-Server-ActiveSync': serverVersion(config),
    'MS-ASProtocolVersions': config.protocolVersions.join(','),
    'MS-ASProtocolCommands': COMMAND_NAMES.filter((name) => commands[name] !== undefined).join(','),
    Allow: 'OPTIONS,POST',
    Public: 'OPTIONS,POST',
  };
}

export function activeSyncRoutes(app: FastifyInstance, options: ActiveSyncOptions): void {
  const { config, db, authenticator, commands, sync, push } = options;
  const discovery = discoveryHeaders(config, commands);
  const deviceLog = new DeviceLogWriter(db, config.deviceLogEntries);
  // The database closes after the server: write what is still queued first.
  app.addHook('onClose', () => deviceLog.idle());
  const devices = new DeviceStore(db);
  const addServerVersion: onSendAsyncHookHandler = async (_request, reply) => {
    reply.header('MS-Server-ActiveSync', discovery['MS-Server-ActiveSync']);
  };

  const commandFor = (request: EasRequest): CommandHandler => {
    const handler = commands[request.command];
    if (handler === undefined) throw new HttpError(501, `command ${request.command} is not implemented`);
    if (!isCommandDefinedAt(request.command, request.protocolVersion)) {
      throw new HttpError(
        400,
        `command ${request.command} is not defined at protocol version ${request.protocolVersion}`,
      );
    }
    return handler;
  };

  app.options(ACTIVESYNC_PATH, { onSend: addServerVersion }, async (request, reply) => {
    // No credentials needed to ask; but credentials that are sent must be right, so a client that
    // checks its password this way learns the truth.
    if (request.headers.authorization !== undefined) await authenticator.authenticateRequest(request);
    return reply.headers(discovery).send();
  });

  app.post(ACTIVESYNC_PATH, {
    bodyLimit: config.limits.maxBodyBytes,
    onSend: addServerVersion,
    onRequest: async (request, reply) => {
      // The query is parsed first so that even a 401's log line names the device (which phone has
      // the stale password?), but bad credentials are reported before a bad query.
      let queryError: unknown;
      try {
        request.easRequest = parseEasRequest({
          query: rawQuery(request),
          headers: request.headers,
          clientAddress: request.ip,
        });
      } catch (error) {
        queryError = error;
      }
      const user = await authenticator.authenticateRequest(request);
      const eas = request.easRequest;
      if (eas === null) throw queryError;
      if (!config.protocolVersions.includes(eas.protocolVersion)) {
        const offered = config.protocolVersions.join(',');
        throw new HttpError(
          400,
          `protocol version ${eas.protocolVersion} is not offered (offered: ${offered})`,
        );
      }
      if (eas.user !== undefined && accountName(eas.user) !== user.name) {
        throw new HttpError(403, `User parameter "${eas.user}" is not the authenticated user "${user.name}"`);
      }
      request.deviceSession = await devices.recordRequest(eas, user);
      // The device is back: a Ping or Sync of this account still waiting is answered now.
      push.supersede(request.deviceSession.accountId);
      const quirks = quirksOf(eas.deviceType, eas.userAgent);
      const refusal = checkGate(config.provisioning, eas, request.deviceSession, quirks);
      if (refusal !== undefined) return refuse(request, reply, refusal, refusalAnswer(refusal, eas, quirks));
      commandFor(eas);
      checkContentType(request, eas.command);
    },
    handler: async (request, reply) => {
      const { easRequest: eas, account: user, deviceSession: device } = request;
      if (eas === null || user === null || device === null) {
        throw new Error('request reached its handler unauthenticated');
      }
      const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : undefined;
      const mime = body !== undefined && mediaType(request) === MIME_MEDIA_TYPE ? body : undefined;
      const tree = body !== undefined && mime === undefined ? decodeBody(body, config) : undefined;
      // A request that waits (Ping, Sync) would otherwise keep its body, and with it the pooled
      // buffer block it was cut from, alive for its whole heartbeat; the tree keeps what it needs.
      if (tree !== undefined) request.body = undefined;
      request.protocolBodies = { request: tree ?? mime };
      const publicHost =
        config.publicUrl === undefined ? request.hostname : new URL(config.publicUrl).hostname;
      let connection: ClientConnection | undefined;
      const context = {
        request: eas,
        user,
        device,
        config,
        log: request.log,
        db,
        mime,
        publicHost,
        sync,
        push,
        // Watched only by the commands that wait.
        get connection() {
          return (connection ??= clientConnection(reply));
        },
      };
      return send(request, reply, await commandFor(eas)(context, tree));
    },
    // After the answer has gone out, so that the log never delays it.
    onResponse: async (request, reply) => {
      const { easRequest: eas, deviceSession: device } = request;
      if (eas === null || device === null) return;
      const exchange = { accountId: device.accountId, command: eas.command, httpStatus: reply.statusCode };
      deviceLog.add({ ...exchange, ...request.protocolBodies }, (error) =>
        request.log.error({ err: error, deviceId: eas.deviceId }, 'protocol log entry not written'),
      );
    },
  });
}

function send(request: FastifyRequest, reply: FastifyReply, result: CommandResult): FastifyReply {
  switch (result.kind) {
    case 'wbxml':
      request.protocolStatus = result.protocolStatus ?? null;
      if (result.reason !== undefined) request.failure = { reason: result.reason };
      request.protocolBodies = { ...request.protocolBodies, response: result.tree };
      return reply.type(WBXML_MEDIA_TYPE).send(encode(result.tree));
    case 'empty':
      request.protocolStatus = result.protocolStatus ?? null;
      return reply.send();
    case 'http':
      if (result.reason !== undefined) request.failure = { reason: result.reason };
      return reply
        .code(result.status)
        .headers(result.headers ?? {})
        .send();
  }
}

/** When the client hangs up before its answer, and when the exchange is over either way. */
function clientConnection(reply: FastifyReply): ClientConnection {
  const hangUp = new AbortController();
  const response = reply.raw;
  const done = new Promise<void>((resolve) => {
    const closed = () => {
      // The response closes after a complete answer too: only one cut short is a hang-up.
      if (!response.writableEnded) hangUp.abort();
      resolve();
    };
    if (response.closed) closed();
    else response.once('close', closed);
  });
  return { hangUp: hangUp.signal, done };
}

/** Ends a request the gate refused: the device must provision first, or may not sync at all. */
function refuse(
  request: FastifyRequest,
  reply: FastifyReply,
  refusal: GateRefusal,
  answer: RefusalAnswer,
): FastifyReply {
  request.failure = { reason: refusal.reason };
  reply.code(answer.httpStatus);
  if (answer.body === undefined) return reply.send();
  request.protocolStatus = answer.status ?? null;
  request.protocolBodies = { response: answer.body };
  return reply.type(WBXML_MEDIA_TYPE).send(encode(answer.body));
}

/** A body must be WBXML, or MIME for the commands that send messages; an empty body is the handler's call. */
function checkContentType(request: FastifyRequest, command: CommandName): void {
  const length = Number(request.headers['content-length'] ?? 0);
  const hasBody = length > 0 || request.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return;
  const type = mediaType(request);
  if (WBXML_MEDIA_TYPES.has(type) || (type === MIME_MEDIA_TYPE && MIME_COMMANDS.has(command))) return;
  throw new HttpError(415, `content type "${type}" is not accepted for ${command}`);
}

function decodeBody(body: Buffer, config: Config): WbxmlElement {
  try {
    return decode(body, { maxBytes: config.limits.maxBodyBytes, maxDepth: config.limits.maxWbxmlDepth });
  } catch (error) {
    if (error instanceof WbxmlError) throw new HttpError(400, `malformed WBXML body: ${error.message}`);
    throw error;
  }
}

/** The media type of the Content-Type header: lower case, without parameters. */
function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The query exactly as sent: base64 queries must not go through form decoding, which eats `+`. */
function rawQuery(request: FastifyRequest): string {
  const url = request.raw.url ?? '';
  const question = url.indexOf('?');
  return question === -1 ? '' : url.slice(question + 1);
}
