// The property tables the contact, task and note codecs are built from: one entry per top-level
// element of a class, saying where its value lives in the model and how it is written on the wire.
// Encode, decode and merge all walk the same table, so an element cannot be known to one and
// forgotten by another.
//
// Merge needs to know what a phone sent, not only the values it sent: an element sent empty clears
// a property that an absent element would keep. decode() records the keys of the properties it read
// on the model it returns (a non-enumerable property, so it is neither stored nor compared), and
// merge() falls back to "every property with a value" for a model that did not come from decode().

import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { child, el, type Namespace, type WbxmlElement } from '../wbxml/tree.ts';
import { ItemError, type EncodeOptions } from './codec.ts';

/** One top-level element of a class, or a few that make one property (a body, a reminder). */
export interface Property<T> {
  /** 'Namespace:Name' of the element, as a phone lists it in Supported. */
  readonly key: string;
  /** Whether the element exists at this version: elsewhere it is not written, and a Change keeps it. */
  definedAt(version: ProtocolVersion): boolean;
  /**
   * A Change that leaves the element out keeps the stored value even when the property is not
   * ghosted (MS-ASCMD Change: Body and Picture; MS-ASTASK Importance and ReminderSet; …).
   */
  readonly keptWhenAbsent: boolean;
  encode(model: T, options: EncodeOptions): WbxmlElement[];
  /** Reads the property from ApplicationData into `draft`; true when the phone sent it. Throws ItemError. */
  decode(applicationData: WbxmlElement, draft: T, version: ProtocolVersion): boolean;
  /** Copies the property's value (or its absence) from `source` to `target`. */
  copy(source: T, target: T): void;
  isSet(model: T): boolean;
}

export type PropertyTable<T> = readonly Property<T>[];

/** Where a value lives in the model. */
export interface Access<T, V> {
  get(model: T): V | undefined;
  set(model: T, value: V | undefined): void;
}

/** How a value is written in its element. */
export interface Wire<V> {
  /** The element's content; undefined when the value cannot be written (a stored value gone bad). */
  write(value: V): string | WbxmlElement[] | undefined;
  /** The value of an element a phone sent; undefined when it is empty. Throws ItemError. */
  read(element: WbxmlElement, key: string): V | undefined;
}

export interface PropertyOptions<V> {
  /** First version that has the element. */
  since?: ProtocolVersion;
  keptWhenAbsent?: boolean;
  /** Written when the model has no value: the element is required. */
  whenUnset?: V;
}

/** A property held by one element. */
export function property<T, V>(
  ns: Namespace,
  name: string,
  access: Access<T, V>,
  wire: Wire<V>,
  options: PropertyOptions<V> = {},
): Property<T> {
  const key = `${ns}:${name}`;
  return {
    key,
    definedAt: (version) => options.since === undefined || isVersionAtLeast(version, options.since),
    keptWhenAbsent: options.keptWhenAbsent ?? false,
    encode(model) {
      const value = access.get(model) ?? options.whenUnset;
      const content = value === undefined ? undefined : wire.write(value);
      return content === undefined ? [] : [el(ns, name, content)];
    },
    decode(applicationData, draft) {
      const element = child(applicationData, name, ns);
      if (element === undefined) return false;
      access.set(draft, wire.read(element, key));
      return true;
    },
    copy: (source, target) => access.set(target, access.get(source)),
    isSet: (model) => access.get(model) !== undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Accessors

/** A top-level field of the model. */
export function field<T, K extends keyof T>(key: K): Access<T, NonNullable<T[K]>> {
  return {
    get: (model) => model[key] ?? undefined,
    set(model, value) {
      if (value === undefined) delete model[key];
      else model[key] = value;
    },
  };
}

/** A field of an object-valued field (a contact's phones or addresses); tidy() drops it when empty. */
export function nested<T, K extends keyof T, N extends keyof NonNullable<T[K]>>(
  outer: K,
  inner: N,
): Access<T, NonNullable<NonNullable<T[K]>[N]>> {
  return {
    get: (model) => (model[outer] as NonNullable<T[K]> | undefined)?.[inner] ?? undefined,
    set(model, value) {
      const container = (model[outer] ??= {} as NonNullable<T[K]>) as NonNullable<T[K]>;
      if (value === undefined) delete container[inner];
      else container[inner] = value;
    },
  };
}

/** Position `index` of a list field whose entries are numbered elements (Email1Address …). */
export function slot<T, K extends keyof T>(key: K, index: number): Access<T, string> {
  return {
    get: (model) => (model[key] as (string | undefined)[] | undefined)?.[index],
    set(model, value) {
      const list = (model[key] ??= [] as T[K]) as (string | undefined)[];
      list[index] = value;
    },
  };
}

/**
 * Drops what decode or merge left empty in the model it built: undefined fields, holes of numbered
 * lists (Email2Address without Email1Address is the first address), empty lists and empty objects.
 * Values it shares with the stored item are replaced by tidied copies, never changed.
 */
function tidy<T extends object>(model: T): T {
  const record = model as Record<string, unknown>;
  for (const [key, value] of Object.entries(record)) {
    let tidied = value;
    if (Array.isArray(value)) tidied = value.filter((entry) => entry !== undefined);
    else if (typeof value === 'object' && value !== null) tidied = tidy({ ...value });
    const empty =
      tidied === undefined || (typeof tidied === 'object' && Object.keys(tidied as object).length === 0);
    if (empty) delete record[key];
    else record[key] = tidied;
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// Wire types

/** Longest text accepted in one ordinary field, in characters. */
const MAX_TEXT_LENGTH = 32 * 1024;

export function textOf(element: WbxmlElement): string {
  return element.text ?? element.opaque?.toString('utf8') ?? '';
}

/** A string; empty clears. Text that arrived as invalid UTF-8 carries U+FFFD and is accepted. */
export function text(maxLength = MAX_TEXT_LENGTH): Wire<string> {
  return {
    write: (value) => (value === '' ? undefined : value),
    read(element, key) {
      const value = textOf(element);
      if (value.length > maxLength) throw new ItemError(`${key}: longer than ${maxLength} characters`);
      return value === '' ? undefined : value;
    },
  };
}

/** A container of repeated string elements (Categories/Category, Children/Child). */
export function list(ns: Namespace, entryName: string, maxEntries: number, maxLength = 1024): Wire<string[]> {
  return {
    write: (values) => (values.length === 0 ? undefined : values.map((value) => el(ns, entryName, value))),
    read(element, key) {
      const entries = element.children.filter((c) => c.ns === ns && c.name === entryName);
      if (entries.length > maxEntries) throw new ItemError(`${key}: more than ${maxEntries} entries`);
      const values = entries.map(textOf).filter((value) => value !== '');
      if (values.some((value) => value.length > maxLength)) {
        throw new ItemError(`${key}: an entry is longer than ${maxLength} characters`);
      }
      return values.length === 0 ? undefined : values;
    },
  };
}

/** 0 or 1 (MS-ASDTYPE boolean / unsignedByte flags). */
export const flag: Wire<boolean> = {
  write: (value) => (value ? '1' : '0'),
  read(element, key) {
    const value = textOf(element).trim();
    if (value === '1') return true;
    if (value === '0') return false;
    throw new ItemError(`${key}: ${JSON.stringify(value)} is not 0 or 1`);
  },
};

/** An unsignedByte standing for one of a few named values. */
export function enumeration<V extends string>(values: readonly V[]): Wire<V> {
  return {
    write: (value) => {
      const index = values.indexOf(value);
      return index < 0 ? undefined : String(index);
    },
    read(element, key) {
      const text = textOf(element).trim();
      const value = /^\d{1,3}$/.test(text) ? values[Number(text)] : undefined;
      if (value === undefined)
        throw new ItemError(`${key}: ${JSON.stringify(text)} is not one of 0–${values.length - 1}`);
      return value;
    },
  };
}

/** MS-ASDTYPE dateTime: an instant, written YYYY-MM-DDTHH:MM:SS.MSSZ. */
export const dateTime: Wire<string> = {
  write: (value) => normalizeInstant(value),
  read(element, key) {
    const value = textOf(element).trim();
    if (value === '') return undefined;
    return parseDateTime(value) ?? badDate(key, value);
  },
};

/** MS-ASDTYPE Compact DateTime: YYYYMMDDTHHMMSSZ. */
export const compactDateTime: Wire<string> = {
  write: (value) => normalizeInstant(value)?.replace(/[-:]|\.\d{3}/g, ''),
  read(element, key) {
    const value = textOf(element).trim();
    if (value === '') return undefined;
    return parseDateTime(value) ?? badDate(key, value);
  },
};

function badDate(key: string, value: string): never {
  throw new ItemError(`${key}: ${JSON.stringify(value.slice(0, 40))} is not a date and time`);
}

const EXTENDED = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?Z$/;
const BASIC = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * An instant as ISO-8601 with milliseconds, from the dateTime of MS-ASDTYPE (with or without
 * seconds and milliseconds) or its compact form; undefined when the text is neither, or names a
 * day or time that does not exist.
 */
export function parseDateTime(value: string): string | undefined {
  const match = EXTENDED.exec(value) ?? BASIC.exec(value);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second = '0', fraction = '0'] = match.slice(1);
  const parts = [year, month, day, hour, minute, second].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const milliseconds = Number(fraction.padEnd(3, '0'));
  return instantOf(...parts, milliseconds);
}

/** 'YYYY-MM-DD' of a date-only value, or undefined. */
export function parseDate(value: string): string | undefined {
  const match = DATE_ONLY.exec(value);
  if (match === null) return undefined;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  return instantOf(year, month, day, 0, 0, 0, 0) === undefined ? undefined : value;
}

function instantOf(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  milliseconds: number,
): string | undefined {
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, milliseconds));
  date.setUTCFullYear(year); // Date.UTC maps years 0–99 to 1900–1999
  const exists =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  return exists ? date.toISOString() : undefined;
}

/** A stored instant as dateTime text, or undefined when it is not an instant. */
function normalizeInstant(value: string): string | undefined {
  const time = Date.parse(value);
  if (Number.isNaN(time)) return undefined;
  const iso = new Date(time).toISOString();
  // toISOString writes years beyond 9999 with six digits and a sign: not an EAS dateTime.
  return iso.length === 24 ? iso : undefined;
}

// ---------------------------------------------------------------------------------------------
// A codec from a table

/** The children of ApplicationData: each property defined at this version, in table order. */
export function encodeWithTable<T>(
  table: PropertyTable<T>,
  model: T,
  options: EncodeOptions,
): WbxmlElement[] {
  const elements: WbxmlElement[] = [];
  for (const p of propertiesAt(table, options.version)) elements.push(...p.encode(model, options));
  return elements;
}

/** The properties of each table defined at each version, worked out once: every item is encoded. */
const DEFINED = new WeakMap<PropertyTable<never>, Map<ProtocolVersion, PropertyTable<never>>>();

function propertiesAt<T>(table: PropertyTable<T>, version: ProtocolVersion): PropertyTable<T> {
  let byVersion = DEFINED.get(table);
  if (byVersion === undefined) DEFINED.set(table, (byVersion = new Map()));
  let defined = byVersion.get(version);
  if (defined === undefined) byVersion.set(version, (defined = table.filter((p) => p.definedAt(version))));
  return defined as PropertyTable<T>;
}

const SENT = Symbol('properties sent');

/** The model of ApplicationData, with the keys of the properties the phone sent recorded on it. */
export function decodeWithTable<T extends object>(
  table: PropertyTable<T>,
  applicationData: WbxmlElement,
  version: ProtocolVersion,
): T {
  const draft = {} as T;
  const sent = new Set<string>();
  for (const p of table) if (p.decode(applicationData, draft, version)) sent.add(p.key);
  tidy(draft);
  Object.defineProperty(draft, SENT, { value: sent, enumerable: false });
  return draft;
}

/** The keys of the properties a decoded model was sent with, or undefined for a model made otherwise. */
function sentProperties(model: object): ReadonlySet<string> | undefined {
  return (model as { [SENT]?: ReadonlySet<string> })[SENT];
}

/**
 * A Change applied to a stored item (MS-ASCMD Change and Supported): what the phone sent replaces;
 * what it left out keeps its stored value when the element is ghosted (not in `supported`, when the
 * phone sent a Supported list), does not exist at its version, or is kept by the class's rules;
 * anything else it left out is deleted.
 */
export function mergeWithTable<T extends object>(
  table: PropertyTable<T>,
  stored: T,
  incoming: T,
  supported: ReadonlySet<string> | undefined,
  version: ProtocolVersion,
): T {
  const sent = sentProperties(incoming);
  const result = {} as T;
  for (const p of table) {
    const fromPhone = sent === undefined ? p.isSet(incoming) : sent.has(p.key);
    const ghosted = supported !== undefined && !supported.has(p.key);
    if (fromPhone && p.definedAt(version)) p.copy(incoming, result);
    else if (!p.definedAt(version) || p.keptWhenAbsent || ghosted) p.copy(stored, result);
  }
  return tidy(result);
}
