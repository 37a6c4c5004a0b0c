// iCalendar ⇄ model: events with zones, recurrence, exceptions and attendees; tasks and notes; what
// cannot be expressed; and the files written back, read by ical.js as another program would.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ICAL from 'ical.js';
import { Temporal } from 'temporal-polyfill';
import {
  htmlToText,
  NotICalendarError,
  parseICalendar,
  toICalendar,
  type ExportItem,
  type ICalendarParseOptions,
  type ImportEntry,
  type ImportedItem,
} from '../../src/model/ical.ts';
import { occurrenceStarts } from '../../src/model/recurrence.ts';
import { toLocal } from '../../src/model/timezone.ts';
import type { Appointment, Note, Recurrence, Task, TimeZone } from '../../src/model/types.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'ical');
const NOW = '2026-06-01T00:00:00.000Z';

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

function imported(entries: ImportEntry[]): ImportedItem[] {
  return entries.filter((entry): entry is ImportedItem => 'item' in entry);
}

function appointments(text: string, options?: ICalendarParseOptions): Appointment[] {
  return imported(parseICalendar(text, options).items).map(({ item }) => {
    assert.equal(item.class, 'Calendar');
    return item.data as Appointment;
  });
}

function only<T>(values: T[]): T {
  assert.equal(values.length, 1);
  return values[0]!;
}

/** Parse, write, parse again: the model must come back unchanged. */
function roundTrip(text: string): { first: ImportEntry[]; written: string; second: ImportEntry[] } {
  const first = parseICalendar(text).items;
  const written = toICalendar(
    imported(first).map(({ uid, item }): ExportItem => ({ ...item, uid })),
    { now: NOW },
  );
  return { first, written, second: parseICalendar(written).items };
}

/**
 * The occurrence starts ical.js computes for the event `uid` of a calendar, with the file's own
 * VTIMEZONEs and its changed occurrences: what another program reads from the file.
 */
function icalJsStarts(text: string, uid: string, limit = 60): string[] {
  ICAL.TimezoneService.reset();
  const calendar = new ICAL.Component(ICAL.parse(text) as unknown[]);
  for (const zone of calendar.getAllSubcomponents('vtimezone')) ICAL.TimezoneService.register(zone);
  const events = calendar.getAllSubcomponents('vevent').filter((e) => e.getFirstPropertyValue('uid') === uid);
  const master = events.find((e) => !e.hasProperty('recurrence-id'))!;
  const event = new ICAL.Event(master, { exceptions: events.filter((e) => e.hasProperty('recurrence-id')) });
  const starts: string[] = [];
  const iterator = event.iterator();
  for (let next = iterator.next(); next && starts.length < limit; next = iterator.next()) {
    const { startDate } = event.getOccurrenceDetails(next);
    starts.push(new Date(startDate.toUnixTime() * 1000).toISOString());
  }
  ICAL.TimezoneService.reset();
  return starts.sort();
}

/** The Berlin VTIMEZONE of berlin-weekly.ics, so that ical.js can read test calendars with TZID=Europe/Berlin. */
const BERLIN_VTIMEZONE = /BEGIN:VTIMEZONE[^]*?END:VTIMEZONE/
  .exec(fixture('berlin-weekly.ics'))![0]
  .replace(/\r?\n/g, '\r\n');

/** Whether ical.js can place the event's start: in UTC, floating, or in a zone the file describes. */
function readableByIcalJs(text: string, uid: string): boolean {
  const calendar = new ICAL.Component(ICAL.parse(text) as unknown[]);
  const event = calendar.getAllSubcomponents('vevent').find((e) => e.getFirstPropertyValue('uid') === uid)!;
  const tzid = event.getFirstProperty('dtstart')!.getParameter('tzid');
  return (
    tzid === undefined ||
    calendar.getAllSubcomponents('vtimezone').some((zone) => zone.getFirstPropertyValue('tzid') === tzid)
  );
}

const wallClock = (instant: string, zone: TimeZone) => toLocal(instant, zone).toPlainTime().toString();

describe('VEVENT → Appointment', () => {
  test('a Berlin weekly series across the March change, with EXDATEs, a moved occurrence and attendees', () => {
    const appointment = only(appointments(fixture('berlin-weekly.ics')));
    assert.deepEqual(appointment, {
      uid: 'berlin-weekly-standup@example.org',
      dtStamp: '2026-03-01T12:00:00.000Z',
      subject: 'Stand-up',
      location: 'Room 4, second floor',
      body: { format: 'text', data: 'Daily news\nand blockers' },
      categories: ['Work', 'Team'],
      sensitivity: 'normal',
      busyStatus: 'busy',
      reminder: 10,
      start: '2026-03-09T08:30:00.000Z',
      end: '2026-03-09T09:00:00.000Z',
      timeZone: { iana: 'Europe/Berlin' },
      organizer: { email: 'anna@example.org', name: 'Anna Schmidt' },
      attendees: [
        { email: 'jonas@example.org', name: 'Müller, Jonas', status: 'accepted', type: 'required' },
        { email: 'lea@example.org', name: 'Lea', status: 'tentative', type: 'optional' },
        { email: 'room4@example.org', name: 'Beamer Room 4', status: 'not-responded', type: 'resource' },
      ],
      // MO and WE; UNTIL is the start of the last occurrence.
      recurrence: { type: 'weekly', interval: 1, dayOfWeek: 2 | 8, until: '2026-04-15T07:30:00.000Z' },
      exceptions: [
        { originalStart: '2026-03-18T08:30:00.000Z', deleted: true },
        {
          originalStart: '2026-03-30T07:30:00.000Z',
          start: '2026-03-30T09:00:00.000Z',
          end: '2026-03-30T09:30:00.000Z',
          subject: 'Stand-up (moved after the clock change)',
        },
        { originalStart: '2026-04-01T07:30:00.000Z', deleted: true },
      ],
    });
  });

  test('every occurrence of the Berlin series is at 09:30 Berlin time, the instants moving an hour in March', () => {
    const appointment = only(appointments(fixture('berlin-weekly.ics')));
    const expected = [
      '2026-03-09T08:30:00.000Z',
      '2026-03-11T08:30:00.000Z',
      '2026-03-16T08:30:00.000Z',
      '2026-03-23T08:30:00.000Z',
      '2026-03-25T08:30:00.000Z',
      '2026-03-30T09:00:00.000Z', // moved to 11:00
      '2026-04-06T07:30:00.000Z',
      '2026-04-08T07:30:00.000Z',
      '2026-04-13T07:30:00.000Z',
      '2026-04-15T07:30:00.000Z',
    ];
    assert.deepEqual(occurrenceStarts(appointment, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'), expected);
    assert.deepEqual(icalJsStarts(fixture('berlin-weekly.ics'), appointment.uid!), expected);
    const unmoved = expected.filter((start) => start !== '2026-03-30T09:00:00.000Z');
    assert.deepEqual(
      new Set(unmoved.map((start) => wallClock(start, appointment.timeZone))),
      new Set(['09:30:00']),
    );
  });

  test('a New York weekly series with COUNT across the November change', () => {
    const appointment = only(appointments(fixture('new-york-weekly.ics')));
    assert.equal(appointment.end, '2026-10-13T21:30:00.000Z', 'DURATION PT1H30M');
    assert.deepEqual(appointment.recurrence, {
      type: 'weekly',
      interval: 1,
      dayOfWeek: 4,
      occurrences: 6,
      firstDayOfWeek: 0,
    });
    assert.deepEqual(appointment.organizer, { email: 'pat@example.com' });
    assert.deepEqual(appointment.exceptions, [
      { originalStart: '2026-10-27T20:00:00.000Z', deleted: true },
      {
        originalStart: '2026-11-10T21:00:00.000Z',
        start: '2026-11-10T22:00:00.000Z',
        end: '2026-11-10T23:30:00.000Z',
        location: 'Lab',
        attendees: [{ email: 'sam@example.com', name: 'Sam Lee', status: 'accepted' }],
      },
    ]);
    const expected = [
      '2026-10-13T20:00:00.000Z', // 16:00 EDT
      '2026-10-20T20:00:00.000Z',
      '2026-11-03T21:00:00.000Z', // 16:00 EST
      '2026-11-10T22:00:00.000Z', // moved to 17:00
      '2026-11-17T21:00:00.000Z',
    ];
    assert.deepEqual(occurrenceStarts(appointment, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'), expected);
    assert.deepEqual(icalJsStarts(fixture('new-york-weekly.ics'), appointment.uid!), expected);
  });

  test('floating times are read in the zone asked for, else X-WR-TIMEZONE, else UTC, with a note', () => {
    const event = (calendarLines: string) =>
      [
        'BEGIN:VCALENDAR',
        ...calendarLines.split('\n').filter(Boolean),
        'BEGIN:VEVENT',
        'UID:floating@example.org',
        'DTSTART:20260701T090000',
        'DTEND:20260701T100000',
        'END:VEVENT',
        'END:VCALENDAR',
      ].join('\r\n');
    const [utc] = imported(parseICalendar(event('VERSION:2.0')).items);
    assert.equal((utc!.item.data as Appointment).start, '2026-07-01T09:00:00.000Z');
    assert.deepEqual((utc!.item.data as Appointment).timeZone, { iana: 'UTC' });
    assert.deepEqual(utc!.notes, ['floating time read in UTC']);

    const [wr] = imported(parseICalendar(event('X-WR-TIMEZONE:Europe/Berlin')).items);
    assert.equal((wr!.item.data as Appointment).start, '2026-07-01T07:00:00.000Z');
    assert.deepEqual(wr!.notes, ["floating time read in Europe/Berlin, the calendar's X-WR-TIMEZONE"]);

    const asked = only(
      appointments(event('X-WR-TIMEZONE:Europe/Berlin'), { floatingTimeZone: { iana: 'Asia/Tokyo' } }),
    );
    assert.equal(asked.start, '2026-07-01T00:00:00.000Z');
    assert.deepEqual(asked.timeZone, { iana: 'Asia/Tokyo' });
  });

  test('VALUE=DATE is an all-day event from midnight to midnight of the floating zone', () => {
    const holiday = appointments(fixture('outlook.ics')).find(
      (a) => a.uid === 'outlook-holiday@example.com',
    )!;
    assert.equal(holiday.allDay, true);
    assert.equal(holiday.start, '2026-07-04T00:00:00.000Z');
    assert.equal(holiday.end, '2026-07-05T00:00:00.000Z');
    assert.equal(holiday.busyStatus, 'free');
    assert.deepEqual(holiday.recurrence, { type: 'yearly', interval: 1, dayOfMonth: 4, monthOfYear: 7 });

    const berlin = appointments(fixture('outlook.ics'), { floatingTimeZone: { iana: 'Europe/Berlin' } }).find(
      (a) => a.uid === 'outlook-holiday@example.com',
    )!;
    assert.equal(berlin.start, '2026-07-03T22:00:00.000Z');
    assert.deepEqual(berlin.timeZone, { iana: 'Europe/Berlin' });
  });

  test('Outlook: HTML body, out-of-office, private, a reminder, and Windows zone names', () => {
    const [closing, call, , planning] = appointments(fixture('outlook.ics'));
    assert.deepEqual(closing!.timeZone, { iana: 'Europe/Berlin' });
    assert.equal(closing!.start, '2026-01-30T13:00:00.000Z');
    assert.deepEqual(closing!.body, {
      format: 'html',
      data: '<html><body><p>Quarterly numbers, <b>as discussed</b>.</p></body></html>',
    });
    assert.equal(closing!.busyStatus, 'out-of-office');
    assert.equal(closing!.sensitivity, 'private');
    assert.equal(closing!.reminder, 60);
    assert.deepEqual(closing!.recurrence, {
      type: 'monthly-nth',
      interval: 1,
      weekOfMonth: 5,
      dayOfWeek: 32,
    });
    // A display name as TZID: its VTIMEZONE's rule is New York's.
    assert.deepEqual(call!.timeZone, { iana: 'America/New_York' });
    assert.equal(call!.busyStatus, 'tentative');
    assert.deepEqual(planning!.timeZone, { iana: 'America/Los_Angeles' });
    assert.deepEqual(planning!.recurrence, {
      type: 'yearly-nth',
      interval: 1,
      weekOfMonth: 1,
      dayOfWeek: 2,
      monthOfYear: 11,
    });
    assert.deepEqual(occurrenceStarts(planning!, '2026-01-01T00:00:00Z', '2028-01-01T00:00:00Z'), [
      '2026-11-02T18:00:00.000Z', // 10:00 PST
      '2027-11-01T17:00:00.000Z', // 10:00 PDT: the first Monday comes before the change
    ]);
    for (const appointment of [closing!, call!]) {
      assert.deepEqual(
        occurrenceStarts(appointment, '2026-01-01T00:00:00Z', '2028-01-01T00:00:00Z').slice(0, 20),
        icalJsStarts(fixture('outlook.ics'), appointment.uid!, 20),
        appointment.subject,
      );
    }
  });

  test('a VTIMEZONE no IANA zone follows is kept as its rule', () => {
    const ferry = only(appointments(fixture('custom-zone.ics')));
    assert.deepEqual(ferry.timeZone, {
      rule: {
        bias: -345,
        standardName: 'Harbour Island Time',
        standardBias: 0,
        daylightName: 'HIDT',
        daylightBias: -60,
        standardStart: { month: 9, week: 3, dayOfWeek: 0, hour: 3, minute: 0 },
        daylightStart: { month: 4, week: 1, dayOfWeek: 0, hour: 2, minute: 0 },
      },
    });
    const expected = [
      '2026-03-25T01:45:00.000Z', // 07:30 at +05:45
      '2026-04-01T01:45:00.000Z',
      '2026-04-08T00:45:00.000Z', // 07:30 at +06:45 from the first Sunday of April
      '2026-04-15T00:45:00.000Z',
    ];
    assert.deepEqual(occurrenceStarts(ferry, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'), expected);
    assert.deepEqual(icalJsStarts(fixture('custom-zone.ics'), 'harbour-ferry@example.net'), expected);
  });

  test('TZIDs: IANA names, prefixed IANA names, Windows names and X-LIC-LOCATION', () => {
    const zoneOf = (tzid: string, vtimezone = '') =>
      only(
        appointments(
          [
            'BEGIN:VCALENDAR',
            vtimezone,
            'BEGIN:VEVENT',
            'UID:z@example.org',
            `DTSTART;TZID="${tzid}":20260115T120000`,
            'END:VEVENT',
            'END:VCALENDAR',
          ]
            .filter(Boolean)
            .join('\r\n'),
        ),
      ).timeZone;
    assert.deepEqual(zoneOf('Asia/Kolkata'), { iana: 'Asia/Kolkata' });
    assert.deepEqual(zoneOf('/mozilla.org/20070129_1/Europe/Paris'), { iana: 'Europe/Paris' });
    assert.deepEqual(zoneOf('Tokyo Standard Time'), { iana: 'Asia/Tokyo' });
    const located = [
      'BEGIN:VTIMEZONE',
      'TZID:Local time',
      'X-LIC-LOCATION:Africa/Nairobi',
      'BEGIN:STANDARD',
      'DTSTART:19700101T000000',
      'TZOFFSETFROM:+0300',
      'TZOFFSETTO:+0300',
      'END:STANDARD',
      'END:VTIMEZONE',
    ].join('\r\n');
    assert.deepEqual(zoneOf('Local time', located), { iana: 'Africa/Nairobi' });
  });
});

describe('RRULE ⇄ Recurrence', () => {
  // DTSTART is Thursday 15 January 2026, 10:00 Berlin time.
  const calendar = (rule: string) =>
    [
      'BEGIN:VCALENDAR',
      BERLIN_VTIMEZONE,
      'BEGIN:VEVENT',
      'UID:rule@example.org',
      'DTSTART;TZID=Europe/Berlin:20260115T100000',
      'DTEND;TZID=Europe/Berlin:20260115T110000',
      `RRULE:${rule}`,
      'END:VEVENT',
      'END:VCALENDAR',
    ].join('\r\n');

  const expressible: [string, Recurrence][] = [
    ['FREQ=DAILY;INTERVAL=2;COUNT=10', { type: 'daily', interval: 2, occurrences: 10 }],
    [
      'FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=20',
      { type: 'weekly', interval: 1, dayOfWeek: 62, occurrences: 20 },
    ],
    ['FREQ=WEEKLY;COUNT=5', { type: 'weekly', interval: 1, dayOfWeek: 16, occurrences: 5 }],
    [
      'FREQ=WEEKLY;INTERVAL=2;BYDAY=SA,SU;WKST=SU;COUNT=9',
      { type: 'weekly', interval: 2, dayOfWeek: 65, occurrences: 9, firstDayOfWeek: 0 },
    ],
    ['FREQ=MONTHLY;COUNT=12', { type: 'monthly', interval: 1, dayOfMonth: 15, occurrences: 12 }],
    [
      'FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1;COUNT=12',
      { type: 'monthly', interval: 1, dayOfMonth: 31, occurrences: 12 },
    ],
    [
      'FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=12',
      { type: 'monthly-nth', interval: 1, weekOfMonth: 5, dayOfWeek: 127, occurrences: 12 },
    ],
    [
      'FREQ=MONTHLY;BYDAY=1SA;COUNT=12',
      { type: 'monthly-nth', interval: 1, weekOfMonth: 1, dayOfWeek: 64, occurrences: 12 },
    ],
    [
      'FREQ=MONTHLY;INTERVAL=3;BYDAY=-1TH;COUNT=8',
      { type: 'monthly-nth', interval: 3, weekOfMonth: 5, dayOfWeek: 16, occurrences: 8 },
    ],
    [
      'FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1;COUNT=12',
      { type: 'monthly-nth', interval: 1, weekOfMonth: 1, dayOfWeek: 62, occurrences: 12 },
    ],
    [
      'FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=-1;COUNT=12',
      { type: 'monthly-nth', interval: 1, weekOfMonth: 5, dayOfWeek: 65, occurrences: 12 },
    ],
    ['FREQ=YEARLY;COUNT=4', { type: 'yearly', interval: 1, dayOfMonth: 15, monthOfYear: 1, occurrences: 4 }],
    [
      'FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1;COUNT=4',
      { type: 'yearly', interval: 1, dayOfMonth: 1, monthOfYear: 6, occurrences: 4 },
    ],
    [
      'FREQ=YEARLY;BYMONTH=6;BYDAY=1SA;COUNT=4',
      { type: 'yearly-nth', interval: 1, weekOfMonth: 1, dayOfWeek: 64, monthOfYear: 6, occurrences: 4 },
    ],
    [
      'FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=-1;COUNT=4',
      { type: 'yearly-nth', interval: 1, weekOfMonth: 5, dayOfWeek: 127, monthOfYear: 6, occurrences: 4 },
    ],
    [
      'FREQ=WEEKLY;BYDAY=TH;UNTIL=20260312T090000Z',
      { type: 'weekly', interval: 1, dayOfWeek: 16, until: '2026-03-12T09:00:00.000Z' },
    ],
  ];

  for (const [rule, recurrence] of expressible) {
    test(`${rule} is read, written back, and has the same occurrences everywhere`, () => {
      const original = calendar(rule);
      const appointment = only(appointments(original));
      assert.deepEqual(appointment.recurrence, recurrence);
      const written = toICalendar([{ class: 'Calendar', data: appointment }], { now: NOW });
      assert.deepEqual(only(appointments(written)).recurrence, recurrence);
      const starts = icalJsStarts(original, 'rule@example.org', 30);
      assert.deepEqual(icalJsStarts(written, 'rule@example.org', 30), starts);
      const modelStarts = occurrenceStarts(appointment, '2026-01-01T00:00:00Z', '2040-01-01T00:00:00Z');
      // ical.js 2.2 ignores BYSETPOS after BYMONTHDAY (kewisch/ical.js#960): there the days are checked here.
      if (/BYMONTHDAY=\d+,.*BYSETPOS=-1/.test(rule)) {
        const days = modelStarts
          .slice(0, 12)
          .map((start) => toLocal(start, { iana: 'Europe/Berlin' }).toPlainDate());
        assert.deepEqual(
          days.map((day) => day.day),
          days.map((day) => day.daysInMonth),
        );
      } else {
        assert.deepEqual(modelStarts.slice(0, 30), starts);
      }
    });
  }

  const inexpressible: [string, RegExp][] = [
    ['FREQ=HOURLY;COUNT=3', /FREQ=HOURLY/],
    ['FREQ=MINUTELY;INTERVAL=15', /FREQ=MINUTELY/],
    ['FREQ=MONTHLY;BYMONTHDAY=1,15', /several BYMONTHDAY/],
    ['FREQ=MONTHLY;BYDAY=1MO,3MO', /not one "n-th weekday"/],
    ['FREQ=MONTHLY;BYDAY=-2FR', /not -2/],
    ['FREQ=MONTHLY;BYDAY=MO', /not one "n-th weekday"/],
    ['FREQ=YEARLY;BYMONTH=1,7', /several BYMONTH/],
    ['FREQ=YEARLY;BYYEARDAY=100', /BYYEARDAY/],
    ['FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO', /BYWEEKNO/],
    ['FREQ=YEARLY;BYDAY=1MO', /without BYMONTH/],
    ['FREQ=DAILY;BYHOUR=9,17', /BYHOUR/],
    ['FREQ=DAILY;INTERVAL=2;BYDAY=MO,FR', /only expressible every day/],
    ['FREQ=DAILY;COUNT=1000', /COUNT must be 1 to 999/],
  ];

  test('a rule EAS cannot express makes that event an error entry, and says why', () => {
    for (const [rule, reason] of inexpressible) {
      const [entry] = parseICalendar(calendar(rule)).items;
      assert.ok(entry !== undefined && 'error' in entry, rule);
      assert.match(entry.error, reason, rule);
      assert.match(entry.error, /^EAS cannot express RRULE:/, rule);
      assert.equal(entry.uid, 'rule@example.org');
      assert.equal(entry.line, calendar(rule).split('\r\n').indexOf('BEGIN:VEVENT') + 1);
    }
  });

  test('"day 31" is the last day of shorter months in EAS: a plain BYMONTHDAY=31 imports with a note', () => {
    const [entry] = imported(parseICalendar(calendar('FREQ=MONTHLY;BYMONTHDAY=31')).items);
    assert.deepEqual((entry!.item.data as Appointment).recurrence, {
      type: 'monthly',
      interval: 1,
      dayOfMonth: 31,
    });
    assert.deepEqual(entry!.notes, [
      "the file skips months without day 31; EAS puts those occurrences on the month's last day",
    ]);
    const leapDay = only(appointments(calendar('FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1')));
    assert.deepEqual(leapDay.recurrence, { type: 'yearly', interval: 1, dayOfMonth: 29, monthOfYear: 2 });
    const written = toICalendar([{ class: 'Calendar', data: leapDay }], { now: NOW });
    assert.match(written, /\r\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1\r\n/);
  });

  test('RDATE and this-and-future changes are refused too', () => {
    const rdate = calendar('FREQ=WEEKLY').replace(
      'END:VEVENT',
      'RDATE;TZID=Europe/Berlin:20260117T100000\r\nEND:VEVENT',
    );
    assert.match(only(parseICalendar(rdate).items.map((e) => ('error' in e ? e.error : ''))), /RDATE/);
    const future = `${calendar('FREQ=WEEKLY').replace('END:VCALENDAR', '')}${[
      'BEGIN:VEVENT',
      'UID:rule@example.org',
      'RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Berlin:20260122T100000',
      'DTSTART;TZID=Europe/Berlin:20260122T120000',
      'END:VEVENT',
      'END:VCALENDAR',
    ].join('\r\n')}`;
    assert.match(
      only(parseICalendar(future).items.map((e) => ('error' in e ? e.error : ''))),
      /THISANDFUTURE/,
    );
  });
});

describe('malformed files', () => {
  test('each bad item is reported with its UID and line, and the others import', () => {
    const { items } = parseICalendar(fixture('malformed.ics'));
    const outcome = items.map((entry) =>
      'error' in entry ? `${entry.uid} @${entry.line}` : `ok ${entry.uid}`,
    );
    assert.deepEqual(outcome, [
      'ok good-1@example.org',
      'hourly@example.org @11',
      'two-month-days@example.org @19',
      'bad-start@example.org @27',
      'unknown-zone@example.org @33',
      'no-end@example.org @40',
      'ok good-task@example.org',
      'ok good-2@example.org',
      'ok good-note@example.org',
    ]);
    const errors = items.flatMap((entry) => ('error' in entry ? [entry.error] : []));
    assert.match(errors[2]!, /DTSTART is not a date or date-time/);
    assert.match(errors[3]!, /unknown time zone "Atlantis\/Capital"/);
    assert.match(errors[4]!, /VEVENT has no END/);
  });

  test('a changed occurrence without its series, a duplicate UID, and a VFREEBUSY are errors', () => {
    const text = [
      'BEGIN:VCALENDAR',
      'BEGIN:VEVENT',
      'UID:a@example.org',
      'DTSTART:20260101T100000Z',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:a@example.org',
      'DTSTART:20260102T100000Z',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:orphan@example.org',
      'RECURRENCE-ID:20260101T100000Z',
      'DTSTART:20260101T110000Z',
      'END:VEVENT',
      'BEGIN:VFREEBUSY',
      'UID:fb@example.org',
      'END:VFREEBUSY',
      'END:VCALENDAR',
    ].join('\r\n');
    const { items } = parseICalendar(text);
    assert.equal(items.length, 4);
    assert.ok('item' in items[0]!);
    assert.deepEqual(
      items.slice(1).map((entry) => ('error' in entry ? entry.error : '')),
      [
        'another VEVENT of the file has the same UID',
        'a changed occurrence (RECURRENCE-ID) whose series is not in the file',
        'VFREEBUSY is not an item airsync stores',
      ],
    );
  });

  test('text without a VCALENDAR is not iCalendar at all', () => {
    assert.throws(() => parseICalendar('BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n'), NotICalendarError);
    assert.throws(() => parseICalendar(''), NotICalendarError);
    assert.deepEqual(parseICalendar('BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n'), { items: [] });
  });
});

describe('VTODO → Task, VJOURNAL → Note', () => {
  const entries = () => imported(parseICalendar(fixture('tasks-notes.ics')).items);

  test('dates, completion, priority, sensitivity, alarms and a weekly repetition', () => {
    const [report, passport, plants] = entries().map(({ item }) => item.data as Task);
    assert.deepEqual(report, {
      subject: 'Write the report',
      body: { format: 'text', data: 'Sections 1 to 3' },
      categories: ['Work'],
      sensitivity: 'confidential',
      startDate: '2026-03-02T00:00:00.000Z',
      utcStartDate: '2026-03-02T00:00:00.000Z',
      dueDate: '2026-03-06T00:00:00.000Z',
      utcDueDate: '2026-03-06T00:00:00.000Z',
      complete: false,
      importance: 'high',
      reminderTime: '2026-03-05T08:00:00.000Z',
    });
    assert.deepEqual(passport, {
      subject: 'Renew passport',
      dueDate: '2026-01-15T17:00:00.000Z',
      utcDueDate: '2026-01-15T16:00:00.000Z',
      dateCompleted: '2026-01-14T10:15:00.000Z',
      complete: true,
      importance: 'low',
    });
    assert.deepEqual(plants!.recurrence, {
      type: 'weekly',
      interval: 1,
      dayOfWeek: 2,
      occurrences: 10,
      start: '2026-01-05T00:00:00.000Z',
    });
    assert.equal(plants!.reminderTime, '2026-01-04T22:00:00.000Z', 'two hours before the due date');
  });

  test('task dates keep the wall-clock date and the instant in the zone asked for', () => {
    const tokyo = imported(
      parseICalendar(fixture('tasks-notes.ics'), { floatingTimeZone: { iana: 'Asia/Tokyo' } }).items,
    );
    const report = tokyo[0]!.item.data as Task;
    assert.equal(report.dueDate, '2026-03-06T00:00:00.000Z');
    assert.equal(report.utcDueDate, '2026-03-05T15:00:00.000Z');
    const passport = tokyo[1]!.item.data as Task;
    assert.equal(passport.dueDate, '2026-01-15T17:00:00.000Z', 'a TZID is not floating');
  });

  test('a journal entry is a note', () => {
    const note = entries()[3]!;
    assert.equal(note.uid, 'note-ideas@example.org');
    assert.deepEqual(note.item, {
      class: 'Notes',
      data: {
        subject: 'Ideas',
        body: { format: 'text', data: 'First idea\nSecond idea, with a comma' },
        categories: ['Personal'],
        lastModified: '2026-02-20T18:15:00.000Z',
      } satisfies Note,
    });
  });
});

describe('round trips .ics → model → .ics', () => {
  for (const name of ['berlin-weekly.ics', 'new-york-weekly.ics', 'outlook.ics', 'custom-zone.ics']) {
    test(`${name}: the same items, and ical.js reads the same occurrences from both files`, () => {
      const original = fixture(name);
      const { first, written, second } = roundTrip(original);
      // The same JSON, key order included: the store finds an unchanged item by comparing JSON.
      assert.equal(JSON.stringify(second), JSON.stringify(first));
      for (const { uid, item } of imported(first)) {
        if (item.class !== 'Calendar' || item.data.allDay || !readableByIcalJs(original, uid!)) continue;
        assert.deepEqual(icalJsStarts(written, uid!), icalJsStarts(original, uid!), `${name} ${uid}`);
      }
    });
  }

  test('tasks and notes come back as they were (date-only task dates, as phones set them)', () => {
    const { first, second } = roundTrip(fixture('tasks-notes.ics'));
    const dateOnly = (entries: ImportEntry[]) =>
      imported(entries).filter(({ uid }) => uid !== 'task-passport@example.org');
    assert.deepEqual(dateOnly(second), dateOnly(first));
    const passport = (entries: ImportEntry[]) =>
      imported(entries).find(({ uid }) => uid === 'task-passport@example.org')!.item.data as Task;
    assert.equal(passport(second).utcDueDate, passport(first).utcDueDate);
    assert.equal(passport(second).dateCompleted, passport(first).dateCompleted);
  });

  test('an all-day series keeps DATE values in DTSTART, UNTIL, EXDATE and RECURRENCE-ID', () => {
    const text = [
      'BEGIN:VCALENDAR',
      'BEGIN:VEVENT',
      'UID:all-day@example.org',
      'DTSTAMP:20260201T000000Z',
      'DTSTART;VALUE=DATE:20260302',
      'DTEND;VALUE=DATE:20260303',
      'SUMMARY:Gym',
      'RRULE:FREQ=WEEKLY;UNTIL=20260330',
      'EXDATE;VALUE=DATE:20260309',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:all-day@example.org',
      'RECURRENCE-ID;VALUE=DATE:20260316',
      'DTSTART;VALUE=DATE:20260317',
      'DTEND;VALUE=DATE:20260318',
      'SUMMARY:Gym',
      'END:VEVENT',
      'END:VCALENDAR',
    ].join('\r\n');
    const { first, written, second } = roundTrip(text);
    assert.deepEqual((imported(first)[0]!.item.data as Appointment).exceptions, [
      { originalStart: '2026-03-09T00:00:00.000Z', deleted: true },
      {
        originalStart: '2026-03-16T00:00:00.000Z',
        start: '2026-03-17T00:00:00.000Z',
        end: '2026-03-18T00:00:00.000Z',
      },
    ]);
    assert.equal(JSON.stringify(second), JSON.stringify(first));
    for (const line of [
      'RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260330',
      'EXDATE;VALUE=DATE:20260309',
      'RECURRENCE-ID;VALUE=DATE:20260316',
      'DTSTART;VALUE=DATE:20260317',
    ]) {
      assert.ok(written.includes(`\r\n${line}\r\n`), line);
    }
    assert.deepEqual(icalJsStarts(written, 'all-day@example.org'), icalJsStarts(text, 'all-day@example.org'));
  });

  test('the written file carries a VTIMEZONE for every zone and none for UTC', () => {
    const utc: Appointment = {
      start: '2026-05-01T10:00:00.000Z',
      end: '2026-05-01T11:00:00.000Z',
      timeZone: { iana: 'UTC' },
      subject: 'In UTC',
    };
    const written = toICalendar(
      [
        { class: 'Calendar', uid: 'utc@example.org', data: utc },
        ...imported(parseICalendar(fixture('outlook.ics')).items).map(({ uid, item }) => ({ ...item, uid })),
      ],
      { now: NOW },
    );
    const calendar = new ICAL.Component(ICAL.parse(written) as unknown[]);
    const tzids = calendar.getAllSubcomponents('vtimezone').map((zone) => zone.getFirstPropertyValue('tzid'));
    assert.deepEqual(tzids, ['Europe/Berlin', 'America/New_York', 'America/Los_Angeles']);
    assert.match(written, /\r\nDTSTART:20260501T100000Z\r\n/);
    assert.match(written, /\r\nDTSTART;VALUE=DATE:20260704\r\n/);
    assert.ok(written.endsWith('END:VCALENDAR\r\n'));
  });

  test('an HTML body is written as X-ALT-DESC with a plain DESCRIPTION beside it', () => {
    const closing = appointments(fixture('outlook.ics'))[0]!;
    const written = toICalendar([{ class: 'Calendar', data: closing }], { now: NOW });
    const event = new ICAL.Component(ICAL.parse(written) as unknown[]).getFirstSubcomponent('vevent')!;
    assert.equal(event.getFirstPropertyValue('description'), 'Quarterly numbers, as discussed.');
    assert.match(written, /X-ALT-DESC;FMTTYPE=text\/html:<html><body><p>Quarterly numbers\\, <b>/);
    assert.equal(
      htmlToText('<p>a&amp;b<br>c</p><style>p{}</style><div>&#x263A; &lt;d&gt;</div>'),
      'a&b\nc\n☺ <d>',
    );
  });
});

describe('VTIMEZONE of IANA zones', () => {
  // A weekly series from 2005 on: it crosses the 2007 change of the US rules and many years of others.
  const zones = [
    'America/New_York',
    'Europe/Berlin',
    'Australia/Sydney',
    'America/Sao_Paulo',
    'Europe/Moscow',
    'Asia/Tokyo',
  ];
  for (const iana of zones) {
    test(`${iana}: ical.js reads every occurrence of a series since 2005 at the instant Temporal gives`, () => {
      const zone: TimeZone = { iana };
      const start = Temporal.PlainDateTime.from('2005-01-03T09:30').toZonedDateTime(iana);
      const appointment: Appointment = {
        start: start.toInstant().toString({ fractionalSecondDigits: 3 }),
        end: start.add({ hours: 1 }).toInstant().toString({ fractionalSecondDigits: 3 }),
        timeZone: zone,
        recurrence: { type: 'weekly', interval: 1, dayOfWeek: 2, occurrences: 999 },
      };
      const written = toICalendar([{ class: 'Calendar', uid: 'since-2005@example.org', data: appointment }], {
        now: NOW,
      });
      const starts = icalJsStarts(written, 'since-2005@example.org', 999);
      assert.equal(starts.length, 999);
      assert.deepEqual(new Set(starts.map((instant) => wallClock(instant, zone))), new Set(['09:30:00']));
      assert.deepEqual(starts, occurrenceStarts(appointment, '2005-01-01T00:00:00Z', '2025-01-01T00:00:00Z'));
    });
  }

  test('a rule zone is written from its rule, and read back by ical.js at the same instants', () => {
    const ferry = only(appointments(fixture('custom-zone.ics')));
    const written = toICalendar([{ class: 'Calendar', data: ferry }], { now: NOW });
    assert.match(written, /\r\nDTSTART;TZID=Harbour Island Time:20260325T073000\r\n/);
    assert.match(written, /\r\nRRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU\r\n/);
    assert.deepEqual(only(appointments(written)).timeZone, ferry.timeZone);
  });
});
