// A weekly 09:00 series with one deleted and one moved occurrence, across the March change to
// daylight-saving time in Europe/Berlin and in America/New_York: created by a phone at 14.1 (the
// exceptions in the item, the zone as a blob without names) or at 16.1 (the series, then one
// occurrence deleted and one changed by InstanceId), read by phones at other versions and exported
// to iCalendar; and the other way, the same series imported from an .ics file and read by phones.
// Every occurrence must be at the same instant everywhere. The expected instants come from Temporal
// alone; each Timezone blob a phone receives is also read on its own, as a phone that knows no zone
// names would; the exported file is expanded by ical.js with the VTIMEZONEs it carries.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import ICAL from 'ical.js';
import { Temporal } from 'temporal-polyfill';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import type { ClientSyncCommand } from '../../src/client/sync.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { parseICalendar, toICalendar } from '../../src/model/ical.ts';
import { decodeItem } from '../../src/model/index.ts';
import { occurrenceStarts } from '../../src/model/recurrence.ts';
import { encodeTimeZone } from '../../src/model/timezone.ts';
import type { Appointment } from '../../src/model/types.ts';
import { child, childText, el, type WbxmlElement } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { SyncWorld } from './session.ts';

const TOOL = { tool: 'test' };
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'ical', 'e2e-dst-weekly.ics');

/** Eight Mondays, 22 February to 12 April 2027: both zones change to daylight-saving time in between. */
const MONDAYS = Array.from({ length: 8 }, (_, week) =>
  Temporal.PlainDate.from('2027-02-22').add({ weeks: week }).toString(),
);
const YEAR = { from: '2027-01-01T00:00:00.000Z', to: '2028-01-01T00:00:00.000Z' };

interface Scenario {
  zone: string;
  subject: string;
  /** The occurrence deleted: the last one before the change. */
  deleted: string;
  /** The occurrence moved (the first one after the change) and where to, in local time. */
  moved: { from: string; to: string };
}

const SCENARIOS: readonly Scenario[] = [
  {
    zone: 'Europe/Berlin',
    subject: 'Weekly in Europe/Berlin',
    deleted: '2027-03-22',
    moved: { from: '2027-03-29', to: '2027-03-30T10:00' },
  },
  {
    zone: 'America/New_York',
    subject: 'Weekly in America/New_York',
    deleted: '2027-03-08',
    moved: { from: '2027-03-15', to: '2027-03-16T10:00' },
  },
];

/** The instant of a wall-clock time in an IANA zone, by Temporal. */
function instant(zone: string, local: string): string {
  return new Date(Temporal.PlainDateTime.from(local).toZonedDateTime(zone).epochMilliseconds).toISOString();
}

function offsetMinutes(zone: string, at: string): number {
  return Temporal.Instant.from(at).toZonedDateTimeISO(zone).offsetNanoseconds / 60e9;
}

/** The starts every reader must see: 09:00 on each Monday but the deleted one, and the moved one's new time. */
function expectedStarts(scenario: Scenario): string[] {
  const { zone, deleted, moved } = scenario;
  return [
    ...MONDAYS.filter((day) => day !== deleted && day !== moved.from).map((day) =>
      instant(zone, `${day}T09:00`),
    ),
    instant(zone, moved.to),
  ].sort();
}

function hourLater(at: string): string {
  return new Date(Date.parse(at) + 60 * 60_000).toISOString();
}

/** MS-ASDTYPE Compact DateTime. */
function compact(at: string): string {
  return at.replace(/[-:]|\.\d{3}/g, '');
}

function cal(name: string, content?: string | WbxmlElement[]): WbxmlElement {
  return el('Calendar', name, content);
}

/**
 * The zone's Timezone blob. A phone at 16.1 names the zone as Windows does; one at 14.1 sends no
 * names, so that the server has only the offsets and rules to know it by.
 */
function timeZoneBlob(zone: string, version: ProtocolVersion): string {
  const blob = Buffer.from(encodeTimeZone({ iana: zone }, 2027), 'base64');
  if (version === '14.1') {
    blob.fill(0, 4, 68); // StandardName
    blob.fill(0, 88, 152); // DaylightName
  }
  return blob.toString('base64');
}

/** The series as a phone writes it, without exceptions: weekly on Mondays, eight times. */
function seriesData(scenario: Scenario, version: ProtocolVersion, uid: string): WbxmlElement[] {
  const start = instant(scenario.zone, `${MONDAYS[0]}T09:00`);
  const modern = version === '16.0' || version === '16.1';
  return [
    cal('Timezone', timeZoneBlob(scenario.zone, version)),
    cal('AllDayEvent', '0'),
    cal('StartTime', compact(start)),
    cal('Subject', scenario.subject),
    modern ? cal('ClientUid', uid) : cal('UID', uid),
    cal('EndTime', compact(hourLater(start))),
    cal('Recurrence', [
      cal('Type', '1'),
      cal('Interval', '1'),
      cal('Occurrences', String(MONDAYS.length)),
      cal('DayOfWeek', '2'),
      cal('FirstDayOfWeek', '1'),
    ]),
    cal('BusyStatus', '2'),
    cal('MeetingStatus', '0'),
  ];
}

function originalStart(scenario: Scenario, day: string): string {
  return instant(scenario.zone, `${day}T09:00`);
}

function movedStart(scenario: Scenario): string {
  return instant(scenario.zone, scenario.moved.to);
}

/**
 * The offset (minutes east of UTC) that a TIME_ZONE_INFORMATION blob (MS-ASDTYPE 2.6.4) gives a
 * wall-clock time: the reading of a phone that knows the zone only by the blob.
 */
function blobOffset(base64: string, local: Temporal.PlainDateTime): number {
  const blob = Buffer.from(base64, 'base64');
  assert.equal(blob.length, 172);
  const bias = blob.readInt32LE(0);
  const standard = -(bias + blob.readInt32LE(84));
  const daylight = -(bias + blob.readInt32LE(168));
  const word = (at: number, index: number) => blob.readUInt16LE(at + 2 * index);
  if (word(68, 1) === 0) return standard;
  // SYSTEMTIME with wYear 0: the wDay-th (5 = last) wDayOfWeek of wMonth, at wHour:wMinute.
  const onset = (at: number) => {
    const first = Temporal.PlainDate.from({ year: local.year, month: word(at, 1), day: 1 });
    let day = 1 + ((word(at, 2) - (first.dayOfWeek % 7) + 7) % 7) + 7 * (word(at, 3) - 1);
    while (day > first.daysInMonth) day -= 7;
    return first.with({ day }).toPlainDateTime({ hour: word(at, 4), minute: word(at, 5) });
  };
  const toDaylight = onset(152);
  const toStandard = onset(68);
  const after = (a: Temporal.PlainDateTime, b: Temporal.PlainDateTime) =>
    Temporal.PlainDateTime.compare(a, b) >= 0;
  const inDaylight =
    Temporal.PlainDateTime.compare(toDaylight, toStandard) < 0
      ? after(local, toDaylight) && !after(local, toStandard)
      : after(local, toDaylight) || !after(local, toStandard);
  return inDaylight ? daylight : standard;
}

/**
 * What a reader of ApplicationData sees: the occurrences by the codecs' expansion, and, read with the
 * Timezone blob alone, the offset of each expected start.
 */
function assertReadsRight(applicationData: WbxmlElement, version: ProtocolVersion, scenario: Scenario): void {
  const expected = expectedStarts(scenario);
  const item = decodeItem('Calendar', applicationData, version);
  assert.equal(item.class, 'Calendar');
  const appointment = item.data as Appointment;
  assert.deepEqual(occurrenceStarts(appointment, YEAR.from, YEAR.to), expected, `occurrences at ${version}`);
  const blob = childText(applicationData, 'Timezone', 'Calendar');
  assert.ok(blob, 'the item carries a Timezone');
  for (const start of expected) {
    const local = Temporal.Instant.from(start).toZonedDateTimeISO(scenario.zone).toPlainDateTime();
    assert.equal(
      blobOffset(blob, local),
      offsetMinutes(scenario.zone, start),
      `the Timezone blob's offset on ${local.toString()} at ${version}`,
    );
  }
}

/** The starts of a calendar's series as ical.js expands it, with the file's own VTIMEZONEs. */
function icalStarts(text: string, uid: string): string[] {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const zones = calendar.getAllSubcomponents('vtimezone').map((zone) => new ICAL.Timezone(zone));
  for (const zone of zones) ICAL.TimezoneService.register(zone);
  try {
    const events = calendar
      .getAllSubcomponents('vevent')
      .filter((event) => event.getFirstPropertyValue('uid') === uid);
    const master = events.find((event) => !event.hasProperty('recurrence-id'));
    assert.ok(master, `a series ${uid}`);
    const series = new ICAL.Event(master, {
      strictExceptions: true,
      exceptions: events.filter((event) => event !== master),
    });
    const tzids = new Set(zones.map((zone) => zone.tzid));
    const starts: string[] = [];
    const expansion = series.iterator();
    for (let next = expansion.next(); next !== undefined; next = expansion.next()) {
      const { startDate } = series.getOccurrenceDetails(next);
      assert.ok(tzids.has(startDate.zone?.tzid ?? ''), 'ical.js read the time in a VTIMEZONE of the file');
      starts.push(startDate.toJSDate().toISOString());
      assert.ok(starts.length <= 100, 'the series ends');
    }
    return starts.sort();
  } finally {
    for (const zone of zones) ICAL.TimezoneService.remove(zone.tzid);
  }
}

describeEachDatabase('a weekly series across the change to daylight-saving time', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  test('the scenarios cross a change of offset', () => {
    for (const { zone } of SCENARIOS) {
      const first = instant(zone, `${MONDAYS[0]}T09:00`);
      const last = instant(zone, `${MONDAYS.at(-1)}T09:00`);
      assert.notEqual(offsetMinutes(zone, first), offsetMinutes(zone, last), zone);
    }
  });

  /** A phone at `version` that has synced the user's calendar. */
  async function calendarPhone(owner: Owner, version: ProtocolVersion) {
    const phone = world.phone(owner, version);
    await phone.folderSync();
    const folder = phone.folder(FOLDER_TYPES.defaultCalendar);
    await phone.start(folder);
    await phone.syncToEnd(folder);
    return { phone, folder };
  }

  /** Phone A creates the series with its exceptions, the way its version allows. */
  async function create(owner: Owner, version: '14.1' | '16.1', scenario: Scenario, uid: string) {
    const { phone, folder } = await calendarPhone(owner, version);
    const deletedAt = originalStart(scenario, scenario.deleted);
    const movedFrom = originalStart(scenario, scenario.moved.from);
    const moved = movedStart(scenario);
    const series = seriesData(scenario, version, uid);
    if (version === '14.1') {
      const exceptions = cal('Exceptions', [
        cal('Exception', [cal('ExceptionStartTime', compact(deletedAt)), cal('Deleted', '1')]),
        cal('Exception', [
          cal('ExceptionStartTime', compact(movedFrom)),
          cal('StartTime', compact(moved)),
          cal('EndTime', compact(hourLater(moved))),
        ]),
      ]);
      const added = await phone.sync(folder, {
        commands: [{ kind: 'add', clientId: 'series', data: [...series, exceptions] }],
      });
      assert.deepEqual(
        added.responses.map((response) => [response.kind, response.status]),
        [['add', 1]],
      );
      return;
    }
    const added = await phone.sync(folder, { commands: [{ kind: 'add', clientId: 'series', data: series }] });
    const serverId = added.responses[0]?.serverId;
    assert.ok(serverId, `the series was added (status ${added.responses[0]?.status})`);
    const occurrences: ClientSyncCommand[] = [
      { kind: 'delete', serverId, instanceId: compact(deletedAt) },
      {
        kind: 'change',
        serverId,
        instanceId: compact(movedFrom),
        data: [cal('StartTime', compact(moved)), cal('EndTime', compact(hourLater(moved)))],
      },
    ];
    const changed = await phone.sync(folder, { commands: occurrences });
    assert.equal(changed.status, 1);
    assert.deepEqual(changed.responses, [], 'both occurrence commands succeed silently');
    assert.deepEqual(changed.commands, [], 'and are not echoed');
  }

  /** The user's calendar exported to iCalendar, as `airsync export` writes it. */
  async function exported(owner: Owner): Promise<string> {
    const calendar = await world.defaultCollection(owner, 'Calendar');
    const items = [];
    for await (const { item, uid } of world.store.items(owner, calendar))
      items.push({ ...item, uid: uid ?? undefined });
    return toICalendar(items);
  }

  for (const creator of ['14.1', '16.1'] as const) {
    for (const scenario of SCENARIOS) {
      test(`created at ${creator} in ${scenario.zone}: the same instants on other phones and in the .ics`, async () => {
        const owner = await world.user();
        const uid = `series-${creator}-${scenario.zone}@example.org`;
        await create(owner, creator, scenario, uid);

        const readers: ProtocolVersion[] = ['12.1', '14.1', '16.0', '16.1'];
        for (const version of readers.filter((reader) => reader !== creator)) {
          const phone = world.phone(owner, version);
          await phone.folderSync();
          const folder = phone.folder(FOLDER_TYPES.defaultCalendar);
          await phone.start(folder);
          const answer = await phone.sync(folder);
          assert.equal(answer.moreAvailable, false);
          assert.deepEqual(
            answer.commands.map((command) => command.kind),
            ['add'],
            `one series at ${version}`,
          );
          const data = answer.commands[0]?.applicationData;
          assert.ok(data);
          assertReadsRight(data, version, scenario);
          if (version === '16.0' || version === '16.1') {
            const ids = (child(data, 'Exceptions', 'Calendar')?.children ?? []).map((exception) =>
              childText(exception, 'InstanceId', 'AirSyncBase'),
            );
            const originals = [scenario.deleted, scenario.moved.from].map((day) =>
              compact(originalStart(scenario, day)),
            );
            assert.deepEqual(ids.sort(), originals.sort(), 'exceptions named by their original UTC start');
          }
        }

        assert.deepEqual(icalStarts(await exported(owner), uid), expectedStarts(scenario));
      });
    }
  }

  test('an .ics series imported is read by phones at 14.1 and 16.1 at the same instants', async () => {
    const text = readFileSync(FIXTURE, 'utf8');
    const owner = await world.user();
    const calendar = await world.defaultCollection(owner, 'Calendar');
    const { items } = parseICalendar(text);
    for (const entry of items) {
      assert.ok('item' in entry, `imported: ${'error' in entry ? entry.error : ''}`);
      await world.store.putItem(owner, calendar, entry.item, TOOL, { uid: entry.uid });
    }
    const uids = ['e2e-dst-berlin@example.org', 'e2e-dst-new-york@example.org'];
    SCENARIOS.forEach((scenario, index) => {
      assert.deepEqual(icalStarts(text, uids[index] as string), expectedStarts(scenario), 'the file says so');
    });

    for (const version of ['14.1', '16.1'] as const) {
      const { phone, folder } = await calendarPhone(owner, version);
      const held = [...phone.held(folder).values()].map((item) => item.data as Appointment);
      for (const scenario of SCENARIOS) {
        const series = held.find((appointment) => appointment.subject === scenario.subject);
        assert.ok(series, `${scenario.subject} at ${version}`);
        assert.deepEqual(
          occurrenceStarts(series, YEAR.from, YEAR.to),
          expectedStarts(scenario),
          `${scenario.zone} at ${version}`,
        );
      }
      // The blob each phone got describes the zone, too.
      const fetched = await phone.sync(folder, {
        getChanges: false,
        commands: [...phone.held(folder).keys()].map((serverId) => ({ kind: 'fetch' as const, serverId })),
      });
      for (const response of fetched.responses) {
        assert.ok(response.applicationData);
        const subject = childText(response.applicationData, 'Subject', 'Calendar');
        const scenario = SCENARIOS.find((candidate) => candidate.subject === subject);
        assert.ok(scenario, `the series ${subject}`);
        assertReadsRight(response.applicationData, version, scenario);
      }
    }
  });
});
