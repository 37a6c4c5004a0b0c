// MS-ASNOTE: a 14.0 class; MessageClass rules, the server's LastModifiedDate, and what a Change keeps.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemError } from '../../src/model/codec.ts';
import { noteCodec } from '../../src/model/note.ts';
import type { Note } from '../../src/model/types.ts';
import { decode, el, encode, type WbxmlElement } from '../../src/wbxml/index.ts';
import { libwbxmlDecode, shapeOf, shapeOfLibwbxmlOutput } from '../wbxml/libwbxml.ts';

const appData = (...children: WbxmlElement[]): WbxmlElement => el('AirSync', 'ApplicationData', children);
const notes = (name: string, content?: string | WbxmlElement[]) => el('Notes', name, content);
const body = (data: string) =>
  el('AirSyncBase', 'Body', [el('AirSyncBase', 'Type', '1'), el('AirSyncBase', 'Data', data)]);

const SHOPPING: Note = {
  subject: 'Shopping',
  body: { format: 'text', data: 'milk\neggs' },
  categories: ['Home', 'Errands'],
  lastModified: '2024-06-10T07:30:15.000Z',
};

describe('encode', () => {
  test('at 14.0 on: Body, Subject, MessageClass (the default when none), LastModifiedDate compact, Categories', () => {
    assert.deepEqual(noteCodec.encode(SHOPPING, { version: '14.0' }), [
      el('AirSyncBase', 'Body', [
        el('AirSyncBase', 'Type', '1'),
        el('AirSyncBase', 'EstimatedDataSize', '9'),
        el('AirSyncBase', 'Data', 'milk\neggs'),
      ]),
      notes('Subject', 'Shopping'),
      notes('MessageClass', 'IPM.StickyNote'),
      notes('LastModifiedDate', '20240610T073015Z'),
      notes('Categories', [notes('Category', 'Home'), notes('Category', 'Errands')]),
    ]);
  });

  test('below 14.0 there is no Notes class', () => {
    assert.throws(() => noteCodec.encode(SHOPPING, { version: '12.1' }), RangeError);
    assert.throws(() => noteCodec.decode(appData(notes('Subject', 'x')), '12.1'), ItemError);
  });

  test('what we encode, libwbxml decodes to the same tree', async () => {
    const tree = appData(
      ...noteCodec.encode({ ...SHOPPING, messageClass: 'IPM.StickyNote.Pink' }, { version: '16.1' }),
    );
    const [output] = await libwbxmlDecode([encode(tree)]);
    assert.deepEqual(shapeOfLibwbxmlOutput(output!), shapeOf(tree));
  });
});

describe('decode', () => {
  test('a note as a phone sends it; the phone’s LastModifiedDate is ignored (MS-ASNOTE 3.2.5.3.1)', () => {
    const sent = appData(
      body('milk\neggs'),
      notes('Subject', 'Shopping'),
      notes('MessageClass', 'IPM.StickyNote'),
      notes('LastModifiedDate', '20240101T000000Z'),
      notes('Categories', [notes('Category', 'Home'), notes('Category', 'Errands')]),
    );
    const expected = structuredClone(SHOPPING);
    delete expected.lastModified;
    assert.deepEqual(noteCodec.decode(decode(encode(sent)), '14.1'), expected);
  });

  test('MessageClass IPM.StickyNote.* is kept; anything else is refused (Status 6)', () => {
    assert.equal(
      noteCodec.decode(appData(notes('MessageClass', 'IPM.StickyNote.Yellow')), '14.1').messageClass,
      'IPM.StickyNote.Yellow',
    );
    for (const value of ['IPM.Note', 'IPM.StickyNote.', '']) {
      assert.throws(() => noteCodec.decode(appData(notes('MessageClass', value)), '14.1'), ItemError, value);
    }
  });
});

describe('merge', () => {
  test('a missing Body or Subject is kept, missing Categories are deleted, the stored time stays', () => {
    const incoming = noteCodec.decode(appData(notes('MessageClass', 'IPM.StickyNote')), '14.1');
    assert.deepEqual(noteCodec.merge(SHOPPING, incoming, undefined, '14.1'), {
      subject: 'Shopping',
      body: SHOPPING.body,
      lastModified: SHOPPING.lastModified,
    });
  });

  test('sent empty, Subject and Body are cleared', () => {
    const incoming = noteCodec.decode(appData(notes('Subject'), body('')), '14.1');
    assert.deepEqual(noteCodec.merge(SHOPPING, incoming, undefined, '14.1'), {
      lastModified: SHOPPING.lastModified,
    });
  });

  test('window: no end', () => {
    assert.deepEqual(noteCodec.window(SHOPPING), { end: null });
  });
});
