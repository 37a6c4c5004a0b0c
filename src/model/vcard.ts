// vCard (2.1, 3.0 RFC 2426, 4.0 RFC 6350) ⇄ Contact.
//
// Cards are read one by one, so a broken card is reported and the others import. ical.js parses 3.0
// and 4.0; the few 2.1 habits still met in exports (quoted-printable values, bare TYPE words such as
// TEL;HOME;VOICE) are rewritten into 3.0 first.
//
// Cards are written as vCard 3.0: every common reader (Android's importer, Google Contacts, iOS and
// macOS, Outlook) takes 3.0, while 4.0 is still refused or half read by several of them; and 3.0 holds
// all a Contact has (PHOTO as ENCODING=b, IMPP from RFC 4770, X- names for assistant, manager, spouse
// and anniversary).

import { randomUUID } from 'node:crypto';
import ICAL from 'ical.js';
import { ItemError } from './codec.ts';
import { collectComponents, parseComponent, rawValue } from './ical.ts';
import type { ContentLine, ImportEntry, ParsedFile, RawComponent } from './ical.ts';
import type { Contact, ContactPhoneKind, PostalAddress } from './types.ts';

/** A contact to write, with the UID it is stored under. */
export interface ExportContact {
  uid?: string;
  data: Contact;
}

/** The text holds no BEGIN:VCARD: nothing in it can be imported. */
export class NotVCardError extends Error {
  override readonly name = 'NotVCardError';
}

const EAS_EMAILS = 3;
const EAS_IM_ADDRESSES = 3;

// ---------------------------------------------------------------------------------------------------
// Reading

/** Every card of a vCard file; throws NotVCardError when there is none. */
export function parseVCards(text: string): ParsedFile {
  const cards: RawComponent[] = [];
  collectComponents(unfoldVCard(text), new Set(['VCARD']), {
    component: (raw) => cards.push(raw),
    outside: () => {},
  });
  if (cards.length === 0) throw new NotVCardError('not a vCard file: it has no BEGIN:VCARD');
  return {
    items: cards.map((raw): ImportEntry => {
      const uid = rawValue(raw.lines, '(?:[A-Za-z0-9-]+\\.)?UID');
      try {
        const notes: string[] = [];
        const contact = readCard(parseComponent(asVCard3Syntax(raw)), notes);
        const unique = [...new Set(notes)];
        return {
          ...(uid === undefined ? {} : { uid }),
          item: { class: 'Contacts', data: contact },
          ...(unique.length > 0 ? { notes: unique } : {}),
        };
      } catch (error) {
        return { error: error instanceof Error ? error.message : String(error), uid, line: raw.line };
      }
    }),
  };
}

/**
 * Logical lines of a vCard file. Besides the usual folding (a line starting with a space or tab goes
 * on the one before), a quoted-printable value of vCard 2.1 goes on where its line ends with "=".
 */
function unfoldVCard(text: string): ContentLine[] {
  const lines: ContentLine[] = [];
  let softBreak = false;
  text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\n|\r/)
    .forEach((raw, index) => {
      const last = lines.at(-1);
      if (softBreak && last !== undefined) {
        last.text = last.text.slice(0, -1) + raw;
      } else if ((raw.startsWith(' ') || raw.startsWith('\t')) && last !== undefined) {
        last.text += raw.slice(1);
      } else if (raw.trim() !== '') {
        lines.push({ text: raw, line: index + 1 });
      }
      const current = lines.at(-1);
      softBreak = current !== undefined && isQuotedPrintable(current.text) && current.text.endsWith('=');
    });
  return lines;
}

function isQuotedPrintable(line: string): boolean {
  const colon = line.indexOf(':');
  return colon > 0 && /;(ENCODING=)?QUOTED-PRINTABLE(;|$)/i.test(line.slice(0, colon));
}

/** Splits a content line at the colon that ends its name and parameters (quoted colons do not count). */
function splitLine(line: string): { name: string; parameters: string[]; value: string } | undefined {
  let quoted = false;
  const cuts: number[] = [];
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (char === '"') quoted = !quoted;
    else if (!quoted && char === ';') cuts.push(i);
    else if (!quoted && char === ':') {
      const head = [0, ...cuts.map((cut) => cut + 1)].map((start, n) => line.slice(start, cuts[n] ?? i));
      return { name: head[0]!, parameters: head.slice(1), value: line.slice(i + 1) };
    }
  }
  return undefined;
}

/** Properties whose commas separate values in 3.0 but were plain text in 2.1. */
const STRUCTURED = new Set(['N', 'ADR', 'ORG', 'NOTE', 'NICKNAME', 'TITLE', 'FN', 'LABEL']);

/**
 * A 2.1 card in 3.0 syntax: bare parameters (HOME, VOICE, PREF) become TYPE=, quoted-printable values
 * are decoded in their CHARSET, BASE64 becomes ENCODING=b. Bare parameters also occur in cards that
 * claim 3.0, so every card is given this treatment; for 3.0 and 4.0 cards the rest changes nothing.
 */
function asVCard3Syntax(raw: RawComponent): RawComponent {
  const version21 = raw.lines.some((line) => /^VERSION:\s*2\.1\s*$/i.test(line));
  const lines = raw.lines.map((line) => {
    const parts = splitLine(line);
    if (parts === undefined) return line;
    if (/^VERSION$/i.test(parts.name) && version21) return 'VERSION:3.0';
    let { value } = parts;
    let quotedPrintable = false;
    let charset = 'utf-8';
    const parameters: string[] = [];
    for (const parameter of parts.parameters) {
      const [key, setting] = parameter.includes('=')
        ? [
            parameter.slice(0, parameter.indexOf('=')).toUpperCase(),
            parameter.slice(parameter.indexOf('=') + 1),
          ]
        : [undefined, parameter];
      if (key === undefined || key === 'ENCODING') {
        const upper = setting.toUpperCase();
        if (upper === 'QUOTED-PRINTABLE') quotedPrintable = true;
        else if (upper === 'BASE64' || upper === 'B') parameters.push('ENCODING=b');
        else if (key === undefined) parameters.push(`TYPE=${setting}`);
      } else if (key === 'CHARSET') {
        charset = setting;
      } else {
        parameters.push(parameter);
      }
    }
    if (quotedPrintable) value = escapeDecoded(decodeQuotedPrintable(value, charset));
    const name = parts.name.replace(/^.*\./, '').toUpperCase();
    // Decoded text has its backslashes escaped already; a 2.1 value may escape its own commas.
    if (version21 && STRUCTURED.has(name)) value = value.replace(quotedPrintable ? /,/g : /(?<!\\),/g, '\\,');
    return [parts.name, ...parameters].join(';') + ':' + value;
  });
  return { ...raw, lines };
}

function decodeQuotedPrintable(value: string, charset: string): string {
  const bytes = value
    .split(/(=[0-9A-Fa-f]{2})/)
    .flatMap((part) =>
      /^=[0-9A-Fa-f]{2}$/.test(part) ? [parseInt(part.slice(1), 16)] : [...Buffer.from(part)],
    );
  try {
    return new TextDecoder(charset).decode(Uint8Array.from(bytes));
  } catch {
    throw new ItemError(`unknown CHARSET ${charset}`);
  }
}

/** Decoded text as a 3.0 value: its line breaks escaped, its semicolons (component separators) kept. */
function escapeDecoded(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\\\\;/g, '\\;').replace(/\r?\n/g, '\\n');
}

type Parameters = Record<string, string | string[] | undefined>;

interface CardProperty {
  name: string;
  parameters: Parameters;
  type: string;
  values: unknown[];
}

function cardProperties(card: ICAL.Component): CardProperty[] {
  return (card.jCal[1] as unknown[][]).map(([name, parameters, type, ...values]) => ({
    name: String(name),
    parameters: parameters as Parameters,
    type: String(type),
    values,
  }));
}

/** The TYPE words of a property, lower-cased; 4.0 PREF=1 counts as "pref". */
function types(property: CardProperty): Set<string> {
  const raw = property.parameters.type;
  const words = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw])
    .flatMap((word) => word.split(','))
    .map((word) => word.trim().toLowerCase());
  if (property.parameters.pref !== undefined) words.push('pref');
  return new Set(words);
}

/** A property's value as text: multi-values joined again, X- properties (unparsed by ical.js) unescaped. */
function text(property: CardProperty): string {
  const joined = property.values
    .map((value) => (Array.isArray(value) ? value.join(',') : String(value)))
    .join(',');
  return property.type === 'unknown' ? unescapeText(joined) : joined;
}

function unescapeText(value: string): string {
  return value.replace(/\\([\\;,nN])/g, (_, char: string) => (char === 'n' || char === 'N' ? '\n' : char));
}

/** The components of a structured value (N, ADR, ORG), each a string. */
function components(property: CardProperty): string[] {
  const [value] = property.values;
  const parts = Array.isArray(value) ? value : [value];
  return parts.map((part) => (Array.isArray(part) ? part.join(', ') : String(part ?? '')).trim());
}

const NAME_FIELDS = ['lastName', 'firstName', 'middleName', 'title', 'suffix'] as const;

/** The names different programs give the fields EAS has and vCard has not. */
const EXTENSIONS: Record<string, 'assistantName' | 'managerName' | 'spouse' | 'anniversary'> = {
  'x-assistant': 'assistantName',
  'x-ms-assistant': 'assistantName',
  'x-evolution-assistant': 'assistantName',
  'x-kaddressbook-x-assistantsname': 'assistantName',
  'x-manager': 'managerName',
  'x-ms-manager': 'managerName',
  'x-evolution-manager': 'managerName',
  'x-kaddressbook-x-managersname': 'managerName',
  'x-spouse': 'spouse',
  'x-ms-spouse': 'spouse',
  'x-evolution-spouse': 'spouse',
  'x-kaddressbook-x-spousename': 'spouse',
  anniversary: 'anniversary',
  'x-anniversary': 'anniversary',
  'x-ms-anniversary': 'anniversary',
  'x-evolution-anniversary': 'anniversary',
  'x-kaddressbook-x-anniversary': 'anniversary',
};

const IM_PROPERTIES = new Set([
  'impp',
  'x-jabber',
  'x-aim',
  'x-icq',
  'x-msn',
  'x-yahoo',
  'x-skype',
  'x-skype-username',
  'x-google-talk',
  'x-gadugadu',
  'x-qq',
]);

const PHONETIC: Record<string, 'yomiFirstName' | 'yomiLastName' | 'yomiCompanyName'> = {
  'x-phonetic-first-name': 'yomiFirstName',
  'x-phonetic-last-name': 'yomiLastName',
  'x-phonetic-org': 'yomiCompanyName',
};

function readCard(card: ICAL.Component, notes: string[]): Contact {
  const contact: Contact = {};
  const emails: { address: string; preferred: boolean }[] = [];
  const imAddresses: string[] = [];
  const phones: Partial<Record<ContactPhoneKind, string>> = {};
  const set = <K extends keyof Contact>(key: K, value: Contact[K] | undefined) => {
    if (value !== undefined && value !== '' && contact[key] === undefined) contact[key] = value;
  };

  for (const property of cardProperties(card)) {
    const { name } = property;
    if (name === 'n') {
      components(property).forEach((part, i) => {
        const field = NAME_FIELDS[i];
        if (field !== undefined) set(field, part);
      });
    } else if (name === 'fn') set('fileAs', text(property).trim());
    else if (name === 'nickname') set('nickName', String(property.values[0] ?? '').trim());
    else if (name === 'org') {
      const [company, ...units] = components(property);
      set('companyName', company);
      set('department', units.filter((unit) => unit !== '').join(', '));
    } else if (name === 'title') set('jobTitle', text(property).trim());
    else if (name === 'email') {
      const address = text(property).trim();
      if (address !== '') emails.push({ address, preferred: types(property).has('pref') });
    } else if (name === 'tel') readPhone(property, phones, notes);
    else if (name === 'adr') readAddress(property, contact);
    else if (name === 'bday') set('birthday', dateOf(property, notes));
    else if (name === 'note') set('body', { format: 'text', data: text(property) });
    else if (name === 'categories') {
      const categories = property.values.map((value) => String(value).trim()).filter((value) => value !== '');
      if (categories.length > 0)
        contact.categories = [...new Set([...(contact.categories ?? []), ...categories])];
    } else if (name === 'photo') set('picture', pictureOf(property, notes));
    else if (name === 'url') set('webPage', text(property).trim());
    else if (IM_PROPERTIES.has(name)) {
      const address = text(property)
        .trim()
        .replace(/^[a-z][a-z0-9+.-]*:/i, '');
      if (address !== '') imAddresses.push(address);
    } else if (name === 'related') readRelated(property, contact);
    else if (EXTENSIONS[name] !== undefined) {
      const field = EXTENSIONS[name];
      set(field, field === 'anniversary' ? dateOf(property, notes) : text(property).trim());
    } else if (PHONETIC[name] !== undefined) set(PHONETIC[name], text(property).trim());
  }

  if (emails.length > 0) {
    // The preferred addresses first; EAS holds three.
    const ordered = [...emails.filter((e) => e.preferred), ...emails.filter((e) => !e.preferred)];
    contact.emails = ordered.slice(0, EAS_EMAILS).map((e) => e.address);
    if (ordered.length > EAS_EMAILS) notes.push(`only the first ${EAS_EMAILS} e-mail addresses were kept`);
  }
  if (imAddresses.length > 0) {
    contact.imAddresses = imAddresses.slice(0, EAS_IM_ADDRESSES);
    if (imAddresses.length > EAS_IM_ADDRESSES)
      notes.push(`only the first ${EAS_IM_ADDRESSES} IM addresses were kept`);
  }
  if (Object.keys(phones).length > 0) contact.phones = inOrder(phones, PHONE_TYPES);
  if (Object.keys(contact).length === 0) {
    throw new ItemError('the card has nothing a contact keeps (no name, address or number)');
  }
  return inOrder(contact, CONTACT_FIELDS);
}

/**
 * The fields of a contact in one order whatever the order of the card's lines, so that the same
 * contact is always the same JSON (the store compares stored items as JSON).
 */
const CONTACT_FIELDS = {
  title: 0,
  firstName: 0,
  middleName: 0,
  lastName: 0,
  suffix: 0,
  fileAs: 0,
  yomiFirstName: 0,
  yomiLastName: 0,
  yomiCompanyName: 0,
  nickName: 0,
  alias: 0,
  companyName: 0,
  department: 0,
  jobTitle: 0,
  officeLocation: 0,
  managerName: 0,
  assistantName: 0,
  spouse: 0,
  children: 0,
  birthday: 0,
  anniversary: 0,
  emails: 0,
  imAddresses: 0,
  webPage: 0,
  phones: 0,
  homeAddress: 0,
  businessAddress: 0,
  otherAddress: 0,
  categories: 0,
  picture: 0,
  customerId: 0,
  governmentId: 0,
  accountName: 0,
  body: 0,
} satisfies Record<keyof Contact, 0>;

function inOrder<T extends object>(value: T, order: Partial<Record<keyof T, unknown>>): T {
  const fields = Object.keys(order) as (keyof T)[];
  return Object.fromEntries(
    fields.filter((key) => value[key] !== undefined).map((key) => [key, value[key]]),
  ) as T;
}

/** The EAS phone fields a TEL may go in, first choice first. */
function phoneKinds(kinds: Set<string>): ContactPhoneKind[] {
  const has = (...words: string[]) => words.some((word) => kinds.has(word));
  if (has('fax')) return has('home') ? ['homeFax'] : ['businessFax'];
  if (has('cell', 'mobile', 'iphone')) return ['mobile'];
  if (has('pager')) return ['pager'];
  if (has('car')) return ['car'];
  if (has('x-radio', 'radio')) return ['radio'];
  if (has('x-assistant', 'assistant', 'x-evolution-assistant')) return ['assistant'];
  if (has('main', 'x-company-main', 'x-evolution-company', 'company')) return ['companyMain'];
  if (has('x-mms', 'mms')) return ['mms'];
  if (has('work')) return ['business', 'business2'];
  if (has('home')) return ['home', 'home2'];
  return ['home', 'home2', 'business', 'business2'];
}

function readPhone(
  property: CardProperty,
  phones: Partial<Record<ContactPhoneKind, string>>,
  notes: string[],
): void {
  const number = text(property).trim().replace(/^tel:/i, '');
  if (number === '') return;
  const kind = phoneKinds(types(property)).find((candidate) => phones[candidate] === undefined);
  if (kind === undefined) notes.push(`phone number ${number} was left out: its EAS fields are taken`);
  else phones[kind] = number;
}

function readAddress(property: CardProperty, contact: Contact): void {
  const [poBox = '', extended = '', street = '', city = '', state = '', postalCode = '', country = ''] =
    components(property);
  const address: PostalAddress = {};
  const streetLines = [poBox, extended, street].filter((line) => line !== '').join('\n');
  if (streetLines !== '') address.street = streetLines;
  if (city !== '') address.city = city;
  if (state !== '') address.state = state;
  if (postalCode !== '') address.postalCode = postalCode;
  if (country !== '') address.country = country;
  if (Object.keys(address).length === 0) return;
  const kinds = types(property);
  const slots: ('homeAddress' | 'businessAddress' | 'otherAddress')[] = kinds.has('home')
    ? ['homeAddress', 'otherAddress']
    : kinds.has('work')
      ? ['businessAddress', 'otherAddress']
      : ['otherAddress', 'homeAddress', 'businessAddress'];
  const slot = slots.find((candidate) => contact[candidate] === undefined);
  if (slot !== undefined) contact[slot] = address;
}

function readRelated(property: CardProperty, contact: Contact): void {
  const name = text(property).trim();
  if (name === '' || /^(urn|https?|mailto):/i.test(name)) return;
  const kinds = types(property);
  if (kinds.has('spouse')) contact.spouse ??= name;
  else if (kinds.has('child')) contact.children = [...(contact.children ?? []), name];
  else if (kinds.has('x-assistant') || kinds.has('assistant')) contact.assistantName ??= name;
  else if (kinds.has('x-manager') || kinds.has('manager')) contact.managerName ??= name;
}

/** Year of a date without one ('--0102'): the placeholder Apple's Contacts uses too. */
const NO_YEAR = '1604';

/** 'YYYY-MM-DD' of a BDAY or ANNIVERSARY in any of the forms vCards use. */
function dateOf(property: CardProperty, notes: string[]): string | undefined {
  const value = text(property).trim();
  const full = /^(\d{4})-?(\d{2})-?(\d{2})(?:$|T)/.exec(value);
  const noYear = /^--(\d{2})-?(\d{2})$/.exec(value);
  const [year, month, day] = full ? full.slice(1) : noYear ? [NO_YEAR, ...noYear.slice(1)] : [];
  if (year !== undefined && month !== undefined && day !== undefined) {
    const date = `${year}-${month}-${day}`;
    if (!Number.isNaN(Date.parse(`${date}T00:00:00Z`)) && Number(month) <= 12) return date;
  }
  notes.push(`${property.name.toUpperCase()} "${value}" is not a date and was left out`);
  return undefined;
}

/** Base64 of an inline PHOTO (3.0 ENCODING=b, or a 4.0 data: URI); a linked one is not fetched. */
function pictureOf(property: CardProperty, notes: string[]): string | undefined {
  const value = text(property).replace(/\s+/g, '');
  const data = /^data:image\/[a-z0-9.+-]+(?:;[^,]*)?;base64,(.*)$/i.exec(value);
  if (data) return data[1];
  if (property.type === 'binary' || property.parameters.encoding !== undefined) return value;
  notes.push('a PHOTO given as a link was left out');
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Writing

type JCardProperty = [string, Record<string, string | string[]>, string, ...unknown[]];

const PRODUCT_ID = '-//airsync//airsync//EN';

/** vCard 3.0 types of each EAS phone field. */
const PHONE_TYPES: Record<ContactPhoneKind, string[]> = {
  mobile: ['cell', 'voice'],
  home: ['home', 'voice'],
  home2: ['home', 'voice'],
  business: ['work', 'voice'],
  business2: ['work', 'voice'],
  businessFax: ['work', 'fax'],
  homeFax: ['home', 'fax'],
  car: ['car', 'voice'],
  pager: ['pager'],
  radio: ['x-radio'],
  assistant: ['x-assistant'],
  companyMain: ['main'],
  mms: ['x-mms'],
};

/** The contacts as vCard 3.0, one card each. */
export function toVCards(contacts: readonly ExportContact[]): string {
  return contacts
    .map(({ uid, data }) => {
      const text = ICAL.stringify(['vcard', cardOf(data, uid ?? randomUUID()), []]);
      return text.endsWith('\r\n') ? text : `${text}\r\n`;
    })
    .join('');
}

function cardOf(contact: Contact, uid: string): JCardProperty[] {
  const properties: JCardProperty[] = [
    ['version', {}, 'text', '3.0'],
    ['prodid', {}, 'text', PRODUCT_ID],
    ['uid', {}, 'text', uid],
    ['n', {}, 'text', NAME_FIELDS.map((field) => contact[field] ?? '')],
    ['fn', {}, 'text', displayName(contact)],
  ];
  const add = (
    name: string,
    value: string | undefined,
    type = 'text',
    parameters: Record<string, string | string[]> = {},
  ) => {
    if (value !== undefined && value !== '') properties.push([name, parameters, type, value]);
  };
  const addExtension = (name: string, value: string | undefined) =>
    add(name, value && escapeText(value), 'unknown');
  add('nickname', contact.nickName);
  if (contact.companyName !== undefined || contact.department !== undefined) {
    const units = contact.department === undefined ? [] : [contact.department];
    properties.push(['org', {}, 'text', [contact.companyName ?? '', ...units]]);
  }
  add('title', contact.jobTitle);
  (contact.emails ?? []).forEach((email, i) => {
    add('email', addressIn(email), 'text', { type: i === 0 ? ['internet', 'pref'] : ['internet'] });
  });
  for (const [kind, number] of Object.entries(contact.phones ?? {}) as [ContactPhoneKind, string][]) {
    add('tel', number, 'phone-number', { type: PHONE_TYPES[kind] });
  }
  const addresses = [
    ['home', contact.homeAddress],
    ['work', contact.businessAddress],
    ['other', contact.otherAddress],
  ] as const;
  for (const [type, address] of addresses) {
    if (address === undefined) continue;
    const { street = '', city = '', state = '', postalCode = '', country = '' } = address;
    properties.push(['adr', { type }, 'text', ['', '', street, city, state, postalCode, country]]);
  }
  add('bday', contact.birthday, 'date');
  addExtension('x-anniversary', contact.anniversary);
  add('note', contact.body?.format === 'text' ? contact.body.data : undefined);
  if (contact.categories !== undefined && contact.categories.length > 0) {
    properties.push(['categories', {}, 'text', ...contact.categories]);
  }
  if (contact.picture !== undefined) {
    add('photo', contact.picture, 'binary', { encoding: 'b', type: pictureType(contact.picture) });
  }
  add('url', contact.webPage, 'uri');
  for (const address of contact.imAddresses ?? []) {
    add('impp', /^[a-z][a-z0-9+.-]*:/i.test(address) ? address : `im:${address}`, 'uri');
  }
  addExtension('x-assistant', contact.assistantName);
  addExtension('x-manager', contact.managerName);
  addExtension('x-spouse', contact.spouse);
  addExtension('x-phonetic-first-name', contact.yomiFirstName);
  addExtension('x-phonetic-last-name', contact.yomiLastName);
  addExtension('x-phonetic-org', contact.yomiCompanyName);
  return properties;
}

/** FN is required: the FileAs, else the name, else the company, else the address. */
function displayName(contact: Contact): string {
  const name = [contact.title, contact.firstName, contact.middleName, contact.lastName, contact.suffix]
    .filter((part) => part !== undefined && part !== '')
    .join(' ');
  return contact.fileAs || name || contact.companyName || contact.emails?.[0] || '';
}

/** The address of an e-mail entry that may carry a display name ('"Ann" <ann@example.org>'). */
function addressIn(email: string): string {
  return /<([^<>]+)>\s*$/.exec(email)?.[1]?.trim() ?? email.trim();
}

function pictureType(base64: string): string {
  if (base64.startsWith('iVBOR')) return 'PNG';
  if (base64.startsWith('R0lGOD')) return 'GIF';
  return 'JPEG';
}

function escapeText(value: string): string {
  return value.replace(/[\\;,]/g, (char) => `\\${char}`).replace(/\r?\n/g, '\\n');
}
