// The one table of EAS commands: a command is implemented when it has a handler here, one module
// per command in this folder. The server answers 501 for every other command and lists exactly
// these in MS-ASProtocolCommands.

import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.ts';
import type { CommandName, EasRequest } from '../http/query.ts';
import type { Db } from '../state/db.ts';
import type { User } from '../state/users.ts';
import type { WbxmlElement } from '../wbxml/tree.ts';

export interface CommandContext {
  request: EasRequest;
  /** The authenticated user. */
  user: User;
  config: Config;
  /** The request's logger. */
  log: FastifyBaseLogger;
  db: Db;
  /** The MIME message of a SendMail, SmartForward or SmartReply sent as message/rfc822 (EAS 12.1 and earlier). */
  mime?: Buffer;
}

/**
 * What a handler answers. `protocolStatus` is the command's Status value, for the request's log line.
 * `http` ends the request with a bare status instead (e.g. 449 to make a device provision).
 */
export type CommandResult =
  | { kind: 'wbxml'; tree: WbxmlElement; protocolStatus?: number }
  | { kind: 'empty'; protocolStatus?: number }
  | { kind: 'http'; status: number; headers?: Record<string, string>; reason?: string };

/** `body` is the decoded WBXML request, undefined when the request had none. */
export type CommandHandler = (
  context: CommandContext,
  body: WbxmlElement | undefined,
) => Promise<CommandResult>;

export type CommandTable = Partial<Record<CommandName, CommandHandler>>;

export const commands: CommandTable = {};
