// Recurrence of appointments (MS-ASCAL) and tasks (MS-ASTASK): the Recurrence element both ways, the
// EAS date formats, and an expander that lists a series' occurrences.
//
// Occurrences are computed in wall-clock time of the event's zone and only then turned into instants,
// so a weekly 09:00 meeting stays at 09:00 across daylight-saving changes.

import { Temporal } from 'temporal-polyfill';
import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { el, type WbxmlElement } from '../wbxml/index.ts';
import { ItemError } from './codec.ts';
import { fromLocal, isoInstant, toLocal } from './timezone.ts';
import type { Appointment, Recurrence, RecurrenceType, TaskRecurrence, TimeZone } from './types.ts';

// ---------------------------------------------------------------------------------------------------
// Date formats (MS-ASDTYPE): Compact DateTime `20240610T070000Z` in calendar items, dateTime
// `2024-06-10T07:00:00.000Z` elsewhere.

const DATE_TIME = /^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}):?(\d{2}):?(\d{2})(?:\.\d{1,3})?Z?)?$/;

/**
 * The instant of an EAS date-time. Both EAS forms are accepted, and a date alone (16.0 all-day
 * items) as midnight UTC.
 */
export function parseEasDateTime(text: string, what: string): string {
  const match = DATE_TIME.exec(text.trim());
  if (match) {
    const [year, month, day, hour, minute, second] = match.slice(1, 7).map((p) => (p ? Number(p) : 0)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const at = Date.UTC(year, month - 1, day, hour, minute, second);
    const date = new Date(at);
    if (
      date.getUTCFullYear() === year &&
      date.getUTCMonth() === month - 1 &&
      date.getUTCDate() === day &&
      date.getUTCHours() === hour &&
      date.getUTCMinutes() === minute &&
      date.getUTCSeconds() === second
    ) {
      return isoInstant(at);
    }
  }
  throw new ItemError(`${what} is not a date: ${JSON.stringify(text.slice(0, 40))}`);
}

/** Compact DateTime, as calendar items carry it. */
export function compactDateTime(instant: string): string {
  return new Date(instant)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** dateTime with separators and milliseconds. */
export function easDateTime(instant: string): string {
  return new Date(instant).toISOString();
}

/** A local date as 16.0 writes all-day values: midnight of that date, written as UTC. */
export function compactDate(date: Temporal.PlainDate): string {
  return `${date.toString().replace(/-/g, '')}T000000Z`;
}

// ---------------------------------------------------------------------------------------------------
// The Recurrence element

const TYPE_CODES: Readonly<Record<RecurrenceType, number>> = {
  daily: 0,
  weekly: 1,
  monthly: 2,
  'monthly-nth': 3,
  yearly: 5,
  'yearly-nth': 6,
};
const TYPES = new Map(Object.entries(TYPE_CODES).map(([type, code]) => [code, type as RecurrenceType]));

/** Which of the pattern elements each type takes (MS-ASCAL 2.2.2.37.1); others are an error (3.2.5.3). */
const PATTERN: Readonly<Record<RecurrenceType, { uses: readonly string[]; needs: readonly string[] }>> = {
  daily: { uses: ['DayOfWeek'], needs: [] },
  weekly: { uses: ['DayOfWeek'], needs: ['DayOfWeek'] },
  monthly: { uses: ['DayOfMonth'], needs: ['DayOfMonth'] },
  'monthly-nth': { uses: ['WeekOfMonth', 'DayOfWeek'], needs: ['WeekOfMonth', 'DayOfWeek'] },
  yearly: { uses: ['DayOfMonth', 'MonthOfYear'], needs: ['DayOfMonth', 'MonthOfYear'] },
  'yearly-nth': { uses: ['WeekOfMonth', 'DayOfWeek', 'MonthOfYear'], needs: ['WeekOfMonth', 'MonthOfYear'] },
};

/** CalendarType values MS-ASCAL reserves ("MUST NOT be used"). */
const RESERVED_CALENDAR_TYPES = new Set([13, 16, 17, 18, 19, 21, 22, 23]);
const MAX_INTERVAL = 999;
const MAX_OCCURRENCES = 999;

interface RecurrenceContext {
  /** The series is an all-day one: in 16.0 its Until is a local date. */
  allDay?: boolean;
}

/**
 * The Recurrence element of an appointment ('Calendar') or a task ('Tasks'). `tz` is the item's zone,
 * in which a 16.0 all-day Until is a date.
 */
export function encodeRecurrence(
  ns: 'Calendar' | 'Tasks',
  r: Recurrence | TaskRecurrence,
  version: ProtocolVersion,
  tz: TimeZone,
  context: RecurrenceContext = {},
): WbxmlElement {
  const item = (name: string, value: number | string | undefined) =>
    value === undefined ? [] : [el(ns, name, String(value))];
  const type = TYPE_CODES[r.type];
  const until =
    r.until === undefined || r.occurrences !== undefined
      ? undefined
      : ns === 'Tasks'
        ? easDateTime(r.until)
        : context.allDay && isVersionAtLeast(version, '16.0')
          ? compactDate(toLocal(r.until, tz).toPlainDate())
          : compactDateTime(r.until);
  const pattern = PATTERN[r.type].uses;
  const patternItem = (name: string, value: number | undefined) =>
    pattern.includes(name) ? item(name, value) : [];
  const calendarType =
    isVersionAtLeast(version, '14.0') && [2, 3, 5, 6].includes(type) ? (r.calendarType ?? 0) : undefined;
  const leapMonth =
    isVersionAtLeast(version, '14.0') && r.isLeapMonth !== undefined ? Number(r.isLeapMonth) : undefined;
  // The server MUST send FirstDayOfWeek for weekly series (MS-ASCAL 3.2.5); Sunday unless known.
  const firstDayOfWeek = isVersionAtLeast(version, '14.1')
    ? (r.firstDayOfWeek ?? (r.type === 'weekly' ? 0 : undefined))
    : undefined;
  if (ns === 'Tasks') {
    const task = r as TaskRecurrence;
    return el(ns, 'Recurrence', [
      ...item('Type', type),
      ...item('Start', task.start === undefined ? undefined : easDateTime(task.start)),
      ...item('Until', until),
      ...item('Occurrences', r.occurrences),
      ...item('Interval', r.interval),
      ...patternItem('DayOfWeek', r.dayOfWeek),
      ...patternItem('DayOfMonth', r.dayOfMonth),
      ...patternItem('WeekOfMonth', r.weekOfMonth),
      ...patternItem('MonthOfYear', r.monthOfYear),
      ...item('Regenerate', task.regenerate === undefined ? undefined : Number(task.regenerate)),
      ...item('DeadOccur', task.deadOccur === undefined ? undefined : Number(task.deadOccur)),
      ...item('CalendarType', calendarType),
      ...item('IsLeapMonth', leapMonth),
      ...item('FirstDayOfWeek', firstDayOfWeek),
    ]);
  }
  return el(ns, 'Recurrence', [
    ...item('Type', type),
    ...item('Interval', r.interval),
    ...item('Occurrences', r.occurrences),
    ...item('Until', until),
    ...patternItem('WeekOfMonth', r.weekOfMonth),
    ...patternItem('DayOfWeek', r.dayOfWeek),
    ...patternItem('DayOfMonth', r.dayOfMonth),
    ...patternItem('MonthOfYear', r.monthOfYear),
    ...item('CalendarType', calendarType),
    ...item('IsLeapMonth', leapMonth),
    ...item('FirstDayOfWeek', firstDayOfWeek),
  ]);
}

/** The model of a Recurrence element a phone sent; throws ItemError for what MS-ASCAL calls Status 6. */
export function decodeRecurrence(
  ns: 'Calendar',
  element: WbxmlElement,
  version: ProtocolVersion,
  tz: TimeZone,
  context?: RecurrenceContext,
): Recurrence;
export function decodeRecurrence(
  ns: 'Tasks',
  element: WbxmlElement,
  version: ProtocolVersion,
  tz: TimeZone,
  context?: RecurrenceContext,
): TaskRecurrence;
export function decodeRecurrence(
  ns: 'Calendar' | 'Tasks',
  element: WbxmlElement,
  version: ProtocolVersion,
  tz: TimeZone,
  context: RecurrenceContext = {},
): Recurrence | TaskRecurrence {
  const text = (name: string) => {
    const found = element.children.filter((c) => c.name === name);
    if (found.length > 1) throw new ItemError(`Recurrence has more than one ${name}`);
    return found[0]?.text?.trim();
  };
  const number = (name: string, min: number, max: number): number | undefined => {
    const value = text(name);
    if (value === undefined || value === '') return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new ItemError(`Recurrence ${name} is out of range: ${value}`);
    }
    return n;
  };
  const typeCode = number('Type', 0, 6);
  const type = typeCode === undefined ? undefined : TYPES.get(typeCode);
  if (type === undefined) {
    throw new ItemError(`Recurrence has ${typeCode === undefined ? 'no' : 'an unknown'} Type`);
  }
  const { uses, needs } = PATTERN[type];
  for (const name of ['DayOfWeek', 'DayOfMonth', 'WeekOfMonth', 'MonthOfYear']) {
    const given = text(name) !== undefined;
    if (given && !uses.includes(name)) {
      throw new ItemError(`Recurrence Type ${typeCode} does not take ${name}`);
    }
    if (!given && needs.includes(name)) throw new ItemError(`Recurrence Type ${typeCode} needs ${name}`);
  }
  const calendarType = number('CalendarType', 0, 23);
  if (calendarType !== undefined && RESERVED_CALENDAR_TYPES.has(calendarType)) {
    throw new ItemError(`Recurrence CalendarType ${calendarType} is reserved`);
  }
  const occurrences = number('Occurrences', 0, MAX_OCCURRENCES);
  const untilText = text('Until');
  const r: TaskRecurrence = {
    type,
    // Interval 0 means 1, as Exchange answers it.
    interval: number('Interval', 0, MAX_INTERVAL) || 1,
  };
  // Occurrences wins over Until when a phone sends both (MS-ASCAL 3.2.5.3).
  if (occurrences) r.occurrences = occurrences;
  else if (untilText) r.until = decodeUntil(untilText, version, tz, context);
  const dayOfWeek = number('DayOfWeek', 1, 127);
  const dayOfMonth = number('DayOfMonth', 1, 31);
  const weekOfMonth = number('WeekOfMonth', 1, 5);
  const monthOfYear = number('MonthOfYear', 1, 12);
  const firstDayOfWeek = number('FirstDayOfWeek', 0, 6);
  const isLeapMonth = number('IsLeapMonth', 0, 1);
  if (dayOfWeek !== undefined) r.dayOfWeek = dayOfWeek;
  if (dayOfMonth !== undefined) r.dayOfMonth = dayOfMonth;
  if (weekOfMonth !== undefined) r.weekOfMonth = weekOfMonth;
  if (monthOfYear !== undefined) r.monthOfYear = monthOfYear;
  if (firstDayOfWeek !== undefined) r.firstDayOfWeek = firstDayOfWeek;
  // 0 is "Default": no calendar system named.
  if (calendarType) r.calendarType = calendarType;
  if (isLeapMonth !== undefined) r.isLeapMonth = isLeapMonth === 1;
  if (ns === 'Tasks') {
    const start = text('Start');
    if (start) r.start = parseEasDateTime(start, 'Recurrence Start');
    const regenerate = number('Regenerate', 0, 1);
    const deadOccur = number('DeadOccur', 0, 255);
    if (regenerate !== undefined) r.regenerate = regenerate === 1;
    // Any non-zero value marks the series as over (MS-ASTASK 2.2.2.11).
    if (deadOccur !== undefined) r.deadOccur = deadOccur !== 0;
  }
  return r;
}

function decodeUntil(
  text: string,
  version: ProtocolVersion,
  tz: TimeZone,
  context: RecurrenceContext,
): string {
  const until = parseEasDateTime(text, 'Recurrence Until');
  if (!context.allDay || !isVersionAtLeast(version, '16.0')) return until;
  // A 16.0 all-day series ends on a date of its own zone.
  return fromLocal(Temporal.PlainDate.from(until.slice(0, 10)).toPlainDateTime(), tz);
}

// ---------------------------------------------------------------------------------------------------
// Expansion

export interface Occurrence {
  /** The start the pattern gives this occurrence (an exception's originalStart). */
  originalStart: string;
  start: string;
  end: string;
}

/** Periods (days, weeks, months, years) an endless series is followed through before the expander gives up. */
const MAX_PERIODS = 20_000;
/** Occurrences a bounded series is followed through; beyond, its Until bounds it well enough. */
const MAX_FOLLOWED = 20_000;
/** EAS writes four-digit years: no occurrence after 9999 can be told to a phone. */
const LAST_YEAR = 9999;
const END_OF_TIME = Date.UTC(LAST_YEAR, 11, 31, 23, 59, 59, 999);

/**
 * The occurrences of an appointment that overlap [fromInstant, toInstant), exceptions applied
 * (deleted ones left out, moved ones at their new time). A single appointment is its only occurrence.
 */
export function occurrences(appointment: Appointment, fromInstant: string, toInstant: string): Occurrence[] {
  const from = Date.parse(fromInstant);
  const to = Date.parse(toInstant);
  const overlaps = (o: Occurrence) => Date.parse(o.start) < to && Date.parse(o.end) > from;
  if (!appointment.recurrence) {
    const single = { originalStart: appointment.start, start: appointment.start, end: appointment.end };
    return overlaps(single) ? [single] : [];
  }
  // A moved occurrence may now fall inside the range while its original start lies outside: look a
  // little further than the range on both sides.
  const spread = maxExceptionShift(appointment);
  const found: Occurrence[] = [];
  for (const o of expand(appointment, isoInstant(to + spread))) {
    if (Date.parse(o.originalStart) < from - spread) continue;
    const applied = applyException(appointment, o);
    if (applied && overlaps(applied)) found.push(applied);
  }
  return found;
}

/** The starts of the occurrences in [fromInstant, toInstant), exceptions applied. */
export function occurrenceStarts(appointment: Appointment, fromInstant: string, toInstant: string): string[] {
  const from = Date.parse(fromInstant);
  return occurrences(appointment, fromInstant, toInstant)
    .map((o) => o.start)
    .filter((start) => Date.parse(start) >= from);
}

/** The end of a series' last occurrence; null when the series never ends. */
export function lastOccurrenceEnd(appointment: Appointment): string | null {
  const r = appointment.recurrence;
  if (!r) return appointment.end;
  if (r.occurrences === undefined && r.until === undefined) return null;
  let last: Occurrence | undefined;
  let followed = 0;
  for (const o of expand(appointment)) {
    last = o;
    if (++followed > MAX_FOLLOWED) {
      // Too long to follow: the Until bound (plus the longest occurrence) is a safe upper limit.
      if (r.until === undefined) return null;
      return endOrNever(Date.parse(r.until) + durationMs(appointment) + maxExceptionShift(appointment));
    }
  }
  const ends = (appointment.exceptions ?? [])
    .filter((e) => !e.deleted && e.end)
    .map((e) => Date.parse(e.end!));
  const patternEnd = last ? Date.parse(last.end) : Date.parse(appointment.end);
  return endOrNever(Math.max(patternEnd, ...ends));
}

/**
 * An end after 9999 is no end: the series outlasts every window. (As text it would be '+010000-…',
 * which sorts before every other instant and would put the series outside every window.)
 */
function endOrNever(end: number): string | null {
  return end > END_OF_TIME ? null : isoInstant(end);
}

/** Whether `instant` is the start of an occurrence of the series' pattern (deleted or not). */
export function isOccurrenceStart(appointment: Appointment, instant: string): boolean {
  if (!appointment.recurrence) return false;
  const at = Date.parse(instant);
  for (const o of expand(appointment, isoInstant(at + 1))) {
    if (Date.parse(o.originalStart) === at) return true;
  }
  return false;
}

function durationMs(appointment: Appointment): number {
  return Math.max(0, Date.parse(appointment.end) - Date.parse(appointment.start));
}

/** How far an exception moved an occurrence, at most; bounds the look-around of a range query. */
function maxExceptionShift(appointment: Appointment): number {
  let shift = durationMs(appointment);
  for (const e of appointment.exceptions ?? []) {
    const original = Date.parse(e.originalStart);
    for (const moved of [e.start, e.end]) {
      if (moved !== undefined) shift = Math.max(shift, Math.abs(Date.parse(moved) - original));
    }
  }
  return shift;
}

function applyException(appointment: Appointment, o: Occurrence): Occurrence | undefined {
  const at = Date.parse(o.originalStart);
  const exception = appointment.exceptions?.find((e) => Date.parse(e.originalStart) === at);
  if (!exception) return o;
  if (exception.deleted) return undefined;
  const start = exception.start ?? o.start;
  const end = exception.end ?? isoInstant(Date.parse(start) + (Date.parse(o.end) - Date.parse(o.start)));
  return { originalStart: o.originalStart, start, end };
}

/**
 * The pattern's occurrences in order, up to `until` (an instant) when given, else to the series' end.
 * An endless series is given up after MAX_PERIODS periods.
 */
function* expand(appointment: Appointment, until?: string): Generator<Occurrence> {
  const r = appointment.recurrence!;
  const tz = appointment.timeZone;
  const localStart = toLocal(appointment.start, tz);
  const length = localStart.until(toLocal(appointment.end, tz), { largestUnit: 'days' });
  const time = localStart.toPlainTime();
  const firstDate = localStart.toPlainDate();
  // A phone's Until is the last occurrence's start or a point on its day: compare by local date.
  const lastDate = r.until === undefined ? undefined : toLocal(r.until, tz).toPlainDate();
  const stop = until === undefined ? undefined : Date.parse(until);
  let count = 0;
  let periods = 0;
  const endless = r.occurrences === undefined && lastDate === undefined;
  for (const dates of periodDates(r, firstDate)) {
    if (endless && ++periods > MAX_PERIODS) return;
    for (const date of dates) {
      // Beyond, the dates would soon leave the range Temporal can compute.
      if (date.year > LAST_YEAR) return;
      if (Temporal.PlainDate.compare(date, firstDate) < 0) continue;
      if (lastDate && Temporal.PlainDate.compare(date, lastDate) > 0) return;
      const local = date.toPlainDateTime(time);
      const start = fromLocal(local, tz);
      if (stop !== undefined && Date.parse(start) >= stop) return;
      yield { originalStart: start, start, end: fromLocal(local.add(length), tz) };
      if (r.occurrences !== undefined && ++count >= r.occurrences) return;
    }
  }
}

/**
 * The dates of each period of the pattern (a day, week, month or year, every `interval`), in order;
 * nothing at all for a pattern no day can match.
 */
function* periodDates(r: Recurrence, first: Temporal.PlainDate): Generator<Temporal.PlainDate[]> {
  const interval = Math.max(1, r.interval);
  const weekly = r.type === 'weekly' || (r.type === 'daily' && r.dayOfWeek !== undefined);
  if (r.dayOfWeek !== undefined && (r.dayOfWeek & 127) === 0) return;
  if (r.type === 'daily' && !weekly) {
    for (let k = 0; ; k++) yield [first.add({ days: k * interval })];
  }
  if (weekly) {
    const firstDay = r.firstDayOfWeek ?? 0;
    const weekStart = first.subtract({ days: (weekday(first) - firstDay + 7) % 7 });
    const offsets = [0, 1, 2, 3, 4, 5, 6].filter((i) => (r.dayOfWeek! & (1 << ((firstDay + i) % 7))) !== 0);
    for (let k = 0; ; k++) {
      const start = weekStart.add({ weeks: k * interval });
      yield offsets.map((i) => start.add({ days: i }));
    }
  }
  const yearly = r.type === 'yearly' || r.type === 'yearly-nth';
  const monthsPerPeriod = yearly ? 12 * interval : interval;
  const origin = yearly
    ? Temporal.PlainYearMonth.from({ year: first.year, month: r.monthOfYear ?? first.month })
    : first.toPlainYearMonth();
  for (let k = 0; ; k++) {
    const month = origin.add({ months: monthsPerPeriod * k });
    // A day the month does not have is its last day (the 31st in April is the 30th), as Exchange
    // reads it; iCalendar's BYMONTHDAY skips such months instead.
    const date =
      r.type === 'monthly' || r.type === 'yearly'
        ? month.toPlainDate({ day: Math.min(r.dayOfMonth ?? first.day, month.daysInMonth) })
        : nthDay(month, r.weekOfMonth ?? 1, r.dayOfWeek ?? 127);
    yield date ? [date] : [];
  }
}

/** The `week`-th (5 = last) day of `month` whose weekday is in the `dayOfWeek` mask. */
function nthDay(
  month: Temporal.PlainYearMonth,
  week: number,
  dayOfWeek: number,
): Temporal.PlainDate | undefined {
  const days: Temporal.PlainDate[] = [];
  for (let day = 1; day <= month.daysInMonth; day++) {
    const date = month.toPlainDate({ day });
    if ((dayOfWeek & (1 << weekday(date))) !== 0) days.push(date);
  }
  return week === 5 ? days.at(-1) : days[week - 1];
}

/** 0 = Sunday … 6 = Saturday, as EAS counts. */
function weekday(date: Temporal.PlainDate): number {
  return date.dayOfWeek % 7;
}
