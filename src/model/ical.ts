// iCalendar (RFC 5545) ⇄ the item model: VEVENT ⇄ Appointment, VTODO ⇄ Task, VJOURNAL ⇄ Note.
//
// A file is cut into its components before anything is parsed, so that one broken or inexpressible
// event is reported on its own and the rest of the file imports. ical.js reads and writes the content
// lines (escaping, folding, parameters, RRULE parts); times and zones are ours, through Temporal and
// timezone.ts, so that every time keeps its instant: a TZID names an IANA zone, a Windows zone or a
// VTIMEZONE of the file, and an unknown one is an error, never UTC by accident.

import { randomUUID } from 'node:crypto';
import ICAL from 'ical.js';
import { Temporal } from 'temporal-polyfill';
import { findIana } from 'windows-iana';
import { ItemError } from './codec.ts';
import { decodeTimeZone, encodeTimeZone, fromLocal, isoInstant, toLocal } from './timezone.ts';
import type {
  Appointment,
  AppointmentException,
  Attendee,
  AttendeeStatus,
  Body,
  BusyStatus,
  Importance,
  Note,
  OccurrenceFields,
  PimItem,
  Recurrence,
  Sensitivity,
  Task,
  TaskRecurrence,
  TimeZone,
  TimeZoneRule,
  TransitionRule,
} from './types.ts';

/** An item read from a file; `notes` say what was assumed on the way (a floating time read in a zone, …). */
export interface ImportedItem {
  uid?: string;
  item: PimItem;
  notes?: string[];
}

/** An item of a file that cannot be imported; `line` is where it begins (1-based). */
export interface FailedItem {
  error: string;
  uid?: string;
  line?: number;
}

export type ImportEntry = ImportedItem | FailedItem;

export interface ParsedFile {
  items: ImportEntry[];
}

/** An item to write, with the UID it is stored under (an appointment's own `uid` wins). */
export type ExportItem = PimItem & { uid?: string };

export interface ICalendarParseOptions {
  /**
   * The zone of floating times (no TZID, no Z) and of all-day dates. Default: the calendar's
   * X-WR-TIMEZONE when it names a zone, else UTC.
   */
  floatingTimeZone?: TimeZone;
}

export interface ICalendarWriteOptions {
  /** DTSTAMP of items that carry none; default: now. */
  now?: string;
}

/** The text is not iCalendar at all (no VCALENDAR): nothing in it can be imported. */
export class NotICalendarError extends Error {
  override readonly name = 'NotICalendarError';
}

// ---------------------------------------------------------------------------------------------------
// Content lines and components

/** A logical line of a text/calendar or text/vcard file, unfolded, with the number of its first physical line. */
export interface ContentLine {
  text: string;
  line: number;
}

/** Splits a file into logical lines: folded continuations joined, empty lines dropped. */
function unfold(text: string): ContentLine[] {
  const lines: ContentLine[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r\n|\n|\r/)
    .forEach((raw, index) => {
      const last = lines.at(-1);
      if ((raw.startsWith(' ') || raw.startsWith('\t')) && last !== undefined) last.text += raw.slice(1);
      else if (raw.trim() !== '') lines.push({ text: raw, line: index + 1 });
    });
  return lines;
}

/** A component's lines as they stand in the file, BEGIN to END; `broken` says why they cannot be parsed. */
export interface RawComponent {
  name: string;
  line: number;
  lines: string[];
  broken?: string;
}

/** BEGIN:NAME / END:NAME, the name upper-cased. */
function boundary(text: string): { begin: boolean; name: string } | undefined {
  const match = /^(BEGIN|END)\s*:\s*([A-Za-z0-9-]+)\s*$/i.exec(text);
  return match ? { begin: match[1]!.toUpperCase() === 'BEGIN', name: match[2]!.toUpperCase() } : undefined;
}

/**
 * Hands over the components named in `top` (with what nests in them) in the order of the file, and
 * the lines outside them. A component whose END is missing ends where the next top-level one begins,
 * or where `closes` (a container's END) comes, and is marked broken.
 */
export function collectComponents(
  lines: readonly ContentLine[],
  top: ReadonlySet<string>,
  handle: {
    component(raw: RawComponent): void;
    outside(line: ContentLine, mark: { begin: boolean; name: string } | undefined): void;
  },
  closes: (name: string) => boolean = () => false,
): void {
  let open: { component: RawComponent; stack: string[] } | undefined;
  const close = () => {
    if (open === undefined) return;
    if (open.stack.length > 0) open.component.broken ??= `${open.component.name} has no END`;
    handle.component(open.component);
    open = undefined;
  };
  for (const line of lines) {
    const mark = boundary(line.text);
    if (open !== undefined) {
      const interrupts =
        mark !== undefined && ((mark.begin && top.has(mark.name)) || (!mark.begin && closes(mark.name)));
      if (!interrupts) {
        open.component.lines.push(line.text);
        if (mark?.begin) open.stack.push(mark.name);
        else if (mark !== undefined) {
          const at = open.stack.lastIndexOf(mark.name);
          if (at === -1) open.component.broken ??= `END:${mark.name} without BEGIN:${mark.name}`;
          else {
            if (at !== open.stack.length - 1) {
              open.component.broken ??= `BEGIN:${open.stack.at(-1)} has no END`;
            }
            open.stack.length = at;
          }
          if (open.stack.length === 0) close();
        }
        continue;
      }
      close();
    }
    if (mark?.begin && top.has(mark.name)) {
      open = { component: { name: mark.name, line: line.line, lines: [line.text] }, stack: [mark.name] };
    } else {
      handle.outside(line, mark);
    }
  }
  close();
}

/** The value of the first `NAME:` line, for naming an item that cannot be parsed. */
export function rawValue(lines: readonly string[], name: string): string | undefined {
  const prefix = new RegExp(`^${name}[;:]`, 'i');
  const line = lines.find((text) => prefix.test(text));
  if (line === undefined) return undefined;
  const value = line.slice(line.indexOf(':') + 1).trim();
  return value === '' ? undefined : value;
}

/** Parses one component's lines with ical.js. */
export function parseComponent(raw: RawComponent): ICAL.Component {
  if (raw.broken !== undefined) throw new ItemError(raw.broken);
  try {
    return new ICAL.Component(ICAL.parse(raw.lines.join('\r\n')) as unknown[]);
  } catch (error) {
    throw new ItemError(error instanceof Error ? error.message : String(error));
  }
}

// ---------------------------------------------------------------------------------------------------
// Reading a calendar

const ITEM_COMPONENTS = new Set(['VEVENT', 'VTODO', 'VJOURNAL', 'VTIMEZONE', 'VFREEBUSY', 'VAVAILABILITY']);

interface RawCalendar {
  properties: ContentLine[];
  components: RawComponent[];
}

/** Every item of an iCalendar text; throws NotICalendarError when there is no VCALENDAR in it. */
export function parseICalendar(text: string, options: ICalendarParseOptions = {}): ParsedFile {
  const calendars = splitCalendars(unfold(text));
  if (calendars.length === 0) throw new NotICalendarError('not an iCalendar file: it has no BEGIN:VCALENDAR');
  return { items: calendars.flatMap((calendar) => readCalendar(calendar, options)) };
}

function splitCalendars(lines: ContentLine[]): RawCalendar[] {
  const calendars: RawCalendar[] = [];
  let calendar: RawCalendar | undefined;
  collectComponents(
    lines,
    ITEM_COMPONENTS,
    {
      component: (raw) => calendar?.components.push(raw),
      outside: (line, mark) => {
        if (mark?.name === 'VCALENDAR') {
          calendar = mark.begin ? { properties: [], components: [] } : undefined;
          if (calendar) calendars.push(calendar);
        } else {
          calendar?.properties.push(line);
        }
      },
    },
    (name) => name === 'VCALENDAR',
  );
  return calendars;
}

interface ParsedComponent {
  raw: RawComponent;
  component: ICAL.Component;
  uid: string | undefined;
}

function readCalendar(calendar: RawCalendar, options: ICalendarParseOptions): ImportEntry[] {
  const entries: { line: number; entry: ImportEntry }[] = [];
  const fail = (raw: RawComponent, error: string) =>
    entries.push({ line: raw.line, entry: { error, uid: rawValue(raw.lines, 'UID'), line: raw.line } });
  // A VTIMEZONE that cannot be parsed is reported by the items that use it.
  const timezones = new Map<string, ICAL.Component | ItemError>();
  const items: ParsedComponent[] = [];
  for (const raw of calendar.components) {
    if (raw.name === 'VFREEBUSY' || raw.name === 'VAVAILABILITY') {
      fail(raw, `${raw.name} is not an item airsync stores`);
      continue;
    }
    let component: ICAL.Component | ItemError;
    try {
      component = parseComponent(raw);
    } catch (error) {
      component = error instanceof ItemError ? error : new ItemError(message(error));
    }
    if (raw.name === 'VTIMEZONE') {
      const tzid = rawValue(raw.lines, 'TZID');
      if (tzid !== undefined) timezones.set(tzid, component);
    } else if (component instanceof ItemError) {
      fail(raw, component.message);
    } else {
      items.push({ raw, component, uid: stringValue(component, 'uid') });
    }
  }
  const zones = new ZoneResolver(timezones, floatingZone(calendar, options));

  // A recurring event and its changed occurrences (RECURRENCE-ID) share a UID and become one item.
  const isOccurrence = ({ component }: ParsedComponent) => component.hasProperty('recurrence-id');
  const occurrences = new Map<string, ParsedComponent[]>();
  const seriesUids = new Set<string>();
  for (const parsed of items) {
    if (parsed.uid === undefined) continue;
    if (isOccurrence(parsed)) occurrences.set(parsed.uid, [...(occurrences.get(parsed.uid) ?? []), parsed]);
    else seriesUids.add(parsed.uid);
  }
  const seen = new Set<string>();
  for (const parsed of items) {
    const { raw, component, uid } = parsed;
    if (isOccurrence(parsed)) {
      if (uid === undefined || !seriesUids.has(uid)) {
        fail(raw, 'a changed occurrence (RECURRENCE-ID) whose series is not in the file');
      }
      continue;
    }
    if (uid !== undefined && seen.has(`${raw.name} ${uid}`)) {
      fail(raw, `another ${raw.name} of the file has the same UID`);
      continue;
    }
    if (uid !== undefined) seen.add(`${raw.name} ${uid}`);
    try {
      const context: ReadContext = { zones, notes: [] };
      const item = readItem(component, uid === undefined ? [] : (occurrences.get(uid) ?? []), context);
      const notes = [...new Set(context.notes)];
      entries.push({
        line: raw.line,
        entry: { ...(uid === undefined ? {} : { uid }), item, ...(notes.length > 0 ? { notes } : {}) },
      });
    } catch (error) {
      fail(raw, message(error));
    }
  }
  return entries.sort((a, b) => a.line - b.line).map(({ entry }) => entry);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface ReadContext {
  zones: ZoneResolver;
  notes: string[];
}

function readItem(component: ICAL.Component, occurrences: ParsedComponent[], context: ReadContext): PimItem {
  switch (component.name) {
    case 'vevent':
      return { class: 'Calendar', data: readEvent(component, occurrences, context) };
    case 'vtodo':
      return { class: 'Tasks', data: readTodo(component, context) };
    case 'vjournal':
      return { class: 'Notes', data: readJournal(component) };
    default:
      throw new ItemError(`${component.name.toUpperCase()} is not an item airsync stores`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Property access on jCal

type Parameters = Record<string, string | string[] | undefined>;

function properties(component: ICAL.Component, name: string): ICAL.Property[] {
  return component.getAllProperties(name);
}

function rawValues(property: ICAL.Property): unknown[] {
  return (property.toJSON() as unknown[]).slice(3);
}

function parameters(property: ICAL.Property): Parameters {
  return (property.toJSON() as unknown[])[1] as Parameters;
}

function parameter(property: ICAL.Property, name: string): string | undefined {
  const value = parameters(property)[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/** The property's value as text; X- properties come unparsed from ical.js, so their escapes are undone here. */
function textOf(property: ICAL.Property): string | undefined {
  const value = rawValues(property)[0];
  if (typeof value !== 'string') return value === undefined || value === null ? undefined : String(value);
  return property.type === 'unknown' ? unescapeText(value) : value;
}

/** TEXT escaping (RFC 5545 3.3.11), for X- properties ical.js writes as they are. */
function escapeText(value: string): string {
  return value.replace(/[\\;,]/g, (char) => `\\${char}`).replace(/\r?\n/g, '\\n');
}

function unescapeText(value: string): string {
  return value.replace(/\\([\\;,nN])/g, (_, char: string) => (char === 'n' || char === 'N' ? '\n' : char));
}

function stringValue(component: ICAL.Component, name: string): string | undefined {
  const property = component.getFirstProperty(name);
  const text = property === null ? undefined : textOf(property)?.trim();
  return text === '' ? undefined : text;
}

function textValue(component: ICAL.Component, name: string): string | undefined {
  const property = component.getFirstProperty(name);
  const text = property === null ? undefined : textOf(property);
  return text === '' ? undefined : text;
}

function categoriesOf(component: ICAL.Component): string[] | undefined {
  const values = properties(component, 'categories')
    .flatMap(rawValues)
    .map((value) => String(value).trim())
    .filter((value) => value !== '');
  return values.length > 0 ? [...new Set(values)] : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Times

/** A DATE, a DATE-TIME in UTC, or a wall-clock DATE-TIME (with the TZID it names, if any). */
type TimeValue =
  | { kind: 'date'; date: Temporal.PlainDate }
  | { kind: 'utc'; instant: string }
  | { kind: 'local'; local: Temporal.PlainDateTime; tzid?: string };

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z)?$/;

function parseTimeValue(text: string, tzid: string | undefined, what: string): TimeValue {
  try {
    const date = DATE_PATTERN.exec(text);
    if (date) {
      const [year, month, day] = date.slice(1).map(Number) as [number, number, number];
      return { kind: 'date', date: Temporal.PlainDate.from({ year, month, day }, { overflow: 'reject' }) };
    }
    const dateTime = DATE_TIME_PATTERN.exec(text);
    if (dateTime) {
      const [year, month, day, hour, minute, second] = dateTime.slice(1, 7).map(Number) as [
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      const local = Temporal.PlainDateTime.from(
        // A leap second is read as the second before it.
        { year, month, day, hour, minute, second: Math.min(second, 59) },
        { overflow: 'reject' },
      );
      if (dateTime[7] === 'Z') {
        return { kind: 'utc', instant: isoInstant(local.toZonedDateTime('UTC').epochMilliseconds) };
      }
      return tzid === undefined ? { kind: 'local', local } : { kind: 'local', local, tzid };
    }
  } catch {
    // Out-of-range fields: reported below like any other malformed value.
  }
  throw new ItemError(`${what} is not a date or date-time`);
}

function timeValues(property: ICAL.Property, what: string): TimeValue[] {
  const tzid = parameter(property, 'tzid');
  return rawValues(property).map((value) => {
    if (typeof value !== 'string') throw new ItemError(`${what} is not a date or date-time`);
    return parseTimeValue(value, tzid, what);
  });
}

function timeValue(component: ICAL.Component, name: string): TimeValue | undefined {
  const property = component.getFirstProperty(name);
  return property === null ? undefined : timeValues(property, name.toUpperCase())[0];
}

/** The instant of a time; dates and floating times are read in `zone`. */
function instantOf(value: TimeValue, zone: TimeZone, zones: ZoneResolver): string {
  switch (value.kind) {
    case 'utc':
      return value.instant;
    case 'date':
      return fromLocal(value.date.toPlainDateTime(), zone);
    case 'local':
      return fromLocal(value.local, value.tzid === undefined ? zone : zones.resolve(value.tzid));
  }
}

const DURATION_PATTERN = /^([+-])?P(?:(\d+)W|(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?)$/;

/** An RFC 5545 duration: weeks and days count in wall-clock time, hours and less in elapsed time. */
interface NominalDuration {
  days: number;
  milliseconds: number;
}

function parseDuration(text: string, what: string): NominalDuration {
  const match = DURATION_PATTERN.exec(text);
  if (!match || text.endsWith('P') || text.endsWith('T')) {
    throw new ItemError(`${what} is not a duration: ${text}`);
  }
  const sign = match[1] === '-' ? -1 : 1;
  const [weeks, days, hours, minutes, seconds] = match.slice(2).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    days: sign * (weeks * 7 + days),
    milliseconds: sign * ((hours * 60 + minutes) * 60 + seconds) * 1000,
  };
}

function addDuration(
  start: TimeValue,
  duration: NominalDuration,
  zone: TimeZone,
  zones: ZoneResolver,
): string {
  const at =
    start.kind === 'utc'
      ? Date.parse(start.instant) + duration.days * 86_400_000
      : Date.parse(
          instantOf(
            start.kind === 'date'
              ? { kind: 'date', date: start.date.add({ days: duration.days }) }
              : { ...start, local: start.local.add({ days: duration.days }) },
            zone,
            zones,
          ),
        );
  return isoInstant(at + duration.milliseconds);
}

// ---------------------------------------------------------------------------------------------------
// Time zones

const UTC: TimeZone = { iana: 'UTC' };

function floatingZone(
  calendar: RawCalendar,
  options: ICalendarParseOptions,
): { zone: TimeZone; said: string } {
  if (options.floatingTimeZone !== undefined) {
    return { zone: options.floatingTimeZone, said: 'the zone asked for' };
  }
  const wrTimeZone = calendar.properties
    .map(({ text }) => /^X-WR-TIMEZONE(?:;[^:]*)?:(.+)$/i.exec(text)?.[1]?.trim())
    .find((value) => value !== undefined);
  const iana = wrTimeZone === undefined ? undefined : ianaName(wrTimeZone);
  if (iana !== undefined) return { zone: { iana }, said: `${iana}, the calendar's X-WR-TIMEZONE` };
  return { zone: UTC, said: 'UTC' };
}

/** Whether Temporal knows the zone; the name as given (time zone names are case-insensitive). */
function ianaName(name: string): string | undefined {
  try {
    return Temporal.Now.zonedDateTimeISO(name).timeZoneId;
  } catch {
    return undefined;
  }
}

/**
 * An IANA name in a TZID: the whole of it, else its last path segments, for the prefixed names
 * older programs wrote ('/mozilla.org/20070129_1/Europe/Berlin').
 */
function ianaNameIn(tzid: string): string | undefined {
  const whole = ianaName(tzid);
  if (whole !== undefined) return whole;
  const segments = tzid.split('/').filter((segment) => segment !== '');
  for (let count = Math.min(3, segments.length - 1); count >= 1; count--) {
    const name = ianaName(segments.slice(-count).join('/'));
    if (name !== undefined && name.includes('/')) return name;
  }
  return undefined;
}

class ZoneResolver {
  private readonly resolved = new Map<string, TimeZone>();

  constructor(
    private readonly timezones: ReadonlyMap<string, ICAL.Component | ItemError>,
    readonly floating: { zone: TimeZone; said: string },
  ) {}

  /** The zone a TZID names: IANA, Windows, or the rule of the file's VTIMEZONE. */
  resolve(tzid: string): TimeZone {
    let zone = this.resolved.get(tzid);
    if (zone === undefined) {
      zone = this.lookUp(tzid);
      this.resolved.set(tzid, zone);
    }
    return zone;
  }

  private lookUp(tzid: string): TimeZone {
    const iana = ianaNameIn(tzid) ?? findIana(tzid)[0];
    if (iana !== undefined) return { iana };
    const vtimezone = this.timezones.get(tzid);
    if (vtimezone instanceof ItemError) {
      throw new ItemError(`VTIMEZONE ${tzid} cannot be read: ${vtimezone.message}`);
    }
    if (vtimezone === undefined) {
      throw new ItemError(
        `unknown time zone "${tzid}": neither an IANA nor a Windows zone name, and the file has no VTIMEZONE for it`,
      );
    }
    const location = stringValue(vtimezone, 'x-lic-location');
    const located = location === undefined ? undefined : ianaName(location);
    if (located !== undefined) return { iana: located };
    const rule = ruleOfVTimeZone(vtimezone, tzid);
    return ianaZoneWithRule(rule) ?? { rule };
  }
}

/**
 * The IANA zone that follows `rule` this year and next. timezone.ts matches rules to zones for the
 * EAS blob; going through the blob keeps that search in one place.
 */
function ianaZoneWithRule(rule: TimeZoneRule): TimeZone | undefined {
  const year = new Date().getUTCFullYear();
  const zone = decodeTimeZone(encodeTimeZone({ rule }, year), year);
  return 'iana' in zone ? zone : undefined;
}

/** One onset of a VTIMEZONE: the offsets around it, when it first happens, and its yearly rule. */
interface Onset {
  daylight: boolean;
  from: number;
  to: number;
  start: Temporal.PlainDateTime;
  rule?: Record<string, unknown>;
  name?: string;
}

/** The rule a VTIMEZONE follows now: its latest standard and daylight onsets. */
function ruleOfVTimeZone(vtimezone: ICAL.Component, tzid: string): TimeZoneRule {
  const onsets = vtimezone
    .getAllSubcomponents()
    .filter((sub) => sub.name === 'standard' || sub.name === 'daylight')
    .map((sub) => readOnset(sub, tzid));
  const latest = (daylight: boolean) =>
    onsets
      .filter((onset) => onset.daylight === daylight)
      .sort((a, b) => Temporal.PlainDateTime.compare(a.start, b.start))
      .at(-1);
  const standard = latest(false) ?? latest(true);
  if (standard === undefined) throw new ItemError(`VTIMEZONE ${tzid} has neither STANDARD nor DAYLIGHT`);
  const daylight = latest(true);
  // The TZID names the zone and its standard time, as a Windows StandardName does (a TZNAME is an
  // abbreviation at best); the daylight time keeps its TZNAME.
  const base: TimeZoneRule = {
    bias: -standard.to,
    standardName: tzid,
    standardBias: 0,
    daylightName: daylight?.name ?? tzid,
    daylightBias: 0,
  };
  // Daylight saving time is in force when both onsets still repeat every year.
  if (daylight === undefined || standard.daylight || !repeats(daylight) || !repeats(standard)) return base;
  return {
    ...base,
    daylightBias: standard.to - daylight.to,
    standardStart: transitionOf(standard, tzid),
    daylightStart: transitionOf(daylight, tzid),
  };
}

function readOnset(sub: ICAL.Component, tzid: string): Onset {
  const offset = (name: string) => {
    const text = stringValue(sub, name);
    const match = text === undefined ? null : /^([+-])(\d{2}):?(\d{2})(?::?(\d{2}))?$/.exec(text);
    if (!match) throw new ItemError(`VTIMEZONE ${tzid} has no valid ${name.toUpperCase()}`);
    return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
  };
  const start = timeValue(sub, 'dtstart');
  if (start === undefined || start.kind === 'date') {
    throw new ItemError(`VTIMEZONE ${tzid} has an onset without DTSTART`);
  }
  const rrule = sub.getFirstProperty('rrule');
  const rule = rrule === null ? undefined : (rawValues(rrule)[0] as Record<string, unknown>);
  return {
    daylight: sub.name === 'daylight',
    from: offset('tzoffsetfrom'),
    to: offset('tzoffsetto'),
    start:
      start.kind === 'local'
        ? start.local
        : Temporal.Instant.from(start.instant).toZonedDateTimeISO('UTC').toPlainDateTime(),
    rule,
    name: stringValue(sub, 'tzname'),
  };
}

function repeats(onset: Onset): boolean {
  if (onset.rule === undefined) return false;
  const until = onset.rule.until;
  return (
    until === undefined ||
    Date.parse(String(until).replace(/^(\d{4}-\d{2}-\d{2})$/, '$1T00:00:00Z')) > Date.now()
  );
}

/** The yearly transition of an onset: BYMONTH/BYDAY (or BYMONTHDAY ranges of old writers), else its DTSTART. */
function transitionOf(onset: Onset, tzid: string): TransitionRule {
  const rule = onset.rule ?? {};
  const month = Number(list(rule.bymonth)[0] ?? onset.start.month);
  const time = { hour: onset.start.hour, minute: onset.start.minute };
  const days = list(rule.byday).map(String);
  const monthDays = list(rule.bymonthday).map(Number);
  const weekday = parseWeekday(days[0] ?? '');
  if (
    String(rule.freq ?? 'YEARLY') !== 'YEARLY' ||
    days.length > 1 ||
    (days.length === 1 && weekday === undefined)
  ) {
    throw new ItemError(`VTIMEZONE ${tzid} has a rule that is not a yearly "n-th weekday of a month"`);
  }
  if (weekday === undefined) return { month, ...weekOfMonth(onset.start.toPlainDate()), ...time };
  if (weekday.ordinal !== undefined) {
    if (weekday.ordinal < -1 || weekday.ordinal === 0 || weekday.ordinal > 5) {
      throw new ItemError(`VTIMEZONE ${tzid} has a transition EAS cannot express (BYDAY=${days[0]})`);
    }
    return { month, week: weekday.ordinal === -1 ? 5 : weekday.ordinal, dayOfWeek: weekday.day, ...time };
  }
  // BYDAY=SU;BYMONTHDAY=8,9,10,11,12,13,14 is "the second Sunday"; negative days count from the end.
  const first = Math.min(...monthDays);
  const week =
    monthDays.length === 0
      ? weekOfMonth(onset.start.toPlainDate()).week
      : first < 0
        ? 5
        : Math.ceil(first / 7);
  return { month, week, dayOfWeek: weekday.day, ...time };
}

function weekOfMonth(date: Temporal.PlainDate): { week: number; dayOfWeek: number } {
  return {
    week: date.day + 7 > date.daysInMonth ? 5 : Math.ceil(date.day / 7),
    dayOfWeek: date.dayOfWeek % 7,
  };
}

// ---------------------------------------------------------------------------------------------------
// VEVENT → Appointment

interface EventTimes {
  start: string;
  end: string;
  allDay: boolean;
  zone: TimeZone;
  /** DTSTART as wall-clock time in `zone`: what recurrence rules count from. */
  anchor: Temporal.PlainDateTime;
}

function readEventTimes(component: ICAL.Component, context: ReadContext): EventTimes {
  const { zones } = context;
  const start = timeValue(component, 'dtstart');
  if (start === undefined) throw new ItemError('VEVENT has no DTSTART');
  const zone = zoneOfTime(start, context);
  const startInstant = instantOf(start, zone, zones);
  const dtend = timeValue(component, 'dtend');
  const duration = stringValue(component, 'duration');
  // Without DTEND or DURATION an event lasts a day when it starts on a date, else no time at all.
  const end =
    dtend !== undefined
      ? instantOf(dtend, zone, zones)
      : duration !== undefined
        ? addDuration(start, parseDuration(duration, 'DURATION'), zone, zones)
        : start.kind === 'date'
          ? addDuration(start, { days: 1, milliseconds: 0 }, zone, zones)
          : startInstant;
  if (Date.parse(end) < Date.parse(startInstant)) throw new ItemError('VEVENT ends before it starts');
  return {
    start: startInstant,
    end,
    allDay: start.kind === 'date',
    zone,
    anchor: toLocal(startInstant, zone),
  };
}

/** The zone an item's start is in; a floating time is read in the calendar's floating zone, and said so. */
function zoneOfTime(value: TimeValue, context: ReadContext): TimeZone {
  if (value.kind === 'utc') return UTC;
  if (value.kind === 'local' && value.tzid !== undefined) return context.zones.resolve(value.tzid);
  if (value.kind === 'local') context.notes.push(`floating time read in ${context.zones.floating.said}`);
  return context.zones.floating.zone;
}

function readEvent(
  component: ICAL.Component,
  overrides: ParsedComponent[],
  context: ReadContext,
): Appointment {
  const times = readEventTimes(component, context);
  const appointment: Appointment = {
    ...readOccurrenceFields(component, times, context),
    start: times.start,
    end: times.end,
    timeZone: times.zone,
  };
  if (times.allDay) appointment.allDay = true;
  const uid = stringValue(component, 'uid');
  if (uid !== undefined) appointment.uid = uid;
  const dtStamp = timeValue(component, 'dtstamp');
  if (dtStamp !== undefined) appointment.dtStamp = instantOf(dtStamp, UTC, context.zones);
  const organizer = component.getFirstProperty('organizer');
  const organizerAddress = organizer === null ? undefined : addressOf(organizer);
  if (organizer !== null && organizerAddress !== undefined) {
    const name = parameter(organizer, 'cn');
    appointment.organizer =
      name === undefined ? { email: organizerAddress } : { email: organizerAddress, name };
  }

  const rrules = properties(component, 'rrule');
  if (rrules.length > 1) throw new ItemError('VEVENT has several RRULEs; EAS holds one recurrence rule');
  if (properties(component, 'rdate').length > 0) {
    throw new ItemError('EAS cannot express extra occurrences (RDATE)');
  }
  if (rrules.length === 0) {
    if (overrides.length > 0) {
      throw new ItemError('changed occurrences (RECURRENCE-ID) of an event without RRULE');
    }
    return appointment;
  }
  appointment.recurrence = readRecurrence(rrules[0]!, times.anchor, times.zone, context);
  const exceptions = new Map<string, AppointmentException>();
  for (const exdate of properties(component, 'exdate')) {
    for (const value of timeValues(exdate, 'EXDATE')) {
      const originalStart = instantOf(value, times.zone, context.zones);
      exceptions.set(originalStart, { originalStart, deleted: true });
    }
  }
  for (const { component: override } of overrides) {
    const exception = readException(override, appointment, times, context);
    if (!exceptions.get(exception.originalStart)?.deleted) exceptions.set(exception.originalStart, exception);
  }
  if (exceptions.size > 0) {
    appointment.exceptions = [...exceptions.values()].sort(
      (a, b) => Date.parse(a.originalStart) - Date.parse(b.originalStart),
    );
  }
  return appointment;
}

/** A changed occurrence: its start and end, and the fields in which it differs from the series. */
function readException(
  override: ICAL.Component,
  master: Appointment,
  masterTimes: EventTimes,
  context: ReadContext,
): AppointmentException {
  const recurrenceId = override.getFirstProperty('recurrence-id')!;
  if (parameter(recurrenceId, 'range')?.toUpperCase() === 'THISANDFUTURE') {
    throw new ItemError(
      'EAS cannot express a change of this and all later occurrences (RANGE=THISANDFUTURE)',
    );
  }
  const [original] = timeValues(recurrenceId, 'RECURRENCE-ID');
  const originalStart = instantOf(original!, masterTimes.zone, context.zones);
  if (stringValue(override, 'status')?.toUpperCase() === 'CANCELLED') return { originalStart, deleted: true };
  const times = readEventTimes(override, context);
  const fields = readOccurrenceFields(override, times, context);
  const exception: AppointmentException = { originalStart, start: times.start, end: times.end };
  if (times.allDay !== (master.allDay ?? false)) exception.allDay = times.allDay;
  for (const key of OVERRIDABLE) {
    const value = fields[key] ?? CLEARED[key];
    if (value !== undefined && JSON.stringify(value) !== JSON.stringify(master[key] ?? CLEARED[key])) {
      Object.assign(exception, { [key]: value });
    }
  }
  return exception;
}

/** The fields an occurrence may override, and how one that clears a field of its series says so. */
const OVERRIDABLE = [
  'subject',
  'location',
  'body',
  'busyStatus',
  'sensitivity',
  'reminder',
  'categories',
  'attendees',
] as const satisfies readonly (keyof OccurrenceFields)[];
const CLEARED: Partial<OccurrenceFields> = { subject: '', location: '', categories: [], attendees: [] };

function readOccurrenceFields(
  component: ICAL.Component,
  times: EventTimes,
  context: ReadContext,
): OccurrenceFields {
  const fields: OccurrenceFields = {};
  const subject = textValue(component, 'summary');
  if (subject !== undefined) fields.subject = subject;
  const location = textValue(component, 'location');
  if (location !== undefined) fields.location = location;
  const body = bodyOf(component);
  if (body !== undefined) fields.body = body;
  const busyStatus = busyStatusOf(component);
  if (busyStatus !== undefined) fields.busyStatus = busyStatus;
  const sensitivity = sensitivityOf(component);
  if (sensitivity !== undefined) fields.sensitivity = sensitivity;
  const reminder = reminderOf(component, times, context);
  if (reminder !== undefined) fields.reminder = reminder;
  const categories = categoriesOf(component);
  if (categories !== undefined) fields.categories = categories;
  const attendees = properties(component, 'attendee').flatMap((property) => {
    const attendee = attendeeOf(property);
    if (attendee === undefined) context.notes.push('an ATTENDEE without an e-mail address was left out');
    return attendee === undefined ? [] : [attendee];
  });
  if (attendees.length > 0) fields.attendees = attendees;
  return fields;
}

function bodyOf(component: ICAL.Component): Body | undefined {
  const html = properties(component, 'x-alt-desc').find(
    (property) => parameter(property, 'fmttype')?.toLowerCase() === 'text/html',
  );
  const htmlText = html === undefined ? undefined : textOf(html);
  if (htmlText !== undefined && htmlText.trim() !== '') return { format: 'html', data: htmlText };
  // A journal entry may carry several DESCRIPTIONs; a body is one text.
  const texts = properties(component, 'description')
    .map((property) => textOf(property) ?? '')
    .filter((text) => text !== '');
  return texts.length === 0 ? undefined : { format: 'text', data: texts.join('\n\n') };
}

const BUSY_STATUSES: Record<string, BusyStatus> = {
  FREE: 'free',
  TENTATIVE: 'tentative',
  BUSY: 'busy',
  OOF: 'out-of-office',
  WORKINGELSEWHERE: 'working-elsewhere',
};

function busyStatusOf(component: ICAL.Component): BusyStatus | undefined {
  const microsoft = BUSY_STATUSES[stringValue(component, 'x-microsoft-cdo-busystatus')?.toUpperCase() ?? ''];
  if (microsoft !== undefined) return microsoft;
  const transparency = stringValue(component, 'transp')?.toUpperCase();
  if (transparency === 'TRANSPARENT') return 'free';
  if (transparency === 'OPAQUE') return 'busy';
  return undefined;
}

function sensitivityOf(component: ICAL.Component): Sensitivity | undefined {
  switch (stringValue(component, 'class')?.toUpperCase()) {
    case 'PUBLIC':
      return 'normal';
    case 'PRIVATE':
      return 'private';
    case 'CONFIDENTIAL':
      return 'confidential';
    default:
      return undefined;
  }
}

/** Minutes before the start of the first alarm that rings at or before the start. */
function reminderOf(component: ICAL.Component, times: EventTimes, context: ReadContext): number | undefined {
  for (const alarm of component.getAllSubcomponents('valarm')) {
    const at = alarmInstant(alarm, times.start, times.end, context);
    if (at === undefined) continue;
    const minutes = (Date.parse(times.start) - Date.parse(at)) / 60_000;
    if (minutes >= 0) return Math.round(minutes);
    context.notes.push('an alarm after the start was left out (EAS reminders ring before it)');
  }
  return undefined;
}

/** When an alarm rings: an absolute TRIGGER, or one relative to the start (or, RELATED=END, the end). */
function alarmInstant(
  alarm: ICAL.Component,
  start: string | undefined,
  end: string | undefined,
  context: ReadContext,
): string | undefined {
  const trigger = alarm.getFirstProperty('trigger');
  if (trigger === null) return undefined;
  const value = rawValues(trigger)[0];
  if (typeof value !== 'string') return undefined;
  if (trigger.type === 'date-time') {
    return instantOf(parseTimeValue(value, undefined, 'TRIGGER'), UTC, context.zones);
  }
  const base = parameter(trigger, 'related')?.toUpperCase() === 'END' ? (end ?? start) : (start ?? end);
  if (base === undefined) return undefined;
  const duration = parseDuration(value, 'TRIGGER');
  return isoInstant(Date.parse(base) + duration.days * 86_400_000 + duration.milliseconds);
}

const PARTICIPATION: Record<string, AttendeeStatus> = {
  ACCEPTED: 'accepted',
  DECLINED: 'declined',
  TENTATIVE: 'tentative',
  'NEEDS-ACTION': 'not-responded',
};

function attendeeOf(property: ICAL.Property): Attendee | undefined {
  const email = addressOf(property);
  if (email === undefined) return undefined;
  const attendee: Attendee = { email };
  const name = parameter(property, 'cn');
  if (name !== undefined) attendee.name = name;
  const partstat = parameter(property, 'partstat')?.toUpperCase();
  if (partstat !== undefined) attendee.status = PARTICIPATION[partstat] ?? 'unknown';
  const cutype = parameter(property, 'cutype')?.toUpperCase();
  const role = parameter(property, 'role')?.toUpperCase();
  if (cutype === 'RESOURCE' || cutype === 'ROOM') attendee.type = 'resource';
  else if (role === 'OPT-PARTICIPANT' || role === 'NON-PARTICIPANT') attendee.type = 'optional';
  else if (role === 'REQ-PARTICIPANT' || role === 'CHAIR') attendee.type = 'required';
  return attendee;
}

/** The e-mail address of a CAL-ADDRESS (mailto: URI, or a bare address some programs write). */
function addressOf(property: ICAL.Property): string | undefined {
  const value = textOf(property)?.trim() ?? '';
  const address = value.replace(/^mailto:/i, '');
  if (address.includes('@') && !/^[a-z][a-z0-9+.-]*:/i.test(address)) return address;
  const email = parameter(property, 'email');
  return email?.includes('@') ? email : undefined;
}

// ---------------------------------------------------------------------------------------------------
// RRULE ⇄ Recurrence

const WEEKDAYS = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'] as const;
/** EAS DayOfWeek 127: every day, "day N of the month" with WeekOfMonth. */
const ANY_DAY = 127;
/** EAS allows at most 999 occurrences and an interval up to 999 (MS-ASCAL Occurrences, Interval). */
const EAS_MAXIMUM = 999;
const RULE_PARTS = new Set([
  'freq',
  'interval',
  'count',
  'until',
  'wkst',
  'byday',
  'bymonthday',
  'bymonth',
  'bysetpos',
]);

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function parseWeekday(text: string): { ordinal?: number; day: number } | undefined {
  const match = /^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$/i.exec(text.trim());
  if (!match) return undefined;
  const day = WEEKDAYS.indexOf(match[2]!.toUpperCase() as (typeof WEEKDAYS)[number]);
  return match[1] === undefined ? { day } : { ordinal: Number(match[1]), day };
}

function readRecurrence(
  property: ICAL.Property,
  anchor: Temporal.PlainDateTime,
  zone: TimeZone,
  context: ReadContext,
): Recurrence {
  const rule = rawValues(property)[0] as Record<string, unknown>;
  const text = property.toICALString();
  const cannot = (what: string) => new ItemError(`EAS cannot express ${text}: ${what}`);
  for (const part of Object.keys(rule)) {
    if (!RULE_PARTS.has(part) && !part.startsWith('x-')) throw cannot(`it has ${part.toUpperCase()}`);
  }
  const interval = Number(rule.interval ?? 1);
  if (!Number.isInteger(interval) || interval < 1 || interval > EAS_MAXIMUM) {
    throw cannot(`INTERVAL must be 1 to ${EAS_MAXIMUM}`);
  }
  const days = list(rule.byday).map((day) => {
    const parsed = parseWeekday(String(day));
    if (parsed === undefined) throw cannot(`BYDAY=${String(day)} is not a weekday`);
    return parsed;
  });
  const monthDays = list(rule.bymonthday).map(Number);
  const months = list(rule.bymonth).map(Number);
  const positions = list(rule.bysetpos).map(Number);
  const mask = days.reduce((bits, { day }) => bits | (1 << day), 0);
  const plainDays = days.every(({ ordinal }) => ordinal === undefined);
  const refuse = (parts: Record<string, unknown[]>) => {
    for (const [name, values] of Object.entries(parts))
      if (values.length > 0) throw cannot(`${name} with FREQ=${String(rule.freq)}`);
  };

  let recurrence: Recurrence;
  switch (String(rule.freq)) {
    case 'DAILY':
      refuse({ BYMONTH: months, BYMONTHDAY: monthDays, BYSETPOS: positions });
      if (days.length === 0) recurrence = { type: 'daily', interval };
      else if (plainDays && interval === 1) recurrence = { type: 'weekly', interval, dayOfWeek: mask };
      else throw cannot('BYDAY with a daily rule is only expressible every day');
      break;
    case 'WEEKLY':
      refuse({ BYMONTH: months, BYMONTHDAY: monthDays, BYSETPOS: positions });
      if (!plainDays) throw cannot('BYDAY with a number in a weekly rule');
      recurrence = {
        type: 'weekly',
        interval,
        dayOfWeek: days.length > 0 ? mask : 1 << (anchor.dayOfWeek % 7),
      };
      break;
    case 'MONTHLY':
      refuse({ BYMONTH: months });
      recurrence = { ...monthlyDay(days, monthDays, positions, anchor, cannot), interval };
      break;
    case 'YEARLY': {
      if (months.length > 1) throw cannot('several BYMONTH');
      const monthOfYear = months[0] ?? anchor.month;
      if (days.length > 0 && months.length === 0) throw cannot('BYDAY in a yearly rule without BYMONTH');
      const day = monthlyDay(days, monthDays, positions, anchor, cannot);
      recurrence =
        day.type === 'monthly'
          ? { type: 'yearly', interval, dayOfMonth: day.dayOfMonth, monthOfYear }
          : {
              type: 'yearly-nth',
              interval,
              weekOfMonth: day.weekOfMonth,
              dayOfWeek: day.dayOfWeek,
              monthOfYear,
            };
      break;
    }
    default:
      throw cannot(`FREQ=${String(rule.freq)}`);
  }

  const shortest = shortestMonthOf(recurrence);
  if (
    recurrence.dayOfMonth !== undefined &&
    recurrence.dayOfMonth > shortest &&
    clampedDay(monthDays, positions) === undefined
  ) {
    context.notes.push(
      `the file skips months without day ${recurrence.dayOfMonth}; EAS puts those occurrences on the month's last day`,
    );
  }
  if (rule.count !== undefined && rule.until !== undefined) throw cannot('both COUNT and UNTIL');
  if (rule.count !== undefined) {
    const count = Number(rule.count);
    if (!Number.isInteger(count) || count < 1 || count > EAS_MAXIMUM) {
      throw cannot(`COUNT must be 1 to ${EAS_MAXIMUM}`);
    }
    recurrence.occurrences = count;
  }
  if (rule.until !== undefined) {
    recurrence.until = instantOf(parseTimeValue(String(rule.until), undefined, 'UNTIL'), zone, context.zones);
  }
  if (rule.wkst !== undefined) {
    const wkst =
      typeof rule.wkst === 'number'
        ? rule.wkst - 1
        : WEEKDAYS.indexOf(String(rule.wkst).toUpperCase() as 'SU');
    if (wkst >= 0 && wkst <= 6) recurrence.firstDayOfWeek = wkst;
  }
  return recurrence;
}

/**
 * EAS puts "day 31" on the last day of shorter months; RFC 5545 says that with
 * BYMONTHDAY=28,29,30,31;BYSETPOS=-1. The day such a list means, if it is one.
 */
function clampedDay(monthDays: number[], positions: number[]): number | undefined {
  if (positions.length !== 1 || positions[0] !== -1 || monthDays.length < 2) return undefined;
  const sorted = [...monthDays].sort((a, b) => a - b);
  const isRun = sorted.every((day, i) => day === CLAMP_FROM + i);
  return isRun && sorted.at(-1)! <= 31 ? sorted.at(-1) : undefined;
}

/** No month is shorter: a day of the month up to here needs no clamping. */
const CLAMP_FROM = 28;

/** The fewest days the months of a monthly or yearly series have. */
function shortestMonthOf(recurrence: Recurrence): number {
  if (recurrence.type !== 'yearly') return CLAMP_FROM;
  return Temporal.PlainYearMonth.from({ year: 2100, month: recurrence.monthOfYear ?? 1 }).daysInMonth;
}

/** The BYMONTHDAY (and BYSETPOS) of "day N, or the month's last day when it has fewer". */
function monthDayParts(day: number, shortestMonth: number): Record<string, unknown> {
  if (day <= shortestMonth) return { bymonthday: day };
  return { bymonthday: Array.from({ length: day - CLAMP_FROM + 1 }, (_, i) => CLAMP_FROM + i), bysetpos: -1 };
}

type MonthlyDay =
  { type: 'monthly'; dayOfMonth: number } | { type: 'monthly-nth'; weekOfMonth: number; dayOfWeek: number };

/** Which day of a month a monthly or yearly rule falls on, as EAS says it. */
function monthlyDay(
  days: { ordinal?: number; day: number }[],
  monthDays: number[],
  positions: number[],
  anchor: Temporal.PlainDateTime,
  cannot: (what: string) => ItemError,
): MonthlyDay {
  const week = (n: number) => {
    if (n === -1) return 5;
    if (n >= 1 && n <= 4) return n;
    throw cannot(`EAS counts weeks 1 to 4 and "last", not ${n}`);
  };
  const clamped = clampedDay(monthDays, positions);
  if (clamped !== undefined && days.length === 0) return { type: 'monthly', dayOfMonth: clamped };
  if (monthDays.length > 1) throw cannot('several BYMONTHDAY');
  if (monthDays.length === 1) {
    if (days.length > 0 || positions.length > 0) throw cannot('BYMONTHDAY with BYDAY or BYSETPOS');
    const day = monthDays[0]!;
    if (day === -1) return { type: 'monthly-nth', weekOfMonth: 5, dayOfWeek: ANY_DAY };
    if (day >= 1 && day <= 31) return { type: 'monthly', dayOfMonth: day };
    throw cannot(`BYMONTHDAY=${day}`);
  }
  if (days.length === 0) {
    if (positions.length > 0) throw cannot('BYSETPOS without BYDAY');
    return { type: 'monthly', dayOfMonth: anchor.day };
  }
  if (positions.length > 1) throw cannot('several BYSETPOS');
  const mask = days.reduce((bits, { day }) => bits | (1 << day), 0);
  if (positions.length === 1) {
    if (days.some(({ ordinal }) => ordinal !== undefined)) throw cannot('BYSETPOS with numbered BYDAY');
    return {
      type: 'monthly-nth',
      weekOfMonth: week(positions[0]!),
      dayOfWeek: mask === 0b1111111 ? ANY_DAY : mask,
    };
  }
  const [only] = days;
  if (days.length > 1 || only?.ordinal === undefined) {
    throw cannot('BYDAY that is not one "n-th weekday" of the month');
  }
  return { type: 'monthly-nth', weekOfMonth: week(only.ordinal), dayOfWeek: 1 << only.day };
}

/** The RRULE of a recurrence (jCal form); `anchor` is the first occurrence's wall-clock start. */
function writeRecurrence(
  recurrence: Recurrence,
  anchor: Temporal.PlainDateTime,
  zone: TimeZone,
  allDay: boolean,
): Record<string, unknown> {
  const rule: Record<string, unknown> = {};
  const byDay = (mask: number) => WEEKDAYS.filter((_, day) => (mask & (1 << day)) !== 0);
  const position = (week: number | undefined) => (week === 5 ? -1 : (week ?? Math.ceil(anchor.day / 7)));
  const nth = (weekOfMonth: number | undefined, dayOfWeek: number | undefined) => {
    const mask = dayOfWeek ?? 1 << (anchor.dayOfWeek % 7);
    const week = position(weekOfMonth);
    if (mask === ANY_DAY) rule.bymonthday = week;
    else if (byDay(mask).length === 1) rule.byday = `${week}${byDay(mask)[0]}`;
    else Object.assign(rule, { byday: byDay(mask), bysetpos: week });
  };
  switch (recurrence.type) {
    case 'daily':
      rule.freq = 'DAILY';
      if (recurrence.dayOfWeek !== undefined) rule.byday = byDay(recurrence.dayOfWeek);
      break;
    case 'weekly':
      rule.freq = 'WEEKLY';
      rule.byday = byDay(recurrence.dayOfWeek ?? 1 << (anchor.dayOfWeek % 7));
      break;
    case 'monthly':
      rule.freq = 'MONTHLY';
      Object.assign(rule, monthDayParts(recurrence.dayOfMonth ?? anchor.day, CLAMP_FROM));
      break;
    case 'monthly-nth':
      rule.freq = 'MONTHLY';
      nth(recurrence.weekOfMonth, recurrence.dayOfWeek);
      break;
    case 'yearly': {
      rule.freq = 'YEARLY';
      rule.bymonth = recurrence.monthOfYear ?? anchor.month;
      Object.assign(
        rule,
        monthDayParts(
          recurrence.dayOfMonth ?? anchor.day,
          shortestMonthOf({ ...recurrence, monthOfYear: rule.bymonth as number }),
        ),
      );
      break;
    }
    case 'yearly-nth':
      rule.freq = 'YEARLY';
      rule.bymonth = recurrence.monthOfYear ?? anchor.month;
      nth(recurrence.weekOfMonth, recurrence.dayOfWeek);
      break;
  }
  if (recurrence.interval > 1) rule.interval = recurrence.interval;
  if (recurrence.occurrences !== undefined) rule.count = recurrence.occurrences;
  else if (recurrence.until !== undefined) {
    // UNTIL is a DATE for all-day series, and UTC for the others (RFC 5545 3.3.10).
    rule.until = allDay
      ? toLocal(recurrence.until, zone).toPlainDate().toString()
      : utcText(recurrence.until);
  }
  if (recurrence.firstDayOfWeek !== undefined) rule.wkst = WEEKDAYS[recurrence.firstDayOfWeek];
  return rule;
}

// ---------------------------------------------------------------------------------------------------
// VTODO → Task, VJOURNAL → Note

/** MS-ASTASK keeps a task's dates twice: the user's wall-clock time written as UTC, and the instant. */
interface TaskDate {
  local: string;
  utc: string;
  zone: TimeZone;
  anchor: Temporal.PlainDateTime;
}

function taskDate(value: TimeValue, context: ReadContext): TaskDate {
  const zone = value.kind === 'date' ? context.zones.floating.zone : zoneOfTime(value, context);
  const utc = instantOf(value, zone, context.zones);
  const anchor = value.kind === 'date' ? value.date.toPlainDateTime() : toLocal(utc, zone);
  return { local: localAsUtc(anchor), utc, zone, anchor };
}

/** A wall-clock time written as if it were UTC. */
function localAsUtc(local: Temporal.PlainDateTime): string {
  return isoInstant(local.toZonedDateTime('UTC').epochMilliseconds);
}

function readTodo(component: ICAL.Component, context: ReadContext): Task {
  const task: Task = readNoteFields(component);
  const sensitivity = sensitivityOf(component);
  if (sensitivity !== undefined) task.sensitivity = sensitivity;
  const startValue = timeValue(component, 'dtstart');
  const start = startValue === undefined ? undefined : taskDate(startValue, context);
  if (start !== undefined) Object.assign(task, { startDate: start.local, utcStartDate: start.utc });
  const dueValue = timeValue(component, 'due');
  const duration = stringValue(component, 'duration');
  let due = dueValue === undefined ? undefined : taskDate(dueValue, context);
  if (due === undefined && startValue !== undefined && start !== undefined && duration !== undefined) {
    const utc = addDuration(startValue, parseDuration(duration, 'DURATION'), start.zone, context.zones);
    const anchor = toLocal(utc, start.zone);
    due = { local: localAsUtc(anchor), utc, zone: start.zone, anchor };
  }
  if (due !== undefined) Object.assign(task, { dueDate: due.local, utcDueDate: due.utc });

  const completed = timeValue(component, 'completed');
  if (completed !== undefined) task.dateCompleted = instantOf(completed, UTC, context.zones);
  task.complete =
    completed !== undefined ||
    stringValue(component, 'status')?.toUpperCase() === 'COMPLETED' ||
    Number(stringValue(component, 'percent-complete')) === 100;
  const importance = importanceOf(Number(stringValue(component, 'priority') ?? 0));
  if (importance !== undefined) task.importance = importance;
  for (const alarm of component.getAllSubcomponents('valarm')) {
    const at = alarmInstant(alarm, start?.utc, due?.utc, context);
    if (at !== undefined) {
      task.reminderTime = at;
      break;
    }
  }

  const rrules = properties(component, 'rrule');
  if (rrules.length > 1) throw new ItemError('VTODO has several RRULEs; EAS holds one recurrence rule');
  const first = start ?? due;
  if (rrules.length === 1) {
    if (first === undefined) throw new ItemError('a repeating VTODO without DTSTART or DUE');
    const recurrence: TaskRecurrence = readRecurrence(rrules[0]!, first.anchor, first.zone, context);
    task.recurrence = { ...recurrence, start: first.utc };
  }
  return task;
}

/** PRIORITY 1–4 is high, 5 normal, 6–9 low (RFC 5545 3.8.1.9); 0 is undefined. */
function importanceOf(priority: number): Importance | undefined {
  if (priority >= 1 && priority <= 4) return 'high';
  if (priority === 5) return 'normal';
  if (priority >= 6 && priority <= 9) return 'low';
  return undefined;
}

type NoteFields = Pick<Note, 'subject' | 'body' | 'categories'>;

function readNoteFields(component: ICAL.Component): NoteFields {
  const fields: NoteFields = {};
  const subject = textValue(component, 'summary');
  if (subject !== undefined) fields.subject = subject;
  const body = bodyOf(component);
  if (body !== undefined) fields.body = body;
  const categories = categoriesOf(component);
  if (categories !== undefined) fields.categories = categories;
  return fields;
}

function readJournal(component: ICAL.Component): Note {
  const note: Note = readNoteFields(component);
  const lastModified = timeValue(component, 'last-modified');
  // LAST-MODIFIED is UTC (RFC 5545 3.8.7.3); a writer that left out the Z meant it too.
  if (lastModified?.kind === 'utc') note.lastModified = lastModified.instant;
  else if (lastModified?.kind === 'local') note.lastModified = localAsUtc(lastModified.local);
  return note;
}

// ---------------------------------------------------------------------------------------------------
// Writing

type JCalProperty = [string, Record<string, string>, string, ...unknown[]];
type JCalComponent = [string, JCalProperty[], JCalComponent[]];

const PRODUCT_ID = '-//airsync//airsync//EN';

/** A calendar of the items, with a VTIMEZONE for every zone their times are written in. */
export function toICalendar(items: readonly ExportItem[], options: ICalendarWriteOptions = {}): string {
  const now = options.now ?? new Date().toISOString();
  const zones = new ZoneWriter();
  const components = items.flatMap((entry): JCalComponent[] => {
    const uid = (entry.class === 'Calendar' ? entry.data.uid : undefined) ?? entry.uid ?? randomUUID();
    switch (entry.class) {
      case 'Calendar':
        return writeEvent(entry.data, uid, zones, now);
      case 'Tasks':
        return [writeTodo(entry.data, uid, now)];
      case 'Notes':
        return [writeJournal(entry.data, uid, now)];
      case 'Contacts':
        return [];
    }
  });
  const calendar: JCalComponent = [
    'vcalendar',
    [
      ['version', {}, 'text', '2.0'],
      ['prodid', {}, 'text', PRODUCT_ID],
      ['calscale', {}, 'text', 'GREGORIAN'],
    ],
    [...zones.components(), ...components],
  ];
  const text = ICAL.stringify(calendar);
  return text.endsWith('\r\n') ? text : `${text}\r\n`;
}

/** 'YYYY-MM-DDTHH:MM:SSZ', the jCal form of a UTC DATE-TIME. */
function utcText(instant: string): string {
  return `${new Date(instant).toISOString().slice(0, 19)}Z`;
}

function localText(local: Temporal.PlainDateTime): string {
  return local.toString({ smallestUnit: 'second' });
}

function text(name: string, value: string | undefined): JCalProperty[] {
  return value === undefined || value === '' ? [] : [[name, {}, 'text', value]];
}

function bodyProperties(body: Body | undefined): JCalProperty[] {
  if (body === undefined) return [];
  switch (body.format) {
    case 'text':
      return text('description', body.data);
    case 'html':
      // Readers without HTML show DESCRIPTION; Outlook and others show X-ALT-DESC.
      return [
        ...text('description', htmlToText(body.data)),
        ['x-alt-desc', { fmttype: 'text/html' }, 'unknown', escapeText(body.data)],
      ];
    case 'rtf':
      // Compressed RTF has no place in iCalendar, and decompressing it is not this module's work.
      return [];
  }
}

/** Plain text of an HTML body, for the DESCRIPTION that goes with X-ALT-DESC. */
export function htmlToText(html: string): string {
  const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
  return html
    .replace(/<(script|style|head)\b[^]*?<\/\1\s*>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|li|tr|h[1-6])\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
      if (name.startsWith('#')) {
        const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
        return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return entities[name.toLowerCase()] ?? whole;
    })
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function classProperty(sensitivity: Sensitivity | undefined): JCalProperty[] {
  if (sensitivity === undefined) return [];
  // iCalendar has no "personal"; private is the nearest.
  const value = { normal: 'PUBLIC', personal: 'PRIVATE', private: 'PRIVATE', confidential: 'CONFIDENTIAL' }[
    sensitivity
  ];
  return [['class', {}, 'text', value]];
}

function categoriesProperty(categories: string[] | undefined): JCalProperty[] {
  return categories === undefined || categories.length === 0
    ? []
    : [['categories', {}, 'text', ...categories]];
}

class EventWriter {
  constructor(
    private readonly zone: TimeZone,
    private readonly tzid: string | undefined,
  ) {}

  time(name: string, instant: string, allDay: boolean): JCalProperty {
    if (allDay) return [name, {}, 'date', toLocal(instant, this.zone).toPlainDate().toString()];
    if (this.tzid === undefined) return [name, {}, 'date-time', utcText(instant)];
    return [name, { tzid: this.tzid }, 'date-time', localText(toLocal(instant, this.zone))];
  }
}

function writeEvent(appointment: Appointment, uid: string, zones: ZoneWriter, now: string): JCalComponent[] {
  const allDay = appointment.allDay === true;
  const { recurrence, exceptions = [] } = appointment;
  const instants = [
    appointment.start,
    appointment.end,
    ...exceptions.flatMap((e) => [e.originalStart, e.start ?? e.originalStart]),
  ];
  if (recurrence?.until !== undefined) instants.push(recurrence.until);
  const writer = new EventWriter(
    appointment.timeZone,
    allDay ? undefined : zones.use(appointment.timeZone, instants),
  );
  const common: JCalProperty[] = [
    ['uid', {}, 'text', uid],
    ['dtstamp', {}, 'date-time', utcText(appointment.dtStamp ?? now)],
  ];
  const organizer: JCalProperty[] =
    appointment.organizer === undefined
      ? []
      : [
          [
            'organizer',
            nameParameter(appointment.organizer.name),
            'cal-address',
            `mailto:${appointment.organizer.email}`,
          ],
        ];

  const master: JCalComponent = [
    'vevent',
    [
      ...common,
      writer.time('dtstart', appointment.start, allDay),
      writer.time('dtend', appointment.end, allDay),
      ...occurrenceProperties(appointment),
      ...organizer,
      ...(appointment.attendees ?? []).map(attendeeProperty),
    ],
    reminderAlarm(appointment.reminder, appointment.subject),
  ];
  if (recurrence === undefined) return [master];

  const anchor = toLocal(appointment.start, appointment.timeZone);
  master[1].push(['rrule', {}, 'recur', writeRecurrence(recurrence, anchor, appointment.timeZone, allDay)]);
  const deleted = exceptions.filter((exception) => exception.deleted);
  if (deleted.length > 0) {
    const dates = deleted.map((exception) => writer.time('exdate', exception.originalStart, allDay));
    const [name, parameters, type] = dates[0]!;
    master[1].push([name, parameters, type, ...dates.map((date) => date[3])]);
  }
  const duration = Date.parse(appointment.end) - Date.parse(appointment.start);
  const changed = exceptions
    .filter((exception) => !exception.deleted)
    .map((exception): JCalComponent => {
      const occurrence: Appointment = { ...appointment, ...exception };
      const start = exception.start ?? exception.originalStart;
      const end = exception.end ?? isoInstant(Date.parse(start) + duration);
      const occurrenceAllDay = exception.allDay ?? allDay;
      return [
        'vevent',
        [
          ...common,
          writer.time('recurrence-id', exception.originalStart, allDay),
          writer.time('dtstart', start, occurrenceAllDay),
          writer.time('dtend', end, occurrenceAllDay),
          ...occurrenceProperties(occurrence),
          ...organizer,
          ...(occurrence.attendees ?? []).map(attendeeProperty),
        ],
        reminderAlarm(occurrence.reminder, occurrence.subject),
      ];
    });
  return [master, ...changed];
}

function occurrenceProperties(fields: OccurrenceFields): JCalProperty[] {
  const busy: JCalProperty[] =
    fields.busyStatus === undefined
      ? []
      : [
          ['transp', {}, 'text', fields.busyStatus === 'free' ? 'TRANSPARENT' : 'OPAQUE'],
          ['x-microsoft-cdo-busystatus', {}, 'unknown', MICROSOFT_BUSY_STATUSES[fields.busyStatus]],
        ];
  return [
    ...text('summary', fields.subject),
    ...text('location', fields.location),
    ...bodyProperties(fields.body),
    ...classProperty(fields.sensitivity),
    ...busy,
    ...categoriesProperty(fields.categories),
  ];
}

const MICROSOFT_BUSY_STATUSES: Record<BusyStatus, string> = Object.fromEntries(
  Object.entries(BUSY_STATUSES).map(([name, status]) => [status, name]),
) as Record<BusyStatus, string>;

function nameParameter(name: string | undefined): Record<string, string> {
  return name === undefined || name === '' ? {} : { cn: name };
}

const PARTSTATS: Partial<Record<AttendeeStatus, string>> = Object.fromEntries(
  Object.entries(PARTICIPATION).map(([name, status]) => [status, name]),
);

function attendeeProperty(attendee: Attendee): JCalProperty {
  const parameters = nameParameter(attendee.name);
  const partstat = attendee.status === undefined ? undefined : PARTSTATS[attendee.status];
  if (partstat !== undefined) parameters.partstat = partstat;
  if (attendee.type === 'resource') parameters.cutype = 'RESOURCE';
  else if (attendee.type === 'optional') parameters.role = 'OPT-PARTICIPANT';
  else if (attendee.type === 'required') parameters.role = 'REQ-PARTICIPANT';
  return ['attendee', parameters, 'cal-address', `mailto:${attendee.email}`];
}

function reminderAlarm(minutes: number | undefined, subject: string | undefined): JCalComponent[] {
  if (minutes === undefined) return [];
  return [alarm(['trigger', {}, 'duration', minutes === 0 ? 'PT0S' : `-PT${minutes}M`], subject)];
}

function alarm(trigger: JCalProperty, subject: string | undefined): JCalComponent {
  return [
    'valarm',
    [['action', {}, 'text', 'DISPLAY'], ['description', {}, 'text', subject || 'Reminder'], trigger],
    [],
  ];
}

function writeTodo(task: Task, uid: string, now: string): JCalComponent {
  const start = taskTime('dtstart', task.startDate, task.utcStartDate);
  const due = taskTime('due', task.dueDate, task.utcDueDate);
  const properties: JCalProperty[] = [
    ['uid', {}, 'text', uid],
    ['dtstamp', {}, 'date-time', utcText(now)],
    ...text('summary', task.subject),
    ...bodyProperties(task.body),
    ...classProperty(task.sensitivity),
    ...categoriesProperty(task.categories),
  ];
  if (start !== undefined) properties.push(start.property);
  if (due !== undefined) properties.push(due.property);
  if (task.importance !== undefined) {
    properties.push(['priority', {}, 'integer', { high: 1, normal: 5, low: 9 }[task.importance]]);
  }
  properties.push(['status', {}, 'text', task.complete ? 'COMPLETED' : 'NEEDS-ACTION']);
  if (task.dateCompleted !== undefined) {
    properties.push(['completed', {}, 'date-time', utcText(task.dateCompleted)]);
  }
  const first = start ?? due;
  if (task.recurrence !== undefined && first !== undefined) {
    // RFC 5545 counts a to-do's occurrences from its DTSTART: without a start, the due date is one.
    if (start === undefined) {
      const [, parameters, type, ...values] = first.property;
      properties.push(['dtstart', parameters, type, ...values]);
    }
    properties.push([
      'rrule',
      {},
      'recur',
      writeRecurrence(task.recurrence, first.anchor, UTC, first.isDate),
    ]);
  }
  const reminder =
    task.reminderTime === undefined
      ? []
      : [alarm(['trigger', { value: 'DATE-TIME' }, 'date-time', utcText(task.reminderTime)], task.subject)];
  return ['vtodo', properties, reminder];
}

interface TaskTime {
  property: JCalProperty;
  /** Its wall-clock time, as a recurrence counts from it. */
  anchor: Temporal.PlainDateTime;
  isDate: boolean;
}

/**
 * A task date: a DATE when the wall-clock time is midnight (what phones set), else the instant, else
 * the wall-clock time as a floating DATE-TIME.
 */
function taskTime(name: string, local: string | undefined, utc: string | undefined): TaskTime | undefined {
  if (local !== undefined && local.slice(11, 19) === '00:00:00') {
    const date = Temporal.PlainDate.from(local.slice(0, 10));
    return { property: [name, {}, 'date', date.toString()], anchor: date.toPlainDateTime(), isDate: true };
  }
  if (utc !== undefined) {
    return { property: [name, {}, 'date-time', utcText(utc)], anchor: toLocal(utc, UTC), isDate: false };
  }
  if (local === undefined) return undefined;
  const wallClock = toLocal(local, UTC);
  return { property: [name, {}, 'date-time', localText(wallClock)], anchor: wallClock, isDate: false };
}

function writeJournal(note: Note, uid: string, now: string): JCalComponent {
  const properties: JCalProperty[] = [
    ['uid', {}, 'text', uid],
    ['dtstamp', {}, 'date-time', utcText(note.lastModified ?? now)],
    ...text('summary', note.subject),
    ...bodyProperties(note.body),
    ...categoriesProperty(note.categories),
  ];
  if (note.lastModified !== undefined) {
    properties.push(['last-modified', {}, 'date-time', utcText(note.lastModified)]);
  }
  return ['vjournal', properties, []];
}

// ---------------------------------------------------------------------------------------------------
// VTIMEZONE

/** The zones a calendar's times are written in, each with the years it must describe. */
class ZoneWriter {
  private readonly zones = new Map<string, { tzid: string; zone: TimeZone; from: number; to: number }>();
  private readonly tzids = new Set<string>();

  /** The TZID to write times of `zone` with, or undefined for UTC (written with Z). */
  use(zone: TimeZone, instants: readonly string[]): string | undefined {
    if ('iana' in zone && isUtcName(zone.iana)) return undefined;
    const key = 'iana' in zone ? zone.iana : JSON.stringify(zone.rule);
    const years = instants.map((instant) => new Date(instant).getUTCFullYear());
    const known = this.zones.get(key);
    if (known !== undefined) {
      known.from = Math.min(known.from, ...years);
      known.to = Math.max(known.to, ...years);
      return known.tzid;
    }
    const tzid = 'iana' in zone ? zone.iana : this.ruleTzid(zone.rule);
    this.tzids.add(tzid);
    this.zones.set(key, { tzid, zone, from: Math.min(...years), to: Math.max(...years) });
    return tzid;
  }

  /** A rule zone is named after its standard time; two different rules never share a name. */
  private ruleTzid(rule: TimeZoneRule): string {
    const name = rule.standardName.trim() || `UTC${offsetText(-(rule.bias + rule.standardBias))}`;
    let tzid = name;
    for (let n = 2; this.tzids.has(tzid); n++) tzid = `${name} (${n})`;
    return tzid;
  }

  components(): JCalComponent[] {
    const thisYear = new Date().getUTCFullYear();
    return [...this.zones.values()].map(({ tzid, zone, from, to }) =>
      'iana' in zone
        ? ianaVTimeZone(zone.iana, from - 1, Math.max(to, thisYear) + 1)
        : ruleVTimeZone(tzid, zone.rule),
    );
  }
}

function isUtcName(iana: string): boolean {
  return ['UTC', 'ETC/UTC', 'ETC/GMT', 'GMT', 'ETC/UNIVERSAL', 'ETC/ZULU', 'Z'].includes(iana.toUpperCase());
}

/** '+01:00' for 60 minutes east of UTC. */
function offsetText(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const absolute = Math.abs(minutes);
  return `${sign}${String(Math.floor(absolute / 60)).padStart(2, '0')}:${String(absolute % 60).padStart(2, '0')}`;
}

interface ZoneTransition {
  from: number;
  to: number;
  at: number;
  /** The wall-clock time of the change, read in the offset before it (as VTIMEZONE DTSTART is). */
  local: Temporal.PlainDateTime;
}

/** The offset changes of an IANA zone from 1 January `fromYear` to the end of `toYear`. */
function ianaTransitions(
  iana: string,
  fromYear: number,
  toYear: number,
): { initial: number; transitions: ZoneTransition[] } {
  const end = Date.UTC(toYear + 1, 0, 1);
  let zoned = Temporal.Instant.fromEpochMilliseconds(Date.UTC(fromYear, 0, 1)).toZonedDateTimeISO(iana);
  const minutes = (z: Temporal.ZonedDateTime) => Math.round(z.offsetNanoseconds / 60e9);
  const initial = minutes(zoned);
  const transitions: ZoneTransition[] = [];
  for (let from = initial; ;) {
    const next = zoned.getTimeZoneTransition('next');
    if (next === null || next.epochMilliseconds >= end) break;
    const to = minutes(next);
    const local = Temporal.Instant.fromEpochMilliseconds(next.epochMilliseconds + from * 60_000)
      .toZonedDateTimeISO('UTC')
      .toPlainDateTime();
    transitions.push({ from, to, at: next.epochMilliseconds, local });
    from = to;
    zoned = next;
  }
  return { initial, transitions };
}

/** A run of yearly changes that one STANDARD or DAYLIGHT component with an RRULE describes. */
interface OnsetRun {
  daylight: boolean;
  transitions: ZoneTransition[];
  /** The week numbers (1–5, -1 last) that fit every change of the run. */
  ordinals: number[];
}

function ordinalsOf(date: Temporal.PlainDate): number[] {
  return date.day + 7 > date.daysInMonth ? [Math.ceil(date.day / 7), -1] : [Math.ceil(date.day / 7)];
}

function sameYearlyRule(a: ZoneTransition, b: ZoneTransition): boolean {
  return (
    a.from === b.from &&
    a.to === b.to &&
    b.local.year === a.local.year + 1 &&
    a.local.month === b.local.month &&
    a.local.dayOfWeek === b.local.dayOfWeek &&
    a.local.toPlainTime().equals(b.local.toPlainTime())
  );
}

/**
 * The VTIMEZONE of an IANA zone for the years asked: its changes grouped into yearly rules, the last
 * rule of each kind left open when it still holds at the end, so readers that do not know the zone
 * by name compute the same instants as Temporal does.
 */
function ianaVTimeZone(iana: string, fromYear: number, toYear: number): JCalComponent {
  const { initial, transitions } = ianaTransitions(iana, fromYear, toYear);
  const header: JCalProperty[] = [
    ['tzid', {}, 'text', iana],
    ['x-lic-location', {}, 'unknown', iana],
  ];
  if (transitions.length === 0) {
    const offset = offsetText(initial);
    return [
      'vtimezone',
      header,
      [
        [
          'standard',
          [
            ['dtstart', {}, 'date-time', '1970-01-01T00:00:00'],
            ['tzoffsetfrom', {}, 'utc-offset', offset],
            ['tzoffsetto', {}, 'utc-offset', offset],
          ],
          [],
        ],
      ],
    ];
  }
  const runs: OnsetRun[] = [];
  const open = new Map<boolean, OnsetRun>();
  for (const transition of transitions) {
    const daylight = transition.to > transition.from;
    const run = open.get(daylight);
    const last = run?.transitions.at(-1);
    const ordinals =
      run?.ordinals.filter((n) => ordinalsOf(transition.local.toPlainDate()).includes(n)) ?? [];
    if (run !== undefined && last !== undefined && sameYearlyRule(last, transition) && ordinals.length > 0) {
      run.transitions.push(transition);
      run.ordinals = ordinals;
    } else {
      const started = {
        daylight,
        transitions: [transition],
        ordinals: ordinalsOf(transition.local.toPlainDate()),
      };
      runs.push(started);
      open.set(daylight, started);
    }
  }
  const onsets = runs.map(({ daylight, transitions: changes, ordinals }): JCalComponent => {
    const first = changes[0]!;
    const last = changes.at(-1)!;
    const properties: JCalProperty[] = [
      ['dtstart', {}, 'date-time', localText(first.local)],
      ['tzoffsetfrom', {}, 'utc-offset', offsetText(first.from)],
      ['tzoffsetto', {}, 'utc-offset', offsetText(first.to)],
    ];
    const stillHolds = last.local.year >= toYear;
    if (changes.length > 1 || stillHolds) {
      const ordinal = ordinals.includes(-1) ? -1 : ordinals[0]!;
      const rule: Record<string, unknown> = {
        freq: 'YEARLY',
        bymonth: first.local.month,
        byday: `${ordinal}${WEEKDAYS[first.local.dayOfWeek % 7]}`,
      };
      if (!stillHolds) rule.until = utcText(isoInstant(last.at));
      properties.push(['rrule', {}, 'recur', rule]);
    }
    return [daylight ? 'daylight' : 'standard', properties, []];
  });
  return ['vtimezone', header, onsets];
}

/** The VTIMEZONE of a rule zone: one STANDARD and one DAYLIGHT onset repeating every year since 1970. */
function ruleVTimeZone(tzid: string, rule: TimeZoneRule): JCalComponent {
  const standard = -(rule.bias + rule.standardBias);
  const daylight = -(rule.bias + rule.daylightBias);
  const onset = (
    kind: 'standard' | 'daylight',
    from: number,
    to: number,
    name: string,
    transition?: TransitionRule,
  ): JCalComponent => {
    const properties: JCalProperty[] = [
      ['dtstart', {}, 'date-time', localText(firstOnset(1970, transition))],
      ['tzoffsetfrom', {}, 'utc-offset', offsetText(from)],
      ['tzoffsetto', {}, 'utc-offset', offsetText(to)],
      ...text('tzname', name),
    ];
    if (transition !== undefined) {
      const week = transition.week === 5 ? -1 : transition.week;
      properties.push([
        'rrule',
        {},
        'recur',
        { freq: 'YEARLY', bymonth: transition.month, byday: `${week}${WEEKDAYS[transition.dayOfWeek]}` },
      ]);
    }
    return [kind, properties, []];
  };
  const header: JCalProperty[] = [['tzid', {}, 'text', tzid]];
  if (rule.standardStart === undefined || rule.daylightStart === undefined || standard === daylight) {
    return ['vtimezone', header, [onset('standard', standard, standard, rule.standardName)]];
  }
  return [
    'vtimezone',
    header,
    [
      onset('standard', daylight, standard, rule.standardName, rule.standardStart),
      onset('daylight', standard, daylight, rule.daylightName, rule.daylightStart),
    ],
  ];
}

/** The first time a yearly transition happens in `year` (1 January at midnight without one). */
function firstOnset(year: number, transition: TransitionRule | undefined): Temporal.PlainDateTime {
  if (transition === undefined) return Temporal.PlainDateTime.from({ year, month: 1, day: 1 });
  const first = Temporal.PlainDate.from({ year, month: transition.month, day: 1 });
  let day = 1 + ((transition.dayOfWeek - (first.dayOfWeek % 7) + 7) % 7) + 7 * (transition.week - 1);
  while (day > first.daysInMonth) day -= 7;
  // Windows writes "midnight at the end of the day" as hour 24; iCalendar has no such hour.
  const [hour, minute, second] =
    transition.hour >= 24 ? [23, 59, 59] : [transition.hour, transition.minute, 0];
  return Temporal.PlainDateTime.from({ year, month: transition.month, day, hour, minute, second });
}
