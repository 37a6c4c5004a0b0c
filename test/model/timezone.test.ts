// TIME_ZONE_INFORMATION blobs: the spec's and Horde's examples, IANA zones there and back, rules no
// IANA zone has, and wall-clock conversions across daylight-saving changes.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Temporal } from 'temporal-polyfill';
import { ItemError } from '../../src/model/codec.ts';
import {
  decodeTimeZone,
  encodeTimeZone,
  fromLocal,
  offsetMinutesAt,
  toLocal,
} from '../../src/model/timezone.ts';
import type { TimeZone, TimeZoneRule } from '../../src/model/types.ts';
import { decode } from '../../src/wbxml/index.ts';
import { FIXTURES, wrapHordeFragment } from '../wbxml/libwbxml.ts';

interface SpecBlob {
  base64_whitespace_removed: string;
  found_in: string[];
  error?: string;
  decoded?: {
    Bias: number;
    StandardName: string;
    StandardDate: { wMonth: number; wDayOfWeek: number; wDay: number; wHour: number };
    StandardBias: number;
    DaylightName: string;
    DaylightDate: { wMonth: number; wDayOfWeek: number; wDay: number; wHour: number };
    DaylightBias: number;
  };
}

const specBlobs = (
  JSON.parse(
    readFileSync(join(FIXTURES, 'ms-as-examples/ms-ascal/timezone-blobs-4.decoded.json'), 'utf8'),
  ) as {
    timezones: SpecBlob[];
  }
).timezones;

/** The blob's fields read straight from the bytes (MS-ASDTYPE TimeZone), independently of the codec. */
function blobFields(base64: string) {
  const b = Buffer.from(base64, 'base64');
  const name = (at: number) => b.toString('utf16le', at, at + 64).replace(/\0.*$/s, '');
  const date = (at: number) => ({
    year: b.readUInt16LE(at),
    month: b.readUInt16LE(at + 2),
    dayOfWeek: b.readUInt16LE(at + 4),
    week: b.readUInt16LE(at + 6),
    hour: b.readUInt16LE(at + 8),
    minute: b.readUInt16LE(at + 10),
  });
  return {
    length: b.length,
    bias: b.readInt32LE(0),
    standardName: name(4),
    standardDate: date(68),
    standardBias: b.readInt32LE(84),
    daylightName: name(88),
    daylightDate: date(152),
    daylightBias: b.readInt32LE(168),
  };
}

const at = (iso: string) => new Date(iso).toISOString();

describe('decodeTimeZone', () => {
  test('the MS-ASCAL examples: current US Pacific rules are Los Angeles, the pre-2007 rules stay a rule', () => {
    const [pacific, truncatedNames, invalid, oldRules] = specBlobs;
    assert.deepEqual(decodeTimeZone(pacific!.base64_whitespace_removed, 2026), {
      iana: 'America/Los_Angeles',
    });
    // Names cut at 32 characters, no Windows name to look up: found by its rule.
    assert.deepEqual(decodeTimeZone(truncatedNames!.base64_whitespace_removed, 2026), {
      iana: 'America/Los_Angeles',
    });
    assert.ok(invalid!.error);
    assert.throws(() => decodeTimeZone(invalid!.base64_whitespace_removed), ItemError);

    const zone = decodeTimeZone(oldRules!.base64_whitespace_removed, 2026);
    assert.ok('rule' in zone);
    const expected = oldRules!.decoded!;
    assert.deepEqual(zone.rule, {
      bias: expected.Bias,
      standardName: expected.StandardName,
      standardBias: expected.StandardBias,
      daylightName: expected.DaylightName,
      daylightBias: expected.DaylightBias,
      standardStart: { month: 10, week: 5, dayOfWeek: 0, hour: 2, minute: 0 },
      daylightStart: { month: 4, week: 1, dayOfWeek: 0, hour: 2, minute: 0 },
    });
    // 2026-03-20 is daylight time in Los Angeles but standard time under the old rule (first Sunday in April).
    assert.equal(offsetMinutesAt({ iana: 'America/Los_Angeles' }, '2026-03-20T12:00:00Z'), -420);
    assert.equal(offsetMinutesAt(zone, '2026-03-20T12:00:00Z'), -480);
    assert.equal(offsetMinutesAt(zone, '2026-04-05T09:59:00Z'), -480);
    assert.equal(offsetMinutesAt(zone, '2026-04-05T10:00:00Z'), -420);
    assert.equal(offsetMinutesAt(zone, '2026-10-25T08:59:00Z'), -420);
    assert.equal(offsetMinutesAt(zone, '2026-10-25T09:00:00Z'), -480);
  });

  test("the spec's rules decode to the fields the fixture lists", () => {
    for (const blob of specBlobs.filter((b) => b.decoded)) {
      const fields = blobFields(blob.base64_whitespace_removed);
      const expected = blob.decoded!;
      assert.equal(fields.bias, expected.Bias);
      assert.equal(fields.standardName, expected.StandardName);
      assert.equal(fields.standardDate.month, expected.StandardDate.wMonth);
      assert.equal(fields.daylightDate.week, expected.DaylightDate.wDay);
      assert.equal(fields.daylightBias, expected.DaylightBias);
    }
  });

  test("Horde's appointments: bias 300 with US rules and no names is New York; its 1970 rule stays a rule", () => {
    const zones = new Map<string, TimeZone>();
    for (const name of ['appointment', 'recurrence', 'simpleexception', 'dst', 'allday_appointment']) {
      const fragment = readFileSync(join(FIXTURES, 'horde-activesync', `${name}.wbxml`));
      const applicationData = decode(wrapHordeFragment(fragment, name === 'allday_appointment'));
      const blob = applicationData.children.find((c) => c.name === 'Timezone')!.text!;
      zones.set(name, decodeTimeZone(blob, 2026));
    }
    for (const name of ['appointment', 'recurrence', 'simpleexception', 'dst']) {
      assert.deepEqual(zones.get(name), { iana: 'America/New_York' }, name);
    }
    // Last Sunday of April to last Sunday of October: the US rule of the Uniform Time Act (1966).
    const allDay = zones.get('allday_appointment')!;
    assert.ok('rule' in allDay);
    assert.equal(offsetMinutesAt(allDay, '1970-03-20T05:00:00Z'), -300);
    assert.equal(offsetMinutesAt(allDay, '1970-04-26T06:59:00Z'), -300);
    assert.equal(offsetMinutesAt(allDay, '1970-04-26T07:00:00Z'), -240);
    assert.equal(offsetMinutesAt(allDay, '1970-07-01T00:00:00Z'), -240);
    assert.equal(toLocal('1970-03-20T05:00:00Z', allDay).toString(), '1970-03-20T00:00:00');
    // In 1970 New York had that very rule.
    assert.equal(offsetMinutesAt({ iana: 'America/New_York' }, '1970-07-01T00:00:00Z'), -240);
  });

  test('an all-zero blob is UTC; a wrong length or text that is not base64 is refused', () => {
    assert.deepEqual(decodeTimeZone(Buffer.alloc(172).toString('base64')), { iana: 'UTC' });
    assert.throws(() => decodeTimeZone(Buffer.alloc(171).toString('base64')), ItemError);
    assert.throws(() => decodeTimeZone('not base64!'), ItemError);
    assert.throws(() => decodeTimeZone(''), ItemError);
  });

  test('a transition with an impossible date is refused', () => {
    const blob = Buffer.from(encodeTimeZone({ iana: 'Europe/Berlin' }, 2026), 'base64');
    blob.writeUInt16LE(13, 152 + 2); // DaylightDate.wMonth
    assert.throws(() => decodeTimeZone(blob.toString('base64')), ItemError);
  });

  test('a transition given as an absolute date becomes the yearly rule of that date', () => {
    const blob = Buffer.from(encodeTimeZone({ iana: 'Europe/Berlin' }, 2026), 'base64');
    // 2026-03-29 (a Sunday) and 2026-10-25: the last Sundays, written with wYear.
    for (const [offset, day] of [
      [68, 25],
      [152, 29],
    ] as const) {
      blob.writeUInt16LE(2026, offset);
      blob.writeUInt16LE(day, offset + 6);
    }
    assert.deepEqual(decodeTimeZone(blob.toString('base64'), 2026), { iana: 'Europe/Berlin' });
  });
});

describe('encodeTimeZone', () => {
  test('Europe/Berlin: last Sunday of March 02:00 to last Sunday of October 03:00, Windows names', () => {
    const fields = blobFields(encodeTimeZone({ iana: 'Europe/Berlin' }, 2026));
    assert.equal(fields.length, 172);
    assert.equal(fields.bias, -60);
    assert.equal(fields.standardName, 'W. Europe Standard Time');
    assert.equal(fields.daylightName, 'W. Europe Daylight Time');
    assert.deepEqual(fields.daylightDate, { year: 0, month: 3, dayOfWeek: 0, week: 5, hour: 2, minute: 0 });
    assert.deepEqual(fields.standardDate, { year: 0, month: 10, dayOfWeek: 0, week: 5, hour: 3, minute: 0 });
    assert.equal(fields.standardBias, 0);
    assert.equal(fields.daylightBias, -60);
  });

  test('America/New_York: second Sunday of March to first Sunday of November', () => {
    const fields = blobFields(encodeTimeZone({ iana: 'America/New_York' }, 2026));
    assert.equal(fields.bias, 300);
    assert.equal(fields.standardName, 'Eastern Standard Time');
    assert.deepEqual(fields.daylightDate, { year: 0, month: 3, dayOfWeek: 0, week: 2, hour: 2, minute: 0 });
    assert.deepEqual(fields.standardDate, { year: 0, month: 11, dayOfWeek: 0, week: 1, hour: 2, minute: 0 });
  });

  test('Australia/Sydney: daylight time from October to April', () => {
    const fields = blobFields(encodeTimeZone({ iana: 'Australia/Sydney' }, 2026));
    assert.equal(fields.bias, -600);
    assert.equal(fields.standardName, 'AUS Eastern Standard Time');
    assert.deepEqual(fields.daylightDate, { year: 0, month: 10, dayOfWeek: 0, week: 1, hour: 2, minute: 0 });
    assert.deepEqual(fields.standardDate, { year: 0, month: 4, dayOfWeek: 0, week: 1, hour: 3, minute: 0 });
    assert.equal(fields.daylightBias, -60);
  });

  test('Asia/Kolkata has no daylight saving time: no transition dates', () => {
    const fields = blobFields(encodeTimeZone({ iana: 'Asia/Kolkata' }, 2026));
    assert.equal(fields.bias, -330);
    assert.equal(fields.standardName, 'India Standard Time');
    assert.equal(fields.standardDate.month, 0);
    assert.equal(fields.daylightDate.month, 0);
  });

  test('UTC is the all-zero blob', () => {
    assert.ok(Buffer.from(encodeTimeZone({ iana: 'UTC' }, 2026), 'base64').equals(Buffer.alloc(172)));
  });

  for (const iana of ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney', 'UTC']) {
    test(`${iana} comes back as itself`, () => {
      assert.deepEqual(decodeTimeZone(encodeTimeZone({ iana }, 2026), 2026), { iana });
      assert.deepEqual(decodeTimeZone(encodeTimeZone({ iana }, 2027), 2027), { iana });
    });
  }

  test('a rule zone is written back byte for byte', () => {
    const blob = specBlobs[3]!.base64_whitespace_removed;
    assert.equal(encodeTimeZone(decodeTimeZone(blob, 2026), 2026), blob);
  });
});

describe('rule zones', () => {
  // Daylight time from the first Sunday of March 01:00 to the first Sunday of November 01:00, UTC+5:45:
  // no IANA zone has it.
  const rule: TimeZoneRule = {
    bias: -345,
    standardName: 'Somewhere Standard Time',
    standardBias: 0,
    daylightName: 'Somewhere Daylight Time',
    daylightBias: -60,
    standardStart: { month: 11, week: 1, dayOfWeek: 0, hour: 1, minute: 0 },
    daylightStart: { month: 3, week: 1, dayOfWeek: 0, hour: 1, minute: 0 },
  };
  const zone: TimeZone = { rule };

  test('an unknown rule stays a rule, with its offsets', () => {
    assert.deepEqual(decodeTimeZone(encodeTimeZone(zone, 2026), 2026), zone);
    // 2026-03-01 is a Sunday: 01:00 local standard time is 19:15 UTC the day before.
    assert.equal(offsetMinutesAt(zone, '2026-02-28T19:14:00Z'), 345);
    assert.equal(offsetMinutesAt(zone, '2026-02-28T19:15:00Z'), 405);
    // 2026-11-01 01:00 local daylight time is 2026-10-31 18:15 UTC.
    assert.equal(offsetMinutesAt(zone, '2026-10-31T18:14:00Z'), 405);
    assert.equal(offsetMinutesAt(zone, '2026-10-31T18:15:00Z'), 345);
  });

  test('wall-clock time: skipped times move forward, repeated times take the first', () => {
    const local = (s: string) => Temporal.PlainDateTime.from(s);
    assert.equal(fromLocal(local('2026-07-01T09:00'), zone), at('2026-07-01T02:15:00Z'));
    assert.equal(fromLocal(local('2026-01-15T09:00'), zone), at('2026-01-15T03:15:00Z'));
    // 01:30 on 2026-03-01 does not exist (01:00 → 02:00): it is 02:30 daylight time.
    assert.equal(fromLocal(local('2026-03-01T01:30'), zone), at('2026-02-28T19:45:00Z'));
    // 00:30 on 2026-11-01 happens twice: the first is daylight time.
    assert.equal(fromLocal(local('2026-11-01T00:30'), zone), at('2026-10-31T17:45:00Z'));
    assert.equal(toLocal('2026-07-01T02:15:00Z', zone).toString(), '2026-07-01T09:00:00');
  });

  test('a rule zone converts exactly like the IANA zone with the same rule', () => {
    const berlin: TimeZone = {
      rule: {
        bias: -60,
        standardName: 'Berlin as a rule',
        standardBias: 0,
        daylightName: 'Berlin as a rule',
        daylightBias: -60,
        standardStart: { month: 10, week: 5, dayOfWeek: 0, hour: 3, minute: 0 },
        daylightStart: { month: 3, week: 5, dayOfWeek: 0, hour: 2, minute: 0 },
      },
    };
    for (const local of ['2026-03-29T02:30', '2026-10-25T02:30', '2027-03-28T02:00', '2026-12-31T23:59']) {
      const time = Temporal.PlainDateTime.from(local);
      assert.equal(fromLocal(time, berlin), fromLocal(time, { iana: 'Europe/Berlin' }), local);
    }
    for (const instant of [
      '2026-03-29T00:59:59Z',
      '2026-03-29T01:00:00Z',
      '2026-10-25T00:59:59Z',
      '2026-10-25T01:00:00Z',
    ]) {
      assert.equal(
        offsetMinutesAt(berlin, instant),
        offsetMinutesAt({ iana: 'Europe/Berlin' }, instant),
        instant,
      );
      assert.equal(
        toLocal(instant, berlin).toString(),
        toLocal(instant, { iana: 'Europe/Berlin' }).toString(),
      );
    }
  });
});

describe('IANA conversions', () => {
  test('toLocal and fromLocal agree with Temporal, gaps resolved the compatible way', () => {
    const ny: TimeZone = { iana: 'America/New_York' };
    assert.equal(offsetMinutesAt(ny, '2026-07-01T12:00:00Z'), -240);
    assert.equal(toLocal('2026-03-08T07:00:00Z', ny).toString(), '2026-03-08T03:00:00');
    assert.equal(fromLocal(Temporal.PlainDateTime.from('2026-03-08T02:30'), ny), at('2026-03-08T07:30:00Z'));
    assert.equal(fromLocal(Temporal.PlainDateTime.from('2026-11-01T01:30'), ny), at('2026-11-01T05:30:00Z'));
  });
});
