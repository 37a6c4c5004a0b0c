// The one table of EAS commands: a command is implemented when it has a handler here, one module
// per command in this folder. The server answers 501 for every other command and lists exactly
// these in MS-ASProtocolCommands; a command sent at a protocol version that lacks it gets 400.

import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.ts';
import type { DeviceSession } from '../device/devices.ts';
import { isVersionAtLeast, type CommandName, type EasRequest, type ProtocolVersion } from '../http/query.ts';
import type { ClientConnection, WaitingRequests } from '../push/waiting.ts';
import type { Db } from '../state/db.ts';
import type { User } from '../state/users.ts';
import type { SyncEngine, SyncSession } from '../sync/engine.ts';
import type { WbxmlElement } from '../wbxml/tree.ts';
import { folderCreate } from './folder-create.ts';
import { folderDelete } from './folder-delete.ts';
import { folderSync } from './folder-sync.ts';
import { folderUpdate } from './folder-update.ts';
import { getItemEstimate } from './get-item-estimate.ts';
import { itemOperations } from './item-operations.ts';
import { moveItems } from './move-items.ts';
import { ping } from './ping.ts';
import { provision } from './provision.ts';
import { settings } from './settings.ts';
import { sync } from './sync.ts';

export interface CommandContext {
  request: EasRequest;
  /** The authenticated user. */
  user: User;
  /** The device and account the request comes from, as recorded when it arrived. */
  device: DeviceSession;
  config: Config;
  /** The request's logger. */
  log: FastifyBaseLogger;
  db: Db;
  /** The MIME message of a SendMail, SmartForward or SmartReply sent as message/rfc822 (EAS 12.1 and earlier). */
  mime?: Buffer;
  /** The host name clients reach the server at: publicUrl's, else the request's Host. */
  publicHost: string;
  /** The sync engine over the server's backends, one per server. */
  sync: SyncEngine;
  /** Where a Ping or a Sync that waits parks, one registry per server process. */
  push: WaitingRequests;
  /** The request's HTTP exchange: when its client hangs up, and when its answer is out. */
  connection: ClientConnection;
}

/** Who a sync command works for: the device account, the user, the protocol version. */
export function syncSessionOf(context: CommandContext): SyncSession {
  return {
    account: context.device.accountId,
    owner: { id: context.user.id, name: context.user.name },
    version: context.request.protocolVersion,
  };
}

/**
 * What a handler answers. `protocolStatus` is the command's Status value, and `reason` why it is not
 * a success, for the request's log line. `http` ends the request with a bare status instead (e.g.
 * 449 to make a device provision).
 */
export type CommandResult =
  | { kind: 'wbxml'; tree: WbxmlElement; protocolStatus?: number; reason?: string }
  | { kind: 'empty'; protocolStatus?: number }
  | { kind: 'http'; status: number; headers?: Record<string, string>; reason?: string };

/** `body` is the decoded WBXML request, undefined when the request had none. */
export type CommandHandler = (
  context: CommandContext,
  body: WbxmlElement | undefined,
) => Promise<CommandResult>;

export type CommandTable = Partial<Record<CommandName, CommandHandler>>;

export const commands: CommandTable = {
  FolderCreate: folderCreate,
  FolderDelete: folderDelete,
  FolderSync: folderSync,
  FolderUpdate: folderUpdate,
  GetItemEstimate: getItemEstimate,
  ItemOperations: itemOperations,
  MoveItems: moveItems,
  Ping: ping,
  Provision: provision,
  Settings: settings,
  Sync: sync,
};

/**
 * The commands that only some protocol versions define (MS-ASCMD 2.2.1), with the first and last
 * version that does. A request for a command at a version without it is refused, handler or not.
 */
const COMMAND_VERSIONS: Partial<Record<CommandName, { since?: ProtocolVersion; until?: ProtocolVersion }>> = {
  GetAttachment: { until: '12.1' },
  ItemOperations: { since: '12.0' },
  Settings: { since: '12.0' },
  Find: { since: '16.1' },
};

export function isCommandDefinedAt(command: CommandName, version: ProtocolVersion): boolean {
  const { since = version, until = version } = COMMAND_VERSIONS[command] ?? {};
  return isVersionAtLeast(version, since) && isVersionAtLeast(until, version);
}
