// The request line of MS-ASHTTP 2.2.1.1.1: what a phone asks for, sent either as a plain query
// (`?Cmd=Sync&User=…&DeviceId=…&DeviceType=…`) or as one base64 blob (2.2.1.1.1.1). Both become one
// EasRequest. The tables here are shared with src/client, which encodes the base64 form.
//
// Where a value comes from: the plain form takes the protocol version from the MS-ASProtocolVersion
// header and the policy key from X-MS-PolicyKey. In the base64 form the blob wins (MS-ASHTTP says
// those headers SHOULD NOT accompany it); a header only fills a field the blob left out — the policy
// key, which is optional there, and the AcceptMultiPart flag.

import type { IncomingHttpHeaders } from 'node:http';
import { HttpError } from './errors.ts';

export const PROTOCOL_VERSIONS = ['2.5', '12.0', '12.1', '14.0', '14.1', '16.0', '16.1'] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

export function isProtocolVersion(value: string): value is ProtocolVersion {
  return (PROTOCOL_VERSIONS as readonly string[]).includes(value);
}

/** Whether `version` is `minimum` or a later version. */
export function isVersionAtLeast(version: ProtocolVersion, minimum: ProtocolVersion): boolean {
  return PROTOCOL_VERSIONS.indexOf(version) >= PROTOCOL_VERSIONS.indexOf(minimum);
}

/** MS-ASHTTP 2.2.1.1.1.1.2: the base64 command codes; the names are the plain query's `Cmd` values. */
export const COMMAND_CODES = {
  Sync: 0,
  SendMail: 1,
  SmartForward: 2,
  SmartReply: 3,
  GetAttachment: 4,
  FolderSync: 9,
  FolderCreate: 10,
  FolderDelete: 11,
  FolderUpdate: 12,
  MoveItems: 13,
  GetItemEstimate: 14,
  MeetingResponse: 15,
  Search: 16,
  Settings: 17,
  Ping: 18,
  ItemOperations: 19,
  Provision: 20,
  ResolveRecipients: 21,
  ValidateCert: 22,
  Find: 23,
} as const;
export type CommandName = keyof typeof COMMAND_CODES;
export const COMMAND_NAMES = Object.keys(COMMAND_CODES) as CommandName[];

function isCommandName(value: string): value is CommandName {
  return Object.hasOwn(COMMAND_CODES, value);
}

/** The command parameters that carry a value (MS-ASHTTP 2.2.1.1.1.2.5); the flags are separate fields. */
export interface CommandParameters {
  attachmentName?: string;
  collectionId?: string;
  itemId?: string;
  longId?: string;
  occurrence?: string;
}

/** Each parameter's plain-query name and base64 tag (MS-ASHTTP 2.2.1.1.1.1.3). */
const PARAMETERS: readonly { key: keyof CommandParameters; name: string; tag: number }[] = [
  { key: 'attachmentName', name: 'AttachmentName', tag: 0 },
  { key: 'collectionId', name: 'CollectionId', tag: 1 },
  { key: 'itemId', name: 'ItemId', tag: 3 },
  { key: 'longId', name: 'LongId', tag: 4 },
  { key: 'occurrence', name: 'Occurrence', tag: 6 },
];
const TAG_OPTIONS = 7;
const TAG_USER = 8;
const OPTION_SAVE_IN_SENT = 0x01;
const OPTION_ACCEPT_MULTIPART = 0x02;

/** Everything the base64 form can carry. */
export interface Base64Query {
  protocolVersion: ProtocolVersion;
  command: CommandName;
  /** An LCID (MS-LCID), e.g. 0x0409 for en-US. */
  locale: number;
  deviceId: string;
  policyKey?: number;
  deviceType: string;
  user?: string;
  params: CommandParameters;
  saveInSent: boolean;
  acceptMultiPart: boolean;
}

/** One EAS request, whichever form its query came in. */
export interface EasRequest {
  command: CommandName;
  protocolVersion: ProtocolVersion;
  /** The User parameter as sent, possibly `DOMAIN\user` or `user@domain`; the base64 form may omit it. */
  user?: string;
  deviceId: string;
  /** Empty when the client sent none. */
  deviceType: string;
  policyKey?: number;
  /** Only the base64 form carries a locale. */
  locale?: number;
  params: CommandParameters;
  saveInSent: boolean;
  acceptMultiPart: boolean;
  userAgent?: string;
  clientAddress: string;
  queryForm: 'plain' | 'base64';
}

export interface RequestLine {
  /** The raw query string, without the `?`. */
  query: string;
  headers: IncomingHttpHeaders;
  clientAddress: string;
}

/** Parses either query form; throws HttpError (400, or 501 for a command name EAS does not have). */
export function parseEasRequest({ query, headers, clientAddress }: RequestLine): EasRequest {
  const origin = { userAgent: header(headers, 'user-agent'), clientAddress };
  const base64 = base64Query(query);
  if (base64 === undefined) {
    if (!query.includes('=')) throw new HttpError(400, 'query is neither name=value pairs nor base64');
    return { ...parsePlainQuery(query, headers), ...origin };
  }
  const fields = decodeBase64Query(base64);
  return {
    ...fields,
    policyKey: fields.policyKey ?? policyKeyHeader(headers),
    acceptMultiPart: fields.acceptMultiPart || acceptMultiPartHeader(headers),
    ...origin,
    queryForm: 'base64',
  };
}

function parsePlainQuery(
  query: string,
  headers: IncomingHttpHeaders,
): Omit<EasRequest, 'userAgent' | 'clientAddress'> {
  // Parameter names are matched in any letter case, as IIS does; the first occurrence wins.
  const values = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(query)) {
    const key = name.toLowerCase();
    if (!values.has(key)) values.set(key, value);
  }
  const value = (name: string) => values.get(name.toLowerCase()) || undefined;

  const command = value('Cmd');
  if (command === undefined) throw new HttpError(400, 'query has no Cmd');
  if (!isCommandName(command)) throw new HttpError(501, `unknown command "${command}"`);
  const deviceId = value('DeviceId');
  if (deviceId === undefined) throw new HttpError(400, 'query has no DeviceId');
  const version = header(headers, 'ms-asprotocolversion');
  if (version === undefined) throw new HttpError(400, 'no MS-ASProtocolVersion header');
  if (!isProtocolVersion(version)) throw new HttpError(400, `unknown protocol version "${version}"`);

  const params: CommandParameters = {};
  for (const { key, name } of PARAMETERS) {
    const parameter = value(name);
    if (parameter !== undefined) params[key] = parameter;
  }
  return {
    command,
    protocolVersion: version,
    user: value('User'),
    deviceId,
    deviceType: value('DeviceType') ?? '',
    policyKey: policyKeyHeader(headers),
    params,
    saveInSent: value('SaveInSent') === 'T',
    acceptMultiPart: value('AcceptMultiPart') === 'T' || acceptMultiPartHeader(headers),
    queryForm: 'plain',
  };
}

/** The blob of a base64 query (percent-escapes removed), or undefined for a plain query. */
function base64Query(query: string): string | undefined {
  let candidate: string;
  try {
    candidate = decodeURIComponent(query);
  } catch {
    return undefined;
  }
  // A plain query always has a `name=value` pair or an `&`, which base64 cannot contain.
  return /^[A-Za-z0-9+/]+={0,2}$/.test(candidate) ? candidate : undefined;
}

/** Decodes the byte layout of MS-ASHTTP 2.2.1.1.1.1; throws HttpError(400) on anything malformed. */
export function decodeBase64Query(base64: string): Base64Query {
  if (base64.replace(/=+$/, '').length % 4 === 1)
    throw new HttpError(400, 'base64 query is not valid base64');
  const reader = new QueryReader(Buffer.from(base64, 'base64'));

  const versionByte = reader.byte('protocol version');
  const version = `${Math.floor(versionByte / 10)}.${versionByte % 10}`;
  if (!isProtocolVersion(version)) throw new HttpError(400, `unknown protocol version byte ${versionByte}`);
  const code = reader.byte('command code');
  const command = COMMAND_NAMES.find((name) => COMMAND_CODES[name] === code);
  if (command === undefined) throw new HttpError(400, `unknown command code ${code}`);
  const locale = reader.uint16('locale');
  const deviceId = deviceIdText(reader.lengthPrefixed('device id'));
  if (deviceId === '') throw new HttpError(400, 'base64 query has no device id');
  const policyKeyBytes = reader.lengthPrefixed('policy key');
  if (policyKeyBytes.length !== 0 && policyKeyBytes.length !== 4) {
    throw new HttpError(400, `policy key of ${policyKeyBytes.length} bytes (must be 0 or 4)`);
  }
  const policyKey = policyKeyBytes.length === 4 ? policyKeyBytes.readUInt32LE(0) : undefined;
  const deviceType = reader.lengthPrefixed('device type').toString('utf8');

  const query: Base64Query = {
    protocolVersion: version,
    command,
    locale,
    deviceId,
    policyKey,
    deviceType,
    params: {},
    saveInSent: false,
    acceptMultiPart: false,
  };
  while (!reader.done) {
    const tag = reader.byte('parameter tag');
    const value = reader.lengthPrefixed(`parameter ${tag}`);
    const parameter = PARAMETERS.find((p) => p.tag === tag);
    if (parameter !== undefined) {
      query.params[parameter.key] = value.toString('utf8');
    } else if (tag === TAG_USER) {
      query.user = value.toString('utf8');
    } else if (tag === TAG_OPTIONS) {
      const flags = value[0] ?? 0;
      query.saveInSent = (flags & OPTION_SAVE_IN_SENT) !== 0;
      query.acceptMultiPart = (flags & OPTION_ACCEPT_MULTIPART) !== 0;
    }
    // Tags MS-ASHTTP no longer defines are skipped: their length says how far.
  }
  return query;
}

/** The base64 form of a query, ready to follow `?` (the parser also accepts it percent-encoded). */
export function encodeBase64Query(query: Base64Query): string {
  const bytes: number[] = [];
  const lengthPrefixed = (what: string, value: Buffer) => {
    if (value.length > 255) throw new RangeError(`${what} is longer than 255 bytes`);
    bytes.push(value.length, ...value);
  };
  const [major, minor] = query.protocolVersion.split('.').map(Number) as [number, number];
  bytes.push(major * 10 + minor, COMMAND_CODES[query.command], query.locale & 0xff, query.locale >> 8);
  lengthPrefixed('device id', Buffer.from(query.deviceId, 'utf8'));
  const policyKey = Buffer.alloc(query.policyKey === undefined ? 0 : 4);
  if (query.policyKey !== undefined) policyKey.writeUInt32LE(query.policyKey);
  lengthPrefixed('policy key', policyKey);
  lengthPrefixed('device type', Buffer.from(query.deviceType, 'utf8'));
  for (const { key, tag } of PARAMETERS) {
    const value = query.params[key];
    if (value === undefined) continue;
    bytes.push(tag);
    lengthPrefixed(key, Buffer.from(value, 'utf8'));
  }
  const flags =
    (query.saveInSent ? OPTION_SAVE_IN_SENT : 0) | (query.acceptMultiPart ? OPTION_ACCEPT_MULTIPART : 0);
  if (flags !== 0) bytes.push(TAG_OPTIONS, 1, flags);
  if (query.user !== undefined) {
    bytes.push(TAG_USER);
    lengthPrefixed('user', Buffer.from(query.user, 'utf8'));
  }
  return Buffer.from(bytes).toString('base64');
}

/**
 * MS-ASHTTP allows "a string or a GUID" here: printable ASCII reads as the string (so the spec's
 * example names the same device in both forms); anything else, such as raw GUID bytes, as hex.
 */
function deviceIdText(bytes: Buffer): string {
  const printable = bytes.every((b) => b >= 0x21 && b <= 0x7e);
  return printable ? bytes.toString('latin1') : bytes.toString('hex').toUpperCase();
}

function policyKeyHeader(headers: IncomingHttpHeaders): number | undefined {
  const value = header(headers, 'x-ms-policykey');
  if (value === undefined) return undefined;
  const key = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(key <= 0xffffffff))
    throw new HttpError(400, `X-MS-PolicyKey "${value}" is not a 32-bit unsigned integer`);
  return key;
}

/** MS-ASHTTP 2.2.1.1.2.5: `MS-ASAcceptMultiPart: T` asks for a multipart ItemOperations response. */
function acceptMultiPartHeader(headers: IncomingHttpHeaders): boolean {
  return header(headers, 'ms-asacceptmultipart') === 'T';
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) || undefined;
}

/** Bounds-checked reads; running out of bytes is a client error, never a crash. */
class QueryReader {
  private offset = 0;

  constructor(private readonly bytes: Buffer) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  byte(what: string): number {
    return this.take(1, what)[0] as number;
  }

  uint16(what: string): number {
    return this.take(2, what).readUInt16LE(0);
  }

  lengthPrefixed(what: string): Buffer {
    return this.take(this.byte(`${what} length`), what);
  }

  private take(count: number, what: string): Buffer {
    if (this.offset + count > this.bytes.length) {
      throw new HttpError(400, `base64 query ends inside the ${what} (byte ${this.offset})`);
    }
    const slice = this.bytes.subarray(this.offset, this.offset + count);
    this.offset += count;
    return slice;
  }
}
