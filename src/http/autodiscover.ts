// Autodiscover for mobile clients (MS-ASCMD 2.2.1.1): a phone posts its e-mail address and learns
// the URL of the ActiveSync endpoint. Problems are answered the Autodiscover way — an Error element
// with HTTP 200 — so a client reads them instead of retrying. The request is read with two
// patterns, never with an XML parser: there is no DTD to expand and no entity to resolve (no XXE).

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { ACTIVESYNC_PATH } from './activesync.ts';
import type { Authenticator } from './auth.ts';
import './request-state.ts'; // the request fields set here

export const AUTODISCOVER_PATH = '/autodiscover/autodiscover.xml';

const RESPONSE_NAMESPACE = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
const MOBILESYNC_RESPONSE_NAMESPACE =
  'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006';
/** An Autodiscover request is a few hundred bytes. */
const MAX_REQUEST_BYTES = 64 * 1024;

export type AutodiscoverRequest =
  { ok: true; emailAddress: string } | { ok: false; errorCode: 600 | 601; reason: string };

/** Reads the mobilesync request schema: EMailAddress and AcceptableResponseSchema are all it needs. */
export function readAutodiscoverRequest(xml: string): AutodiscoverRequest {
  const invalid = (reason: string) => ({ ok: false, errorCode: 600, reason }) as const;
  if (/<!DOCTYPE/i.test(xml)) return invalid('a DTD in the request');
  if (!/<(?:[\w.-]+:)?Autodiscover[\s>]/.test(xml)) return invalid('no Autodiscover element');
  // One Request, one answer (MS-ASCMD 2.2.2.1.1): more than one is an invalid request, not a choice.
  const requests = xml.match(/<(?:[\w.-]+:)?Request[\s>]/g)?.length ?? 0;
  if (requests !== 1) return invalid(`${requests} Request elements`);
  const schema = elementText(xml, 'AcceptableResponseSchema');
  const emailAddress = elementText(xml, 'EMailAddress');
  if (schema === undefined || emailAddress === undefined) {
    return invalid('no AcceptableResponseSchema or EMailAddress, or an unknown entity in them');
  }
  if (schema !== MOBILESYNC_RESPONSE_NAMESPACE) {
    return { ok: false, errorCode: 601, reason: `response schema "${schema}" is not available` };
  }
  if (emailAddress === '') return invalid('an empty EMailAddress');
  return { ok: true, emailAddress };
}

function autodiscoverResponse(user: { displayName: string; emailAddress: string }, url: string): string {
  return document(`
    <Culture>en:us</Culture>
    <User>
      <DisplayName>${escapeXml(user.displayName)}</DisplayName>
      <EMailAddress>${escapeXml(user.emailAddress)}</EMailAddress>
    </User>
    <Action>
      <Settings>
        <Server>
          <Type>MobileSync</Type>
          <Url>${escapeXml(url)}</Url>
          <Name>${escapeXml(url)}</Name>
        </Server>
      </Settings>
    </Action>`);
}

function autodiscoverError(errorCode: 600 | 601): string {
  const message = errorCode === 600 ? 'Invalid Request' : 'The requested schema version is not available';
  const time = new Date().toISOString().slice(11, 23);
  return document(`
    <Error Time="${time}" Id="${SERVER_ID}">
      <ErrorCode>${errorCode}</ErrorCode>
      <Message>${message}</Message>
      <DebugData />
    </Error>`);
}

export interface AutodiscoverOptions {
  config: Config;
  authenticator: Authenticator;
}

/** Registers the route; the router matches paths in any letter case (`/Autodiscover/Autodiscover.xml`). */
export function autodiscoverRoutes(
  app: FastifyInstance,
  { config, authenticator }: AutodiscoverOptions,
): void {
  app.post(AUTODISCOVER_PATH, {
    bodyLimit: MAX_REQUEST_BYTES,
    onRequest: async (request) => {
      await authenticator.authenticateRequest(request);
    },
    handler: async (request, reply) => {
      const user = request.account;
      if (user === null) throw new Error('request reached its handler unauthenticated');
      const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
      const parsed = readAutodiscoverRequest(body);
      reply.type('text/xml; charset=utf-8');
      if (!parsed.ok) {
        request.failure = { reason: `Autodiscover error ${parsed.errorCode}: ${parsed.reason}` };
        return autodiscoverError(parsed.errorCode);
      }
      const url = `${publicUrl(config, request)}${ACTIVESYNC_PATH}`;
      return autodiscoverResponse({ displayName: user.name, emailAddress: parsed.emailAddress }, url);
    },
  });
}

/** The configured public URL, or the one this request reached the server at. */
function publicUrl(config: Config, request: FastifyRequest): string {
  return config.publicUrl ?? `${request.protocol}://${request.host}`;
}

/** Exchange identifies the answering server by a hash of its name. */
const SERVER_ID = createHash('sha256').update(hostname()).digest().readUInt32BE(0);

function document(response: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${RESPONSE_NAMESPACE}">
  <Response xmlns="${MOBILESYNC_RESPONSE_NAMESPACE}">${response}
  </Response>
</Autodiscover>
`;
}

/** The text of the first element with this local name; undefined when absent or not plain text. */
function elementText(xml: string, name: string): string | undefined {
  const pattern = new RegExp(`<(?:[\\w.-]+:)?${name}(?:\\s[^>]*)?>([^<]*)</(?:[\\w.-]+:)?${name}\\s*>`);
  const text = pattern.exec(xml)?.[1];
  return text === undefined ? undefined : unescapeXml(text.trim());
}

const ENTITIES = new Map([
  ['lt', '<'],
  ['gt', '>'],
  ['amp', '&'],
  ['quot', '"'],
  ['apos', "'"],
]);
const ESCAPES = new Map([...ENTITIES].map(([name, character]) => [character, `&${name};`]));

/** Resolves the predefined and numeric entities; undefined for anything else, which XML would reject. */
function unescapeXml(text: string): string | undefined {
  let valid = true;
  const resolved = text.replace(/&(?:([^;&\s]+);)?/g, (_match, entity: string | undefined) => {
    const value = entity === undefined ? undefined : resolveEntity(entity);
    if (value === undefined) valid = false;
    return value ?? '';
  });
  return valid ? resolved : undefined;
}

function resolveEntity(entity: string): string | undefined {
  const numeric = /^#(?:x([0-9a-f]{1,6})|(\d{1,7}))$/i.exec(entity);
  if (numeric === null) return ENTITIES.get(entity);
  const codePoint = numeric[1] === undefined ? Number(numeric[2]) : parseInt(numeric[1], 16);
  return codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : undefined;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (character) => ESCAPES.get(character) ?? character);
}
