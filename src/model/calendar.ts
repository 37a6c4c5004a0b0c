// The Calendar class of EAS (MS-ASCAL): an appointment's ApplicationData both ways, 2.5 to 16.1.
//
// What changes with the version:
// - 2.5 carries the body as Calendar:Body/BodyTruncated, 12.0+ as AirSyncBase:Body (body.ts).
// - AttendeeStatus/AttendeeType from 12.0; ResponseRequested, ResponseType, AppointmentReplyTime,
//   DisallowNewTimeProposal, exception Attendees and recurrence CalendarType/IsLeapMonth from 14.0;
//   online meeting links and FirstDayOfWeek from 14.1.
// - 16.0 names an exception by airsyncbase:InstanceId instead of ExceptionStartTime, carries the
//   location as airsyncbase:Location, writes all-day items as dates without a time zone, and lets a
//   phone change or delete one occurrence by ServerId + InstanceId (withOccurrenceChange /
//   withoutOccurrence). In 16.0 everything a phone leaves out of a Change is unchanged.
// - 16.1 adds an attendee's proposed new time.

import { isDeepStrictEqual } from 'node:util';
import { Temporal } from 'temporal-polyfill';
import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { child, children, el, type Namespace, type WbxmlElement } from '../wbxml/index.ts';
import { decodeBody, encodeBody, encodeNativeBodyType } from './body.ts';
import { ItemError, type ClassCodec, type EncodeOptions } from './codec.ts';
import {
  compactDate,
  compactDateTime,
  decodeRecurrence,
  encodeRecurrence,
  isOccurrenceStart,
  lastOccurrenceEnd,
  parseEasDateTime,
} from './recurrence.ts';
import { decodeTimeZone, encodeTimeZone, fromLocal, isoInstant, toLocal } from './timezone.ts';
import type {
  Appointment,
  AppointmentException,
  Attendee,
  AttendeeStatus,
  AttendeeType,
  BusyStatus,
  OccurrenceFields,
  Sensitivity,
  TimeZone,
} from './types.ts';

/** Limits beyond which an item is refused (Status 6) rather than stored. */
const MAX_TEXT = 32 * 1024;
const MAX_ATTENDEES = 1000;
const MAX_CATEGORIES = 300;
const MAX_EXCEPTIONS = 256;
const HALF_HOUR = 30 * 60_000;

const UTC: TimeZone = { iana: 'UTC' };

const BUSY_STATUS: readonly BusyStatus[] = [
  'free',
  'tentative',
  'busy',
  'out-of-office',
  'working-elsewhere',
];
const SENSITIVITY: readonly Sensitivity[] = ['normal', 'personal', 'private', 'confidential'];
const ATTENDEE_STATUS: Readonly<Record<number, AttendeeStatus>> = {
  0: 'unknown',
  2: 'tentative',
  3: 'accepted',
  4: 'declined',
  5: 'not-responded',
};
const ATTENDEE_TYPE: readonly (AttendeeType | undefined)[] = [undefined, 'required', 'optional', 'resource'];
const MEETING_STATUS = new Set([0, 1, 3, 5, 7, 9, 11, 13, 15]);

export const calendarCodec: ClassCodec<Appointment> = {
  encode: encodeAppointment,
  decode: (applicationData, version) => decodeAppointment(applicationData, version),
  merge: mergeAppointment,
  window: (data) => ({ end: lastOccurrenceEnd(data) }),
};

// ---------------------------------------------------------------------------------------------------
// Encoding

/** How an item's times are written: instants, or (16.0 all-day) local dates of its zone. */
interface TimeWriting {
  timeZone: TimeZone;
  dates: boolean;
}

function encodeAppointment(data: Appointment, options: EncodeOptions): WbxmlElement[] {
  const { version } = options;
  const at = (minimum: ProtocolVersion) => isVersionAtLeast(version, minimum);
  const writing: TimeWriting = { timeZone: data.timeZone, dates: at('16.0') && data.allDay === true };
  const out: WbxmlElement[] = [];
  // A 16.0 all-day item is a span of dates, valid in every zone (MS-ASCAL 2.2.2.1).
  if (!writing.dates) out.push(cal('Timezone', encodeTimeZone(data.timeZone, ruleYear(data))));
  out.push(cal('AllDayEvent', flag(data.allDay)));
  if (data.dtStamp !== undefined) out.push(cal('DtStamp', compactDateTime(data.dtStamp)));
  out.push(cal('StartTime', writeTime(data.start, writing)));
  if (data.subject !== undefined) out.push(cal('Subject', data.subject));
  if (data.uid !== undefined) out.push(cal('UID', data.uid));
  if (data.organizer) {
    if (data.organizer.name !== undefined) out.push(cal('OrganizerName', data.organizer.name));
    out.push(cal('OrganizerEmail', data.organizer.email));
  }
  if (data.location !== undefined) out.push(encodeLocation(data.location, version));
  out.push(cal('EndTime', writeTime(data.end, writing)));
  if (data.recurrence) {
    out.push(
      encodeRecurrence('Calendar', data.recurrence, version, data.timeZone, { allDay: writing.dates }),
    );
  }
  if (data.attendees?.length) out.push(encodeAttendees(data.attendees, version));
  out.push(...encodeBody('Calendar', data.body, options));
  if (data.categories?.length) out.push(encodeCategories(data.categories));
  if (data.sensitivity !== undefined) {
    out.push(cal('Sensitivity', String(SENSITIVITY.indexOf(data.sensitivity))));
  }
  if (data.busyStatus !== undefined) out.push(cal('BusyStatus', busyStatusCode(data.busyStatus, version)));
  if (data.reminder !== undefined) out.push(cal('Reminder', String(data.reminder)));
  if (data.exceptions?.length) {
    out.push(
      cal(
        'Exceptions',
        data.exceptions.map((e) => encodeException(e, options, writing)),
      ),
    );
  }
  if (data.meetingStatus !== undefined) out.push(cal('MeetingStatus', String(data.meetingStatus)));
  out.push(...encodeNativeBodyType('Calendar', data.body, version));
  if (at('14.0')) {
    if (data.responseRequested !== undefined) {
      out.push(cal('ResponseRequested', flag(data.responseRequested)));
    }
    if (data.responseType !== undefined) out.push(cal('ResponseType', String(data.responseType)));
    if (data.appointmentReplyTime !== undefined) {
      out.push(cal('AppointmentReplyTime', compactDateTime(data.appointmentReplyTime)));
    }
    // One per response (MS-ASCAL 2.2.2.17), 0 unless set.
    out.push(cal('DisallowNewTimeProposal', flag(data.disallowNewTimeProposal)));
  }
  if (at('14.1') && data.onlineMeetingUrl !== undefined) {
    out.push(cal('OnlineMeetingExternalLink', data.onlineMeetingUrl));
  }
  return out;
}

function encodeException(
  e: AppointmentException,
  options: EncodeOptions,
  writing: TimeWriting,
): WbxmlElement {
  const { version } = options;
  const at = (minimum: ProtocolVersion) => isVersionAtLeast(version, minimum);
  const out = [
    at('16.0')
      ? el('AirSyncBase', 'InstanceId', writeTime(e.originalStart, writing))
      : cal('ExceptionStartTime', compactDateTime(e.originalStart)),
  ];
  if (e.deleted) return cal('Exception', [...out, cal('Deleted', '1')]);
  // An empty value (''/[]) is a property the occurrence removed: sent as an empty element (MS-ASCAL 3.2.5.3.2).
  if (e.subject !== undefined) out.push(cal('Subject', e.subject));
  if (e.location !== undefined) out.push(encodeLocation(e.location, version));
  if (e.start !== undefined) out.push(cal('StartTime', writeTime(e.start, writing)));
  if (e.end !== undefined) out.push(cal('EndTime', writeTime(e.end, writing)));
  if (e.body !== undefined) out.push(...encodeBody('Calendar', e.body, options));
  if (e.categories !== undefined) out.push(encodeCategories(e.categories));
  if (e.sensitivity !== undefined) out.push(cal('Sensitivity', String(SENSITIVITY.indexOf(e.sensitivity))));
  if (e.busyStatus !== undefined) out.push(cal('BusyStatus', busyStatusCode(e.busyStatus, version)));
  if (e.allDay !== undefined) out.push(cal('AllDayEvent', flag(e.allDay)));
  if (e.reminder !== undefined) out.push(cal('Reminder', String(e.reminder)));
  if (e.meetingStatus !== undefined) out.push(cal('MeetingStatus', String(e.meetingStatus)));
  if (at('14.0')) {
    if (e.attendees !== undefined) out.push(encodeAttendees(e.attendees, version));
    if (e.responseType !== undefined) out.push(cal('ResponseType', String(e.responseType)));
    if (e.appointmentReplyTime !== undefined) {
      out.push(cal('AppointmentReplyTime', compactDateTime(e.appointmentReplyTime)));
    }
  }
  if (at('14.1') && e.onlineMeetingUrl !== undefined) {
    out.push(cal('OnlineMeetingExternalLink', e.onlineMeetingUrl));
  }
  return cal('Exception', out);
}

function encodeAttendees(attendees: readonly Attendee[], version: ProtocolVersion): WbxmlElement {
  return cal(
    'Attendees',
    attendees.map((a) => {
      // Name is required (MS-ASCAL 2.2.2.3): the address stands in for a missing one.
      const out = [cal('Email', a.email), cal('Name', a.name ?? a.email)];
      if (isVersionAtLeast(version, '12.0')) {
        const status = Object.entries(ATTENDEE_STATUS).find(([, s]) => s === a.status)?.[0];
        if (status !== undefined) out.push(cal('AttendeeStatus', status));
        if (a.type !== undefined) out.push(cal('AttendeeType', String(ATTENDEE_TYPE.indexOf(a.type))));
      }
      if (isVersionAtLeast(version, '16.1') && a.proposedStart !== undefined && a.proposedEnd !== undefined) {
        out.push(el('MeetingResponse', 'ProposedStartTime', compactDateTime(a.proposedStart)));
        out.push(el('MeetingResponse', 'ProposedEndTime', compactDateTime(a.proposedEnd)));
      }
      return cal('Attendee', out);
    }),
  );
}

function encodeLocation(location: string, version: ProtocolVersion): WbxmlElement {
  if (!isVersionAtLeast(version, '16.0')) return cal('Location', location);
  return el('AirSyncBase', 'Location', location === '' ? [] : [el('AirSyncBase', 'DisplayName', location)]);
}

function encodeCategories(categories: readonly string[]): WbxmlElement {
  return cal(
    'Categories',
    categories.map((c) => cal('Category', c)),
  );
}

function busyStatusCode(status: BusyStatus, version: ProtocolVersion): string {
  // "Working elsewhere" is new in 16.0; older phones see the time as free.
  if (status === 'working-elsewhere' && !isVersionAtLeast(version, '16.0')) return '0';
  return String(BUSY_STATUS.indexOf(status));
}

function writeTime(instant: string, writing: TimeWriting): string {
  return writing.dates
    ? compactDate(toLocal(instant, writing.timeZone).toPlainDate())
    : compactDateTime(instant);
}

/**
 * The year whose daylight-saving rule describes the zone: a phone applies one rule to every
 * occurrence, so a running series gets this year's rule, a single event the rule of its own year.
 */
function ruleYear(data: Appointment): number {
  const startYear = new Date(data.start).getUTCFullYear();
  if (!data.recurrence) return startYear;
  const until = data.recurrence.until;
  const endYear = until === undefined ? Infinity : new Date(until).getUTCFullYear();
  return Math.min(Math.max(new Date().getUTCFullYear(), startYear), endYear);
}

function cal(name: string, content?: string | WbxmlElement[]): WbxmlElement {
  return el('Calendar', name, content);
}

function flag(value: boolean | undefined): string {
  return value ? '1' : '0';
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/** The elements each decoded item carried, for merge: a property a phone left out is not one it emptied. */
const sentElements = new WeakMap<Appointment, ReadonlySet<string>>();

/**
 * The appointment a phone sent. `now` fills a missing StartTime or EndTime as MS-ASCAL 3.2.4.4 says
 * (the current time rounded up to the half hour).
 */
export function decodeAppointment(
  applicationData: WbxmlElement,
  version: ProtocolVersion,
  now = Date.now(),
): Appointment {
  const modern = isVersionAtLeast(version, '16.0');
  const sent = new Set(applicationData.children.map((c) => `${c.ns}:${c.name}`));
  const read = reader(applicationData);
  const allDay = read.flag('AllDayEvent');
  const zoneText = read.text('Timezone');
  // 16.0 all-day items come as dates without a zone: they are kept as dates of UTC.
  const writing: TimeWriting = {
    timeZone: zoneText && !(modern && allDay) ? decodeTimeZone(zoneText) : UTC,
    dates: modern && allDay === true,
  };
  if (writing.dates) sent.add('Calendar:Timezone');
  const times = eventTimes(
    read.time('StartTime', writing),
    read.time('EndTime', writing),
    now,
    // A 16.0 Change leaves out what it does not change.
    modern,
  );
  const appointment: Appointment = {
    ...decodeOccurrenceFields(applicationData, writing, false),
    start: times.start,
    end: times.end,
    timeZone: writing.timeZone,
  };
  if (allDay) appointment.allDay = true;
  const body = decodeBody('Calendar', applicationData, version);
  // A truncated body is not the whole body: as if not sent. An empty one is no body.
  if (body === undefined) {
    sent.delete('AirSyncBase:Body');
    sent.delete('Calendar:Body');
  } else if (body.data !== '') {
    appointment.body = body;
  }
  const uid = read.text('UID') || read.text('ClientUid');
  if (uid) appointment.uid = uid;
  const dtStamp = read.time('DtStamp', { ...writing, dates: false });
  if (dtStamp) appointment.dtStamp = dtStamp;
  const organizerEmail = read.text('OrganizerEmail')?.trim();
  if (organizerEmail) {
    const name = read.text('OrganizerName');
    appointment.organizer = name ? { email: organizerEmail, name } : { email: organizerEmail };
  }
  const responseRequested = read.flag('ResponseRequested');
  if (responseRequested !== undefined) appointment.responseRequested = responseRequested;
  if (read.flag('DisallowNewTimeProposal')) appointment.disallowNewTimeProposal = true;
  const recurrence = child(applicationData, 'Recurrence', 'Calendar');
  // An empty Recurrence turns a series into a single event (16.0).
  if (recurrence && recurrence.children.length > 0) {
    appointment.recurrence = decodeRecurrence('Calendar', recurrence, version, writing.timeZone, {
      allDay: writing.dates,
    });
  }
  const exceptions = child(applicationData, 'Exceptions', 'Calendar');
  if (exceptions) {
    const list = children(exceptions, 'Exception', 'Calendar');
    if (list.length > MAX_EXCEPTIONS) throw new ItemError(`more than ${MAX_EXCEPTIONS} exceptions`);
    appointment.exceptions = list.map((e) => decodeException(e, version, writing));
  }
  checkOrder(appointment.start, appointment.end, 'EndTime');
  sentElements.set(appointment, sent);
  return appointment;
}

function decodeException(
  element: WbxmlElement,
  version: ProtocolVersion,
  writing: TimeWriting,
): AppointmentException {
  const read = reader(element);
  const instanceId = child(element, 'InstanceId', 'AirSyncBase')?.text;
  const originalStart =
    instanceId !== undefined
      ? readTime(instanceId, 'InstanceId', writing)
      : read.time('ExceptionStartTime', { ...writing, dates: false });
  if (originalStart === undefined) throw new ItemError('Exception without ExceptionStartTime or InstanceId');
  const exception: AppointmentException = { originalStart, ...decodeOccurrence(element, version, writing) };
  if (read.flag('Deleted')) exception.deleted = true;
  return exception;
}

/** What an exception, or the ApplicationData of a 16.0 occurrence Change, overrides. */
function decodeOccurrence(
  element: WbxmlElement,
  version: ProtocolVersion,
  writing: TimeWriting,
): OccurrenceFields {
  const read = reader(element);
  const fields = decodeOccurrenceFields(element, writing, true);
  // An empty body is one the occurrence removed.
  const body = decodeBody('Calendar', element, version);
  if (body) fields.body = body;
  const start = read.time('StartTime', writing);
  const end = read.time('EndTime', writing);
  if (start) fields.start = start;
  if (end) fields.end = end;
  if (start && end) checkOrder(start, end, 'Exception EndTime');
  return fields;
}

/**
 * The properties an appointment and its occurrences share, start, end and body aside. In an
 * exception an empty element is a property the occurrence removed, kept as '' or [].
 */
function decodeOccurrenceFields(
  parent: WbxmlElement,
  writing: TimeWriting,
  inException: boolean,
): OccurrenceFields {
  const read = reader(parent);
  const fields: OccurrenceFields = {};
  const keep = (value: string | undefined) => value !== undefined && (inException || value !== '');
  const subject = read.text('Subject');
  if (keep(subject)) fields.subject = subject;
  const location = readLocation(parent);
  if (keep(location)) fields.location = location;
  const allDay = read.flag('AllDayEvent');
  if (inException && allDay !== undefined) fields.allDay = allDay;
  const busyStatus = read.number('BusyStatus', -1, 4);
  // -1 is "unknown": no status.
  if (busyStatus !== undefined && busyStatus >= 0) fields.busyStatus = BUSY_STATUS[busyStatus];
  const sensitivity = read.number('Sensitivity', 0, 3);
  if (sensitivity !== undefined) fields.sensitivity = SENSITIVITY[sensitivity];
  const reminder = read.number('Reminder', 0, 0xffffffff);
  if (reminder !== undefined) fields.reminder = reminder;
  const categories = child(parent, 'Categories', 'Calendar');
  if (categories) {
    const list = children(categories, 'Category', 'Calendar').map((c) => checkText(c.text ?? '', 'Category'));
    if (list.length > MAX_CATEGORIES) throw new ItemError(`more than ${MAX_CATEGORIES} categories`);
    if (inException || list.length > 0) fields.categories = list;
  }
  const attendees = child(parent, 'Attendees', 'Calendar');
  if (attendees) {
    const list = children(attendees, 'Attendee', 'Calendar');
    if (list.length > MAX_ATTENDEES) throw new ItemError(`more than ${MAX_ATTENDEES} attendees`);
    if (inException || list.length > 0) fields.attendees = list.map(decodeAttendee);
  }
  const meetingStatus = read.number('MeetingStatus', 0, 15);
  if (meetingStatus !== undefined) {
    if (!MEETING_STATUS.has(meetingStatus)) {
      throw new ItemError(`MeetingStatus ${meetingStatus} is not defined`);
    }
    fields.meetingStatus = meetingStatus;
  }
  const responseType = read.number('ResponseType', 0, 5);
  if (responseType !== undefined) fields.responseType = responseType;
  const replyTime = read.time('AppointmentReplyTime', { ...writing, dates: false });
  if (replyTime) fields.appointmentReplyTime = replyTime;
  const link = read.text('OnlineMeetingExternalLink') || read.text('OnlineMeetingConfLink');
  if (link) fields.onlineMeetingUrl = link;
  return fields;
}

function decodeAttendee(element: WbxmlElement): Attendee {
  const read = reader(element);
  const email = read.text('Email')?.trim();
  if (!email) throw new ItemError('Attendee without Email');
  const attendee: Attendee = { email };
  const name = read.text('Name');
  if (name) attendee.name = name;
  const status = read.number('AttendeeStatus', 0, 5);
  if (status !== undefined) {
    attendee.status = ATTENDEE_STATUS[status] ?? invalid(`AttendeeStatus ${status} is not defined`);
  }
  const type = read.number('AttendeeType', 1, 3);
  if (type !== undefined) attendee.type = ATTENDEE_TYPE[type];
  const proposed = reader(element, 'MeetingResponse');
  const proposedStart = proposed.time('ProposedStartTime', { timeZone: UTC, dates: false });
  const proposedEnd = proposed.time('ProposedEndTime', { timeZone: UTC, dates: false });
  if (proposedStart && proposedEnd) {
    checkOrder(proposedStart, proposedEnd, 'ProposedEndTime');
    attendee.proposedStart = proposedStart;
    attendee.proposedEnd = proposedEnd;
  }
  return attendee;
}

/** Calendar:Location (to 14.1) or airsyncbase:Location's DisplayName (16.0); '' for an empty one. */
function readLocation(parent: WbxmlElement): string | undefined {
  const location = child(parent, 'Location', 'AirSyncBase');
  if (location) return checkText(child(location, 'DisplayName', 'AirSyncBase')?.text ?? '', 'Location');
  return reader(parent).text('Location');
}

/** Typed access to an element's children, with the checks every value gets. */
function reader(parent: WbxmlElement, ns: Namespace = 'Calendar') {
  const text = (name: string): string | undefined => {
    const found = child(parent, name, ns);
    if (!found) return undefined;
    if (found.children.length > 0) throw new ItemError(`${name} is not a value`);
    return checkText(found.text ?? '', name);
  };
  return {
    text,
    number(name: string, min: number, max: number): number | undefined {
      const value = text(name)?.trim();
      if (value === undefined || value === '') return undefined;
      const n = Number(value);
      if (!/^-?\d+$/.test(value) || n < min || n > max) {
        throw new ItemError(`${name} is out of range: ${value}`);
      }
      return n;
    },
    /** A boolean: an empty element is true (MS-ASDTYPE 2.1). */
    flag(name: string): boolean | undefined {
      const value = text(name)?.trim();
      if (value === undefined) return undefined;
      if (value !== '' && value !== '0' && value !== '1') {
        throw new ItemError(`${name} is not 0 or 1: ${value}`);
      }
      return value !== '0';
    },
    time(name: string, writing: TimeWriting): string | undefined {
      const value = text(name)?.trim();
      return value ? readTime(value, name, writing) : undefined;
    },
  };
}

function readTime(value: string, what: string, writing: TimeWriting): string {
  const instant = parseEasDateTime(value, what);
  return writing.dates ? midnightOf(instant, writing.timeZone) : instant;
}

/** Midnight, in `timeZone`, of the date of a UTC instant (a 16.0 all-day value). */
function midnightOf(instant: string, timeZone: TimeZone): string {
  return fromLocal(Temporal.PlainDate.from(instant.slice(0, 10)).toPlainDateTime(), timeZone);
}

function checkText(value: string, what: string): string {
  if (value.length > MAX_TEXT) throw new ItemError(`${what} is longer than ${MAX_TEXT} characters`);
  return value;
}

function checkOrder(start: string, end: string, what: string): void {
  if (Date.parse(end) < Date.parse(start)) throw new ItemError(`${what} is before the start`);
}

function invalid(message: string): never {
  throw new ItemError(message);
}

/**
 * Start and end of an item a phone sent without one of them (MS-ASCAL 3.2.4.4): the current time
 * rounded up to the half hour stands in. `ghosted` (16.0): what is missing is unchanged, not absent,
 * so nothing is refused and the stand-ins are overwritten by the stored values on merge.
 */
function eventTimes(
  start: string | undefined,
  end: string | undefined,
  now: number,
  ghosted: boolean,
): { start: string; end: string } {
  const rounded = Math.ceil(now / HALF_HOUR) * HALF_HOUR;
  if (start !== undefined && end !== undefined) return { start, end };
  if (start === undefined && end === undefined) {
    return { start: isoInstant(rounded), end: isoInstant(rounded + HALF_HOUR) };
  }
  if (start === undefined) {
    const endAt = Date.parse(end!);
    if (!ghosted) throw new ItemError('EndTime without StartTime');
    return { start: isoInstant(Math.min(rounded, endAt)), end: end! };
  }
  const startAt = Date.parse(start);
  if (startAt > now) {
    if (!ghosted) throw new ItemError('StartTime in the future without EndTime');
    return { start, end: isoInstant(startAt + HALF_HOUR) };
  }
  return { start, end: isoInstant(rounded + HALF_HOUR) };
}

// ---------------------------------------------------------------------------------------------------
// Merging a Change

type Policy =
  /** Ghosting per Supported; always ghosted in 16.0. */
  | 'ghostable'
  /** Not removable: left out, it is unchanged. */
  | 'required'
  /** Set by the server only (a phone MUST NOT send it). */
  | 'server'
  /** Set by the server only from 16.0. */
  | 'server-from-16'
  /** Unchanged when left out (or sent truncated), unless the phone declared it supported. */
  | 'body';

const PROPERTIES: readonly { key: keyof Appointment; elements: readonly string[]; policy: Policy }[] = [
  { key: 'timeZone', elements: ['Calendar:Timezone'], policy: 'required' },
  { key: 'start', elements: ['Calendar:StartTime'], policy: 'required' },
  { key: 'end', elements: ['Calendar:EndTime'], policy: 'required' },
  { key: 'allDay', elements: ['Calendar:AllDayEvent'], policy: 'ghostable' },
  { key: 'subject', elements: ['Calendar:Subject'], policy: 'ghostable' },
  { key: 'location', elements: ['Calendar:Location', 'AirSyncBase:Location'], policy: 'ghostable' },
  // The identity of the event, for calendars that share it: never dropped by a Change.
  { key: 'uid', elements: ['Calendar:UID', 'Calendar:ClientUid'], policy: 'required' },
  { key: 'dtStamp', elements: ['Calendar:DtStamp'], policy: 'server-from-16' },
  {
    key: 'organizer',
    elements: ['Calendar:OrganizerEmail', 'Calendar:OrganizerName'],
    policy: 'server-from-16',
  },
  { key: 'attendees', elements: ['Calendar:Attendees'], policy: 'ghostable' },
  { key: 'body', elements: ['AirSyncBase:Body', 'Calendar:Body'], policy: 'body' },
  { key: 'categories', elements: ['Calendar:Categories'], policy: 'ghostable' },
  { key: 'sensitivity', elements: ['Calendar:Sensitivity'], policy: 'ghostable' },
  { key: 'busyStatus', elements: ['Calendar:BusyStatus'], policy: 'ghostable' },
  { key: 'reminder', elements: ['Calendar:Reminder'], policy: 'ghostable' },
  { key: 'meetingStatus', elements: ['Calendar:MeetingStatus'], policy: 'ghostable' },
  { key: 'responseRequested', elements: ['Calendar:ResponseRequested'], policy: 'ghostable' },
  { key: 'disallowNewTimeProposal', elements: ['Calendar:DisallowNewTimeProposal'], policy: 'ghostable' },
  { key: 'recurrence', elements: ['Calendar:Recurrence'], policy: 'ghostable' },
  { key: 'responseType', elements: ['Calendar:ResponseType'], policy: 'server' },
  { key: 'appointmentReplyTime', elements: ['Calendar:AppointmentReplyTime'], policy: 'server' },
  {
    key: 'onlineMeetingUrl',
    elements: ['Calendar:OnlineMeetingExternalLink', 'Calendar:OnlineMeetingConfLink'],
    policy: 'server',
  },
];

function mergeAppointment(
  stored: Appointment,
  incoming: Appointment,
  supported: ReadonlySet<string> | undefined,
  version: ProtocolVersion,
): Appointment {
  const modern = isVersionAtLeast(version, '16.0');
  const sent = sentElements.get(incoming);
  const wasSent = (key: keyof Appointment, elements: readonly string[]) =>
    sent ? elements.some((e) => sent.has(e)) : incoming[key] !== undefined;
  const ghosted = (elements: readonly string[]) =>
    modern || (supported !== undefined && !elements.some((e) => supported.has(e)));
  const fromPhone = (key: keyof Appointment, elements: readonly string[], policy: Policy): boolean => {
    switch (policy) {
      case 'server':
        return false;
      case 'required':
        return wasSent(key, elements);
      case 'body':
        return wasSent(key, elements) || (supported !== undefined && elements.some((e) => supported.has(e)));
      case 'server-from-16':
        return !modern && (wasSent(key, elements) || !ghosted(elements));
      case 'ghostable':
        return wasSent(key, elements) || !ghosted(elements);
    }
  };
  const merged: Record<string, unknown> = {};
  for (const { key, elements, policy } of PROPERTIES) {
    const value = fromPhone(key, elements, policy) ? incoming[key] : stored[key];
    if (value !== undefined) merged[key] = value;
  }
  const result = merged as unknown as Appointment;
  if (modern && result.allDay && sent && !sent.has('Calendar:AllDayEvent')) {
    // A 16.0 phone moving an all-day item may leave AllDayEvent out: its times are still dates.
    if (sent.has('Calendar:StartTime')) result.start = asDate(result.start, result.timeZone);
    if (sent.has('Calendar:EndTime')) result.end = asDate(result.end, result.timeZone);
  }
  if (result.attendees && stored.attendees) {
    result.attendees = keepResponses(result.attendees, stored.attendees);
  }
  const exceptions = mergeExceptions(
    stored,
    incoming,
    result,
    wasSent('exceptions', ['Calendar:Exceptions']),
    modern,
  );
  if (exceptions.length > 0) result.exceptions = exceptions;
  checkOrder(result.start, result.end, 'EndTime');
  return result;
}

/** A date a 16.0 phone wrote as midnight UTC, as midnight of that date in `timeZone`. */
function asDate(instant: string, timeZone: TimeZone): string {
  return instant.endsWith('T00:00:00.000Z') ? midnightOf(instant, timeZone) : instant;
}

/** A phone that sends attendees without their responses (16.0 MUST NOT send them) keeps the known ones. */
function keepResponses(attendees: readonly Attendee[], known: readonly Attendee[]): Attendee[] {
  return attendees.map((a) => {
    if (a.status !== undefined) return a;
    const status = known.find((k) => k.email.toLowerCase() === a.email.toLowerCase())?.status;
    return status === undefined ? a : { ...a, status };
  });
}

/**
 * Exceptions a phone leaves out stay as they are, and so does each one it does not mention
 * (MS-ASCAL 3.2.5.3.1). In 16.0 a new pattern, start or end drops them all (MS-ASCAL 2.2.2.22).
 */
function mergeExceptions(
  stored: Appointment,
  incoming: Appointment,
  merged: Appointment,
  sent: boolean,
  modern: boolean,
): AppointmentException[] {
  const reshaped =
    merged.start !== stored.start ||
    merged.end !== stored.end ||
    !isDeepStrictEqual(merged.recurrence, stored.recurrence);
  const kept = modern && reshaped ? [] : (stored.exceptions ?? []);
  if (!sent || !merged.recurrence) return merged.recurrence ? kept : [];
  const byStart = new Map(kept.map((e) => [Date.parse(e.originalStart), e]));
  for (const e of incoming.exceptions ?? []) byStart.set(Date.parse(e.originalStart), e);
  if (byStart.size > MAX_EXCEPTIONS) throw new ItemError(`more than ${MAX_EXCEPTIONS} exceptions`);
  return [...byStart.values()].sort((a, b) => Date.parse(a.originalStart) - Date.parse(b.originalStart));
}

// ---------------------------------------------------------------------------------------------------
// One occurrence (16.0): Sync <Change> or <Delete> with ServerId + airsyncbase:InstanceId

/** The series with the occurrence `instanceId` (the InstanceId a phone sent) deleted. */
export function withoutOccurrence(appointment: Appointment, instanceId: string): Appointment {
  const originalStart = occurrenceOf(appointment, instanceId);
  return withException(appointment, { originalStart, deleted: true });
}

/**
 * The series with the occurrence `instanceId` changed by the ApplicationData of a Change: what it
 * carries overrides the occurrence, what it leaves out stays as the occurrence had it.
 */
export function withOccurrenceChange(
  appointment: Appointment,
  instanceId: string,
  applicationData: WbxmlElement,
  version: ProtocolVersion,
): Appointment {
  const originalStart = occurrenceOf(appointment, instanceId);
  const writing: TimeWriting = {
    timeZone: appointment.timeZone,
    dates: isVersionAtLeast(version, '16.0') && appointment.allDay === true,
  };
  const change = decodeOccurrence(applicationData, version, writing);
  const previous = appointment.exceptions?.find(
    (e) => Date.parse(e.originalStart) === Date.parse(originalStart),
  );
  // A changed occurrence is there again, if it had been deleted.
  const exception: AppointmentException = { ...previous, ...change, originalStart };
  delete exception.deleted;
  if (exception.end !== undefined) checkOrder(exception.start ?? originalStart, exception.end, 'EndTime');
  return withException(appointment, exception);
}

function withException(appointment: Appointment, exception: AppointmentException): Appointment {
  const at = Date.parse(exception.originalStart);
  const others = (appointment.exceptions ?? []).filter((e) => Date.parse(e.originalStart) !== at);
  if (others.length >= MAX_EXCEPTIONS) throw new ItemError(`more than ${MAX_EXCEPTIONS} exceptions`);
  const exceptions = [...others, exception].sort(
    (a, b) => Date.parse(a.originalStart) - Date.parse(b.originalStart),
  );
  return { ...appointment, exceptions };
}

/**
 * The original start of the occurrence an InstanceId names: the UTC start of a timed occurrence, the
 * date of an all-day one. Not an occurrence of this series: ItemError.
 */
function occurrenceOf(appointment: Appointment, instanceId: string): string {
  if (!appointment.recurrence) throw new ItemError('InstanceId for an appointment that does not recur');
  const instant = parseEasDateTime(instanceId, 'InstanceId');
  const candidates = [instant];
  if (appointment.allDay) {
    const time = toLocal(appointment.start, appointment.timeZone).toPlainTime();
    const date = Temporal.PlainDate.from(instant.slice(0, 10));
    candidates.push(fromLocal(date.toPlainDateTime(time), appointment.timeZone));
  }
  const known = (at: string) =>
    appointment.exceptions?.some((e) => Date.parse(e.originalStart) === Date.parse(at)) ||
    isOccurrenceStart(appointment, at);
  const found = candidates.find(known);
  if (found === undefined) throw new ItemError(`InstanceId ${instanceId} is not an occurrence of the series`);
  return found;
}
