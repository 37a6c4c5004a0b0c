// An EAS client as a phone is one: it talks to /Microsoft-Server-ActiveSync with the same WBXML codec
// and the same base64 query table as the server, so both sides of a test share one definition.
// Command helpers (provision, folderSync, sync, …) build on send().
import type http from 'node:http';
import { WBXML_MEDIA_TYPE } from '../http/activesync.ts';
import { AUTODISCOVER_PATH } from '../http/autodiscover.ts';
import { encodeBase64Query, isProtocolVersion } from '../http/query.ts';
import type { CommandName, CommandParameters } from '../http/query.ts';
import { decode, encode } from '../wbxml/index.ts';
import type { WbxmlElement } from '../wbxml/index.ts';
import { autodiscoverRequest, parseAutodiscoverResponse } from './autodiscover.ts';
import type { AutodiscoverResult } from './autodiscover.ts';
import { agentTrusting, exchange } from './transport.ts';
import type { HttpAnswer } from './transport.ts';

/** `plain`: Cmd=…&User=…; `base64`: the packed binary query of MS-ASHTTP 2.2.1.1.1.1. */
export type QueryForm = 'plain' | 'base64';

export interface EasClientOptions {
  /** The ActiveSync endpoint, e.g. https://mail.example.org/Microsoft-Server-ActiveSync. */
  url: string;
  user: string;
  password: string;
  deviceId: string;
  deviceType: string;
  protocolVersion: string;
  userAgent?: string;
  queryForm?: QueryForm;
  policyKey?: string;
  /** Windows LCID carried by the base64 query; 0x0409 is en-US. */
  locale?: number;
  /** Extra certificate authority to trust, PEM (a self-signed server). */
  ca?: string | Buffer;
  /** How long a connection may stay silent; a Ping needs more than its heartbeat. */
  timeoutMs?: number;
}

export interface SendOptions {
  /** CollectionId, ItemId, LongId, Occurrence, AttachmentName: in the query, whichever its form. */
  params?: CommandParameters;
  /** SendMail, SmartReply, SmartForward: keep a copy in Sent Items. */
  saveInSent?: boolean;
  /** ItemOperations: answer multipart, bodies outside the WBXML. */
  acceptMultiPart?: boolean;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface EasResponse {
  /** HTTP status. */
  status: number;
  headers: Record<string, string>;
  /** The decoded WBXML body, when the server sent one. */
  body: WbxmlElement | undefined;
  raw: Buffer;
}

export interface EasOptionsResponse {
  status: number;
  headers: Record<string, string>;
  /** MS-ASProtocolVersions, e.g. ['2.5', '12.0', …]. */
  versions: string[];
  /** MS-ASProtocolCommands. */
  commands: string[];
}

export class EasClient {
  readonly url: URL;
  readonly user: string;
  readonly deviceId: string;
  readonly deviceType: string;
  readonly queryForm: QueryForm;
  /** Changes after OPTIONS negotiation. */
  protocolVersion: string;
  /** Changes as Provision hands out keys. */
  policyKey: string | undefined;
  private readonly authorization: string;
  private readonly userAgent: string;
  private readonly locale: number;
  private readonly timeoutMs: number;
  private readonly agent: http.Agent | undefined;

  constructor(options: EasClientOptions) {
    this.url = new URL(options.url);
    this.user = options.user;
    this.deviceId = options.deviceId;
    this.deviceType = options.deviceType;
    this.protocolVersion = options.protocolVersion;
    this.queryForm = options.queryForm ?? 'plain';
    this.policyKey = options.policyKey;
    this.authorization = `Basic ${Buffer.from(`${options.user}:${options.password}`).toString('base64')}`;
    this.userAgent = options.userAgent ?? 'airsync-client';
    this.locale = options.locale ?? 0x0409;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.agent = options.ca === undefined ? undefined : agentTrusting(options.ca);
  }

  /** OPTIONS: which protocol versions and commands the server offers. */
  async options(): Promise<EasOptionsResponse> {
    const answer = await this.http('OPTIONS', this.url, this.baseHeaders());
    return {
      status: answer.status,
      headers: answer.headers,
      versions: headerList(answer.headers['ms-asprotocolversions']),
      commands: headerList(answer.headers['ms-asprotocolcommands']),
    };
  }

  /**
   * POSTs one command; `tree` is encoded as WBXML, and a WBXML answer is decoded (a WbxmlError when
   * it does not decode). Every HTTP status resolves; only a missing answer rejects, with EasConnectionError.
   */
  async send(command: CommandName, tree?: WbxmlElement, options: SendOptions = {}): Promise<EasResponse> {
    const url = new URL(this.url);
    url.search =
      this.queryForm === 'base64' ? this.base64Query(command, options) : this.plainQuery(command, options);
    const headers = this.baseHeaders();
    // The base64 query carries the version and policy key itself (MS-ASHTTP 2.2.1.1.1.1).
    if (this.queryForm === 'plain') {
      headers['MS-ASProtocolVersion'] = this.protocolVersion;
      if (this.policyKey !== undefined) headers['X-MS-PolicyKey'] = this.policyKey;
      if (options.acceptMultiPart === true) headers['MS-ASAcceptMultiPart'] = 'T';
    }
    const body = tree === undefined ? undefined : encode(tree);
    if (body !== undefined) headers['Content-Type'] = WBXML_MEDIA_TYPE;
    const answer = await this.http('POST', url, { ...headers, ...options.headers }, body, options.timeoutMs);
    const isWbxml =
      answer.headers['content-type']?.startsWith(WBXML_MEDIA_TYPE) === true && answer.raw.length > 0;
    return { ...answer, body: isWbxml ? decode(answer.raw) : undefined };
  }

  /** Asks the server's Autodiscover (same origin as the endpoint) where `email` syncs. */
  async autodiscover(email: string): Promise<AutodiscoverResult> {
    const headers = { ...this.baseHeaders(), 'Content-Type': 'text/xml; charset=utf-8' };
    const body = Buffer.from(autodiscoverRequest(email));
    const answer = await this.http('POST', new URL(AUTODISCOVER_PATH, this.url), headers, body);
    return parseAutodiscoverResponse(answer.status, answer.raw.toString('utf8'));
  }

  private plainQuery(command: CommandName, options: SendOptions): string {
    const query = new URLSearchParams({
      Cmd: command,
      User: this.user,
      DeviceId: this.deviceId,
      DeviceType: this.deviceType,
    });
    // The plain names are the parameter keys capitalised: collectionId → CollectionId.
    for (const [key, value] of Object.entries(options.params ?? {})) {
      if (value !== undefined) query.set(key[0]?.toUpperCase() + key.slice(1), value);
    }
    if (options.saveInSent === true) query.set('SaveInSent', 'T');
    return query.toString();
  }

  private base64Query(command: CommandName, options: SendOptions): string {
    const version = this.protocolVersion;
    if (!isProtocolVersion(version)) {
      throw new RangeError(`the base64 query cannot carry protocol version ${version}`);
    }
    return encodeBase64Query({
      protocolVersion: version,
      command,
      locale: this.locale,
      deviceId: this.deviceId,
      policyKey: this.policyKey === undefined ? undefined : policyKeyNumber(this.policyKey),
      deviceType: this.deviceType,
      user: this.user,
      params: options.params ?? {},
      saveInSent: options.saveInSent === true,
      acceptMultiPart: options.acceptMultiPart === true,
    });
  }

  private baseHeaders(): Record<string, string> {
    return { Authorization: this.authorization, 'User-Agent': this.userAgent };
  }

  private http(
    method: 'OPTIONS' | 'POST',
    url: URL,
    headers: Record<string, string>,
    body?: Buffer,
    timeoutMs = this.timeoutMs,
  ): Promise<HttpAnswer> {
    return exchange({ method, url, headers, body, timeoutMs, agent: this.agent });
  }
}

function policyKeyNumber(policyKey: string): number {
  const key = /^\d{1,10}$/.test(policyKey) ? Number(policyKey) : NaN;
  if (!(key <= 0xffffffff)) throw new RangeError(`policy key ${policyKey} is not a 32-bit unsigned integer`);
  return key;
}

function headerList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
