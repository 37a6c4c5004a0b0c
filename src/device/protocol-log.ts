// The per-device protocol log: each request of a known device account and its answer, decoded to
// XML, so that what a phone sent and got can be read later (`airsync device log`). Passwords never
// reach it; message bodies and attachments are shown only as their size, and of a Sync's items only
// the first few, unless full logging is switched on for the device. Each device account keeps its
// newest entries; older ones are dropped as new ones arrive.

import type { CommandName } from '../http/query.ts';
import type { Db } from '../state/db.ts';
import {
  child,
  redactedPlaceholder,
  toXml,
  type Namespace,
  type RedactDecision,
  type WbxmlElement,
} from '../wbxml/index.ts';

/** What one request of a device account exchanged. */
export interface ProtocolExchange {
  accountId: number;
  command: CommandName;
  httpStatus: number;
  /** The decoded request, or the MIME message of a SendMail, SmartReply or SmartForward. */
  request?: WbxmlElement | Buffer;
  /** The decoded answer; none for an empty body or a bare HTTP status (449, 501, …). */
  response?: WbxmlElement;
}

export interface DeviceLogEntry {
  id: number;
  accountId: number;
  /** The user whose account this is. */
  user: string;
  /** ISO-8601 UTC. */
  at: string;
  command: string;
  httpStatus: number;
  request: string | null;
  response: string | null;
}

/** Content of message bodies and attachments, in any data class and any command, by namespace. */
const BODY_ELEMENTS: ReadonlyMap<Namespace, ReadonlySet<string>> = new Map<Namespace, ReadonlySet<string>>([
  ['AirSyncBase', new Set(['Data', 'Preview', 'Content'])],
  ['Email', new Set(['Body', 'MIMEData'])],
  ['Contacts', new Set(['Body', 'Picture'])],
  ['Calendar', new Set(['Body'])],
  ['Tasks', new Set(['Body'])],
  ['ComposeMail', new Set(['Mime'])],
  ['ItemOperations', new Set(['Data'])],
  ['GAL', new Set(['Data'])],
  ['ResolveRecipients', new Set(['Data'])],
  ['Find', new Set(['Preview'])],
]);

/**
 * Commands (and responses) of a Sync collection whose items the log shows in full; the items of
 * the others are elided unless full logging is on. A window of 100 contacts renders to some 130 KB
 * of XML, which took longer to render and store than the Sync took to answer, and was as costly to
 * delete again when newer entries pushed it out. The first few show what the items look like; every
 * command still shows its kind and ServerId.
 */
export const LOGGED_SYNC_ITEMS = 10;

/** A tree as the log shows it: passwords always hidden, bodies and most Sync items unless `fullLog`. */
export function logXml(tree: WbxmlElement, fullLog: boolean): string {
  const elided = fullLog ? undefined : elidedSyncItems(tree);
  const redact = (element: WbxmlElement): RedactDecision => {
    // Search, ItemOperations and Settings all name theirs Password.
    if (element.name === 'Password') return '[redacted]';
    if (fullLog) return 'keep';
    if (BODY_ELEMENTS.get(element.ns)?.has(element.name) === true) return redactedPlaceholder(element);
    return elided?.get(element) ?? 'keep';
  };
  return toXml(tree, { redact });
}

/**
 * The ApplicationData of a Sync's commands and responses after the first LOGGED_SYNC_ITEMS of each
 * collection, with what the log shows instead: the first of them says how many follow.
 */
function elidedSyncItems(tree: WbxmlElement): Map<WbxmlElement, string> | undefined {
  if (tree.ns !== 'AirSync' || tree.name !== 'Sync') return undefined;
  const elided = new Map<WbxmlElement, string>();
  for (const collection of child(tree, 'Collections', 'AirSync')?.children ?? []) {
    for (const list of collection.children) {
      if (list.ns !== 'AirSync' || (list.name !== 'Commands' && list.name !== 'Responses')) continue;
      const rest = list.children.length - LOGGED_SYNC_ITEMS;
      list.children.slice(LOGGED_SYNC_ITEMS).forEach((command, index) => {
        const data = child(command, 'ApplicationData', 'AirSync');
        if (data === undefined) return;
        elided.set(
          data,
          index === 0 ? `[… ${rest} more ${list.name.toLowerCase()}: items not logged]` : '[…]',
        );
      });
    }
  }
  return elided.size === 0 ? undefined : elided;
}

/** A request as the log shows it; a MIME message counts as a body. */
function logRequest(request: WbxmlElement | Buffer, fullLog: boolean): string {
  if (!Buffer.isBuffer(request)) return logXml(request, fullLog);
  return fullLog ? request.toString('utf8') : `[message/rfc822, redacted ${request.length} bytes]`;
}

/** One exchange waiting to be logged, and who hears of it when it cannot be. */
interface PendingEntry {
  exchange: ProtocolExchange;
  onError: (error: unknown) => void;
}

/**
 * Writes log entries in the background, one batch at a time: what arrives while a batch is being
 * written goes into the next one, so a burst of requests costs one transaction, and the trimming of
 * one batch never races the insert of another. Nothing is logged with `maxEntries` 0.
 */
export class DeviceLogWriter {
  private pending: PendingEntry[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly maxEntries: number,
  ) {}

  add(exchange: ProtocolExchange, onError: (error: unknown) => void): void {
    if (this.maxEntries < 1) return;
    this.pending.push({ exchange, onError });
    this.writing ??= this.writeAll();
  }

  /** Resolves once everything added so far is written. */
  async idle(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  private async writeAll(): Promise<void> {
    try {
      // Let the requests answered in the same turn of the event loop join the first batch.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        try {
          await writeDeviceLog(
            this.db,
            batch.map(({ exchange }) => exchange),
            this.maxEntries,
          );
        } catch (error) {
          for (const { onError } of batch) onError(error);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}

/**
 * Adds entries to the logs of their device accounts, and drops what exceeds `maxEntries` per account
 * in the same transaction. Entries of an account removed meanwhile are left out.
 */
export async function writeDeviceLog(
  db: Db,
  exchanges: ProtocolExchange[],
  maxEntries: number,
): Promise<void> {
  const accountIds = [...new Set(exchanges.map(({ accountId }) => accountId))];
  if (accountIds.length === 0) return;
  const accounts = await db
    .selectFrom('device_accounts')
    .innerJoin('devices', 'devices.id', 'device_accounts.device_id')
    .select(['device_accounts.id', 'devices.full_log'])
    .where('device_accounts.id', 'in', accountIds)
    .execute();
  const fullLogOf = new Map(accounts.map((account) => [account.id, account.full_log === 1]));
  const at = new Date().toISOString();
  const entries = exchanges.flatMap(({ accountId, command, httpStatus, request, response }) => {
    const fullLog = fullLogOf.get(accountId);
    if (fullLog === undefined) return [];
    return [
      {
        account_id: accountId,
        at,
        command,
        http_status: httpStatus,
        request: request === undefined ? null : logRequest(request, fullLog),
        response: response === undefined ? null : logXml(response, fullLog),
      },
    ];
  });
  if (entries.length === 0) return;
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('device_log').values(entries).execute();
    for (const accountId of fullLogOf.keys()) {
      // The newest maxEntries stay: everything older than the last of them goes, through the
      // (account_id, id) index.
      const oldestKept = trx
        .selectFrom('device_log')
        .select('id')
        .where('account_id', '=', accountId)
        .orderBy('id', 'desc')
        .limit(1)
        .offset(maxEntries - 1);
      await trx
        .deleteFrom('device_log')
        .where('account_id', '=', accountId)
        .where('id', '<', oldestKept)
        .execute();
    }
  });
}

/** Whose log to read: one account, or every account on a device (its DeviceId). */
export type DeviceLogSubject = { accountId: number } | { deviceId: string };

/** The newest entries first. */
export async function readDeviceLog(
  db: Db,
  subject: DeviceLogSubject,
  options: { limit?: number } = {},
): Promise<DeviceLogEntry[]> {
  const rows = await db
    .selectFrom('device_log')
    .innerJoin('device_accounts', 'device_accounts.id', 'device_log.account_id')
    .innerJoin('devices', 'devices.id', 'device_accounts.device_id')
    .innerJoin('users', 'users.id', 'device_accounts.user_id')
    .select([
      'device_log.id',
      'device_log.account_id',
      'users.name',
      'device_log.at',
      'device_log.command',
      'device_log.http_status',
      'device_log.request',
      'device_log.response',
    ])
    .where((eb) =>
      'accountId' in subject
        ? eb('device_log.account_id', '=', subject.accountId)
        : eb('devices.device_id', '=', subject.deviceId),
    )
    .orderBy('device_log.id', 'desc')
    .limit(options.limit ?? 100)
    .execute();
  return rows.map((row) => ({
    id: row.id,
    accountId: row.account_id,
    user: row.name,
    at: row.at,
    command: row.command,
    httpStatus: row.http_status,
    request: row.request,
    response: row.response,
  }));
}

/** Switches full logging (bodies unredacted) for a device (its DeviceId); false when there is none. */
export async function setFullLogging(db: Db, deviceId: string, on: boolean): Promise<boolean> {
  const result = await db
    .updateTable('devices')
    .set({ full_log: on ? 1 : 0 })
    .where('device_id', '=', deviceId)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
