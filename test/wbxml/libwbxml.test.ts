// Our codec against Debian's libwbxml: the same fixtures must decode to the same trees, and what we
// encode must decode in libwbxml to the tree we started from.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { decode, el, encode, type WbxmlElement } from '../../src/wbxml/index.ts';
import {
  FIXTURES,
  HORDE_MULTI_ROOT,
  libwbxmlDecode,
  shapeOf,
  shapeOfLibwbxmlOutput,
  shapeOfSpecXml,
  wrapHordeFragment,
} from './libwbxml.ts';

interface Fixture {
  name: string;
  /** The complete document (Horde fragments wrapped as their README says). */
  document: Buffer;
  /** The spec's XML the document was made from, if any. */
  specXml?: string;
}

function hordeFixtures(): Fixture[] {
  const dir = join(FIXTURES, 'horde-activesync');
  const fragments = readdirSync(dir)
    .filter((f) => f.endsWith('.wbxml'))
    .map((f) => {
      const name = basename(f, '.wbxml');
      return { name, document: wrapHordeFragment(readFileSync(join(dir, f)), HORDE_MULTI_ROOT.has(name)) };
    });
  return [
    ...fragments,
    { name: 'FolderSyncRequest', document: readFileSync(join(dir, 'FolderSyncRequest.txt')) },
  ];
}

function specFixtures(): Fixture[] {
  const root = join(FIXTURES, 'ms-as-examples');
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.wbxml'))
    .sort()
    .map((f) => ({
      name: relative(root, join(root, f)),
      document: readFileSync(join(root, f)),
      specXml: readFileSync(join(root, f.replace(/\.wbxml$/, '.xml')), 'utf8'),
    }));
}

const fixtures = [...hordeFixtures(), ...specFixtures()];

/** Trees across many code pages (libwbxml has no page 25, Find). */
const handBuilt: Record<string, WbxmlElement> = {
  'FolderSync response': el('FolderHierarchy', 'FolderSync', [
    el('FolderHierarchy', 'Status', '1'),
    el('FolderHierarchy', 'SyncKey', '{c0ffee}1'),
    el('FolderHierarchy', 'Changes', [
      el('FolderHierarchy', 'Count', '1'),
      el('FolderHierarchy', 'Add', [
        el('FolderHierarchy', 'ServerId', 'inbox'),
        el('FolderHierarchy', 'ParentId', '0'),
        el('FolderHierarchy', 'DisplayName', 'Boîte de réception 📥'),
        el('FolderHierarchy', 'Type', '2'),
      ]),
    ]),
  ]),
  'Sync email with flag and body': el('AirSync', 'Sync', [
    el('AirSync', 'Collections', [
      el('AirSync', 'Collection', [
        el('AirSync', 'SyncKey', '2'),
        el('AirSync', 'CollectionId', 'inbox'),
        el('AirSync', 'Status', '1'),
        el('AirSync', 'Commands', [
          el('AirSync', 'Add', [
            el('AirSync', 'ServerId', 'inbox:17'),
            el('AirSync', 'ApplicationData', [
              el('Email', 'To', '"Ann" <ann@example.org>'),
              el('Email', 'From', 'bob@example.org'),
              el('Email', 'Subject', 'Ünïcödé & <markup>'),
              el('Email', 'DateReceived', '2024-03-01T10:00:00.000Z'),
              el('Email', 'Read', '0'),
              el('Email', 'Flag', [el('Email', 'Status', '2'), el('Email', 'FlagType', 'Follow up')]),
              el('AirSyncBase', 'Body', [
                el('AirSyncBase', 'Type', '1'),
                el('AirSyncBase', 'EstimatedDataSize', '11'),
                el('AirSyncBase', 'Data', 'hello\nworld'),
              ]),
              el('Email2', 'ConversationId', Buffer.from([0x00, 0x01, 0xfe, 0xff])),
              el('Email2', 'ConversationIndex', Buffer.from('0123456789', 'latin1')),
              el('AirSyncBase', 'NativeBodyType', '1'),
            ]),
          ]),
        ]),
      ]),
    ]),
  ]),
  'Calendar with recurrence, attendees and exception': el('AirSync', 'ApplicationData', [
    el('Calendar', 'Timezone', 'LAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    el('Calendar', 'DtStamp', '20240301T100000Z'),
    el('Calendar', 'OrganizerName', 'Ann'),
    el('Calendar', 'OrganizerEmail', 'ann@example.org'),
    el('Calendar', 'Attendees', [
      el('Calendar', 'Attendee', [
        el('Calendar', 'Email', 'bob@example.org'),
        el('Calendar', 'Name', 'Bob'),
        el('Calendar', 'AttendeeStatus', '3'),
        el('Calendar', 'AttendeeType', '1'),
      ]),
    ]),
    el('Calendar', 'Recurrence', [
      el('Calendar', 'Type', '1'),
      el('Calendar', 'Interval', '2'),
      el('Calendar', 'DayOfWeek', '16'),
      el('Calendar', 'Until', '20241231T000000Z'),
    ]),
    el('Calendar', 'Exceptions', [
      el('Calendar', 'Exception', [
        el('Calendar', 'Deleted', '1'),
        el('Calendar', 'ExceptionStartTime', '20240315T100000Z'),
      ]),
    ]),
    el('Calendar', 'UID', 'abc-123'),
  ]),
  'Contacts and Contacts2': el('AirSync', 'ApplicationData', [
    el('Contacts', 'AssistantPhoneNumber', '+1 555 0100'),
    el('Contacts', 'BusinessAddressCity', 'Redmond'),
    el('Contacts', 'HomeAddressStreet', '1 Main St.'),
    el('Contacts', 'OtherAddressPostalCode', '10021'),
    el('Contacts', 'Categories', [el('Contacts', 'Category', 'Friends'), el('Contacts', 'Category', 'Work')]),
    el('Contacts', 'Picture', Buffer.from('/9j/4AAQ', 'latin1')),
    el('Contacts2', 'NickName', 'Nick'),
    el('Contacts2', 'IMAddress', 'xmpp:nick@example.org'),
  ]),
  'Tasks with recurrence': el('AirSync', 'ApplicationData', [
    el('Tasks', 'Subject', 'Water the plants'),
    el('Tasks', 'UtcDueDate', '2024-03-02T00:00:00.000Z'),
    el('Tasks', 'Recurrence', [el('Tasks', 'Type', '0'), el('Tasks', 'Start', '2024-03-01T00:00:00.000Z')]),
  ]),
  'Provision response': el('Provision', 'Provision', [
    el('Provision', 'Status', '1'),
    el('Provision', 'Policies', [
      el('Provision', 'Policy', [
        el('Provision', 'PolicyType', 'MS-EAS-Provisioning-WBXML'),
        el('Provision', 'Status', '1'),
        el('Provision', 'PolicyKey', '3942919513'),
        el('Provision', 'Data', [
          el('Provision', 'EASProvisionDoc', [
            el('Provision', 'DevicePasswordEnabled', '0'),
            el('Provision', 'RequireStorageCardEncryption', '0'),
            el('Provision', 'MaxAttachmentSize', '5000000'),
          ]),
        ]),
      ]),
    ]),
  ]),
  'Settings, Ping, ItemOperations, ComposeMail, GAL': el('ItemOperations', 'ItemOperations', [
    el('ItemOperations', 'Response', [
      el('ItemOperations', 'Fetch', [
        el('ItemOperations', 'Status', '1'),
        el('ItemOperations', 'Properties', [el('ItemOperations', 'Data', Buffer.from('binary\u0000data'))]),
      ]),
    ]),
    el('Settings', 'UserInformation', [
      el('Settings', 'EmailAddresses', [el('Settings', 'SMTPAddress', 'a@b.c')]),
    ]),
    el('Ping', 'Folders', [el('Ping', 'Folder', [el('Ping', 'Id', '1'), el('Ping', 'Class', 'Email')])]),
    el('ComposeMail', 'SendMail', [
      el('ComposeMail', 'ClientId', '42'),
      el('ComposeMail', 'SaveInSentItems'),
      el('ComposeMail', 'Mime', Buffer.from('Subject: hi\r\n\r\nbody\r\n')),
    ]),
    el('GAL', 'DisplayName', 'Ann'),
    el('RightsManagement', 'Owner', '1'),
    el('Notes', 'Subject', 'Note'),
  ]),
};

test('every fixture decodes to the tree libwbxml decodes', async () => {
  const outputs = await libwbxmlDecode(fixtures.map((f) => f.document));
  fixtures.forEach((fixture, i) => {
    assert.deepEqual(shapeOf(decode(fixture.document)), shapeOfLibwbxmlOutput(outputs[i]!), fixture.name);
  });
});

test('Horde fixtures decode to the stored decoded-by-libwbxml XML', () => {
  const dir = join(FIXTURES, 'horde-activesync', 'decoded-by-libwbxml');
  const stored = readdirSync(dir).filter((f) => f.endsWith('.xml'));
  assert.equal(stored.length, 8);
  for (const file of stored) {
    const fixture = fixtures.find((f) => f.name === basename(file, '.xml'));
    assert.ok(fixture, file);
    assert.deepEqual(
      shapeOf(decode(fixture.document)),
      shapeOfLibwbxmlOutput(readFileSync(join(dir, file))),
      fixture.name,
    );
  }
});

test('spec examples decode to the spec XML they were made from, with the MS-ASWBXML names', () => {
  const examples = fixtures.filter((f) => f.specXml !== undefined);
  assert.ok(examples.length >= 12);
  for (const { name, document, specXml } of examples) {
    assert.deepEqual(shapeOf(decode(document)), shapeOfSpecXml(specXml!), name);
  }
});

test('what we encode decodes in libwbxml to the same tree', async () => {
  const trees = [...fixtures.map((f) => decode(f.document)), ...Object.values(handBuilt)];
  const outputs = await libwbxmlDecode(trees.map((t) => encode(t)));
  trees.forEach((tree, i) => {
    assert.deepEqual(shapeOfLibwbxmlOutput(outputs[i]!), shapeOf(tree), `tree ${i}`);
  });
});

test("MS-ASWBXML 4's example bytes decode, and encode back to exactly the spec's bytes", () => {
  const hex = readFileSync(
    join(FIXTURES, 'ms-as-examples/ms-aswbxml/sync-response-new-contact-4.spec.hex'),
    'utf8',
  );
  const bytes = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  assert.equal(bytes.length, 106);
  const tree = decode(bytes);
  assert.equal(tree.name, 'Sync');
  assert.deepEqual(encode(tree), bytes);
  // libwbxml produced the very same bytes from the spec's XML.
  assert.deepEqual(
    readFileSync(join(FIXTURES, 'ms-as-examples/ms-aswbxml/sync-response-new-contact-4.wbxml')),
    bytes,
  );
});
