// MS-ASTASK: trees per version, recurrence with Start/Regenerate/DeadOccur, the reminder and
// importance rules of a Change, and the values a phone may not send.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemError } from '../../src/model/codec.ts';
import { taskCodec } from '../../src/model/task.ts';
import type { Task } from '../../src/model/types.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { child, decode, el, encode, type WbxmlElement } from '../../src/wbxml/index.ts';
import { libwbxmlDecode, shapeOf, shapeOfLibwbxmlOutput } from '../wbxml/libwbxml.ts';

const appData = (...children: WbxmlElement[]): WbxmlElement => el('AirSync', 'ApplicationData', children);
const decodeAt = (version: ProtocolVersion, ...children: WbxmlElement[]): Task =>
  taskCodec.decode(appData(...children), version);
const tasks = (name: string, content?: string | WbxmlElement[]) => el('Tasks', name, content);

const WEEKLY_REVIEW: Task = {
  subject: 'Weekly review',
  body: { format: 'text', data: 'Go through the inbox.' },
  importance: 'high',
  utcStartDate: '2024-06-10T07:00:00.000Z',
  startDate: '2024-06-10T09:00:00.000Z',
  utcDueDate: '2024-06-14T15:00:00.000Z',
  dueDate: '2024-06-14T17:00:00.000Z',
  categories: ['Work'],
  recurrence: {
    type: 'weekly',
    interval: 1,
    dayOfWeek: 2,
    occurrences: 10,
    start: '2024-06-10T09:00:00.000Z',
    regenerate: false,
    deadOccur: false,
    firstDayOfWeek: 1,
  },
  complete: false,
  sensitivity: 'private',
  reminderTime: '2024-06-10T06:45:00.000Z',
  ordinalDate: '2024-06-01T10:00:00.000Z',
  subOrdinalDate: '5000000000000000000',
};

/** The tree a phone sends for WEEKLY_REVIEW at 14.1. */
const WEEKLY_REVIEW_WIRE = appData(
  el('AirSyncBase', 'Body', [
    el('AirSyncBase', 'Type', '1'),
    el('AirSyncBase', 'Data', 'Go through the inbox.'),
  ]),
  tasks('Subject', 'Weekly review'),
  tasks('Importance', '2'),
  tasks('UtcStartDate', '2024-06-10T07:00:00.000Z'),
  tasks('StartDate', '2024-06-10T09:00:00.000Z'),
  tasks('UtcDueDate', '2024-06-14T15:00:00.000Z'),
  tasks('DueDate', '2024-06-14T17:00:00.000Z'),
  tasks('Categories', [tasks('Category', 'Work')]),
  tasks('Recurrence', [
    tasks('Type', '1'),
    tasks('Start', '2024-06-10T09:00:00.000Z'),
    tasks('Occurrences', '10'),
    tasks('Interval', '1'),
    tasks('DayOfWeek', '2'),
    tasks('Regenerate', '0'),
    tasks('DeadOccur', '0'),
    tasks('FirstDayOfWeek', '1'),
  ]),
  tasks('Complete', '0'),
  tasks('Sensitivity', '2'),
  tasks('ReminderTime', '2024-06-10T06:45:00.000Z'),
  tasks('ReminderSet', '1'),
  tasks('OrdinalDate', '2024-06-01T10:00:00.000Z'),
  tasks('SubOrdinalDate', '5000000000000000000'),
);

describe('encode and decode', () => {
  test('a phone’s task decodes to the model, and encodes back to the same tree', () => {
    assert.deepEqual(taskCodec.decode(WEEKLY_REVIEW_WIRE, '14.1'), WEEKLY_REVIEW);
    const encoded = taskCodec.encode(WEEKLY_REVIEW, { version: '14.1' });
    const sent = encoded.filter((e) => e.name !== 'Body');
    assert.deepEqual(
      sent,
      WEEKLY_REVIEW_WIRE.children.filter((e) => e.name !== 'Body'),
    );
  });

  test('what we encode, libwbxml decodes to the same tree', async () => {
    const trees = (['2.5', '12.1', '14.1', '16.1'] as const).map((version) =>
      appData(...taskCodec.encode(WEEKLY_REVIEW, { version, bodyPreferences: [{ type: 2 }] })),
    );
    const outputs = await libwbxmlDecode(trees.map((tree) => encode(tree)));
    trees.forEach((tree, i) => assert.deepEqual(shapeOfLibwbxmlOutput(outputs[i]!), shapeOf(tree)));
  });

  test('2.5: the Tasks Body, and no OrdinalDate', () => {
    const names = taskCodec.encode(WEEKLY_REVIEW, { version: '2.5' }).map((e) => `${e.ns}:${e.name}`);
    assert.deepEqual(names.slice(0, 3), ['Tasks:Body', 'Tasks:BodySize', 'Tasks:BodyTruncated']);
    assert.ok(!names.includes('Tasks:OrdinalDate') && !names.includes('Tasks:SubOrdinalDate'));
    const read = taskCodec.decode(
      decode(encode(appData(...taskCodec.encode(WEEKLY_REVIEW, { version: '2.5' })))),
      '2.5',
    );
    // FirstDayOfWeek is a 14.1 element.
    const expected = structuredClone(WEEKLY_REVIEW);
    delete expected.ordinalDate;
    delete expected.subOrdinalDate;
    delete expected.recurrence!.firstDayOfWeek;
    assert.deepEqual(read, expected);
  });

  test('Complete and ReminderSet are always written', () => {
    const encoded = taskCodec.encode({ subject: 'x' }, { version: '14.1' });
    assert.deepEqual(
      encoded.filter((e) => e.ns === 'Tasks'),
      [tasks('Subject', 'x'), tasks('Complete', '0'), tasks('ReminderSet', '0')],
    );
  });

  test('a completed task carries DateCompleted; window() says whether it is complete', () => {
    const done: Task = { subject: 'x', complete: true, dateCompleted: '2024-06-11T12:00:00.000Z' };
    const encoded = taskCodec.encode(done, { version: '14.1' });
    assert.equal(encoded.find((e) => e.name === 'DateCompleted')?.text, '2024-06-11T12:00:00.000Z');
    assert.deepEqual(taskCodec.window(done), { end: null, complete: true });
    assert.deepEqual(taskCodec.window({ subject: 'y' }), { end: null, complete: false });
  });

  test('a stored series without Start starts with the task', () => {
    const task: Task = { startDate: '2024-06-10T09:00:00.000Z', recurrence: { type: 'daily', interval: 2 } };
    const recurrence = taskCodec.encode(task, { version: '14.1' }).find((e) => e.name === 'Recurrence')!;
    assert.equal(child(recurrence, 'Start', 'Tasks')?.text, '2024-06-10T09:00:00.000Z');
  });
});

describe('what a phone may not send', () => {
  test('values out of their range: ItemError (Status 6)', () => {
    const bad: WbxmlElement[] = [
      tasks('Complete', '2'),
      tasks('ReminderSet', '3'),
      tasks('Sensitivity', '4'),
      tasks('Importance', 'high'),
      tasks('DueDate', '2024-06-31T00:00:00.000Z'),
      tasks('UtcDueDate', 'next week'),
      tasks('Subject', 'x'.repeat(40000)),
      tasks('Recurrence', [tasks('Type', '1'), tasks('DayOfWeek', '2')]),
      tasks('Recurrence', [tasks('Start', '2024-06-10T09:00:00.000Z'), tasks('Interval', '1')]),
      tasks('Recurrence', [
        tasks('Type', '1'),
        tasks('Start', '2024-06-10T09:00:00.000Z'),
        tasks('DeadOccur', '300'),
      ]),
    ];
    for (const element of bad) {
      assert.throws(() => decodeAt('14.1', element), ItemError, JSON.stringify(element));
    }
  });

  test('an Importance other than 0–2 is accepted (MS-ASTASK 2.2.2.14) and reads as not set', () => {
    assert.deepEqual(decodeAt('14.1', tasks('Importance', '7'), tasks('Subject', 'x')), { subject: 'x' });
  });

  test('Occurrences wins over Until', () => {
    const task = decodeAt(
      '14.1',
      tasks('Recurrence', [
        tasks('Type', '0'),
        tasks('Start', '2024-06-10T09:00:00.000Z'),
        tasks('Until', '2024-07-10T09:00:00.000Z'),
        tasks('Occurrences', '3'),
      ]),
    );
    assert.equal(task.recurrence?.occurrences, 3);
    assert.equal(task.recurrence?.until, undefined);
  });
});

describe('merge: a Change applied to the stored task', () => {
  const stored: Task = {
    subject: 'Pay rent',
    importance: 'high',
    reminderTime: '2024-06-30T08:00:00.000Z',
    categories: ['Home'],
    body: { format: 'text', data: 'IBAN in the folder' },
    dueDate: '2024-07-01T00:00:00.000Z',
  };

  test('left out: Importance, ReminderSet and Body are kept; the rest is deleted', () => {
    const incoming = decodeAt('14.1', tasks('Subject', 'Pay the rent'), tasks('Complete', '1'));
    assert.deepEqual(taskCodec.merge(stored, incoming, undefined, '14.1'), {
      subject: 'Pay the rent',
      importance: 'high',
      reminderTime: '2024-06-30T08:00:00.000Z',
      body: stored.body,
      complete: true,
    });
  });

  test('ReminderSet 0 removes the reminder; 1 with a time sets it', () => {
    const off = decodeAt('14.1', tasks('Subject', 'Pay rent'), tasks('ReminderSet', '0'));
    assert.equal(taskCodec.merge(stored, off, undefined, '14.1').reminderTime, undefined);
    const moved = decodeAt(
      '14.1',
      tasks('ReminderSet', '1'),
      tasks('ReminderTime', '2024-06-29T08:00:00.000Z'),
    );
    assert.equal(taskCodec.merge(stored, moved, undefined, '14.1').reminderTime, '2024-06-29T08:00:00.000Z');
  });

  test('an empty Categories removes the categories', () => {
    const incoming = decodeAt('14.1', tasks('Categories'));
    assert.equal(taskCodec.merge(stored, incoming, new Set(), '14.1').categories, undefined);
  });

  test('ghosted elements keep their value', () => {
    const incoming = decodeAt('14.1', tasks('Subject', 'Rent'));
    const merged = taskCodec.merge(stored, incoming, new Set(['Tasks:Subject', 'Tasks:DueDate']), '14.1');
    const expected = { ...stored, subject: 'Rent' };
    delete expected.dueDate;
    assert.deepEqual(merged, expected);
  });
});
