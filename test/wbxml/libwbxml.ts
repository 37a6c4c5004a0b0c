// Test helpers: Debian's libwbxml (`wbxml2xml -l ACTIVESYNC`) as an independent oracle, a small
// tolerant XML parser for its output and for the spec examples, and a comparable "shape" of trees.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Namespace, WbxmlElement } from '../../src/wbxml/index.ts';

const run = promisify(execFile);

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const WBXML2XML = '/usr/bin/wbxml2xml';

/**
 * Decodes documents with libwbxml; returns its XML output as bytes. Runs a few processes at a time:
 * wbxml2xml takes one file per invocation.
 */
export async function libwbxmlDecode(documents: readonly Buffer[]): Promise<Buffer[]> {
  const dir = await mkdtemp(join(tmpdir(), 'airsync-wbxml-'));
  try {
    const outputs: Buffer[] = new Array<Buffer>(documents.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < documents.length) {
        const i = next++;
        const file = join(dir, `${i}.wbxml`);
        await writeFile(file, documents[i]!);
        const { stdout } = await run(WBXML2XML, ['-l', 'ACTIVESYNC', '-o', '-', file], {
          encoding: 'buffer',
          maxBuffer: 64 * 1024 * 1024,
        });
        outputs[i] = stdout;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return outputs;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// A tolerant XML parser: enough for libwbxml's output and the spec examples (no DTD processing).

export interface XmlNode {
  name: string;
  /** Namespace URI after prefix resolution, as written (e.g. "AirSync:", "POOMCONTACTS"). */
  uri: string | undefined;
  children: XmlNode[];
  /** Concatenated character data (entities decoded). */
  text: string;
}

export function parseXml(source: string): XmlNode {
  let pos = 0;
  const scopes: Map<string, string>[] = [new Map()];
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;

  const fail = (what: string): never => {
    throw new Error(`XML parse error at ${pos}: ${what}`);
  };
  /** Position just after the next `marker`. */
  const past = (marker: string): number => {
    const at = source.indexOf(marker, pos);
    return at < 0 ? fail(`missing ${marker}`) : at + marker.length;
  };
  while (pos < source.length) {
    if (source.startsWith('<?', pos)) pos = past('?>');
    else if (source.startsWith('<!--', pos)) pos = past('-->');
    else if (source.startsWith('<![CDATA[', pos)) {
      const end = past(']]>');
      if (stack.length > 0) stack.at(-1)!.text += source.slice(pos + 9, end - 3);
      pos = end;
    } else if (source.startsWith('<!', pos)) pos = past('>');
    else if (source.startsWith('</', pos)) {
      pos = past('>');
      stack.pop();
      scopes.pop();
    } else if (source[pos] === '<') {
      const end = past('>') - 1;
      const selfClosing = source[end - 1] === '/';
      const inner = source.slice(pos + 1, selfClosing ? end - 1 : end);
      pos = end + 1;
      const qname = /^[^\s/>]+/.exec(inner)?.[0] ?? fail('tag without name');
      const scope = new Map(scopes.at(-1));
      for (const m of inner.slice(qname.length).matchAll(/([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        const [, attribute, double, single] = m;
        const value = decodeEntities(double ?? single ?? '');
        if (attribute === 'xmlns') scope.set('', value);
        else if (attribute!.startsWith('xmlns:')) scope.set(attribute!.slice(6), value);
      }
      const colon = qname.indexOf(':');
      const node: XmlNode = {
        name: colon < 0 ? qname : qname.slice(colon + 1),
        uri: scope.get(colon < 0 ? '' : qname.slice(0, colon)),
        children: [],
        text: '',
      };
      if (stack.length > 0) stack.at(-1)!.children.push(node);
      else root ??= node;
      if (!selfClosing) {
        stack.push(node);
        scopes.push(scope);
      }
    } else {
      const end = source.indexOf('<', pos);
      const raw = source.slice(pos, end < 0 ? source.length : end);
      if (stack.length > 0) stack.at(-1)!.text += decodeEntities(raw);
      pos = end < 0 ? source.length : end;
    }
  }
  return root ?? fail('no root element');
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[ref]!;
  });
}

// ---------------------------------------------------------------------------------------------
// libwbxml's spellings, per code page, mapped to the MS-ASWBXML names of src/wbxml/codepages.ts.

const addressFields = (kind: string): Record<string, string> =>
  Object.fromEntries(
    ['City', 'Country', 'PostalCode', 'State', 'Street'].map((f) => [`${kind}${f}`, `${kind}Address${f}`]),
  );

const recurrenceFields = (...fields: string[]): Record<string, string> =>
  Object.fromEntries(fields.map((f) => [`Recurrence_${f}`, f]));

const RECURRENCE = [
  'Type',
  'Until',
  'Occurrences',
  'Interval',
  'DayOfWeek',
  'DayOfMonth',
  'WeekOfMonth',
  'MonthOfYear',
];

export const LIBWBXML_NAMES: Partial<Record<Namespace, Record<string, string>>> = {
  Contacts: {
    AssistantTelephoneNumber: 'AssistantPhoneNumber',
    ...addressFields('Business'),
    ...addressFields('Home'),
    ...addressFields('Other'),
  },
  Email: {
    AttOId: 'Att0Id',
    'Reply-To': 'ReplyTo',
    DTStamp: 'DtStamp',
    FlagStatus: 'Status',
    ...recurrenceFields(...RECURRENCE),
  },
  Calendar: {
    TimeZone: 'Timezone',
    Attendee_Email: 'Email',
    Attendee_Name: 'Name',
    Attendee_Status: 'AttendeeStatus',
    Attendee_Type: 'AttendeeType',
    Compressed_RTF: 'CompressedRTF',
    DTStamp: 'DtStamp',
    Exception_Deleted: 'Deleted',
    Exception_StartTime: 'ExceptionStartTime',
    Organizer_Email: 'OrganizerEmail',
    Organizer_Name: 'OrganizerName',
    ...recurrenceFields(...RECURRENCE),
  },
  Tasks: {
    UTCDueDate: 'UtcDueDate',
    UTCStartDate: 'UtcStartDate',
    ...recurrenceFields(...RECURRENCE, 'Start', 'Regenerate', 'DeadOccur'),
  },
  Provision: { DeviceEncryptionEnabled: 'RequireStorageCardEncryption' },
  Settings: { SmtpAddress: 'SMTPAddress', ihsManagementInformation: 'RightsManagementInformation' },
  ComposeMail: { MIME: 'Mime', ForwardeeName: 'Name', ForwardeeEmail: 'Email' },
  RightsManagement: {
    RMOwner: 'Owner',
    RemoveRightsManagementDistribution: 'RemoveRightsManagementProtection',
  },
};

/** Tokens libwbxml 0.11 does not know (newer than its tables). */
export const UNKNOWN_TO_LIBWBXML: readonly string[] = [
  'MeetingResponse:ProposedStartTime',
  'MeetingResponse:ProposedEndTime',
  'Provision:AccountOnlyRemoteWipe',
];

/** Elements whose content (text or opaque) libwbxml prints as base64 of the raw bytes. */
const BASE64_IN_LIBWBXML = new Set([
  'ResolveRecipients:Data',
  'Search:ConversationId',
  'GAL:Data',
  'AirSyncBase:Content',
  'ItemOperations:ConversationId',
  'ComposeMail:Mime',
  'Email2:ConversationId',
  'Email2:ConversationIndex',
]);

/** Namespace URIs as libwbxml and the spec examples write them. */
export function namespaceOf(uri: string | undefined): Namespace {
  const name = (uri ?? 'AirSync').replace(/:$/, '');
  const aliases: Record<string, Namespace> = {
    POOMCONTACTS: 'Contacts',
    POOMCONTACTS2: 'Contacts2',
    POOMMAIL: 'Email',
    POOMMAIL2: 'Email2',
    POOMCAL: 'Calendar',
    POOMTASKS: 'Tasks',
    Gal: 'GAL',
  };
  return aliases[name] ?? (name as Namespace);
}

// ---------------------------------------------------------------------------------------------
// Shapes: trees reduced to what libwbxml preserves, comparable with deepStrictEqual.

export interface Shape {
  tag: string;
  content: string | Shape[];
}

/** libwbxml trims leading and trailing whitespace of character data. */
function trimBytes(bytes: Buffer): Buffer {
  const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);
  let start = 0;
  let end = bytes.length;
  while (start < end && isSpace(bytes[start]!)) start++;
  while (end > start && isSpace(bytes[end - 1]!)) end--;
  return bytes.subarray(start, end);
}

/** Content bytes as readable text when they are valid UTF-8, else as hex. */
function describeBytes(bytes: Buffer): string {
  const trimmed = trimBytes(bytes);
  const text = trimmed.toString('utf8');
  return Buffer.from(text, 'utf8').equals(trimmed) ? text : `hex:${trimmed.toString('hex')}`;
}

/** The shape of one of our trees. */
export function shapeOf(element: WbxmlElement): Shape {
  const tag = `${element.ns}:${element.name}`;
  if (element.children.length > 0) return { tag, content: element.children.map(shapeOf) };
  const bytes = element.opaque ?? Buffer.from(element.text ?? '', 'utf8');
  return { tag, content: describeBytes(bytes) };
}

/** The shape of libwbxml's XML output (raw bytes: opaque data is printed unencoded). */
export function shapeOfLibwbxmlOutput(output: Buffer): Shape {
  // latin1 maps every byte to one character, so raw opaque bytes survive the parse.
  const toShape = (node: XmlNode): Shape => {
    const ns = namespaceOf(node.uri);
    const tag = `${ns}:${LIBWBXML_NAMES[ns]?.[node.name] ?? node.name}`;
    if (node.children.length > 0) return { tag, content: node.children.map(toShape) };
    const raw = Buffer.from(node.text, 'latin1');
    return {
      tag,
      content: describeBytes(BASE64_IN_LIBWBXML.has(tag) ? Buffer.from(raw.toString(), 'base64') : raw),
    };
  };
  return toShape(parseXml(output.toString('latin1')));
}

/** The shape of a spec example (UTF-8 XML with MS-ASWBXML names; whitespace between elements). */
export function shapeOfSpecXml(xml: string): Shape {
  const toShape = (node: XmlNode): Shape => {
    const tag = `${namespaceOf(node.uri)}:${node.name}`;
    if (node.children.length > 0) return { tag, content: node.children.map(toShape) };
    return { tag, content: describeBytes(Buffer.from(node.text, 'utf8')) };
  };
  return toShape(parseXml(xml));
}

/** The bytes libwbxml decodes a Horde fragment from (README: header, and a wrapper for multi-root). */
export function wrapHordeFragment(fragment: Buffer, multiRoot: boolean): Buffer {
  const header = Buffer.from([0x03, 0x01, 0x6a, 0x00]);
  return multiRoot
    ? Buffer.concat([header, Buffer.from([0x5d]), fragment, Buffer.from([0x01])])
    : Buffer.concat([header, fragment]);
}

export const HORDE_MULTI_ROOT = new Set(['allday_appointment', 'meeting_request_one']);
