// Time zones of EAS (the TIME_ZONE_INFORMATION blob of MS-ASDTYPE 2.6.4) and the conversions between
// instants and wall-clock time that calendar and iCalendar codecs need.
//
// A phone describes a zone by its offset and one yearly daylight-saving rule, with a Windows name at
// best. We name it with an IANA zone when one has exactly these rules now (the current and the next
// year), and otherwise keep the rule itself: an unknown zone keeps its offsets rather than becoming UTC.

import { Temporal } from 'temporal-polyfill';
import { WINDOWS_TO_IANA_MAP, findIana, findWindows } from 'windows-iana';
import { ItemError } from './codec.ts';
import type { TimeZone, TimeZoneRule, TransitionRule } from './types.ts';

const BLOB_LENGTH = 172;
const NAME_CHARS = 32;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * CLDR still gives the Windows zones some IANA names that IANA has since renamed; we hand out the
 * current names (and look the old ones up when asking for a Windows name).
 */
const CURRENT_IANA_NAMES: Readonly<Record<string, string>> = {
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
  'America/Godthab': 'America/Nuuk',
  'America/Indianapolis': 'America/Indiana/Indianapolis',
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Europe/Kiev': 'Europe/Kyiv',
  'Etc/UTC': 'UTC',
};
const CLDR_IANA_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(CURRENT_IANA_NAMES).map(([cldr, current]) => [current, cldr]),
);

function currentIanaName(name: string): string {
  return CURRENT_IANA_NAMES[name] ?? name;
}

// ---------------------------------------------------------------------------------------------------
// The blob

/** The zone a TIME_ZONE_INFORMATION blob describes; `year` is when its rule must match an IANA zone's (default: now). */
export function decodeTimeZone(base64: string, year = new Date().getUTCFullYear()): TimeZone {
  const bytes = decodeBase64(base64);
  if (bytes.every((b) => b === 0)) return { iana: 'UTC' };
  const rule = parseBlob(bytes);
  const key = `${year} ${bytes.toString('base64')}`;
  let zone = decodedZones.get(key);
  if (zone === undefined) {
    zone = ianaZoneFor(rule, year) ?? { rule };
    if (decodedZones.size >= DECODED_ZONES_KEPT) decodedZones.clear();
    decodedZones.set(key, zone);
  }
  return zone;
}

/** Phones send the same few blobs with every appointment; the IANA search is done once for each. */
const decodedZones = new Map<string, TimeZone>();
const DECODED_ZONES_KEPT = 256;

/** The blob for a zone; an IANA zone is described by its daylight-saving rule of `year`. */
export function encodeTimeZone(tz: TimeZone, year: number): string {
  if ('rule' in tz) return writeBlob(tz.rule).toString('base64');
  if (isUtc(tz.iana)) return Buffer.alloc(BLOB_LENGTH).toString('base64');
  return writeBlob(ruleOfIanaZone(tz.iana, year)).toString('base64');
}

function decodeBase64(base64: string): Buffer {
  const compact = base64.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new ItemError('TimeZone is not base64');
  }
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.length !== BLOB_LENGTH) {
    throw new ItemError(`TimeZone has ${bytes.length} bytes, not ${BLOB_LENGTH}`);
  }
  return bytes;
}

function parseBlob(bytes: Buffer): TimeZoneRule {
  const bias = bytes.readInt32LE(0);
  const standardDate = readSystemTime(bytes, 68);
  const daylightDate = readSystemTime(bytes, 152);
  const rule: TimeZoneRule = {
    bias,
    standardName: readName(bytes, 4),
    standardBias: bytes.readInt32LE(84),
    daylightName: readName(bytes, 88),
    daylightBias: bytes.readInt32LE(168),
  };
  // wMonth 0 in StandardDate: the zone has no daylight saving time.
  if (standardDate.month !== 0 && daylightDate.month !== 0) {
    rule.standardStart = transitionRule(standardDate);
    rule.daylightStart = transitionRule(daylightDate);
  }
  return rule;
}

interface SystemTime {
  year: number;
  month: number;
  dayOfWeek: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

function readSystemTime(bytes: Buffer, at: number): SystemTime {
  const word = (i: number) => bytes.readUInt16LE(at + 2 * i);
  return {
    year: word(0),
    month: word(1),
    dayOfWeek: word(2),
    day: word(3),
    hour: word(4),
    minute: word(5),
    second: word(6),
    millisecond: word(7),
  };
}

function transitionRule(time: SystemTime): TransitionRule {
  if (time.month < 1 || time.month > 12 || time.hour > 23 || time.minute > 59) {
    throw new ItemError('TimeZone has an impossible transition date');
  }
  // Windows writes "midnight at the end of the day" as 23:59:59.999.
  const endOfDay = time.hour === 23 && time.minute === 59 && time.second === 59 && time.millisecond === 999;
  const [hour, minute] = endOfDay ? [24, 0] : [time.hour, time.minute];
  if (time.year === 0) {
    if (time.day < 1 || time.day > 5 || time.dayOfWeek > 6) {
      throw new ItemError('TimeZone has an impossible transition rule');
    }
    return { month: time.month, week: time.day, dayOfWeek: time.dayOfWeek, hour, minute };
  }
  // An absolute date (a rule for one year only): keep it as the rule that yields that date.
  const date = plainDate(time.year, time.month, time.day);
  return { month: time.month, ...weekOfMonth(date), hour, minute };
}

function plainDate(year: number, month: number, day: number): Temporal.PlainDate {
  try {
    return Temporal.PlainDate.from({ year, month, day }, { overflow: 'reject' });
  } catch {
    throw new ItemError('TimeZone has an impossible transition date');
  }
}

/** The "week N (5 = last) weekday" of a date; a date in the last seven days of its month is "last". */
function weekOfMonth(date: Temporal.PlainDate): { week: number; dayOfWeek: number } {
  const week = date.day + 7 > date.daysInMonth ? 5 : Math.ceil(date.day / 7);
  return { week, dayOfWeek: date.dayOfWeek % 7 };
}

function readName(bytes: Buffer, at: number): string {
  const name = bytes.toString('utf16le', at, at + 2 * NAME_CHARS);
  const end = name.indexOf('\0');
  return end === -1 ? name : name.slice(0, end);
}

function writeBlob(rule: TimeZoneRule): Buffer {
  const bytes = Buffer.alloc(BLOB_LENGTH);
  bytes.writeInt32LE(rule.bias, 0);
  writeName(bytes, 4, rule.standardName);
  bytes.writeInt32LE(rule.standardBias, 84);
  writeName(bytes, 88, rule.daylightName);
  bytes.writeInt32LE(rule.daylightBias, 168);
  if (rule.standardStart && rule.daylightStart) {
    writeTransition(bytes, 68, rule.standardStart);
    writeTransition(bytes, 152, rule.daylightStart);
  }
  return bytes;
}

function writeName(bytes: Buffer, at: number, name: string): void {
  bytes.write(name.slice(0, NAME_CHARS), at, 2 * NAME_CHARS, 'utf16le');
}

function writeTransition(bytes: Buffer, at: number, rule: TransitionRule): void {
  const endOfDay = rule.hour === 24;
  const words = [
    0,
    rule.month,
    rule.dayOfWeek,
    rule.week,
    endOfDay ? 23 : rule.hour,
    endOfDay ? 59 : rule.minute,
    endOfDay ? 59 : 0,
    endOfDay ? 999 : 0,
  ];
  words.forEach((word, i) => bytes.writeUInt16LE(word, at + 2 * i));
}

// ---------------------------------------------------------------------------------------------------
// Rules and IANA zones

/** Offset (minutes east of UTC) in force at the start of a span, and each change within it. */
interface OffsetHistory {
  initial: number;
  changes: { at: number; offset: number }[];
}

/** The IANA zone with exactly this rule in `year` and `year + 1`: the one it names, else the most used one. */
function ianaZoneFor(rule: TimeZoneRule, year: number): TimeZone | undefined {
  const expected = JSON.stringify(ruleHistory(rule, year, year + 2));
  const matches = (iana: string) => JSON.stringify(ianaHistory(iana, year, year + 2)) === expected;
  const named = findIana(rule.standardName).map(currentIanaName);
  const found = named.find(matches);
  if (found !== undefined) return { iana: found };
  if (rule.bias === 0 && rule.standardBias === 0 && !rule.daylightStart) return { iana: 'UTC' };
  const candidate = candidateZones().find(matches);
  return candidate === undefined ? undefined : { iana: candidate };
}

let candidates: string[] | undefined;

/**
 * One IANA zone per Windows zone (its main one), the zones of Windows names used in more territories
 * first: where two zones share a rule, the more widely used one names it.
 */
function candidateZones(): string[] {
  if (candidates === undefined) {
    const territories = new Map<string, number>();
    const mainZone = new Map<string, string>();
    for (const entry of WINDOWS_TO_IANA_MAP) {
      territories.set(entry.windowsName, (territories.get(entry.windowsName) ?? 0) + 1);
      const iana = entry.iana[0];
      if (entry.territory === '001' && iana !== undefined) {
        mainZone.set(entry.windowsName, currentIanaName(iana));
      }
    }
    candidates = [...mainZone.entries()]
      .sort(([a], [b]) => (territories.get(b) ?? 0) - (territories.get(a) ?? 0))
      .map(([, iana]) => iana);
  }
  return candidates;
}

function isUtc(iana: string): boolean {
  return ['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Etc/Zulu'].includes(iana);
}

/** Offset history of an IANA zone from 1 January `fromYear` to 1 January `toYear` (UTC). */
function ianaHistory(iana: string, fromYear: number, toYear: number): OffsetHistory {
  const key = `${iana} ${fromYear} ${toYear}`;
  const cached = ianaHistories.get(key);
  if (cached) return cached;
  const end = Date.UTC(toYear, 0, 1);
  let zoned = Temporal.Instant.fromEpochMilliseconds(Date.UTC(fromYear, 0, 1)).toZonedDateTimeISO(iana);
  const history: OffsetHistory = { initial: offsetOf(zoned), changes: [] };
  for (;;) {
    const next = zoned.getTimeZoneTransition('next');
    if (next === null || next.epochMilliseconds >= end) break;
    history.changes.push({ at: next.epochMilliseconds, offset: offsetOf(next) });
    zoned = next;
  }
  if (ianaHistories.size >= 1024) ianaHistories.clear();
  ianaHistories.set(key, history);
  return history;
}

const ianaHistories = new Map<string, OffsetHistory>();

function offsetOf(zoned: Temporal.ZonedDateTime): number {
  return zoned.offsetNanoseconds / 60e9;
}

/** Offset history of a rule from 1 January `fromYear` to 1 January `toYear` (UTC). */
function ruleHistory(rule: TimeZoneRule, fromYear: number, toYear: number): OffsetHistory {
  const standard = -(rule.bias + rule.standardBias);
  const daylight = -(rule.bias + rule.daylightBias);
  const { standardStart, daylightStart } = rule;
  if (!standardStart || !daylightStart || standard === daylight) return { initial: standard, changes: [] };
  const changes: { at: number; offset: number }[] = [];
  for (let year = fromYear - 1; year <= toYear; year++) {
    // Each change happens at a wall-clock time of the offset in force before it.
    changes.push({ at: transitionInstant(year, daylightStart, standard), offset: daylight });
    changes.push({ at: transitionInstant(year, standardStart, daylight), offset: standard });
  }
  changes.sort((a, b) => a.at - b.at);
  const start = Date.UTC(fromYear, 0, 1);
  const end = Date.UTC(toYear, 0, 1);
  const before = changes.filter((c) => c.at < start);
  return {
    initial: before.at(-1)?.offset ?? standard,
    changes: changes.filter((c) => c.at >= start && c.at < end),
  };
}

/** The instant a yearly rule fires in `year`, its wall-clock time read with `offset`. */
function transitionInstant(year: number, rule: TransitionRule, offset: number): number {
  const first = Temporal.PlainDate.from({ year, month: rule.month, day: 1 });
  let day = 1 + ((rule.dayOfWeek - (first.dayOfWeek % 7) + 7) % 7) + 7 * (rule.week - 1);
  while (day > first.daysInMonth) day -= 7;
  return Date.UTC(year, rule.month - 1, day) + (rule.hour * 60 + rule.minute - offset) * MINUTE_MS;
}

/** The rule an IANA zone follows in `year`, named after its Windows zone. */
function ruleOfIanaZone(iana: string, year: number): TimeZoneRule {
  const { initial, changes } = ianaHistory(iana, year, year + 1);
  const windowsName = findWindows(iana)[0] ?? findWindows(CLDR_IANA_NAMES[iana] ?? iana)[0];
  const standardName = windowsName ?? iana;
  const daylightName = windowsName?.replace('Standard', 'Daylight') ?? iana;
  const offsets = [initial, ...changes.map((c) => c.offset)];
  const standard = Math.min(...offsets);
  const daylight = Math.max(...offsets);
  const toDaylight = changes.filter((c) => c.offset === daylight);
  const toStandard = changes.filter((c) => c.offset === standard);
  const yearlyRule = changes.length === 2 && toDaylight.length === 1 && toStandard.length === 1;
  if (!yearlyRule) {
    // No daylight saving time, or changes no yearly rule describes: the offset the year ends with.
    const last = offsets.at(-1) ?? initial;
    return { bias: -last, standardName, standardBias: 0, daylightName: standardName, daylightBias: 0 };
  }
  return {
    bias: -standard,
    standardName,
    standardBias: 0,
    daylightName,
    daylightBias: standard - daylight,
    standardStart: ruleFromInstant(iana, toStandard[0]!.at, daylight),
    daylightStart: ruleFromInstant(iana, toDaylight[0]!.at, standard),
  };
}

/**
 * The yearly rule of a change at `at`, read in the wall-clock time before it. A date in the last week
 * of its month could be "week 4" or "last": the next year's change decides.
 */
function ruleFromInstant(iana: string, at: number, offsetBefore: number): TransitionRule {
  const local = new Date(at + offsetBefore * MINUTE_MS);
  const date = Temporal.PlainDate.from({
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
  });
  const time = { hour: local.getUTCHours(), minute: local.getUTCMinutes() };
  const { week, dayOfWeek } = weekOfMonth(date);
  const rule = { month: date.month, week, dayOfWeek, ...time };
  if (week !== 5) return rule;
  const nextYear = date.year + 1;
  const next = ianaHistory(iana, nextYear, nextYear + 1).changes.map((c) => c.at);
  const asLast = transitionInstant(nextYear, rule, offsetBefore);
  return next.includes(asLast) ? rule : { ...rule, week: Math.ceil(date.day / 7) };
}

// ---------------------------------------------------------------------------------------------------
// Conversions

/** Minutes east of UTC in force at `instant` (Berlin in summer: 120). */
export function offsetMinutesAt(tz: TimeZone, instant: string): number {
  const at = epochMs(instant);
  if ('iana' in tz) return offsetOf(Temporal.Instant.fromEpochMilliseconds(at).toZonedDateTimeISO(tz.iana));
  return ruleOffsetAt(tz.rule, at);
}

function ruleOffsetAt(rule: TimeZoneRule, at: number): number {
  const year = new Date(at).getUTCFullYear();
  let years = ruleYears.get(rule);
  if (!years) ruleYears.set(rule, (years = new Map()));
  let history = years.get(year);
  if (!history) years.set(year, (history = ruleHistory(rule, year, year + 1)));
  return history.changes.filter((c) => c.at <= at).at(-1)?.offset ?? history.initial;
}

/** A series in a rule zone converts many times in the same few years. */
const ruleYears = new WeakMap<TimeZoneRule, Map<number, OffsetHistory>>();

/** The wall-clock time of `instant` in `tz`. */
export function toLocal(instant: string, tz: TimeZone): Temporal.PlainDateTime {
  const at = epochMs(instant);
  if ('iana' in tz) {
    return Temporal.Instant.fromEpochMilliseconds(at).toZonedDateTimeISO(tz.iana).toPlainDateTime();
  }
  const shifted = Temporal.Instant.fromEpochMilliseconds(at + ruleOffsetAt(tz.rule, at) * MINUTE_MS);
  return shifted.toZonedDateTimeISO('UTC').toPlainDateTime();
}

/**
 * The instant of a wall-clock time in `tz`. A time skipped by a change is moved forward by the gap,
 * a time that happens twice is its first occurrence (Temporal's 'compatible').
 */
export function fromLocal(local: Temporal.PlainDateTime, tz: TimeZone): string {
  if ('iana' in tz) {
    return isoInstant(local.toZonedDateTime(tz.iana, { disambiguation: 'compatible' }).epochMilliseconds);
  }
  const wall = local.toZonedDateTime('UTC').epochMilliseconds;
  const before = ruleOffsetAt(tz.rule, wall - DAY_MS);
  const after = ruleOffsetAt(tz.rule, wall + DAY_MS);
  const valid = [wall - before * MINUTE_MS, wall - after * MINUTE_MS].filter(
    (at) => (wall - at) / MINUTE_MS === ruleOffsetAt(tz.rule, at),
  );
  return isoInstant(valid.length > 0 ? Math.min(...valid) : wall - before * MINUTE_MS);
}

/** The model's form of an instant: ISO-8601 UTC with milliseconds. */
export function isoInstant(epochMilliseconds: number): string {
  return new Date(epochMilliseconds).toISOString();
}

function epochMs(instant: string): number {
  const at = Date.parse(instant);
  if (Number.isNaN(at)) throw new RangeError(`not an instant: ${instant}`);
  return at;
}
