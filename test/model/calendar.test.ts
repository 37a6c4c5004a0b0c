// The Calendar codec: Horde's and the spec's appointments decode to what they say, what we write
// decodes the same in libwbxml and in our decoder, every version writes its own elements, bad items
// are refused, and Changes merge as MS-ASCMD/MS-ASCAL ghosting and the 16.0 instance model say.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { ProtocolVersion } from '../../src/http/query.ts';
import {
  calendarCodec,
  decodeAppointment,
  withOccurrenceChange,
  withoutOccurrence,
} from '../../src/model/calendar.ts';
import { ItemError } from '../../src/model/codec.ts';
import { compactDateTime, isOccurrenceStart, occurrenceStarts } from '../../src/model/recurrence.ts';
import { toLocal } from '../../src/model/timezone.ts';
import type { Appointment } from '../../src/model/types.ts';
import { decode, el, encode, type WbxmlElement } from '../../src/wbxml/index.ts';
import {
  FIXTURES,
  libwbxmlDecode,
  shapeOf,
  shapeOfLibwbxmlOutput,
  wrapHordeFragment,
  type Shape,
} from '../wbxml/libwbxml.ts';

const at = (iso: string) => new Date(iso).toISOString();
const cal = (name: string, content?: string | WbxmlElement[]) => el('Calendar', name, content);
const applicationData = (children: WbxmlElement[]) => el('AirSync', 'ApplicationData', children);

function horde(name: string): WbxmlElement {
  const fragment = readFileSync(join(FIXTURES, 'horde-activesync', `${name}.wbxml`));
  return decode(wrapHordeFragment(fragment, name === 'allday_appointment'));
}

/** Every ApplicationData of a spec example, in document order. */
function specItems(file: string): WbxmlElement[] {
  const found: WbxmlElement[] = [];
  const walk = (e: WbxmlElement) => {
    if (e.name === 'ApplicationData') found.push(e);
    else e.children.forEach(walk);
  };
  walk(decode(readFileSync(join(FIXTURES, 'ms-as-examples/ms-ascal', file))));
  return found;
}

/** What libwbxml makes of our encoding of `children`, next to the shape of the tree itself. */
async function libwbxmlView(children: WbxmlElement[]): Promise<{ ours: Shape; theirs: Shape }> {
  const tree = applicationData(children);
  const [output] = await libwbxmlDecode([encode(tree)]);
  return { ours: shapeOf(tree), theirs: shapeOfLibwbxmlOutput(output!) };
}

const names = (elements: readonly WbxmlElement[]) => elements.map((e) => `${e.ns}:${e.name}`);
const find = (elements: readonly WbxmlElement[], name: string) =>
  elements.find((e) => `${e.ns}:${e.name}` === name);
const textOf = (elements: readonly WbxmlElement[], name: string) => find(elements, name)?.text;

describe("Horde's appointments", () => {
  test('appointment: a single event in New York with a 2.5 body', () => {
    const a = calendarCodec.decode(horde('appointment'), '2.5');
    assert.deepEqual(a, {
      subject: 'Event Title',
      location: 'Philadelphia, PA',
      body: { format: 'text', data: 'Event Description' },
      busyStatus: 'busy',
      sensitivity: 'personal',
      meetingStatus: 0,
      start: at('2011-12-01T20:00:00Z'),
      end: at('2011-12-01T21:00:00Z'),
      timeZone: { iana: 'America/New_York' },
      dtStamp: at('2011-12-01T20:00:00Z'),
    });
    assert.deepEqual(calendarCodec.window(a), { end: at('2011-12-01T21:00:00Z') });
  });

  test('recurrence: every second Thursday, no end', () => {
    const a = calendarCodec.decode(horde('recurrence'), '2.5');
    assert.deepEqual(a.recurrence, { type: 'weekly', interval: 2, dayOfWeek: 16 });
    assert.deepEqual(occurrenceStarts(a, at('2011-12-01T00:00:00Z'), at('2012-01-01T00:00:00Z')), [
      at('2011-12-01T20:00:00Z'),
      at('2011-12-15T20:00:00Z'),
      at('2011-12-29T20:00:00Z'),
    ]);
    assert.deepEqual(calendarCodec.window(a), { end: null });
  });

  test('simpleexception: the same series with its 29 December occurrence deleted', () => {
    const a = calendarCodec.decode(horde('simpleexception'), '2.5');
    assert.deepEqual(a.exceptions, [{ originalStart: at('2011-12-29T20:00:00Z'), deleted: true }]);
    assert.ok(isOccurrenceStart(a, a.exceptions[0]!.originalStart));
    assert.deepEqual(occurrenceStarts(a, at('2011-12-01T00:00:00Z'), at('2012-01-01T00:00:00Z')), [
      at('2011-12-01T20:00:00Z'),
      at('2011-12-15T20:00:00Z'),
    ]);
  });

  test('dst: every second Saturday at 15:00 New York time, an hour later in UTC after November', () => {
    const a = calendarCodec.decode(horde('dst'), '2.5');
    assert.deepEqual(a.recurrence, { type: 'weekly', interval: 2, dayOfWeek: 64 });
    const starts = occurrenceStarts(a, at('2011-10-01T00:00:00Z'), at('2011-11-20T00:00:00Z'));
    assert.deepEqual(starts.at(2), at('2011-10-29T19:00:00Z'));
    assert.deepEqual(starts.at(3), at('2011-11-12T20:00:00Z'));
    for (const start of starts) assert.equal(toLocal(start, a.timeZone).toPlainTime().toString(), '15:00:00');
  });

  test('allday_appointment: one whole day, midnight to midnight in its (1970) zone', () => {
    const a = calendarCodec.decode(horde('allday_appointment'), '2.5');
    assert.equal(a.allDay, true);
    assert.equal(a.subject, 'Test Event');
    assert.ok('rule' in a.timeZone);
    assert.equal(toLocal(a.start, a.timeZone).toString(), '1970-03-20T00:00:00');
    assert.equal(toLocal(a.end, a.timeZone).toString(), '1970-03-21T00:00:00');
  });

  for (const name of ['appointment', 'recurrence', 'simpleexception', 'dst', 'allday_appointment']) {
    test(`${name}: written back at 2.5 with what Horde sent, decoded the same by libwbxml and by us`, async () => {
      const original = horde(name);
      const a = calendarCodec.decode(original, '2.5');
      const written = calendarCodec.encode(a, { version: '2.5' });
      assert.deepEqual(calendarCodec.decode(applicationData(written), '2.5'), a);
      const ours = shapeOf(applicationData(written)).content as Shape[];
      // Horde's 2.5 exception carries an empty body's BodyTruncated, which says nothing.
      const withoutEmptyBody = (s: Shape): Shape =>
        typeof s.content === 'string'
          ? s
          : {
              tag: s.tag,
              content: s.content.filter((c) => c.tag !== 'Calendar:BodyTruncated').map(withoutEmptyBody),
            };
      for (const element of (shapeOf(original).content as Shape[]).filter(
        (s) => s.tag !== 'Calendar:Timezone',
      )) {
        const expected = element.tag === 'Calendar:Exceptions' ? withoutEmptyBody(element) : element;
        assert.ok(
          ours.some((s) => isDeepStrictEqual(s, expected)),
          `${name}: ${JSON.stringify(expected)} written back`,
        );
      }
      const { ours: tree, theirs } = await libwbxmlView(written);
      assert.deepEqual(theirs, tree);
    });
  }
});

describe('MS-ASCAL examples', () => {
  test('4.1: a Change and two Adds, one of them monthly on the second Monday until July 2009', () => {
    const [lunch, dryRun, team] = specItems('sync-response-4.1-calendar.wbxml').map((d) =>
      calendarCodec.decode(d, '14.1'),
    );
    assert.equal(lunch!.subject, 'Lunch meeting');
    assert.equal(lunch!.location, 'Cafeteria A');
    assert.equal(lunch!.busyStatus, 'out-of-office');
    assert.equal(lunch!.reminder, 15);
    assert.deepEqual(lunch!.organizer, { email: 'anat@contoso.com', name: 'Anat Kerry' });
    assert.deepEqual(lunch!.timeZone, { iana: 'America/Los_Angeles' });
    // The body was sent truncated (RTF, no data): not a body to store.
    assert.equal(lunch!.body, undefined);
    assert.equal(dryRun!.organizer?.email, 'anatcontoso.com');
    assert.deepEqual(team!.recurrence, {
      type: 'monthly-nth',
      interval: 1,
      until: at('2009-07-13T19:00:00Z'),
      weekOfMonth: 2,
      dayOfWeek: 2,
    });
    assert.deepEqual(occurrenceStarts(team!, at('2008-10-01T00:00:00Z'), at('2008-12-31T00:00:00Z')), [
      at('2008-10-13T19:00:00Z'),
      at('2008-11-10T20:00:00Z'),
      at('2008-12-08T20:00:00Z'),
    ]);
    assert.deepEqual(calendarCodec.window(team!), { end: at('2009-07-13T19:30:00Z') });
  });

  test('4.2: three Fridays with the second one deleted', () => {
    const [item] = specItems('sync-response-4.2-recurring-exceptions.wbxml');
    const a = calendarCodec.decode(item!, '14.1');
    assert.deepEqual(a.recurrence, { type: 'weekly', interval: 1, occurrences: 3, dayOfWeek: 32 });
    assert.deepEqual(a.exceptions, [{ originalStart: at('2009-04-24T17:00:00Z'), deleted: true }]);
    assert.equal(a.responseRequested, true);
    assert.equal(a.responseType, 1);
    assert.equal(a.organizer?.email, 'anat@contoso.com');
    assert.deepEqual(occurrenceStarts(a, at('2009-04-01T00:00:00Z'), at('2009-06-01T00:00:00Z')), [
      at('2009-04-17T17:00:00Z'),
      at('2009-05-01T17:00:00Z'),
    ]);
    assert.deepEqual(calendarCodec.window(a), { end: at('2009-05-01T18:00:00Z') });
  });

  test('4.3: the Timezone as printed in the spec is not base64, so the item is refused', () => {
    const [item] = specItems('sync-response-4.3-attendee-accepted.wbxml');
    assert.throws(() => calendarCodec.decode(item!, '14.1'), ItemError);
  });

  test('4.1 and 4.2 items written at 14.1 decode the same in libwbxml and in our decoder', async () => {
    for (const item of [
      ...specItems('sync-response-4.1-calendar.wbxml'),
      ...specItems('sync-response-4.2-recurring-exceptions.wbxml'),
    ]) {
      const a = calendarCodec.decode(item, '14.1');
      const written = calendarCodec.encode(a, { version: '14.1' });
      assert.deepEqual(calendarCodec.decode(applicationData(written), '14.1'), withWeekStart(a));
      const { ours, theirs } = await libwbxmlView(written);
      assert.deepEqual(theirs, ours);
    }
  });
});

/** A meeting with everything the model has, in Berlin. */
const meeting: Appointment = {
  uid: 'uid-1',
  subject: 'Planning',
  location: 'Room 1',
  start: at('2026-03-16T08:00:00Z'),
  end: at('2026-03-16T09:00:00Z'),
  timeZone: { iana: 'Europe/Berlin' },
  dtStamp: at('2026-03-01T10:00:00Z'),
  organizer: { email: 'ann@example.org', name: 'Ann' },
  attendees: [
    {
      email: 'bob@example.org',
      name: 'Bob',
      status: 'accepted',
      type: 'required',
      proposedStart: at('2026-03-16T09:00:00Z'),
      proposedEnd: at('2026-03-16T10:00:00Z'),
    },
  ],
  body: { format: 'text', data: 'Agenda' },
  categories: ['Work'],
  sensitivity: 'private',
  busyStatus: 'working-elsewhere',
  reminder: 10,
  meetingStatus: 1,
  responseRequested: true,
  responseType: 1,
  appointmentReplyTime: at('2026-03-02T10:00:00Z'),
  disallowNewTimeProposal: true,
  onlineMeetingUrl: 'https://meet.example.org/planning',
  recurrence: { type: 'weekly', interval: 1, dayOfWeek: 2, occurrences: 10 },
  exceptions: [
    { originalStart: at('2026-03-23T08:00:00Z'), deleted: true },
    {
      originalStart: at('2026-03-30T07:00:00Z'),
      subject: 'Planning (moved)',
      location: '',
      start: at('2026-03-31T07:00:00Z'),
      end: at('2026-03-31T08:00:00Z'),
      attendees: [{ email: 'carl@example.org', name: 'Carl', type: 'optional' }],
    },
  ],
};

describe('versions', () => {
  const encoded = (version: ProtocolVersion, data = meeting) => calendarCodec.encode(data, { version });
  const exceptionsOf = (elements: WbxmlElement[]) => find(elements, 'Calendar:Exceptions')!.children;

  test('2.5: the calendar page only — Calendar:Body, ExceptionStartTime, no response elements', () => {
    const e = encoded('2.5');
    assert.deepEqual(
      names(e).filter((n) => !n.startsWith('Calendar:')),
      [],
    );
    assert.equal(textOf(e, 'Calendar:Body'), 'Agenda');
    assert.equal(textOf(e, 'Calendar:Location'), 'Room 1');
    assert.deepEqual(names(find(e, 'Calendar:Attendees')!.children[0]!.children), [
      'Calendar:Email',
      'Calendar:Name',
    ]);
    for (const absent of [
      'ResponseRequested',
      'ResponseType',
      'DisallowNewTimeProposal',
      'OnlineMeetingExternalLink',
    ]) {
      assert.equal(find(e, `Calendar:${absent}`), undefined, absent);
    }
    assert.deepEqual(names(exceptionsOf(e)[0]!.children), [
      'Calendar:ExceptionStartTime',
      'Calendar:Deleted',
    ]);
    assert.equal(textOf(exceptionsOf(e)[0]!.children, 'Calendar:ExceptionStartTime'), '20260323T080000Z');
    // No Attendees in exceptions before 14.0.
    assert.equal(find(exceptionsOf(e)[1]!.children, 'Calendar:Attendees'), undefined);
    assert.equal(textOf(e, 'Calendar:BusyStatus'), '0');
  });

  test('14.1: AirSyncBase body, attendee status and type, response elements, exception attendees', () => {
    const e = encoded('14.1');
    assert.equal(find(e, 'Calendar:Body'), undefined);
    assert.equal(textOf(find(e, 'AirSyncBase:Body')!.children, 'AirSyncBase:Data'), 'Agenda');
    assert.equal(textOf(e, 'AirSyncBase:NativeBodyType'), '1');
    assert.deepEqual(names(find(e, 'Calendar:Attendees')!.children[0]!.children), [
      'Calendar:Email',
      'Calendar:Name',
      'Calendar:AttendeeStatus',
      'Calendar:AttendeeType',
    ]);
    assert.equal(textOf(e, 'Calendar:ResponseRequested'), '1');
    assert.equal(textOf(e, 'Calendar:ResponseType'), '1');
    assert.equal(textOf(e, 'Calendar:AppointmentReplyTime'), '20260302T100000Z');
    assert.equal(textOf(e, 'Calendar:DisallowNewTimeProposal'), '1');
    assert.equal(textOf(e, 'Calendar:OnlineMeetingExternalLink'), 'https://meet.example.org/planning');
    assert.equal(textOf(find(e, 'Calendar:Recurrence')!.children, 'Calendar:FirstDayOfWeek'), '0');
    const moved = exceptionsOf(e)[1]!.children;
    assert.equal(textOf(moved, 'Calendar:ExceptionStartTime'), '20260330T070000Z');
    // The moved occurrence has no location: an empty element says so.
    assert.equal(textOf(moved, 'Calendar:Location'), '');
    assert.ok(find(moved, 'Calendar:Attendees'));
    assert.equal(textOf(e, 'Calendar:BusyStatus'), '0');
  });

  test('16.0: airsyncbase:Location, InstanceId instead of ExceptionStartTime, working elsewhere', () => {
    const e = encoded('16.0');
    assert.equal(find(e, 'Calendar:Location'), undefined);
    assert.equal(textOf(find(e, 'AirSyncBase:Location')!.children, 'AirSyncBase:DisplayName'), 'Room 1');
    const [deleted, moved] = exceptionsOf(e);
    assert.deepEqual(names(deleted!.children), ['AirSyncBase:InstanceId', 'Calendar:Deleted']);
    assert.equal(textOf(deleted!.children, 'AirSyncBase:InstanceId'), '20260323T080000Z');
    assert.equal(find(moved!.children, 'Calendar:ExceptionStartTime'), undefined);
    assert.deepEqual(find(moved!.children, 'AirSyncBase:Location')!.children, []);
    assert.equal(textOf(e, 'Calendar:BusyStatus'), '4');
    assert.ok(find(e, 'Calendar:Timezone'));
    // Proposed times are 16.1.
    assert.equal(
      find(find(e, 'Calendar:Attendees')!.children[0]!.children, 'MeetingResponse:ProposedStartTime'),
      undefined,
    );
  });

  test('16.1: an attendee proposes a new time', () => {
    const attendee = find(encoded('16.1'), 'Calendar:Attendees')!.children[0]!.children;
    assert.equal(textOf(attendee, 'MeetingResponse:ProposedStartTime'), '20260316T090000Z');
    assert.equal(textOf(attendee, 'MeetingResponse:ProposedEndTime'), '20260316T100000Z');
  });

  test('16.0 all-day: dates of the zone, no Timezone; 14.1: instants and the zone', () => {
    const holiday: Appointment = {
      subject: 'Holiday',
      allDay: true,
      start: at('2026-06-09T22:00:00Z'),
      end: at('2026-06-10T22:00:00Z'),
      timeZone: { iana: 'Europe/Berlin' },
    };
    const modern = encoded('16.0', holiday);
    assert.equal(find(modern, 'Calendar:Timezone'), undefined);
    assert.equal(textOf(modern, 'Calendar:StartTime'), '20260610T000000Z');
    assert.equal(textOf(modern, 'Calendar:EndTime'), '20260611T000000Z');
    assert.equal(textOf(modern, 'Calendar:AllDayEvent'), '1');
    const old = encoded('14.1', holiday);
    assert.ok(find(old, 'Calendar:Timezone'));
    assert.equal(textOf(old, 'Calendar:StartTime'), '20260609T220000Z');
  });

  for (const version of ['2.5', '12.0', '14.0', '14.1', '16.0', '16.1'] as const) {
    test(`${version}: what we write decodes back to the model, as far as the version carries it`, async () => {
      const written = encoded(version);
      const back = calendarCodec.decode(applicationData(written), version);
      assert.equal(back.subject, meeting.subject);
      assert.deepEqual(back.recurrence?.occurrences, 10);
      assert.equal(back.exceptions?.length, 2);
      assert.equal(back.exceptions?.[1]?.start, meeting.exceptions![1]!.start);
      assert.equal(back.exceptions?.[1]?.location, '');
      if (version !== '16.1') {
        // libwbxml knows no MeetingResponse:ProposedStartTime.
        const { ours, theirs } = await libwbxmlView(written);
        assert.deepEqual(theirs, ours);
      }
    });
  }

  test('14.1 round trip keeps every property the version has', () => {
    const back = calendarCodec.decode(applicationData(encoded('14.1')), '14.1');
    const expected = withWeekStart(meeting);
    // Working elsewhere is free before 16.0; proposed times are 16.1.
    assert.deepEqual(back, {
      ...expected,
      busyStatus: 'free',
      attendees: expected.attendees!.map((a) => ({
        email: a.email,
        name: a.name,
        status: a.status,
        type: a.type,
      })),
    });
  });
});

describe('16.0 items from a phone', () => {
  test('an all-day Add without Timezone: dates kept as UTC midnight, ClientUid as the UID', () => {
    const a = calendarCodec.decode(
      applicationData([
        cal('AllDayEvent', '1'),
        cal('StartTime', '20260610T000000Z'),
        cal('EndTime', '20260611T000000Z'),
        cal('Subject', 'Holiday'),
        cal('ClientUid', 'client-uid-7'),
        el('AirSyncBase', 'Location', [el('AirSyncBase', 'DisplayName', 'Beach')]),
      ]),
      '16.0',
    );
    assert.deepEqual(a, {
      subject: 'Holiday',
      location: 'Beach',
      start: at('2026-06-10T00:00:00Z'),
      end: at('2026-06-11T00:00:00Z'),
      timeZone: { iana: 'UTC' },
      allDay: true,
      uid: 'client-uid-7',
    });
    assert.equal(
      textOf(calendarCodec.encode(a, { version: '16.0' }), 'Calendar:StartTime'),
      '20260610T000000Z',
    );
  });
});

describe('decode refuses bad items (Status 6)', () => {
  const valid = [cal('StartTime', '20260316T080000Z'), cal('EndTime', '20260316T090000Z')];
  const cases: [string, WbxmlElement[]][] = [
    ['an end before the start', [cal('StartTime', '20260316T090000Z'), cal('EndTime', '20260316T080000Z')]],
    [
      'a date that does not exist',
      [cal('StartTime', '20260230T080000Z'), cal('EndTime', '20260316T090000Z')],
    ],
    ['an unknown recurrence type', [...valid, cal('Recurrence', [cal('Type', '4')])]],
    ['a subject over 32 KiB', [...valid, cal('Subject', 'x'.repeat(32 * 1024 + 1))]],
    [
      'too many attendees',
      [
        ...valid,
        cal(
          'Attendees',
          Array.from({ length: 1001 }, (_, i) =>
            cal('Attendee', [cal('Email', `a${i}@example.org`), cal('Name', `A ${i}`)]),
          ),
        ),
      ],
    ],
    ['an attendee without address', [...valid, cal('Attendees', [cal('Attendee', [cal('Name', 'Nobody')])])]],
    [
      'AttendeeStatus 1',
      [...valid, cal('Attendees', [cal('Attendee', [cal('Email', 'a@b'), cal('AttendeeStatus', '1')])])],
    ],
    ['BusyStatus 5', [...valid, cal('BusyStatus', '5')]],
    ['Sensitivity 4', [...valid, cal('Sensitivity', '4')]],
    ['MeetingStatus 2', [...valid, cal('MeetingStatus', '2')]],
    ['AllDayEvent 2', [...valid, cal('AllDayEvent', '2')]],
    ['a Timezone of the wrong size', [...valid, cal('Timezone', 'AAAA')]],
    [
      'an exception without its start',
      [...valid, cal('Exceptions', [cal('Exception', [cal('Deleted', '1')])])],
    ],
    [
      'more than 256 exceptions',
      [
        ...valid,
        cal('Recurrence', [cal('Type', '0')]),
        cal(
          'Exceptions',
          Array.from({ length: 257 }, (_, day) =>
            cal('Exception', [
              cal('Deleted', '1'),
              cal(
                'ExceptionStartTime',
                compactDateTime(new Date(Date.UTC(2026, 2, 16 + day, 8)).toISOString()),
              ),
            ]),
          ),
        ),
      ],
    ],
    ['an EndTime without StartTime', [cal('EndTime', '20260316T090000Z')]],
  ];
  for (const [what, children] of cases) {
    test(what, () => {
      assert.throws(() => calendarCodec.decode(applicationData(children), '14.1'), ItemError);
    });
  }

  test('missing times are filled from the current time rounded up to the half hour (MS-ASCAL 3.2.4.4)', () => {
    const now = Date.parse('2026-03-16T18:03:00Z');
    const both = decodeAppointment(applicationData([cal('Subject', 'x')]), '14.1', now);
    assert.deepEqual([both.start, both.end], [at('2026-03-16T18:30:00Z'), at('2026-03-16T19:00:00Z')]);
    const pastStart = decodeAppointment(applicationData([cal('StartTime', '20260316T170000Z')]), '14.1', now);
    assert.deepEqual(
      [pastStart.start, pastStart.end],
      [at('2026-03-16T17:00:00Z'), at('2026-03-16T19:00:00Z')],
    );
    assert.throws(
      () => decodeAppointment(applicationData([cal('StartTime', '20260317T170000Z')]), '14.1', now),
      ItemError,
    );
  });
});

describe('merge', () => {
  const stored: Appointment = {
    subject: 'Planning',
    location: 'Room 1',
    start: at('2026-03-16T08:00:00Z'),
    end: at('2026-03-16T09:00:00Z'),
    timeZone: { iana: 'Europe/Berlin' },
    categories: ['Work'],
    attendees: [{ email: 'bob@example.org', name: 'Bob', status: 'accepted' }],
    body: { format: 'text', data: 'Agenda' },
    responseType: 3,
    organizer: { email: 'ann@example.org' },
    recurrence: { type: 'weekly', interval: 1, dayOfWeek: 2 },
    exceptions: [{ originalStart: at('2026-03-23T08:00:00Z'), deleted: true }],
  };
  const change = (children: WbxmlElement[], version: ProtocolVersion) =>
    calendarCodec.decode(applicationData(children), version);
  const times = [cal('StartTime', '20260316T080000Z'), cal('EndTime', '20260316T090000Z')];

  test('14.1 without Supported: what is left out is deleted, except the body and server-set values', () => {
    const incoming = change(
      [...times, cal('Subject', 'Planning v2'), cal('Timezone', encodeBerlin())],
      '14.1',
    );
    const merged = calendarCodec.merge(stored, incoming, undefined, '14.1');
    assert.equal(merged.subject, 'Planning v2');
    assert.equal(merged.location, undefined);
    assert.equal(merged.categories, undefined);
    assert.equal(merged.attendees, undefined);
    assert.equal(merged.recurrence, undefined);
    assert.equal(merged.exceptions, undefined);
    assert.deepEqual(merged.body, stored.body);
    assert.equal(merged.responseType, 3);
  });

  test('14.1 with Supported: elements it does not list keep their value, listed ones left out are deleted', () => {
    const supported = new Set([
      'Calendar:Subject',
      'Calendar:Location',
      'Calendar:StartTime',
      'Calendar:EndTime',
      'Calendar:Recurrence',
    ]);
    const merged = calendarCodec.merge(
      stored,
      change([...times, cal('Subject', 'x')], '14.1'),
      supported,
      '14.1',
    );
    assert.equal(merged.location, undefined);
    assert.deepEqual(merged.categories, ['Work']);
    assert.deepEqual(merged.attendees, stored.attendees);
    assert.equal(merged.recurrence, undefined);
  });

  test('Exceptions left out stay; sent ones replace the stored one for the same occurrence only', () => {
    const supported = new Set(['Calendar:Recurrence', 'Calendar:Exceptions']);
    const recurrence = cal('Recurrence', [cal('Type', '1'), cal('Interval', '1'), cal('DayOfWeek', '2')]);
    const kept = calendarCodec.merge(stored, change([...times, recurrence], '14.1'), supported, '14.1');
    assert.deepEqual(kept.exceptions, stored.exceptions);
    const moved = cal('Exceptions', [
      cal('Exception', [
        cal('ExceptionStartTime', '20260330T070000Z'),
        cal('StartTime', '20260331T070000Z'),
        cal('EndTime', '20260331T080000Z'),
      ]),
    ]);
    const merged = calendarCodec.merge(
      stored,
      change([...times, recurrence, moved], '14.1'),
      supported,
      '14.1',
    );
    assert.deepEqual(merged.exceptions, [
      stored.exceptions![0],
      {
        originalStart: at('2026-03-30T07:00:00Z'),
        start: at('2026-03-31T07:00:00Z'),
        end: at('2026-03-31T08:00:00Z'),
      },
    ]);
  });

  test('16.0: everything left out is unchanged; organizer and DtStamp are the server’s', () => {
    const merged = calendarCodec.merge(
      stored,
      change([cal('Subject', 'Renamed'), cal('OrganizerEmail', 'mallory@example.org')], '16.0'),
      undefined,
      '16.0',
    );
    assert.deepEqual(merged, { ...stored, subject: 'Renamed' });
  });

  test('16.0: attendees without their responses keep the known ones', () => {
    const merged = calendarCodec.merge(
      stored,
      change(
        [
          cal('Attendees', [
            cal('Attendee', [cal('Email', 'bob@example.org'), cal('Name', 'Bob')]),
            cal('Attendee', [cal('Email', 'carl@example.org'), cal('Name', 'Carl')]),
          ]),
        ],
        '16.0',
      ),
      undefined,
      '16.0',
    );
    assert.deepEqual(merged.attendees, [
      { email: 'bob@example.org', name: 'Bob', status: 'accepted' },
      { email: 'carl@example.org', name: 'Carl' },
    ]);
  });

  test('16.0: a new start drops the exceptions; an empty Recurrence makes a single event', () => {
    const moved = calendarCodec.merge(
      stored,
      change([cal('StartTime', '20260316T090000Z'), cal('EndTime', '20260316T100000Z')], '16.0'),
      undefined,
      '16.0',
    );
    assert.equal(moved.start, at('2026-03-16T09:00:00Z'));
    assert.equal(moved.exceptions, undefined);
    assert.deepEqual(moved.recurrence, stored.recurrence);
    const single = calendarCodec.merge(stored, change([cal('Recurrence', [])], '16.0'), undefined, '16.0');
    assert.equal(single.recurrence, undefined);
    assert.equal(single.exceptions, undefined);
    assert.equal(single.subject, 'Planning');
  });

  test('a UID is never dropped by a Change that leaves it out', () => {
    const merged = calendarCodec.merge({ ...stored, uid: 'uid-1' }, change(times, '14.1'), undefined, '14.1');
    assert.equal(merged.uid, 'uid-1');
  });

  test('16.0: an all-day item moved without AllDayEvent keeps whole days of its zone', () => {
    const holiday: Appointment = {
      subject: 'Holiday',
      allDay: true,
      start: at('2026-06-09T22:00:00Z'),
      end: at('2026-06-10T22:00:00Z'),
      timeZone: { iana: 'Europe/Berlin' },
    };
    const moved = calendarCodec.merge(
      holiday,
      change([cal('StartTime', '20260612T000000Z'), cal('EndTime', '20260613T000000Z')], '16.0'),
      undefined,
      '16.0',
    );
    assert.deepEqual([moved.start, moved.end], [at('2026-06-11T22:00:00Z'), at('2026-06-12T22:00:00Z')]);
    assert.deepEqual(moved.timeZone, holiday.timeZone);
  });

  test('a merge that puts the end before the start is refused', () => {
    assert.throws(
      () =>
        calendarCodec.merge(
          stored,
          change([cal('StartTime', '20260316T100000Z')], '16.0'),
          undefined,
          '16.0',
        ),
      ItemError,
    );
  });
});

describe('one occurrence (16.0 Sync Delete/Change with InstanceId)', () => {
  const series: Appointment = {
    subject: 'Standup',
    start: at('2026-03-16T08:00:00Z'),
    end: at('2026-03-16T08:15:00Z'),
    timeZone: { iana: 'Europe/Berlin' },
    recurrence: { type: 'daily', interval: 1, occurrences: 30 },
  };

  test('withoutOccurrence deletes one occurrence, named by its UTC start', () => {
    const after = withoutOccurrence(series, '20260330T070000Z');
    assert.deepEqual(after.exceptions, [{ originalStart: at('2026-03-30T07:00:00Z'), deleted: true }]);
    const starts = occurrenceStarts(after, at('2026-03-29T00:00:00Z'), at('2026-04-01T00:00:00Z'));
    assert.deepEqual(starts, [at('2026-03-29T07:00:00Z'), at('2026-03-31T07:00:00Z')]);
    // Written back to a 16.0 phone as an exception with that InstanceId.
    const exception = find(calendarCodec.encode(after, { version: '16.0' }), 'Calendar:Exceptions')!
      .children[0]!;
    assert.equal(textOf(exception.children, 'AirSyncBase:InstanceId'), '20260330T070000Z');
    assert.equal(textOf(exception.children, 'Calendar:Deleted'), '1');
  });

  test('an InstanceId that is no occurrence, or a series that does not recur, is refused', () => {
    assert.throws(() => withoutOccurrence(series, '20260330T080000Z'), ItemError);
    assert.throws(() => withoutOccurrence(series, '20270330T070000Z'), ItemError);
    assert.throws(
      () => withoutOccurrence({ ...series, recurrence: undefined }, '20260316T080000Z'),
      ItemError,
    );
    assert.throws(() => withoutOccurrence(series, 'yesterday'), ItemError);
  });

  test('withOccurrenceChange overrides what the Change carries and keeps what it leaves out', () => {
    const first = withOccurrenceChange(
      series,
      '2026-03-18T08:00:00.000Z',
      applicationData([
        cal('Subject', 'Standup (long)'),
        cal('StartTime', '20260318T080000Z'),
        cal('EndTime', '20260318T090000Z'),
      ]),
      '16.0',
    );
    const second = withOccurrenceChange(
      first,
      '20260318T080000Z',
      applicationData([el('AirSyncBase', 'Location', [el('AirSyncBase', 'DisplayName', 'Room 2')])]),
      '16.0',
    );
    assert.deepEqual(second.exceptions, [
      {
        originalStart: at('2026-03-18T08:00:00Z'),
        subject: 'Standup (long)',
        location: 'Room 2',
        start: at('2026-03-18T08:00:00Z'),
        end: at('2026-03-18T09:00:00Z'),
      },
    ]);
    assert.equal(second.subject, 'Standup');
  });

  test('changing a deleted occurrence brings it back', () => {
    const deleted = withoutOccurrence(series, '20260318T080000Z');
    const back = withOccurrenceChange(
      deleted,
      '20260318T080000Z',
      applicationData([cal('Subject', 'Back')]),
      '16.0',
    );
    assert.deepEqual(back.exceptions, [{ originalStart: at('2026-03-18T08:00:00Z'), subject: 'Back' }]);
  });

  test('an all-day series names its occurrences by date', () => {
    const days: Appointment = {
      subject: 'Trip',
      allDay: true,
      start: at('2026-06-09T22:00:00Z'),
      end: at('2026-06-10T22:00:00Z'),
      timeZone: { iana: 'Europe/Berlin' },
      recurrence: { type: 'daily', interval: 1, occurrences: 5 },
    };
    const after = withoutOccurrence(days, '20260612T000000Z');
    assert.deepEqual(after.exceptions, [{ originalStart: at('2026-06-11T22:00:00Z'), deleted: true }]);
    const exception = find(calendarCodec.encode(after, { version: '16.0' }), 'Calendar:Exceptions')!
      .children[0]!;
    assert.equal(textOf(exception.children, 'AirSyncBase:InstanceId'), '20260612T000000Z');
  });
});

/** A weekly series as 14.1 writes it: with the first day of the week, Sunday unless known. */
function withWeekStart(a: Appointment): Appointment {
  const r = a.recurrence;
  return r?.type === 'weekly' ? { ...a, recurrence: { ...r, firstDayOfWeek: r.firstDayOfWeek ?? 0 } } : a;
}

function encodeBerlin(): string {
  return textOf(
    calendarCodec.encode(
      {
        start: at('2026-01-01T00:00:00Z'),
        end: at('2026-01-01T01:00:00Z'),
        timeZone: { iana: 'Europe/Berlin' },
      },
      { version: '14.1' },
    ),
    'Calendar:Timezone',
  )!;
}
