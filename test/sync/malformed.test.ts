// Bad items in both directions, beyond the malformed Adds of test/commands/sync.test.ts: a malformed
// Change is Status 6 and leaves the item as it was, while the other commands of the same request —
// in the same collection and in others — apply; bad dates, zones, recurrences and oversized fields
// of every class; invalid UTF-8 bytes in a Change; an item the store holds that no codec can write,
// which is left out without stalling the folder; and series so long they reach past the year 9999.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import { WBXML_MEDIA_TYPE } from '../../src/http/activesync.ts';
import { encodeTimeZone } from '../../src/model/timezone.ts';
import type { Appointment, PimItem } from '../../src/model/types.ts';
import { child, childText, children, decode, el, encode, type WbxmlElement } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { contact, SyncWorld, type Phone } from './session.ts';

const TOOL = { tool: 'test' };
const BERLIN = encodeTimeZone({ iana: 'Europe/Berlin' }, 2027);

const cal = (name: string, content?: string | WbxmlElement[]) => el('Calendar', name, content);

/** A one-hour meeting on 4 January 2027 at 09:00 in Berlin, as a phone at 14.1 writes it. */
function meeting(subject: string, extra: WbxmlElement[] = []): WbxmlElement[] {
  return [
    cal('Timezone', BERLIN),
    cal('AllDayEvent', '0'),
    cal('StartTime', '20270104T080000Z'),
    cal('Subject', subject),
    cal('EndTime', '20270104T090000Z'),
    ...extra,
  ];
}

/** The same with `name` replaced by `content`. */
function replaced(data: WbxmlElement[], name: string, content: string): WbxmlElement[] {
  return data.map((element) => (element.name === name ? cal(name, content) : element));
}

const dailyThrice = cal('Recurrence', [cal('Type', '0'), cal('Interval', '1'), cal('Occurrences', '3')]);

function storedAppointment(start: string, subject: string): PimItem {
  return {
    class: 'Calendar',
    data: {
      subject,
      start,
      end: new Date(Date.parse(start) + 60 * 60_000).toISOString(),
      timeZone: { iana: 'Europe/Berlin' },
    },
  };
}

describeEachDatabase('malformed items', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  /** A phone holding the user's folder of `type`, and the store id of that folder's collection. */
  async function synced(phone: Phone, type: number, request = {}) {
    if (phone.folders.size === 0) await phone.folderSync();
    const folder = phone.folder(type);
    await phone.start(folder, request);
    await phone.syncToEnd(folder);
    return folder;
  }

  function serverIdOf(phone: Phone, folder: string, label: string): string {
    const entry = [...phone.held(folder)].find(
      ([, item]) => (item.class === 'Contacts' ? item.data.firstName : item.data.subject) === label,
    );
    assert.ok(entry, `the phone holds ${label}`);
    return entry[0];
  }

  async function stored(owner: Owner, pimClass: 'Contacts' | 'Calendar' | 'Tasks'): Promise<PimItem[]> {
    const items: PimItem[] = [];
    for await (const { item } of world.store.items(owner, await world.defaultCollection(owner, pimClass))) {
      items.push(item);
    }
    return items;
  }

  test('malformed calendar Changes and Adds are Status 6 each and change nothing; the rest applies', async () => {
    const owner = await world.user();
    const calendar = await world.defaultCollection(owner, 'Calendar');
    const original = [
      storedAppointment('2027-01-11T08:00:00.000Z', 'A'),
      storedAppointment('2027-01-12T08:00:00.000Z', 'B'),
    ];
    await world.store.addItems(owner, calendar, original, TOOL);
    const phone = world.phone(owner, '14.1');
    const folder = await synced(phone, FOLDER_TYPES.defaultCalendar);
    const a = serverIdOf(phone, folder, 'A');
    const b = serverIdOf(phone, folder, 'B');
    const aData = phone.encode(original[0] as PimItem);

    const answer = await phone.sync(folder, {
      commands: [
        { kind: 'change', serverId: a, data: replaced(aData, 'EndTime', '20270111T070000Z') },
        {
          kind: 'change',
          serverId: b,
          data: phone.encode(storedAppointment('2027-01-12T08:00:00.000Z', 'B2')),
        },
        {
          kind: 'change',
          serverId: a,
          data: [...aData, cal('Recurrence', [cal('Type', '4'), cal('Interval', '1')])],
        },
        { kind: 'add', clientId: 'zone-text', data: replaced(meeting('x'), 'Timezone', 'not a time zone') },
        {
          kind: 'add',
          clientId: 'zone-short',
          data: replaced(meeting('x'), 'Timezone', Buffer.alloc(100).toString('base64')),
        },
        {
          kind: 'add',
          clientId: 'february-30',
          data: replaced(meeting('x'), 'StartTime', '20270230T080000Z'),
        },
        {
          kind: 'add',
          clientId: 'exception-start',
          data: meeting('x', [
            dailyThrice,
            cal('Exceptions', [
              cal('Exception', [cal('ExceptionStartTime', 'yesterday'), cal('Deleted', '1')]),
            ]),
          ]),
        },
        {
          kind: 'add',
          clientId: 'until',
          data: meeting('x', [
            cal('Recurrence', [cal('Type', '0'), cal('Interval', '1'), cal('Until', 'soon')]),
          ]),
        },
        {
          kind: 'add',
          clientId: 'categories',
          data: meeting('x', [
            cal(
              'Categories',
              Array.from({ length: 301 }, (_, index) => cal('Category', `c${index}`)),
            ),
          ]),
        },
        {
          kind: 'add',
          clientId: 'attendee',
          data: meeting('x', [cal('Attendees', [cal('Attendee', [cal('Name', 'Nobody')])])]),
        },
        { kind: 'add', clientId: 'good', data: meeting('good') },
      ],
    });
    assert.equal(answer.status, 1);
    assert.deepEqual(
      answer.responses.map((response) => [
        response.kind,
        response.clientId ?? response.serverId,
        response.status,
      ]),
      [
        ['change', a, 6],
        ['change', a, 6],
        ['add', 'zone-text', 6],
        ['add', 'zone-short', 6],
        ['add', 'february-30', 6],
        ['add', 'exception-start', 6],
        ['add', 'until', 6],
        ['add', 'categories', 6],
        ['add', 'attendee', 6],
        ['add', 'good', 1],
      ],
    );
    const subjects = (await stored(owner, 'Calendar')).map((item) => (item.data as Appointment).subject);
    assert.deepEqual(subjects.sort(), ['A', 'B2', 'good']);
    assert.deepEqual(
      (await stored(owner, 'Calendar')).find((item) => (item.data as Appointment).subject === 'A'),
      original[0],
      'A is as it was',
    );
  });

  test('one request over two collections: the bad contact and task items fail alone', async () => {
    const owner = await world.user();
    await world.store.addItems(
      owner,
      await world.defaultCollection(owner, 'Contacts'),
      [contact('ann'), contact('bob')],
      TOOL,
    );
    const phone = world.phone(owner, '12.1');
    const contacts = await synced(phone, FOLDER_TYPES.defaultContacts);
    const tasks = await synced(phone, FOLDER_TYPES.defaultTasks);
    const contactsPage = (name: string, content: string) => el('Contacts', name, content);
    const tasksPage = (name: string, content?: string | WbxmlElement[]) => el('Tasks', name, content);
    const result = await phone.send([
      {
        collectionId: contacts,
        commands: [
          {
            kind: 'change',
            serverId: serverIdOf(phone, contacts, 'ann'),
            data: [contactsPage('FirstName', 'ann'), contactsPage('Birthday', 'someday')],
          },
          {
            kind: 'change',
            serverId: serverIdOf(phone, contacts, 'bob'),
            data: [contactsPage('FirstName', 'bobby')],
          },
          {
            kind: 'add',
            clientId: 'picture',
            data: [contactsPage('FirstName', 'p'), contactsPage('Picture', '***')],
          },
          {
            kind: 'add',
            clientId: 'job-title',
            data: [contactsPage('FirstName', 'j'), contactsPage('JobTitle', 'x'.repeat(40_000))],
          },
          {
            kind: 'add',
            clientId: 'anniversary',
            data: [contactsPage('FirstName', 'e'), contactsPage('Anniversary', '2027-02-30T00:00:00.000Z')],
          },
        ],
      },
      {
        collectionId: tasks,
        commands: [
          {
            kind: 'add',
            clientId: 'due',
            data: [tasksPage('Subject', 'd'), tasksPage('DueDate', 'tomorrow')],
          },
          {
            kind: 'add',
            clientId: 'no-start',
            data: [
              tasksPage('Subject', 'r'),
              tasksPage('Recurrence', [tasksPage('Type', '0'), tasksPage('Interval', '1')]),
            ],
          },
          {
            kind: 'add',
            clientId: 'sensitivity',
            data: [tasksPage('Subject', 's'), tasksPage('Sensitivity', '9')],
          },
          { kind: 'add', clientId: 'good', data: [tasksPage('Subject', 'good'), tasksPage('Complete', '0')] },
        ],
      },
    ]);
    const statuses = result.collections.map((collection) => [
      collection.status,
      collection.responses.map((response) => [response.clientId ?? response.kind, response.status]),
    ]);
    assert.deepEqual(statuses, [
      [
        1,
        [
          ['change', 6],
          ['picture', 6],
          ['job-title', 6],
          ['anniversary', 6],
        ],
      ],
      [
        1,
        [
          ['due', 6],
          ['no-start', 6],
          ['sensitivity', 6],
          ['good', 1],
        ],
      ],
    ]);
    assert.deepEqual(
      (await stored(owner, 'Contacts'))
        .map((item) => item.class === 'Contacts' && item.data.firstName)
        .sort(),
      ['ann', 'bobby'],
    );
    assert.deepEqual(
      (await stored(owner, 'Contacts')).find(
        (item) => item.class === 'Contacts' && item.data.firstName === 'ann',
      ),
      contact('ann'),
    );
    assert.deepEqual(
      (await stored(owner, 'Tasks')).map((item) => item.class === 'Tasks' && item.data.subject),
      ['good'],
    );
  });

  test('invalid UTF-8 in a Change is replaced, and the request goes on', async () => {
    const owner = await world.user();
    await world.store.addItems(
      owner,
      await world.defaultCollection(owner, 'Contacts'),
      [contact('ann'), contact('bob')],
      TOOL,
    );
    const phone = world.phone(owner, '14.1');
    const folder = await synced(phone, FOLDER_TYPES.defaultContacts);
    const marker = 'INVALID';
    const tree = el('AirSync', 'Sync', [
      el('AirSync', 'Collections', [
        el('AirSync', 'Collection', [
          el('AirSync', 'SyncKey', phone.keys.get(folder) as string),
          el('AirSync', 'CollectionId', folder),
          el('AirSync', 'Commands', [
            el('AirSync', 'Change', [
              el('AirSync', 'ServerId', serverIdOf(phone, folder, 'ann')),
              el('AirSync', 'ApplicationData', [el('Contacts', 'FirstName', marker)]),
            ]),
            el('AirSync', 'Add', [
              el('AirSync', 'ClientId', 'bad-birthday'),
              el('AirSync', 'ApplicationData', [
                el('Contacts', 'FirstName', 'x'),
                el('Contacts', 'Birthday', 'someday'),
              ]),
            ]),
            el('AirSync', 'Change', [
              el('AirSync', 'ServerId', serverIdOf(phone, folder, 'bob')),
              el('AirSync', 'ApplicationData', [el('Contacts', 'FirstName', 'bobby')]),
            ]),
          ]),
        ]),
      ]),
    ]);
    const body = encode(tree);
    // "A", a broken two-byte sequence, a lone continuation byte, two bytes UTF-8 never uses, "B".
    body.set([0x41, 0xc3, 0x28, 0x80, 0xff, 0xfe, 0x42], body.indexOf(marker));
    const response = await fetch(phone.client.url.href + `?${syncQuery(phone, owner)}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${owner.name}:${owner.name}`).toString('base64')}`,
        'ms-asprotocolversion': '14.1',
        'content-type': WBXML_MEDIA_TYPE,
      },
      body: new Uint8Array(body),
    });
    assert.equal(response.status, 200);
    const answer = decode(Buffer.from(await response.arrayBuffer()));
    const collection = child(
      child(answer, 'Collections', 'AirSync') as WbxmlElement,
      'Collection',
      'AirSync',
    );
    assert.ok(collection);
    assert.equal(childText(collection, 'Status', 'AirSync'), '1');
    const responses = children(child(collection, 'Responses', 'AirSync') as WbxmlElement, 'Add', 'AirSync');
    assert.deepEqual(
      responses.map((add) => [childText(add, 'ClientId', 'AirSync'), childText(add, 'Status', 'AirSync')]),
      [['bad-birthday', '6']],
    );
    assert.deepEqual(
      (await stored(owner, 'Contacts'))
        .map((item) => item.class === 'Contacts' && item.data.firstName)
        .sort(),
      ['A\ufffd(\ufffd\ufffd\ufffdB', 'bobby'],
    );
  });

  test('an item the store holds that no codec can write is left out, and the folder does not stall', async () => {
    const owner = await world.user();
    const calendar = await world.defaultCollection(owner, 'Calendar');
    const broken: PimItem = {
      class: 'Calendar',
      data: {
        subject: 'broken',
        start: 'not a date',
        end: 'not a date',
        timeZone: { iana: 'Europe/Berlin' },
      },
    };
    const [, brokenId] = await world.store.addItems(
      owner,
      calendar,
      [
        storedAppointment('2027-01-11T08:00:00.000Z', 'first'),
        broken,
        storedAppointment('2027-01-12T08:00:00.000Z', 'last'),
      ],
      TOOL,
    );
    await world.store.putItem(
      owner,
      await world.defaultCollection(owner, 'Contacts'),
      contact('A\u0000B\u0007C\ud800D'),
      TOOL,
    );
    const phone = world.phone(owner, '14.1');
    await phone.folderSync();
    const folder = phone.folder(FOLDER_TYPES.defaultCalendar);
    await phone.start(folder, { windowSize: 1 });
    // One item per answer: two answers, then none with MoreAvailable, however the broken one falls.
    const answers = [];
    for (let more = true; more && answers.length < 5;) {
      const answer = await phone.sync(folder);
      answers.push(answer.commands.length);
      more = answer.moreAvailable;
    }
    assert.deepEqual(answers, [1, 1]);
    const subjects = () => [...phone.held(folder).values()].map((item) => (item.data as Appointment).subject);
    assert.deepEqual(subjects().sort(), ['first', 'last']);
    assert.deepEqual((await phone.sync(folder)).commands, [], 'nothing left to send');

    await world.store.apply(
      owner,
      String(calendar),
      {
        kind: 'change',
        id: brokenId as string,
        item: storedAppointment('2027-01-13T08:00:00.000Z', 'mended'),
      },
      TOOL,
    );
    const mended = await phone.sync(folder);
    assert.deepEqual(
      mended.commands.map((command) => command.kind),
      ['add'],
    );
    assert.deepEqual(subjects().sort(), ['first', 'last', 'mended']);

    // Text no XML may carry reaches the phone cleaned, not as an unreadable answer.
    const contacts = await synced(phone, FOLDER_TYPES.defaultContacts);
    const [held] = [...phone.held(contacts).values()];
    assert.equal(held?.class === 'Contacts' && held.data.firstName, 'ABC\ufffdD');
  });

  test('series that reach past the year 9999 are accepted and shown to phones with a FilterType', async () => {
    const owner = await world.user();
    const creator = world.phone(owner, '16.1');
    const folder = await synced(creator, FOLDER_TYPES.defaultCalendar);
    const answer = await creator.sync(folder, {
      commands: [
        {
          kind: 'add',
          clientId: 'daily-forever',
          data: [
            cal('AllDayEvent', '1'),
            cal('StartTime', '20260101T000000Z'),
            cal('Subject', 'daily forever'),
            cal('EndTime', '20260102T000000Z'),
            cal('Recurrence', [cal('Type', '0'), cal('Interval', '1'), cal('Until', '99991231T000000Z')]),
          ],
        },
        {
          kind: 'add',
          clientId: 'every-999-years',
          data: [
            cal('Timezone', BERLIN),
            cal('AllDayEvent', '0'),
            cal('StartTime', '20260105T080000Z'),
            cal('Subject', 'every 999 years'),
            cal('EndTime', '20260105T090000Z'),
            cal('Recurrence', [
              cal('Type', '5'),
              cal('Interval', '999'),
              cal('Occurrences', '999'),
              cal('DayOfMonth', '5'),
              cal('MonthOfYear', '1'),
            ]),
          ],
        },
      ],
    });
    assert.deepEqual(
      answer.responses.map((response) => [response.clientId, response.status]),
      [
        ['daily-forever', 1],
        ['every-999-years', 1],
      ],
    );
    const TWO_WEEKS = 4;
    const reader = world.phone(owner, '14.1');
    const readerFolder = await synced(reader, FOLDER_TYPES.defaultCalendar, {
      options: { filterType: TWO_WEEKS },
    });
    assert.deepEqual(
      [...reader.held(readerFolder).values()].map((item) => (item.data as Appointment).subject).sort(),
      ['daily forever', 'every 999 years'],
    );
  });
});

function syncQuery(phone: Phone, owner: Owner): string {
  return new URLSearchParams({
    Cmd: 'Sync',
    User: owner.name,
    DeviceId: phone.client.deviceId,
    DeviceType: 'SmartPhone',
  }).toString();
}
