// The per-device protocol log: each request of a known device account and its answer, decoded to
// XML, so that what a phone sent and got can be read later (`airsync device log`). Passwords never
// reach it; message bodies and attachments are shown only as their size unless full logging is
// switched on for the device. Each device account keeps its newest entries; older ones are dropped as
// new ones arrive.

import type { CommandName } from '../http/query.ts';
import type { Db } from '../state/db.ts';
import { redactedPlaceholder, toXml, type RedactDecision, type WbxmlElement } from '../wbxml/index.ts';

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

/** Content of message bodies and attachments, in any data class and any command. */
const BODY_ELEMENTS: ReadonlySet<string> = new Set([
  'AirSyncBase:Data',
  'AirSyncBase:Preview',
  'AirSyncBase:Content',
  'Email:Body',
  'Email:MIMEData',
  'Contacts:Body',
  'Contacts:Picture',
  'Calendar:Body',
  'Tasks:Body',
  'ComposeMail:Mime',
  'ItemOperations:Data',
  'GAL:Data',
  'ResolveRecipients:Data',
  'Find:Preview',
]);

/** A tree as the log shows it: passwords always hidden, bodies unless `fullLog`. */
export function logXml(tree: WbxmlElement, fullLog: boolean): string {
  const redact = (element: WbxmlElement): RedactDecision => {
    // Search, ItemOperations and Settings all name theirs Password.
    if (element.name === 'Password') return '[redacted]';
    if (!fullLog && BODY_ELEMENTS.has(`${element.ns}:${element.name}`)) return redactedPlaceholder(element);
    return 'keep';
  };
  return toXml(tree, { redact });
}

/** A request as the log shows it; a MIME message counts as a body. */
function logRequest(request: WbxmlElement | Buffer, fullLog: boolean): string {
  if (!Buffer.isBuffer(request)) return logXml(request, fullLog);
  return fullLog ? request.toString('utf8') : `[message/rfc822, redacted ${request.length} bytes]`;
}

/**
 * Adds an entry to the log of the exchange's device account, and drops what exceeds `maxEntries`
 * in the same transaction. Nothing is logged with `maxEntries` 0, or for an account removed meanwhile.
 */
export async function writeDeviceLog(db: Db, exchange: ProtocolExchange, maxEntries: number): Promise<void> {
  if (maxEntries < 1) return;
  const { accountId, request, response } = exchange;
  const device = await db
    .selectFrom('device_accounts')
    .innerJoin('devices', 'devices.id', 'device_accounts.device_id')
    .select('devices.full_log')
    .where('device_accounts.id', '=', accountId)
    .executeTakeFirst();
  if (device === undefined) return;
  const fullLog = device.full_log === 1;
  const entry = {
    account_id: accountId,
    at: new Date().toISOString(),
    command: exchange.command,
    http_status: exchange.httpStatus,
    request: request === undefined ? null : logRequest(request, fullLog),
    response: response === undefined ? null : logXml(response, fullLog),
  };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('device_log').values(entry).execute();
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
