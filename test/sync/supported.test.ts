// Ghosted properties (MS-ASCMD 2.2.3.179 Supported): a phone that names, with SyncKey 0, the
// elements it manages keeps every other property of an item intact when it changes the item — in
// the store and on the user's other phones. A phone that names none manages them all: what its
// Change leaves out is deleted, except the body and the photo (MS-ASCNTC, MS-ASCMD Change). An
// empty Supported ghosts everything, a Supported sent later than SyncKey 0 is ignored, and a 16.0
// phone ghosts every calendar property.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { encodeTimeZone } from '../../src/model/timezone.ts';
import type { Appointment, Contact, PimItem } from '../../src/model/types.ts';
import type { Namespace, WbxmlElement } from '../../src/wbxml/index.ts';
import { el } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { SyncWorld, type Phone } from './session.ts';

const TOOL = { tool: 'test' };

/** A 1×1 PNG. */
const PICTURE =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

/** A contact with more than any phone below manages. */
const ANN: Contact = {
  firstName: 'Ann',
  lastName: 'Lee',
  jobTitle: 'Engineer',
  companyName: 'Acme',
  nickName: 'Annie',
  emails: ['ann@example.org'],
  phones: { mobile: '+49 170 1', home: '+49 30 2' },
  birthday: '1990-05-15',
  categories: ['Friends'],
  picture: PICTURE,
  body: { format: 'text', data: 'Met at the fair.' },
};

/** A meeting with attendees, which a phone may not manage. */
const MEETING: Appointment = {
  subject: 'Planning',
  location: 'Room 1',
  start: '2030-06-03T07:00:00.000Z',
  end: '2030-06-03T08:00:00.000Z',
  timeZone: { iana: 'Europe/Berlin' },
  uid: 'planning@example.org',
  organizer: { email: 'boss@example.org', name: 'Boss' },
  attendees: [{ email: 'ann@example.org', name: 'Ann', status: 'accepted', type: 'required' }],
  categories: ['Work'],
  body: { format: 'text', data: 'Agenda: everything.' },
  meetingStatus: 1,
  busyStatus: 'busy',
  reminder: 15,
};

const named = (ns: Namespace, names: string[]) => names.map((name) => ({ ns, name }));

describeEachDatabase('ghosted properties', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  /** A phone that has synced the folder of `type`, having named `supported` with SyncKey 0. */
  async function syncedPhone(
    owner: Owner,
    version: ProtocolVersion,
    type: number,
    supported?: { ns: Namespace; name: string }[],
  ): Promise<{ phone: Phone; folder: string; serverId: string }> {
    const phone = world.phone(owner, version);
    await phone.folderSync();
    const folder = phone.folder(type);
    await phone.start(folder, supported === undefined ? {} : { supported });
    await phone.syncToEnd(folder);
    const [serverId] = [...phone.held(folder).keys()];
    assert.ok(serverId, 'the phone holds the item');
    return { phone, folder, serverId };
  }

  /** A user with ANN in the address book, and a phone at 16.1 that holds her too, to watch. */
  async function addressBook() {
    const owner = await world.user();
    const collection = await world.defaultCollection(owner, 'Contacts');
    const [id] = await world.store.addItems(owner, collection, [{ class: 'Contacts', data: ANN }], TOOL);
    const watcher = await syncedPhone(owner, '16.1', FOLDER_TYPES.defaultContacts);
    return { owner, collection, id: id as string, watcher };
  }

  /** The phone sends a Change of its item; it succeeds silently and is not echoed. */
  async function change(phone: Phone, folder: string, serverId: string, data: WbxmlElement[]) {
    const answer = await phone.sync(folder, { commands: [{ kind: 'change', serverId, data }] });
    assert.equal(answer.status, 1);
    assert.deepEqual(answer.responses, [], 'the Change succeeds');
    assert.deepEqual(answer.commands, [], 'and is not echoed');
  }

  /** The item as stored, and as the watching phone now holds it. */
  async function views(
    owner: Owner,
    collection: number,
    id: string,
    watcher: { phone: Phone; folder: string; serverId: string },
  ): Promise<{ stored: PimItem | undefined; watched: PimItem | undefined }> {
    const [stored] = await world.store.fetch(owner, String(collection), [id]);
    const answer = await watcher.phone.sync(watcher.folder);
    assert.deepEqual(
      answer.commands.map((command) => command.kind),
      ['change'],
    );
    return { stored: stored?.item, watched: watcher.phone.held(watcher.folder).get(watcher.serverId) };
  }

  for (const version of ['12.1', '14.1'] as const) {
    test(`at ${version}, what a phone does not name in Supported survives its Change`, async () => {
      const { owner, collection, id, watcher } = await addressBook();
      const managed = [
        'FirstName',
        'LastName',
        'MobilePhoneNumber',
        'HomePhoneNumber',
        'Email1Address',
        'JobTitle',
      ];
      const { phone, folder, serverId } = await syncedPhone(
        owner,
        version,
        FOLDER_TYPES.defaultContacts,
        named('Contacts', managed),
      );
      // The phone has dropped the home number and the job title; it knows nothing of the rest.
      await change(phone, folder, serverId, [
        el('Contacts', 'FirstName', 'Ann'),
        el('Contacts', 'LastName', 'Lee-Smith'),
        el('Contacts', 'MobilePhoneNumber', '+49 170 3'),
        el('Contacts', 'Email1Address', 'ann@lee.example'),
      ]);
      const expected: PimItem = {
        class: 'Contacts',
        data: {
          firstName: 'Ann',
          lastName: 'Lee-Smith',
          companyName: 'Acme',
          nickName: 'Annie',
          emails: ['ann@lee.example'],
          phones: { mobile: '+49 170 3' },
          birthday: '1990-05-15',
          categories: ['Friends'],
          picture: PICTURE,
          body: ANN.body,
        },
      };
      const { stored, watched } = await views(owner, collection, id, watcher);
      assert.deepEqual(stored, expected);
      assert.deepEqual(watched, expected);
    });

    test(`at ${version}, an empty Supported ghosts everything, and one sent after SyncKey 0 is ignored`, async () => {
      const { owner, collection, id, watcher } = await addressBook();
      const { phone, folder, serverId } = await syncedPhone(owner, version, FOLDER_TYPES.defaultContacts, []);
      await change(phone, folder, serverId, [el('Contacts', 'FirstName', 'Anne')]);
      const first = await views(owner, collection, id, watcher);
      assert.deepEqual(first.stored, { class: 'Contacts', data: { ...ANN, firstName: 'Anne' } });
      assert.deepEqual(first.watched, first.stored);

      // A phone that named nothing at SyncKey 0 manages everything, whatever it says later.
      const late = await syncedPhone(owner, version, FOLDER_TYPES.defaultContacts);
      const answer = await late.phone.sync(late.folder, {
        supported: named('Contacts', ['FirstName']),
        commands: [{ kind: 'change', serverId: late.serverId, data: [el('Contacts', 'FirstName', 'Ann')] }],
      });
      assert.deepEqual([answer.status, answer.responses], [1, []]);
      const second = await views(owner, collection, id, watcher);
      const kept: Contact = { firstName: 'Ann', picture: PICTURE, body: ANN.body };
      assert.deepEqual(second.stored, { class: 'Contacts', data: kept });
      assert.deepEqual(second.watched, second.stored);
    });
  }

  for (const version of ['2.5', '12.1', '14.1', '16.1'] as const) {
    test(`at ${version}, a phone without Supported deletes what it leaves out, but the body and the photo`, async () => {
      const { owner, collection, id, watcher } = await addressBook();
      const { phone, folder, serverId } = await syncedPhone(owner, version, FOLDER_TYPES.defaultContacts);
      await change(phone, folder, serverId, [
        el('Contacts', 'FirstName', 'Ann'),
        el('Contacts', 'LastName', 'Lee'),
      ]);
      const kept = await views(owner, collection, id, watcher);
      const expected: PimItem = {
        class: 'Contacts',
        data: { firstName: 'Ann', lastName: 'Lee', picture: PICTURE, body: ANN.body },
      };
      assert.deepEqual(kept.stored, expected);
      assert.deepEqual(kept.watched, expected);

      // An empty Picture is how a phone removes the photo.
      await change(phone, folder, serverId, [
        el('Contacts', 'FirstName', 'Ann'),
        el('Contacts', 'LastName', 'Lee'),
        el('Contacts', 'Picture'),
      ]);
      const removed = await views(owner, collection, id, watcher);
      const withoutPhoto: PimItem = {
        class: 'Contacts',
        data: { firstName: 'Ann', lastName: 'Lee', body: ANN.body },
      };
      assert.deepEqual(removed.stored, withoutPhoto);
      assert.deepEqual(removed.watched, withoutPhoto);
    });
  }

  async function calendarWith(item: Appointment) {
    const owner = await world.user();
    const collection = await world.defaultCollection(owner, 'Calendar');
    const [id] = await world.store.addItems(owner, collection, [{ class: 'Calendar', data: item }], TOOL);
    return { owner, collection, id: id as string };
  }

  async function storedAppointment(owner: Owner, collection: number, id: string): Promise<Appointment> {
    const [stored] = await world.store.fetch(owner, String(collection), [id]);
    assert.equal(stored?.item.class, 'Calendar');
    return stored.item.data as Appointment;
  }

  test('at 14.1, a phone naming the required calendar elements keeps the attendees it does not manage', async () => {
    const { owner, collection, id } = await calendarWith(MEETING);
    const required = [
      'DtStamp',
      'Categories',
      'Sensitivity',
      'BusyStatus',
      'UID',
      'Timezone',
      'StartTime',
      'Subject',
      'Location',
      'EndTime',
      'Recurrence',
      'AllDayEvent',
      'Reminder',
      'Exceptions',
    ];
    const { phone, folder, serverId } = await syncedPhone(
      owner,
      '14.1',
      FOLDER_TYPES.defaultCalendar,
      named('Calendar', required),
    );
    await change(phone, folder, serverId, [
      el('Calendar', 'Timezone', encodeTimeZone({ iana: 'Europe/Berlin' }, 2030)),
      el('Calendar', 'AllDayEvent', '0'),
      el('Calendar', 'StartTime', '20300603T080000Z'),
      el('Calendar', 'Subject', 'Planning, later'),
      el('Calendar', 'UID', 'planning@example.org'),
      el('Calendar', 'EndTime', '20300603T090000Z'),
      el('Calendar', 'BusyStatus', '2'),
      el('Calendar', 'Reminder', '15'),
    ]);
    const expected: Appointment = {
      ...MEETING,
      subject: 'Planning, later',
      start: '2030-06-03T08:00:00.000Z',
      end: '2030-06-03T09:00:00.000Z',
    };
    // Managed by the phone and left out: deleted.
    delete expected.location;
    delete expected.categories;
    assert.deepEqual(await storedAppointment(owner, collection, id), expected);
    const reader = await syncedPhone(owner, '16.1', FOLDER_TYPES.defaultCalendar);
    const read = reader.phone.held(reader.folder).get(reader.serverId);
    assert.ok(read?.class === 'Calendar');
    assert.deepEqual(read.data.attendees, MEETING.attendees);
    assert.deepEqual(read.data.body, MEETING.body);
  });

  test('at 16.1, every calendar property a Change leaves out is unchanged', async () => {
    const { owner, collection, id } = await calendarWith(MEETING);
    const { phone, folder, serverId } = await syncedPhone(owner, '16.1', FOLDER_TYPES.defaultCalendar);
    await change(phone, folder, serverId, [el('Calendar', 'Subject', 'Planning, renamed')]);
    assert.deepEqual(await storedAppointment(owner, collection, id), {
      ...MEETING,
      subject: 'Planning, renamed',
    });
  });
});
