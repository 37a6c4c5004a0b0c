// Recurrence elements (MS-ASCAL 4.4 examples, MS-ASTASK), their errors, and the expander: patterns,
// counts and ends, exceptions, and wall-clock times across daylight-saving changes.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ItemError } from '../../src/model/codec.ts';
import {
  compactDateTime,
  decodeRecurrence,
  encodeRecurrence,
  isOccurrenceStart,
  lastOccurrenceEnd,
  occurrences,
  occurrenceStarts,
  parseEasDateTime,
} from '../../src/model/recurrence.ts';
import { toLocal } from '../../src/model/timezone.ts';
import type { Appointment, Recurrence, TaskRecurrence, TimeZone } from '../../src/model/types.ts';
import { el, type Namespace, type WbxmlElement } from '../../src/wbxml/index.ts';
import { FIXTURES, namespaceOf, parseXml, shapeOf, shapeOfSpecXml, type XmlNode } from '../wbxml/libwbxml.ts';

const BERLIN: TimeZone = { iana: 'Europe/Berlin' };
const NEW_YORK: TimeZone = { iana: 'America/New_York' };
const at = (iso: string) => new Date(iso).toISOString();

/** A spec fragment without namespace as an element tree of `ns`. */
function treeOf(node: XmlNode, ns: Namespace): WbxmlElement {
  const own = node.uri === undefined ? ns : namespaceOf(node.uri);
  return node.children.length > 0
    ? el(
        own,
        node.name,
        node.children.map((c) => treeOf(c, own)),
      )
    : el(own, node.name, node.text.trim());
}

function recurrenceElement(fields: Record<string, string>, ns: Namespace = 'Calendar'): WbxmlElement {
  return el(
    ns,
    'Recurrence',
    Object.entries(fields).map(([name, value]) => el(ns, name, value)),
  );
}

function series(recurrence: Recurrence, start: string, end: string, timeZone = BERLIN): Appointment {
  return { start: at(start), end: at(end), timeZone, recurrence };
}

const localDates = (appointment: Appointment, from: string, to: string) =>
  occurrenceStarts(appointment, at(from), at(to)).map((s) =>
    toLocal(s, appointment.timeZone).toPlainDate().toString(),
  );

describe('MS-ASCAL 4.4 recurrence examples', () => {
  const dir = join(FIXTURES, 'ms-as-examples/ms-ascal');
  const fragments = readdirSync(dir)
    .filter((f) => f.startsWith('recurrence-fragment-4.4.'))
    .sort()
    .map((f) => ({ name: f, xml: readFileSync(join(dir, f), 'utf8') }));

  // Each pattern, and its first three dates for a series starting Thursday 2026-01-01 09:00 in Berlin.
  const expected: [Recurrence, string[]][] = [
    [{ type: 'daily', interval: 1 }, ['2026-01-01', '2026-01-02', '2026-01-03']],
    [{ type: 'daily', interval: 2 }, ['2026-01-01', '2026-01-03', '2026-01-05']],
    [{ type: 'weekly', interval: 1, dayOfWeek: 62 }, ['2026-01-01', '2026-01-02', '2026-01-05']],
    [{ type: 'weekly', interval: 1, dayOfWeek: 64 }, ['2026-01-03', '2026-01-10', '2026-01-17']],
    [{ type: 'monthly', interval: 1, dayOfMonth: 1 }, ['2026-01-01', '2026-02-01', '2026-03-01']],
    [
      { type: 'monthly-nth', interval: 1, weekOfMonth: 5, dayOfWeek: 127 },
      ['2026-01-31', '2026-02-28', '2026-03-31'],
    ],
    [
      { type: 'monthly-nth', interval: 1, weekOfMonth: 1, dayOfWeek: 64 },
      ['2026-01-03', '2026-02-07', '2026-03-07'],
    ],
    [
      { type: 'monthly-nth', interval: 1, weekOfMonth: 1, dayOfWeek: 62 },
      ['2026-01-01', '2026-02-02', '2026-03-02'],
    ],
    [
      { type: 'monthly-nth', interval: 1, weekOfMonth: 1, dayOfWeek: 65 },
      ['2026-01-03', '2026-02-01', '2026-03-01'],
    ],
    [
      { type: 'yearly', interval: 1, dayOfMonth: 1, monthOfYear: 6 },
      ['2026-06-01', '2027-06-01', '2028-06-01'],
    ],
    [
      { type: 'yearly-nth', interval: 1, weekOfMonth: 1, dayOfWeek: 64, monthOfYear: 6 },
      ['2026-06-06', '2027-06-05', '2028-06-03'],
    ],
    [
      { type: 'yearly-nth', interval: 1, weekOfMonth: 5, dayOfWeek: 127, monthOfYear: 6 },
      ['2026-06-30', '2027-06-30', '2028-06-30'],
    ],
  ];

  test('all twelve examples are here', () => {
    assert.equal(fragments.length, expected.length);
  });

  fragments.forEach(({ name, xml }, i) => {
    const [model, dates] = expected[i]!;
    test(`${name}: decodes, expands, and is written back as the spec wrote it`, () => {
      const element = treeOf(parseXml(xml), 'Calendar');
      const decoded = decodeRecurrence('Calendar', element, '12.1', BERLIN);
      assert.deepEqual(decoded, model);
      const appointment = series(decoded, '2026-01-01T08:00:00Z', '2026-01-01T09:00:00Z');
      assert.deepEqual(
        localDates(appointment, '2026-01-01T00:00:00Z', '2030-01-01T00:00:00Z').slice(0, 3),
        dates,
      );
      assert.deepEqual(
        shapeOf(encodeRecurrence('Calendar', decoded, '12.1', BERLIN)),
        shapeOfSpecXml(xml.replace('<Recurrence>', '<Recurrence xmlns="Calendar:">')),
      );
    });
  });

  test('14.0 adds CalendarType to monthly and yearly patterns, 14.1 FirstDayOfWeek to weekly ones', () => {
    const names = (r: Recurrence, version: '12.1' | '14.0' | '14.1') =>
      encodeRecurrence('Calendar', r, version, BERLIN).children.map((c) => `${c.name}=${c.text}`);
    const monthly: Recurrence = { type: 'monthly', interval: 1, dayOfMonth: 1 };
    const weekly: Recurrence = { type: 'weekly', interval: 1, dayOfWeek: 2 };
    assert.deepEqual(names(monthly, '12.1'), ['Type=2', 'Interval=1', 'DayOfMonth=1']);
    assert.deepEqual(names(monthly, '14.0'), ['Type=2', 'Interval=1', 'DayOfMonth=1', 'CalendarType=0']);
    assert.deepEqual(names(weekly, '14.0'), ['Type=1', 'Interval=1', 'DayOfWeek=2']);
    assert.deepEqual(names(weekly, '14.1'), ['Type=1', 'Interval=1', 'DayOfWeek=2', 'FirstDayOfWeek=0']);
    assert.deepEqual(names({ ...weekly, firstDayOfWeek: 1 }, '14.1').at(-1), 'FirstDayOfWeek=1');
  });
});

describe('decodeRecurrence refuses what MS-ASCAL answers with Status 6', () => {
  const cases: [string, Record<string, string>][] = [
    ['an unknown Type', { Type: '4', Interval: '1' }],
    ['no Type', { Interval: '1', DayOfWeek: '2' }],
    ['DayOfMonth in a weekly pattern', { Type: '1', DayOfWeek: '2', DayOfMonth: '3' }],
    ['DayOfWeek in a monthly pattern', { Type: '2', DayOfMonth: '3', DayOfWeek: '2' }],
    ['MonthOfYear in a monthly pattern', { Type: '3', WeekOfMonth: '1', DayOfWeek: '2', MonthOfYear: '3' }],
    ['WeekOfMonth in a yearly pattern', { Type: '5', DayOfMonth: '1', MonthOfYear: '6', WeekOfMonth: '1' }],
    ['a weekly pattern without days', { Type: '1', Interval: '1' }],
    ['a yearly pattern without month', { Type: '5', DayOfMonth: '1' }],
    ['DayOfMonth 32', { Type: '2', DayOfMonth: '32' }],
    ['DayOfWeek 128', { Type: '1', DayOfWeek: '128' }],
    ['WeekOfMonth 6', { Type: '3', WeekOfMonth: '6', DayOfWeek: '2' }],
    ['Interval 1000', { Type: '0', Interval: '1000' }],
    ['Occurrences 1000', { Type: '0', Occurrences: '1000' }],
    ['FirstDayOfWeek 7', { Type: '1', DayOfWeek: '2', FirstDayOfWeek: '7' }],
    ['a reserved CalendarType', { Type: '2', DayOfMonth: '1', CalendarType: '13' }],
    ['an Until that is no date', { Type: '0', Until: '20261332T000000Z' }],
    ['a number that is no number', { Type: 'weekly', DayOfWeek: '2' }],
  ];
  for (const [what, fields] of cases) {
    test(what, () => {
      assert.throws(() => decodeRecurrence('Calendar', recurrenceElement(fields), '14.1', BERLIN), ItemError);
    });
  }

  test('two Types are refused too', () => {
    const element = el('Calendar', 'Recurrence', [el('Calendar', 'Type', '0'), el('Calendar', 'Type', '1')]);
    assert.throws(() => decodeRecurrence('Calendar', element, '14.1', BERLIN), ItemError);
  });
});

describe('decodeRecurrence', () => {
  test('Occurrences wins over Until; Interval 0 is 1', () => {
    const r = decodeRecurrence(
      'Calendar',
      recurrenceElement({ Type: '0', Interval: '0', Occurrences: '5', Until: '20260201T000000Z' }),
      '14.1',
      BERLIN,
    );
    assert.deepEqual(r, { type: 'daily', interval: 1, occurrences: 5 });
  });

  test('Until, CalendarType, IsLeapMonth and FirstDayOfWeek', () => {
    const r = decodeRecurrence(
      'Calendar',
      recurrenceElement({
        Type: '6',
        Interval: '1',
        Until: '20300630T070000Z',
        WeekOfMonth: '5',
        DayOfWeek: '127',
        MonthOfYear: '6',
        CalendarType: '1',
        IsLeapMonth: '0',
        FirstDayOfWeek: '1',
      }),
      '14.1',
      BERLIN,
    );
    assert.deepEqual(r, {
      type: 'yearly-nth',
      interval: 1,
      until: at('2030-06-30T07:00:00Z'),
      weekOfMonth: 5,
      dayOfWeek: 127,
      monthOfYear: 6,
      calendarType: 1,
      isLeapMonth: false,
      firstDayOfWeek: 1,
    });
  });

  test('a 16.0 all-day series ends on a date of its zone', () => {
    const r: Recurrence = { type: 'daily', interval: 1, until: at('2026-06-09T22:00:00Z') };
    const element = encodeRecurrence('Calendar', r, '16.0', BERLIN, { allDay: true });
    assert.equal(element.children.find((c) => c.name === 'Until')?.text, '20260610T000000Z');
    assert.deepEqual(decodeRecurrence('Calendar', element, '16.0', BERLIN, { allDay: true }), r);
    // Timed series, and all-day series before 16.0, keep the instant.
    assert.equal(
      encodeRecurrence('Calendar', r, '14.1', BERLIN, { allDay: true }).children.find(
        (c) => c.name === 'Until',
      )?.text,
      '20260609T220000Z',
    );
  });
});

describe('task recurrence (MS-ASTASK)', () => {
  const r: TaskRecurrence = {
    type: 'weekly',
    interval: 2,
    dayOfWeek: 2,
    start: at('2026-01-05T00:00:00Z'),
    until: at('2026-06-29T00:00:00Z'),
    regenerate: false,
    deadOccur: false,
    firstDayOfWeek: 1,
  };

  test('Start and Until in the dateTime format, Regenerate and DeadOccur, in MS-ASTASK order', () => {
    const element = encodeRecurrence('Tasks', r, '14.1', BERLIN);
    assert.equal(element.ns, 'Tasks');
    assert.deepEqual(
      element.children.map((c) => `${c.ns}:${c.name}=${c.text}`),
      [
        'Tasks:Type=1',
        'Tasks:Start=2026-01-05T00:00:00.000Z',
        'Tasks:Until=2026-06-29T00:00:00.000Z',
        'Tasks:Interval=2',
        'Tasks:DayOfWeek=2',
        'Tasks:Regenerate=0',
        'Tasks:DeadOccur=0',
        'Tasks:FirstDayOfWeek=1',
      ],
    );
    assert.deepEqual(decodeRecurrence('Tasks', element, '14.1', BERLIN), r);
  });

  test('any non-zero DeadOccur is true', () => {
    const decoded = decodeRecurrence(
      'Tasks',
      recurrenceElement({ Type: '0', Start: '2026-01-05T00:00:00.000Z', DeadOccur: '255' }, 'Tasks'),
      '14.1',
      BERLIN,
    );
    assert.equal(decoded.deadOccur, true);
  });
});

describe('parseEasDateTime', () => {
  test('Compact DateTime, dateTime and a bare date', () => {
    assert.equal(parseEasDateTime('20090424T170000Z', 'x'), at('2009-04-24T17:00:00Z'));
    assert.equal(parseEasDateTime('2009-04-24T17:00:00.000Z', 'x'), at('2009-04-24T17:00:00Z'));
    assert.equal(parseEasDateTime('20090424', 'x'), at('2009-04-24T00:00:00Z'));
    assert.equal(compactDateTime(at('2009-04-24T17:00:00Z')), '20090424T170000Z');
  });

  test('impossible dates are refused', () => {
    for (const bad of ['20090231T000000Z', '20090424T250000Z', 'tomorrow', '', '0050-01-01T00:00:00Z']) {
      assert.throws(() => parseEasDateTime(bad, 'x'), ItemError, bad);
    }
  });
});

describe('expansion in wall-clock time', () => {
  test('a weekly 09:00 meeting in Berlin stays at 09:00 across the March change; its instants move', () => {
    const weekly = series(
      { type: 'weekly', interval: 1, dayOfWeek: 2, occurrences: 4 },
      '2026-03-16T08:00:00Z',
      '2026-03-16T09:00:00Z',
    );
    const starts = occurrenceStarts(weekly, at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z'));
    assert.deepEqual(starts, [
      at('2026-03-16T08:00:00Z'),
      at('2026-03-23T08:00:00Z'),
      at('2026-03-30T07:00:00Z'),
      at('2026-04-06T07:00:00Z'),
    ]);
    for (const start of starts) assert.equal(toLocal(start, BERLIN).toPlainTime().toString(), '09:00:00');
    assert.equal(lastOccurrenceEnd(weekly), at('2026-04-06T08:00:00Z'));
  });

  test('the same in New York, whose clocks change two weeks earlier', () => {
    const weekly = series(
      { type: 'weekly', interval: 1, dayOfWeek: 2, occurrences: 3 },
      '2026-03-02T14:00:00Z',
      '2026-03-02T15:00:00Z',
      NEW_YORK,
    );
    assert.deepEqual(occurrenceStarts(weekly, at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z')), [
      at('2026-03-02T14:00:00Z'),
      at('2026-03-09T13:00:00Z'),
      at('2026-03-16T13:00:00Z'),
    ]);
  });

  test('an all-day series stays on whole days, 23 or 25 hours long at the changes', () => {
    const daily = series(
      { type: 'daily', interval: 1, occurrences: 3 },
      '2026-03-27T23:00:00Z',
      '2026-03-28T23:00:00Z',
    );
    const found = occurrences(
      { ...daily, allDay: true },
      at('2026-01-01T00:00:00Z'),
      at('2027-01-01T00:00:00Z'),
    );
    assert.deepEqual(found.at(1), {
      originalStart: at('2026-03-28T23:00:00Z'),
      start: at('2026-03-28T23:00:00Z'),
      end: at('2026-03-29T22:00:00Z'),
    });
  });

  test('a monthly series on the 31st falls on the last day of shorter months', () => {
    const monthly = series(
      { type: 'monthly', interval: 1, dayOfMonth: 31 },
      '2026-01-31T08:00:00Z',
      '2026-01-31T09:00:00Z',
    );
    assert.deepEqual(localDates(monthly, '2026-01-01T00:00:00Z', '2026-05-01T00:00:00Z'), [
      '2026-01-31',
      '2026-02-28',
      '2026-03-31',
      '2026-04-30',
    ]);
  });

  test('every second week, weeks counted from Monday when FirstDayOfWeek says so', () => {
    // Sunday and Monday every second week: with weeks starting Sunday both days of a pair are in the
    // same week; with weeks starting Monday the Sunday belongs to the week before.
    const base: Recurrence = { type: 'weekly', interval: 2, dayOfWeek: 1 | 2 };
    const sundayWeeks = series(base, '2026-01-04T08:00:00Z', '2026-01-04T09:00:00Z');
    const mondayWeeks = series(
      { ...base, firstDayOfWeek: 1 },
      '2026-01-04T08:00:00Z',
      '2026-01-04T09:00:00Z',
    );
    const range = ['2026-01-01T00:00:00Z', '2026-01-20T00:00:00Z'] as const;
    assert.deepEqual(localDates(sundayWeeks, ...range), [
      '2026-01-04',
      '2026-01-05',
      '2026-01-18',
      '2026-01-19',
    ]);
    assert.deepEqual(localDates(mondayWeeks, ...range), ['2026-01-04', '2026-01-12', '2026-01-18']);
  });
});

describe('series ends and exceptions', () => {
  test('an Until on the last day includes that day, whatever its time', () => {
    const daily = series(
      { type: 'daily', interval: 1, until: at('2026-01-05T00:00:00Z') },
      '2026-01-01T08:00:00Z',
      '2026-01-01T09:00:00Z',
    );
    assert.equal(lastOccurrenceEnd(daily), at('2026-01-05T09:00:00Z'));
  });

  test('a series without Occurrences or Until has no end; a single event ends at its end', () => {
    const endless = series({ type: 'daily', interval: 1 }, '2026-01-01T08:00:00Z', '2026-01-01T09:00:00Z');
    assert.equal(lastOccurrenceEnd(endless), null);
    assert.equal(
      lastOccurrenceEnd({
        start: at('2026-01-01T08:00:00Z'),
        end: at('2026-01-01T09:00:00Z'),
        timeZone: BERLIN,
      }),
      at('2026-01-01T09:00:00Z'),
    );
    // An endless series still lists its occurrences in a range.
    assert.equal(occurrenceStarts(endless, at('2030-01-01T00:00:00Z'), at('2030-01-08T00:00:00Z')).length, 7);
  });

  test('a far-away Until bounds the end without following every day', () => {
    const long = series(
      { type: 'daily', interval: 1, until: at('2999-12-31T08:00:00Z') },
      '2026-01-01T08:00:00Z',
      '2026-01-01T09:00:00Z',
    );
    const end = lastOccurrenceEnd(long);
    assert.ok(end !== null && Date.parse(end) >= Date.parse('2999-12-31T09:00:00Z'));
  });

  test('deleted occurrences are left out, moved ones are at their new time and can extend the series', () => {
    const weekly: Appointment = {
      ...series(
        { type: 'weekly', interval: 1, dayOfWeek: 2, occurrences: 3 },
        '2026-01-05T08:00:00Z',
        '2026-01-05T09:00:00Z',
      ),
      exceptions: [
        { originalStart: at('2026-01-12T08:00:00Z'), deleted: true },
        {
          originalStart: at('2026-01-19T08:00:00Z'),
          start: at('2026-01-24T10:00:00Z'),
          end: at('2026-01-24T12:00:00Z'),
        },
      ],
    };
    assert.deepEqual(occurrences(weekly, at('2026-01-01T00:00:00Z'), at('2026-02-01T00:00:00Z')), [
      {
        originalStart: at('2026-01-05T08:00:00Z'),
        start: at('2026-01-05T08:00:00Z'),
        end: at('2026-01-05T09:00:00Z'),
      },
      {
        originalStart: at('2026-01-19T08:00:00Z'),
        start: at('2026-01-24T10:00:00Z'),
        end: at('2026-01-24T12:00:00Z'),
      },
    ]);
    // The moved occurrence is found by a range that holds its new time only.
    assert.equal(occurrences(weekly, at('2026-01-24T00:00:00Z'), at('2026-01-25T00:00:00Z')).length, 1);
    assert.equal(lastOccurrenceEnd(weekly), at('2026-01-24T12:00:00Z'));
    assert.ok(isOccurrenceStart(weekly, at('2026-01-12T08:00:00Z')));
    assert.ok(!isOccurrenceStart(weekly, at('2026-01-13T08:00:00Z')));
    assert.ok(!isOccurrenceStart(weekly, at('2026-01-26T08:00:00Z')));
  });

  test("Horde's dst fixture: every second Saturday at 15:00 New York time, before and after November", () => {
    const appointment = series(
      { type: 'weekly', interval: 2, dayOfWeek: 64 },
      '2011-10-01T19:00:00Z',
      '2011-10-01T20:00:00Z',
      NEW_YORK,
    );
    assert.deepEqual(occurrenceStarts(appointment, at('2011-10-01T00:00:00Z'), at('2011-11-20T00:00:00Z')), [
      at('2011-10-01T19:00:00Z'),
      at('2011-10-15T19:00:00Z'),
      at('2011-10-29T19:00:00Z'),
      at('2011-11-12T20:00:00Z'),
    ]);
  });
});
