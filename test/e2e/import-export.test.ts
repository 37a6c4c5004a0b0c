// `airsync import` and `airsync export` through the real command: a large calendar in, out and in
// again without duplicates; contacts, tasks and notes to their collections; bad items reported.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PimStore } from '../../src/backends/store/store.ts';
import { parseICalendar, type ImportedItem } from '../../src/model/ical.ts';
import type { Appointment } from '../../src/model/types.ts';
import { parseVCards } from '../../src/model/vcard.ts';
import { openDatabase } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { airsync, temporaryDirectory, type TemporaryDirectory } from './cli.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'ical');
const EVENTS = 2000;

/** The Berlin and New York VTIMEZONEs of the fixtures. */
function vtimezones(): string[] {
  return ['berlin-weekly.ics', 'new-york-weekly.ics'].map(
    (name) => /BEGIN:VTIMEZONE[^]*?END:VTIMEZONE/.exec(readFileSync(join(FIXTURES, name), 'utf8'))![0],
  );
}

/** A calendar of `count` events: every fifth a weekly series with an EXDATE, half in each zone. */
function largeCalendar(count: number): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//airsync tests//generated//EN', ...vtimezones()];
  const day = Date.UTC(2026, 0, 5);
  for (let i = 0; i < count; i++) {
    const zone = i % 2 === 0 ? 'Europe/Berlin' : 'America/New_York';
    const date = new Date(day + (i % 365) * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    const hour = String(8 + (i % 10)).padStart(2, '0');
    lines.push(
      'BEGIN:VEVENT',
      `UID:event-${i}@example.org`,
      'DTSTAMP:20260101T000000Z',
      `DTSTART;TZID=${zone}:${date}T${hour}0000`,
      `DTEND;TZID=${zone}:${date}T${hour}4500`,
      `SUMMARY:Event ${i}, generated`,
      `ATTENDEE;CN=Guest ${i};PARTSTAT=ACCEPTED:mailto:guest${i}@example.org`,
    );
    if (i % 5 === 0) {
      const next = new Date(day + ((i % 365) + 7) * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
      lines.push('RRULE:FREQ=WEEKLY;COUNT=10', `EXDATE;TZID=${zone}:${next}T${hour}0000`);
    }
    lines.push('END:VEVENT');
  }
  lines.push('END:VCALENDAR');
  return `${lines.join('\r\n')}\r\n`;
}

/** The number of items in each of alice's collections, by name. */
async function itemCounts(dataDir: string): Promise<Record<string, number>> {
  const database = await openDatabase({ dataDir, database: undefined });
  try {
    const alice = (await new UserStore(database.db).find('alice'))!;
    const collections = await new PimStore(database.db).collections({ id: alice.id, name: alice.name });
    return Object.fromEntries(collections.map(({ name, itemCount }) => [name, itemCount]));
  } finally {
    await database.close();
  }
}

describe('airsync import and export', () => {
  let data: TemporaryDirectory;
  let dataArgs: string[];
  before(async () => {
    data = await temporaryDirectory();
    dataArgs = ['--data', data.dir];
    const added = await airsync(['user', 'add', 'alice', '--password', 'secret', ...dataArgs]);
    assert.equal(added.code, 0, added.stderr);
  });
  after(() => data?.remove());

  it(`imports ${EVENTS} events, exports them, and importing the export adds nothing`, async () => {
    const file = join(data.dir, 'large.ics');
    await writeFile(file, largeCalendar(EVENTS));
    const first = await airsync(['import', 'alice', file, '--progress', ...dataArgs]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, `imported ${EVENTS} (created ${EVENTS}, updated 0, unchanged 0), failed 0\n`);
    assert.deepEqual(
      first.stderr.split('\n').filter(Boolean),
      [500, 1000, 1500].map((n) => `${n} of ${EVENTS} items (${(100 * n) / EVENTS}%)`),
    );

    const exported = await airsync(['export', 'alice', 'Calendar', ...dataArgs]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(exported.stderr, `exported ${EVENTS} items of Calendar\n`);
    const items = parseICalendar(exported.stdout).items as ImportedItem[];
    assert.equal(items.length, EVENTS);
    assert.ok(items.every((entry) => 'item' in entry));
    const series = items.find(({ uid }) => uid === 'event-0@example.org')!.item.data as Appointment;
    assert.deepEqual(series.timeZone, { iana: 'Europe/Berlin' });
    assert.equal(series.start, '2026-01-05T07:00:00.000Z');
    assert.deepEqual(series.exceptions, [{ originalStart: '2026-01-12T07:00:00.000Z', deleted: true }]);

    const exportFile = join(data.dir, 'exported.ics');
    await writeFile(exportFile, exported.stdout);
    const again = await airsync(['import', 'alice', exportFile, ...dataArgs]);
    assert.deepEqual(again, {
      code: 0,
      stdout: `imported ${EVENTS} (created 0, updated 0, unchanged ${EVENTS}), failed 0\n`,
      stderr: '',
    });
    assert.equal((await itemCounts(data.dir)).Calendar, EVENTS);
  });

  it('routes tasks and notes of a calendar file to their collections, and a changed item is updated', async () => {
    const tasks = join(FIXTURES, 'tasks-notes.ics');
    const first = await airsync(['import', 'alice', tasks, ...dataArgs]);
    assert.equal(first.stdout, 'imported 4 (created 4, updated 0, unchanged 0), failed 0\n');
    const changed = join(data.dir, 'changed.ics');
    await writeFile(changed, readFileSync(tasks, 'utf8').replace('SUMMARY:Ideas', 'SUMMARY:Better ideas'));
    const second = await airsync(['import', 'alice', changed, ...dataArgs]);
    assert.equal(second.stdout, 'imported 4 (created 0, updated 1, unchanged 3), failed 0\n');
    const counts = await itemCounts(data.dir);
    assert.equal(counts.Tasks, 3);
    assert.equal(counts.Notes, 1);

    const notes = await airsync(['export', 'alice', 'Notes', ...dataArgs]);
    assert.match(notes.stdout, /\r\nSUMMARY:Better ideas\r\n/);
  });

  it('imports contacts, and exports them as vCards that import as the same contacts', async () => {
    const file = join(FIXTURES, 'contacts-v3.vcf');
    const first = await airsync(['import', 'alice', file, ...dataArgs]);
    assert.equal(first.code, 0);
    assert.equal(first.stdout, 'imported 3 (created 3, updated 0, unchanged 0), failed 0\n');
    assert.equal(first.stderr, 'airsync: note: only the first 3 e-mail addresses were kept (1 item)\n');

    const exported = await airsync(['export', 'alice', 'contacts', ...dataArgs]);
    assert.equal(exported.code, 0, exported.stderr);
    const cards = parseVCards(exported.stdout).items as ImportedItem[];
    assert.deepEqual(
      cards.map(({ item }) => item),
      (parseVCards(readFileSync(file, 'utf8')).items as ImportedItem[]).map(({ item }) => item),
    );
    const exportFile = join(data.dir, 'contacts.vcf');
    await writeFile(exportFile, exported.stdout);
    const again = await airsync(['import', 'alice', exportFile, ...dataArgs]);
    assert.equal(again.stdout, 'imported 3 (created 0, updated 0, unchanged 3), failed 0\n');
    assert.equal((await itemCounts(data.dir)).Contacts, 3);
  });

  it('reports each bad item on stderr and imports the others', async () => {
    const result = await airsync(['import', 'alice', join(FIXTURES, 'malformed.ics'), ...dataArgs]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'imported 4 (created 4, updated 0, unchanged 0), failed 5\n');
    assert.deepEqual(result.stderr.split('\n').filter(Boolean), [
      'airsync: item 2 (line 11) UID hourly@example.org: EAS cannot express RRULE:FREQ=HOURLY;COUNT=5: FREQ=HOURLY',
      'airsync: item 3 (line 19) UID two-month-days@example.org: EAS cannot express RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15: several BYMONTHDAY',
      'airsync: item 4 (line 27) UID bad-start@example.org: DTSTART is not a date or date-time',
      'airsync: item 5 (line 33) UID unknown-zone@example.org: unknown time zone "Atlantis/Capital": neither an IANA nor a Windows zone name, and the file has no VTIMEZONE for it',
      'airsync: item 6 (line 40) UID no-end@example.org: VEVENT has no END',
    ]);
  });

  it('puts items of its class into --collection, and reads floating times in --time-zone', async () => {
    const file = join(data.dir, 'floating.ics');
    await writeFile(
      file,
      [
        'BEGIN:VCALENDAR',
        'BEGIN:VEVENT',
        'UID:floating-party@example.org',
        'DTSTART:20261231T200000',
        'DTEND:20261231T235900',
        'SUMMARY:Party',
        'END:VEVENT',
        'END:VCALENDAR',
        '',
      ].join('\r\n'),
    );
    const database = await openDatabase({ dataDir: data.dir, database: undefined });
    try {
      const alice = (await new UserStore(database.db).find('alice'))!;
      const owner = { id: alice.id, name: alice.name };
      await new PimStore(database.db).createCollection(owner, 'Calendar', 'Holidays');
    } finally {
      await database.close();
    }
    const result = await airsync([
      'import',
      'alice',
      file,
      '--collection',
      'holidays',
      '--time-zone',
      'Pacific/Auckland',
      ...dataArgs,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'imported 1 (created 1, updated 0, unchanged 0), failed 0\n');
    assert.equal(result.stderr, 'airsync: note: floating time read in the zone asked for (1 item)\n');
    const exported = await airsync(['export', 'alice', 'Holidays', ...dataArgs]);
    assert.match(exported.stdout, /\r\nDTSTART;TZID=Pacific\/Auckland:20261231T200000\r\n/);
    assert.equal((await itemCounts(data.dir)).Holidays, 1);
  });

  it('fails with exit 1 for files it cannot use, and 2 for a wrong command line', async () => {
    const onlyBad = join(data.dir, 'only-bad.ics');
    await writeFile(onlyBad, 'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n');
    const cases: [string[], number, RegExp][] = [
      [['import', 'alice', join(data.dir, 'missing.ics')], 1, /^airsync: cannot read [^\n]*missing\.ics: /],
      [['import', 'alice', join(FIXTURES, 'README.md')], 1, /is neither an iCalendar nor a vCard file\n$/],
      [['import', 'alice', onlyBad], 1, /^airsync: item 1 \(line 2\) UID x: VEVENT has no DTSTART\n$/],
      [['import', 'nobody', join(FIXTURES, 'outlook.ics')], 1, /^airsync: there is no user named nobody\n$/],
      [
        ['import', 'alice', join(FIXTURES, 'outlook.ics'), '--collection', 'Nope'],
        1,
        /no collection named Nope/,
      ],
      [
        ['import', 'alice', join(FIXTURES, 'outlook.ics'), '--collection', 'Contacts'],
        1,
        /holds Contacts items, and the file has none/,
      ],
      [['export', 'alice', 'Nope'], 1, /^airsync: alice has no collection named Nope\n$/],
      [['import', 'alice'], 2, /^airsync: import needs a user and a file\n/],
      [['import', 'alice', 'x.ics', '--time-zone', 'Mars/Olympus'], 2, /--time-zone wants an IANA zone/],
      [['export', 'alice'], 2, /^airsync: export needs a user and a collection\n/],
    ];
    const results = await Promise.all(cases.map(([args]) => airsync([...args, ...dataArgs])));
    cases.forEach(([args, code, stderr], i) => {
      assert.equal(results[i]?.code, code, args.join(' '));
      assert.match(results[i]?.stderr ?? '', stderr, args.join(' '));
    });
    const help = await Promise.all([airsync(['import', '--help']), airsync(['export', '--help'])]);
    assert.match(help[0]!.stdout, /^Usage: airsync import USER FILE/);
    assert.match(help[1]!.stdout, /^Usage: airsync export USER COLLECTION/);
  });
});
