// The mobilesync flavour of Autodiscover (MS-ASAB): what a phone posts to find its server, and the
// few fields of the answer it acts on.

const REQUEST_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006';
const RESPONSE_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006';

export interface AutodiscoverResult {
  status: number;
  /** The ActiveSync endpoint the server hands out (Settings/Server/Url of type MobileSync). */
  serverUrl?: string;
  /** Another address to ask instead (Action/Redirect). */
  redirect?: string;
  /** Error/Message or Error/ErrorCode text, when the server answered with an error. */
  error?: string;
  xml: string;
}

export function autodiscoverRequest(email: string): string {
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<Autodiscover xmlns="${REQUEST_SCHEMA}">`,
    '<Request>',
    `<EMailAddress>${escapeXml(email)}</EMailAddress>`,
    `<AcceptableResponseSchema>${RESPONSE_SCHEMA}</AcceptableResponseSchema>`,
    '</Request>',
    '</Autodiscover>',
  ].join('');
}

export function parseAutodiscoverResponse(status: number, xml: string): AutodiscoverResult {
  const result: AutodiscoverResult = { status, xml };
  const mobileSync = elements(xml, 'Server').find((server) => elementText(server, 'Type') === 'MobileSync');
  const serverUrl = mobileSync && elementText(mobileSync, 'Url');
  if (serverUrl) result.serverUrl = serverUrl;
  const redirect = elementText(xml, 'Redirect');
  if (redirect) result.redirect = redirect;
  const error = elements(xml, 'Error')[0];
  if (error !== undefined) result.error = elementText(error, 'Message') ?? elementText(error, 'ErrorCode');
  return result;
}

// The answer is a small, flat document: matching elements by local name (any prefix) is enough and
// keeps an XML parser out of the dependencies.
function elements(xml: string, name: string): string[] {
  const pattern = new RegExp(`<(?:\\w+:)?${name}\\b[^>]*>([\\s\\S]*?)</(?:\\w+:)?${name}>`, 'g');
  return [...xml.matchAll(pattern)].map((match) => match[1] ?? '');
}

function elementText(xml: string, name: string): string | undefined {
  const inner = elements(xml, name)[0];
  return inner === undefined ? undefined : unescapeXml(inner.trim());
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|apos|quot|#\d+|#x[0-9a-f]+);/gi, (entity, name: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };
    if (name[0] !== '#') return named[name.toLowerCase()] ?? entity;
    const code =
      name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return String.fromCodePoint(code);
  });
}
