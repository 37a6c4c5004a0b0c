// The body of a contact, appointment, task or note on the wire (MS-ASAIRS Body, and the class's own
// Body of EAS 2.5), and the conversions a phone's BodyPreference can ask for: plain text always
// (HTML with its tags stripped, compressed RTF decompressed and read), HTML from HTML or from text
// escaped into it, RTF only as stored.
//
// Incoming bodies have three meanings a Change must tell apart: absent (keep the stored body —
// MS-ASCMD Change), sent empty (the user cleared it) and sent in part (Truncated: the phone only
// has what we truncated for it, so it must not replace the whole). decodeBody returns undefined
// for the first and the last, and a body with empty data for the second.

import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { child, el, type WbxmlElement } from '../wbxml/tree.ts';
import { ItemError, type BodyPreference, type EncodeOptions } from './codec.ts';
import type { Property } from './property-table.ts';
import type { Body } from './types.ts';

export type BodyClass = 'Calendar' | 'Contacts' | 'Tasks' | 'Notes';

/** The largest body accepted from a phone, in characters. */
export const MAX_BODY_LENGTH = 16 * 1024 * 1024;

/** MS-ASCMD Truncation 0–8: characters kept; 9 (and anything else) keeps the whole body. */
const TRUNCATION_LIMITS = [0, 512, 1024, 2048, 5120, 10240, 20480, 51200, 102400];

/** MS-ASAIRS Type. */
const TYPE_OF_FORMAT = { text: 1, html: 2, rtf: 3 } as const;
const FORMAT_OF_TYPE: Record<string, Body['format']> = { '1': 'text', '2': 'html', '3': 'rtf' };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The Body elements of an item: at 2.5 the class's own Body (with BodySize and BodyTruncated where
 * its code page has them, and CompressedRTF for an RTF body); from 12.0 one AirSyncBase:Body in the
 * first of the phone's BodyPreferences the body can be served in. Notes exist from 14.0 only.
 */
export function encodeBody(ns: BodyClass, body: Body | undefined, options: EncodeOptions): WbxmlElement[] {
  const present = body !== undefined && body.data !== '' ? body : undefined;
  if (!isVersionAtLeast(options.version, '12.0')) {
    return ns === 'Notes' ? [] : encodeLegacyBody(ns, present, options.truncation);
  }
  return [encodeAirSyncBaseBody(present, options)];
}

/** AirSyncBase:NativeBodyType, which Calendar and Contacts items carry from 12.0. */
export function encodeNativeBodyType(
  ns: BodyClass,
  body: Body | undefined,
  version: ProtocolVersion,
): WbxmlElement[] {
  if ((ns !== 'Calendar' && ns !== 'Contacts') || !isVersionAtLeast(version, '12.0')) return [];
  return [el('AirSyncBase', 'NativeBodyType', String(TYPE_OF_FORMAT[body?.format ?? 'text']))];
}

/**
 * The body a phone sent in ApplicationData: AirSyncBase:Body, else the class's 2.5 Body or
 * CompressedRTF. Undefined when there is none or only part of one (Truncated, or a size without
 * data); `data: ''` when the phone cleared it. Throws ItemError for an unknown Type, RTF that is
 * not base64, or a body over MAX_BODY_LENGTH.
 */
export function decodeBody(
  ns: BodyClass,
  applicationData: WbxmlElement,
  version: ProtocolVersion,
): Body | undefined {
  const modern = child(applicationData, 'Body', 'AirSyncBase');
  if (modern !== undefined) return decodeAirSyncBaseBody(modern);
  if (ns === 'Notes' || isVersionAtLeast(version, '12.0')) return undefined;
  return decodeLegacyBody(ns, applicationData);
}

/** The body as plain text, whatever its format. */
export function bodyAsText(body: Body | undefined): string {
  if (body === undefined) return '';
  switch (body.format) {
    case 'text':
      return body.data;
    case 'html':
      return htmlToText(body.data);
    case 'rtf': {
      const rtf = decompressRtf(Buffer.from(body.data, 'base64'));
      return rtf === undefined ? '' : rtfToText(rtf);
    }
  }
}

/**
 * The body as a property of a class's table: AirSyncBase:Body from 12.0, the class's Body before;
 * kept when a Change leaves it out (MS-ASCMD Change) or sends only part of it.
 */
export function bodyProperty<T extends { body?: Body }>(ns: BodyClass): Property<T> {
  return {
    key: 'AirSyncBase:Body',
    definedAt: () => true,
    keptWhenAbsent: true,
    encode: (model, options) => encodeBody(ns, model.body, options),
    decode(applicationData, draft, version) {
      const body = decodeBody(ns, applicationData, version);
      if (body === undefined) return false;
      if (body.data !== '') draft.body = body;
      return true;
    },
    copy(source, target) {
      if (source.body === undefined) delete target.body;
      else target.body = source.body;
    },
    isSet: (model) => model.body !== undefined,
  };
}

/** NativeBodyType as a property: written with the body, never read (the body's Type says it). */
export function nativeBodyTypeProperty<T extends { body?: Body }>(ns: BodyClass): Property<T> {
  return {
    key: 'AirSyncBase:NativeBodyType',
    definedAt: () => true,
    keptWhenAbsent: true,
    encode: (model, options) => encodeNativeBodyType(ns, model.body, options.version),
    decode: () => false,
    copy: () => undefined,
    isSet: () => false,
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

function encodeLegacyBody(
  ns: Exclude<BodyClass, 'Notes'>,
  body: Body | undefined,
  truncation: number | undefined,
): WbxmlElement[] {
  if (body === undefined) return [];
  const text = bodyAsText(body);
  const limit = truncation === undefined ? undefined : TRUNCATION_LIMITS[truncation];
  const kept = limit === undefined ? text : truncateCharacters(text, limit);
  const truncated = kept.length < text.length;
  const elements = [el(ns, 'Body', kept)];
  // The calendar code page has no BodySize.
  if (ns !== 'Calendar') elements.push(el(ns, 'BodySize', String(countCharacters(text))));
  elements.push(el(ns, 'BodyTruncated', truncated ? '1' : '0'));
  if (body.format === 'rtf' && !truncated) elements.push(el(ns, 'CompressedRTF', body.data));
  return elements;
}

function encodeAirSyncBaseBody(body: Body | undefined, options: EncodeOptions): WbxmlElement {
  const preferences = options.bodyPreferences?.length
    ? options.bodyPreferences
    : [{ type: 1, truncationSize: legacyTruncationSize(options.truncation) }];
  let refused: { preference: BodyPreference; size: number } | undefined;
  for (const preference of preferences) {
    const data = render(body, preference.type);
    if (data === undefined) continue;
    const size = Buffer.byteLength(data, 'utf8');
    if (preference.allOrNone && preference.truncationSize !== undefined && size > preference.truncationSize) {
      // MS-ASAIRS AllOrNone: not this type in part; the next preference may fit.
      refused ??= { preference, size };
      continue;
    }
    return bodyElement(body, preference, data, size, options.version);
  }
  if (refused !== undefined) {
    return el('AirSyncBase', 'Body', [
      el('AirSyncBase', 'Type', String(refused.preference.type)),
      el('AirSyncBase', 'EstimatedDataSize', String(refused.size)),
      el('AirSyncBase', 'Truncated', '1'),
    ]);
  }
  // None of the preferred types can carry this body: plain text, as truncated as the first asked.
  const text = bodyAsText(body);
  const fallback = { type: 1, truncationSize: preferences[0]?.truncationSize };
  return bodyElement(body, fallback, text, Buffer.byteLength(text, 'utf8'), options.version);
}

function bodyElement(
  body: Body | undefined,
  preference: BodyPreference,
  data: string,
  size: number,
  version: ProtocolVersion,
): WbxmlElement {
  const limit = preference.truncationSize;
  let sent = data;
  if (limit !== undefined && size > limit) {
    sent = truncateUtf8(data, limit);
    // Base64 is only decodable in whole quadruples.
    if (preference.type === 3) sent = sent.slice(0, sent.length - (sent.length % 4));
  }
  const truncated = sent.length < data.length;
  const children = [
    el('AirSyncBase', 'Type', String(preference.type)),
    el('AirSyncBase', 'EstimatedDataSize', String(size)),
  ];
  if (truncated) children.push(el('AirSyncBase', 'Truncated', '1'));
  children.push(el('AirSyncBase', 'Data', sent));
  // MS-ASAIRS Preview: not beside plain-text data, which is its own preview.
  const previewLength = Math.min(preference.preview ?? 0, 255);
  if (isVersionAtLeast(version, '14.0') && previewLength > 0 && !(preference.type === 1 && sent !== '')) {
    children.push(el('AirSyncBase', 'Preview', preview(bodyAsText(body), previewLength)));
  }
  return el('AirSyncBase', 'Body', children);
}

/** The body in MS-ASAIRS Type `type`, or undefined when it cannot be served in that type. */
function render(body: Body | undefined, type: number): string | undefined {
  switch (type) {
    case 1:
      return bodyAsText(body);
    case 2:
      if (body === undefined) return '';
      if (body.format === 'html') return body.data;
      return body.format === 'text' ? textToHtml(body.data) : undefined;
    case 3:
      return body?.format === 'rtf' ? body.data : undefined;
    default:
      return undefined;
  }
}

/** Truncation (2.5, and 12.0 without BodyPreference) counts characters; a byte limit of the same number is close. */
function legacyTruncationSize(truncation: number | undefined): number | undefined {
  return truncation === undefined ? undefined : TRUNCATION_LIMITS[truncation];
}

/** The longest prefix of `text` of at most `maxBytes` bytes of UTF-8 that ends on a whole character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

function truncateCharacters(text: string, maxCharacters: number): string {
  let count = 0;
  let index = 0;
  for (const character of text) {
    if (count === maxCharacters) return text.slice(0, index);
    count++;
    index += character.length;
  }
  return text;
}

function countCharacters(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    count++;
  }
  return count;
}

function preview(text: string, maxCharacters: number): string {
  return truncateCharacters(text.replace(/\s+/g, ' ').trim(), maxCharacters);
}

// ---------------------------------------------------------------------------------------------
// Decoding

function decodeAirSyncBaseBody(body: WbxmlElement): Body | undefined {
  if (textOf(child(body, 'Truncated', 'AirSyncBase')) === '1') return undefined;
  const typeText = textOf(child(body, 'Type', 'AirSyncBase')) ?? '1';
  const format = FORMAT_OF_TYPE[typeText];
  if (format === undefined) throw new ItemError(`AirSyncBase:Body: Type ${typeText} is not a body type`);
  const data = child(body, 'Data', 'AirSyncBase');
  if (data === undefined) {
    // A size without data announces a body the phone did not send.
    const estimated = Number(textOf(child(body, 'EstimatedDataSize', 'AirSyncBase')) ?? '0');
    if (estimated > 0) return undefined;
  }
  return checkedBody(format, textOf(data) ?? '', 'AirSyncBase:Body');
}

function decodeLegacyBody(ns: Exclude<BodyClass, 'Notes'>, applicationData: WbxmlElement): Body | undefined {
  const rtf = child(applicationData, 'CompressedRTF', ns);
  if (rtf !== undefined) return checkedBody('rtf', textOf(rtf) ?? '', `${ns}:CompressedRTF`);
  const text = child(applicationData, 'Body', ns);
  if (text === undefined || textOf(child(applicationData, 'BodyTruncated', ns)) === '1') return undefined;
  return checkedBody('text', textOf(text) ?? '', `${ns}:Body`);
}

function checkedBody(format: Body['format'], data: string, where: string): Body {
  if (data.length > MAX_BODY_LENGTH)
    throw new ItemError(`${where}: larger than ${MAX_BODY_LENGTH} characters`);
  if (format !== 'rtf') return { format, data };
  const base64 = data.replace(/\s+/g, '');
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) throw new ItemError(`${where}: RTF is not base64`);
  return { format, data: base64 };
}

/** Text or opaque content of an element, as text. */
function textOf(element: WbxmlElement | undefined): string | undefined {
  if (element === undefined) return undefined;
  return element.text ?? element.opaque?.toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// HTML

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  shy: '',
  copy: '©',
  reg: '®',
  trade: '™',
  euro: '€',
  pound: '£',
  yen: '¥',
  cent: '¢',
  sect: '§',
  deg: '°',
  middot: '·',
  bull: '•',
  hellip: '…',
  ndash: '–',
  mdash: '—',
  lsquo: '‘',
  rsquo: '’',
  sbquo: '‚',
  ldquo: '“',
  rdquo: '”',
  bdquo: '„',
  laquo: '«',
  raquo: '»',
  times: '×',
  divide: '÷',
  auml: 'ä',
  ouml: 'ö',
  uuml: 'ü',
  Auml: 'Ä',
  Ouml: 'Ö',
  Uuml: 'Ü',
  szlig: 'ß',
  eacute: 'é',
  egrave: 'è',
  agrave: 'à',
  ccedil: 'ç',
};

/** Elements whose content is not text a reader sees. */
const INVISIBLE_ELEMENTS = ['head', 'script', 'style', 'title'];
const BLOCK_TAG =
  /<\/?(?:p|div|li|ul|ol|tr|table|h[1-6]|blockquote|pre|hr|dt|dd|section|article|header|footer)\b[^>]*>/gi;

/** Plain text of an HTML body: invisible parts dropped, tags stripped, entities decoded. */
export function htmlToText(html: string): string {
  const visible = removeInvisibleElements(html.replace(/<!--[\s\S]*?-->/g, ''));
  // Source line breaks are spaces; a block boundary is one line break, each <br> (marked \r) one more.
  const text = visible
    .replace(/\s+/g, ' ')
    .replace(/<br\b[^>]*>/gi, '\r')
    .replace(BLOCK_TAG, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/ *\n[ \n]*/g, '\n')
    .replace(/\r/g, '\n');
  return decodeEntities(text)
    .split('\n')
    .map((line) => line.replace(/[ \t\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Drops head, script, style and title elements with their content, in one pass over the text. */
function removeInvisibleElements(html: string): string {
  const lower = html.toLowerCase();
  let result = '';
  let position = 0;
  for (;;) {
    let start = -1;
    let name = '';
    for (const candidate of INVISIBLE_ELEMENTS) {
      const at = findTag(lower, `<${candidate}`, position);
      if (at >= 0 && (start < 0 || at < start)) {
        start = at;
        name = candidate;
      }
    }
    if (start < 0) return result + html.slice(position);
    result += html.slice(position, start);
    const close = lower.indexOf(`</${name}`, start);
    if (close < 0) return result;
    const closeEnd = lower.indexOf('>', close);
    position = closeEnd < 0 ? html.length : closeEnd + 1;
  }
}

/** The next `<name` at or after `from` that is a whole tag name (not `<header` for `<head`). */
function findTag(lower: string, opening: string, from: number): number {
  let at = lower.indexOf(opening, from);
  while (at >= 0 && /[a-z0-9]/.test(lower[at + opening.length] ?? ' ')) at = lower.indexOf(opening, at + 1);
  return at;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]{2,8});/g, (entity, reference: string) => {
    if (reference.startsWith('#')) {
      const hex = reference[1] === 'x' || reference[1] === 'X';
      const code = parseInt(reference.slice(hex ? 2 : 1), hex ? 16 : 10);
      const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
      return valid ? String.fromCodePoint(code) : '\ufffd';
    }
    return NAMED_ENTITIES[reference] ?? entity;
  });
}

/** A plain-text body as HTML: escaped, with its line breaks kept. */
export function textToHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\r?\n/g, '<br>\n');
}

// ---------------------------------------------------------------------------------------------
// Compressed RTF (MS-OXRTFCP) and RTF text

/** MS-OXRTFCP 2.1.2.1: the dictionary's initial content. */
const RTF_PRELOAD =
  '{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript ' +
  '\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par ' +
  '\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx';
const COMPRESSED = 0x75465a4c; // 'LZFu'
const UNCOMPRESSED = 0x414c454d; // 'MELA'
const HEADER_SIZE = 16;

/** The RTF inside MS-OXRTFCP compressed RTF, or undefined when it is not that format. */
export function decompressRtf(compressed: Buffer): Buffer | undefined {
  if (compressed.length < HEADER_SIZE) return undefined;
  const compressedSize = compressed.readUInt32LE(0);
  const rawSize = compressed.readUInt32LE(4);
  const kind = compressed.readUInt32LE(8);
  const end = Math.min(compressed.length, compressedSize + 4);
  if (kind === UNCOMPRESSED) return compressed.subarray(HEADER_SIZE, HEADER_SIZE + rawSize);
  if (kind !== COMPRESSED) return undefined;

  const dictionary = Buffer.alloc(4096);
  dictionary.write(RTF_PRELOAD, 'latin1');
  let write = RTF_PRELOAD.length;
  const output: number[] = [];
  const emit = (byte: number): void => {
    output.push(byte);
    dictionary[write] = byte;
    write = (write + 1) % 4096;
  };
  let position = HEADER_SIZE;
  while (position < end) {
    const control = compressed[position++]!;
    for (let bit = 0; bit < 8 && position < end; bit++) {
      if ((control & (1 << bit)) === 0) {
        emit(compressed[position++]!);
        continue;
      }
      if (position + 1 >= end) return Buffer.from(output);
      const reference = compressed.readUInt16BE(position);
      position += 2;
      const offset = reference >> 4;
      // A reference to the write position ends the stream.
      if (offset === write) return Buffer.from(output);
      const length = (reference & 0x0f) + 2;
      for (let i = 0; i < length; i++) emit(dictionary[(offset + i) % 4096]!);
    }
  }
  return Buffer.from(output);
}

/** Destinations whose content is not document text. */
const SKIPPED_DESTINATIONS = new Set([
  'fonttbl',
  'colortbl',
  'stylesheet',
  'info',
  'pict',
  'object',
  'header',
  'headerl',
  'headerr',
  'headerf',
  'footer',
  'footerl',
  'footerr',
  'footerf',
  'listtable',
  'listoverridetable',
  'rsidtbl',
  'generator',
  'xmlnstbl',
  'themedata',
  'colorschememapping',
  'datastore',
  'latentstyles',
  'filetbl',
  'revtbl',
  'fldinst',
]);

/** Windows code pages an RTF \ansicpg may name, as WHATWG encoding labels. */
function decoderFor(codePage: number): TextDecoder {
  const label =
    { 932: 'shift_jis', 936: 'gbk', 949: 'euc-kr', 950: 'big5', 874: 'windows-874' }[codePage] ??
    (codePage >= 1250 && codePage <= 1258 ? `windows-${codePage}` : 'windows-1252');
  return new TextDecoder(label);
}

/** The text of an RTF document: paragraphs as line breaks, formatting and tables of fonts dropped. */
export function rtfToText(rtf: Buffer): string {
  const source = rtf.toString('latin1');
  let decoder = decoderFor(1252);
  const stack: { skip: boolean; unicodeSkip: number }[] = [];
  let state = { skip: false, unicodeSkip: 1 };
  let text = '';
  let bytes: number[] = [];
  /** Fallback characters still to drop after a \uN. */
  let pendingSkip = 0;
  const flushBytes = (): void => {
    if (bytes.length > 0) text += decoder.decode(Uint8Array.from(bytes));
    bytes = [];
  };
  const append = (characters: string): void => {
    if (state.skip) return;
    flushBytes();
    text += characters;
  };

  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '{') {
      stack.push(state);
      state = { ...state };
      i++;
    } else if (c === '}') {
      state = stack.pop() ?? state;
      i++;
    } else if (c === '\r' || c === '\n') {
      i++;
    } else if (c !== '\\') {
      if (pendingSkip > 0) pendingSkip--;
      else append(c);
      i++;
    } else {
      const next = source[i + 1] ?? '';
      if (next === "'") {
        const byte = parseInt(source.slice(i + 2, i + 4), 16);
        i += 4;
        if (pendingSkip > 0) pendingSkip--;
        else if (!state.skip && !Number.isNaN(byte)) bytes.push(byte);
      } else if (/[a-zA-Z]/.test(next)) {
        const match = /^\\([a-zA-Z]{1,32})(-?\d{1,10})? ?/.exec(source.slice(i, i + 48))!;
        i += match[0].length;
        const word = match[1]!;
        const parameter = match[2] === undefined ? undefined : Number(match[2]);
        if (SKIPPED_DESTINATIONS.has(word)) state.skip = true;
        else if (word === 'par' || word === 'line') append('\n');
        else if (word === 'tab') append('\t');
        else if (word === 'ansicpg' && parameter !== undefined) {
          flushBytes();
          decoder = decoderFor(parameter);
        } else if (word === 'uc' && parameter !== undefined) state.unicodeSkip = parameter;
        else if (word === 'u' && parameter !== undefined) {
          append(String.fromCharCode(parameter < 0 ? parameter + 65536 : parameter));
          pendingSkip = state.unicodeSkip;
        }
      } else {
        i += 2;
        if (next === '*') state.skip = true;
        else if (next === '\\' || next === '{' || next === '}') append(next);
        else if (next === '~') append('\u00a0');
        else if (next === '_') append('-');
        else if (next === '\r' || next === '\n') append('\n');
      }
    }
  }
  flushBytes();
  return text.replace(/\s+$/, '');
}
