// MS-ASTASK: a task as the children of ApplicationData. Dates are dateTimes (the dashed form, unlike
// the calendar's compact one); the recurrence pattern is the calendar's (src/model/recurrence.ts) with
// Start, Regenerate and DeadOccur, its instants taken as UTC.

import { child, el } from '../wbxml/tree.ts';
import { bodyProperty } from './body.ts';
import { ItemError, type ClassCodec } from './codec.ts';
import {
  dateTime,
  decodeWithTable,
  encodeWithTable,
  enumeration,
  field,
  flag,
  list,
  mergeWithTable,
  property,
  text,
  textOf,
  type Property,
  type PropertyTable,
  type Wire,
} from './property-table.ts';
import { decodeRecurrence, encodeRecurrence } from './recurrence.ts';
import type { Importance, Sensitivity, Task, TimeZone } from './types.ts';

const IMPORTANCE: readonly Importance[] = ['low', 'normal', 'high'];
const SENSITIVITY: readonly Sensitivity[] = ['normal', 'personal', 'private', 'confidential'];
const UTC: TimeZone = { iana: 'UTC' };

/**
 * Importance 0–2. MS-ASTASK 2.2.2.14 has the server accept any other number without an error; the
 * model has no place for it, so it reads as "not set" (normal).
 */
const importance: Wire<Importance> = {
  write: enumeration(IMPORTANCE).write,
  read(element, key) {
    const value = textOf(element).trim();
    if (!/^\d{1,3}$/.test(value))
      throw new ItemError(`${key}: ${JSON.stringify(value.slice(0, 20))} is not a number`);
    return IMPORTANCE[Number(value)];
  },
};

/** ReminderSet and ReminderTime: one property, a reminder time or none. */
const reminder: Property<Task> = {
  key: 'Tasks:ReminderSet',
  definedAt: () => true,
  // MS-ASTASK 3.2.5.3.2: a Change without ReminderSet keeps the reminder.
  keptWhenAbsent: true,
  encode(task) {
    const time = task.reminderTime === undefined ? undefined : dateTime.write(task.reminderTime);
    if (time === undefined) return [el('Tasks', 'ReminderSet', '0')];
    return [el('Tasks', 'ReminderTime', time), el('Tasks', 'ReminderSet', '1')];
  },
  decode(applicationData, draft) {
    const set = child(applicationData, 'ReminderSet', 'Tasks');
    const time = child(applicationData, 'ReminderTime', 'Tasks');
    if (set === undefined && time === undefined) return false;
    const isSet = set === undefined ? true : flag.read(set, 'Tasks:ReminderSet');
    const value = isSet && time !== undefined ? dateTime.read(time, 'Tasks:ReminderTime') : undefined;
    if (value === undefined) delete draft.reminderTime;
    else draft.reminderTime = value;
    return true;
  },
  copy(source, target) {
    if (source.reminderTime === undefined) delete target.reminderTime;
    else target.reminderTime = source.reminderTime;
  },
  isSet: (task) => task.reminderTime !== undefined,
};

const recurrence: Property<Task> = {
  key: 'Tasks:Recurrence',
  definedAt: () => true,
  keptWhenAbsent: false,
  encode(task, options) {
    if (task.recurrence === undefined) return [];
    // Start is required; a series stored without one starts with the task.
    const start = task.recurrence.start ?? task.startDate ?? task.dueDate;
    if (start === undefined || dateTime.write(start) === undefined) return [];
    return [encodeRecurrence('Tasks', { ...task.recurrence, start }, options.version, UTC)];
  },
  decode(applicationData, draft, version) {
    const element = child(applicationData, 'Recurrence', 'Tasks');
    if (element === undefined) return false;
    if (element.children.length === 0) {
      delete draft.recurrence;
      return true;
    }
    const pattern = decodeRecurrence('Tasks', element, version, UTC);
    // MS-ASTASK 3.2.5.3.3: a Recurrence without Start is answered with Status 6.
    if (pattern.start === undefined) throw new ItemError('Tasks:Recurrence: no Start');
    draft.recurrence = pattern;
    return true;
  },
  copy(source, target) {
    if (source.recurrence === undefined) delete target.recurrence;
    else target.recurrence = source.recurrence;
  },
  isSet: (task) => task.recurrence !== undefined,
};

export const TASK_PROPERTIES: PropertyTable<Task> = [
  bodyProperty('Tasks'),
  property('Tasks', 'Subject', field('subject'), text()),
  // MS-ASTASK 3.2.5.3.1: a Change without Importance keeps it.
  property('Tasks', 'Importance', field('importance'), importance, { keptWhenAbsent: true }),
  property('Tasks', 'UtcStartDate', field('utcStartDate'), dateTime),
  property('Tasks', 'StartDate', field('startDate'), dateTime),
  property('Tasks', 'UtcDueDate', field('utcDueDate'), dateTime),
  property('Tasks', 'DueDate', field('dueDate'), dateTime),
  property('Tasks', 'Categories', field('categories'), list('Tasks', 'Category', 300)),
  recurrence,
  // Complete is required: an incomplete task says 0.
  property('Tasks', 'Complete', field('complete'), flag, { whenUnset: false }),
  property('Tasks', 'DateCompleted', field('dateCompleted'), dateTime),
  property('Tasks', 'Sensitivity', field('sensitivity'), enumeration(SENSITIVITY)),
  reminder,
  property('Tasks', 'OrdinalDate', field('ordinalDate'), dateTime, { since: '12.0' }),
  property('Tasks', 'SubOrdinalDate', field('subOrdinalDate'), text(), { since: '12.0' }),
];

export const taskCodec: ClassCodec<Task> = {
  encode: (task, options) => encodeWithTable(TASK_PROPERTIES, task, options),
  decode: (applicationData, version) => decodeWithTable(TASK_PROPERTIES, applicationData, version),
  merge: (stored, incoming, supported, version) =>
    mergeWithTable(TASK_PROPERTIES, stored, incoming, supported, version),
  window: (task) => ({ end: null, complete: task.complete ?? false }),
};
