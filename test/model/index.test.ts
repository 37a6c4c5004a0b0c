// The class dispatch: one entry point for the engine over the four PIM codecs.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  calendarCodec,
  codecFor,
  contactCodec,
  decodeItem,
  encodeItem,
  ItemError,
  itemWindow,
  mergeItem,
  noteCodec,
  taskCodec,
  type PimItem,
} from '../../src/model/index.ts';
import { decode, el, encode, type WbxmlElement } from '../../src/wbxml/index.ts';

const appData = (...children: WbxmlElement[]): WbxmlElement => el('AirSync', 'ApplicationData', children);

const ITEMS: PimItem[] = [
  { class: 'Contacts', data: { firstName: 'Ann', lastName: 'Lee' } },
  {
    class: 'Calendar',
    data: {
      subject: 'Stand-up',
      start: '2024-06-10T07:00:00.000Z',
      end: '2024-06-10T07:15:00.000Z',
      timeZone: { iana: 'Europe/Berlin' },
    },
  },
  { class: 'Tasks', data: { subject: 'Water the plants', complete: true } },
  { class: 'Notes', data: { subject: 'Ideas' } },
];

describe('codecFor and the item functions', () => {
  test('each class goes to its codec', () => {
    const codecs = { Contacts: contactCodec, Calendar: calendarCodec, Tasks: taskCodec, Notes: noteCodec };
    for (const item of ITEMS) {
      const options = { version: '16.1' as const };
      assert.deepEqual(encodeItem(item, options), codecs[item.class].encode(item.data as never, options));
      assert.deepEqual(codecFor(item.class).encode(item, options), encodeItem(item, options));
    }
  });

  test('an item encoded and decoded is the item again', () => {
    for (const item of ITEMS) {
      const wire = decode(encode(appData(...encodeItem(item, { version: '16.1' }))));
      const decoded = decodeItem(item.class, wire, '16.1');
      assert.equal(decoded.class, item.class);
      assert.equal(
        (decoded.data as { subject?: string }).subject,
        (item.data as { subject?: string }).subject,
      );
    }
  });

  test('mergeItem keeps what decodeItem learnt about the elements sent', () => {
    const stored: PimItem = { class: 'Contacts', data: { firstName: 'Ann', picture: 'AAAA' } };
    const keeps = decodeItem('Contacts', appData(el('Contacts', 'FirstName', 'Anna')), '14.1');
    assert.deepEqual(mergeItem(stored, keeps, undefined, '14.1'), {
      class: 'Contacts',
      data: { firstName: 'Anna', picture: 'AAAA' },
    });
    const clears = decodeItem(
      'Contacts',
      appData(el('Contacts', 'FirstName', 'Anna'), el('Contacts', 'Picture')),
      '14.1',
    );
    assert.deepEqual(mergeItem(stored, clears, undefined, '14.1'), {
      class: 'Contacts',
      data: { firstName: 'Anna' },
    });
  });

  test('itemWindow: tasks by completion, contacts and notes without end', () => {
    assert.deepEqual(itemWindow(ITEMS[2]!), { end: null, complete: true });
    assert.deepEqual(itemWindow(ITEMS[0]!), { end: null });
    assert.deepEqual(itemWindow(ITEMS[3]!), { end: null });
    assert.equal(itemWindow(ITEMS[1]!).end, '2024-06-10T07:15:00.000Z');
  });

  test('a bad item is an ItemError of its class; items of two classes do not merge', () => {
    assert.throws(() => decodeItem('Tasks', appData(el('Tasks', 'Complete', 'yes')), '14.1'), ItemError);
    assert.throws(() => mergeItem(ITEMS[0]!, ITEMS[2]!, undefined, '14.1'), TypeError);
    assert.throws(() => codecFor('Notes').encode(ITEMS[0]!, { version: '14.1' }), TypeError);
  });
});
