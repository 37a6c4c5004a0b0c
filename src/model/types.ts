// The neutral item model: what a contact, appointment, task or note is, independent of EAS, iCalendar
// or vCard. Codecs (src/model/<class>.ts, ical.ts, vcard.ts) translate to and from it; backends store
// it. Instants are ISO-8601 UTC strings ('2026-03-29T08:00:00.000Z'); calendar dates without a time
// are 'YYYY-MM-DD'. An absent optional field means "not set".

/** The EAS data classes of the PIM store (Email lives in the IMAP backend). */
export type PimClass = 'Contacts' | 'Calendar' | 'Tasks' | 'Notes';

export type PimItem =
  | { class: 'Contacts'; data: Contact }
  | { class: 'Calendar'; data: Appointment }
  | { class: 'Tasks'; data: Task }
  | { class: 'Notes'; data: Note };

/** A body as its author wrote it. `rtf` is the compressed RTF of MS-OXRTFCP, base64, as old Outlook sends it. */
export interface Body {
  format: 'text' | 'html' | 'rtf';
  data: string;
}

export interface PostalAddress {
  street?: string;
  city?: string;
  state?: string;
  postalCode?: string;
  country?: string;
}

export interface Contact {
  title?: string;
  firstName?: string;
  middleName?: string;
  lastName?: string;
  suffix?: string;
  fileAs?: string;
  yomiFirstName?: string;
  yomiLastName?: string;
  yomiCompanyName?: string;
  nickName?: string;
  alias?: string;
  companyName?: string;
  department?: string;
  jobTitle?: string;
  officeLocation?: string;
  managerName?: string;
  assistantName?: string;
  spouse?: string;
  children?: string[];
  /** 'YYYY-MM-DD'. */
  birthday?: string;
  anniversary?: string;
  /** Email1Address … Email3Address, in order; an entry may carry a display name ('"Ann" <ann@x>'). */
  emails?: string[];
  imAddresses?: string[];
  webPage?: string;
  phones?: Partial<Record<ContactPhoneKind, string>>;
  homeAddress?: PostalAddress;
  businessAddress?: PostalAddress;
  otherAddress?: PostalAddress;
  categories?: string[];
  /** JPEG or PNG, base64, as the phone sent it. */
  picture?: string;
  customerId?: string;
  governmentId?: string;
  accountName?: string;
  body?: Body;
}

export type ContactPhoneKind =
  | 'mobile'
  | 'home'
  | 'home2'
  | 'business'
  | 'business2'
  | 'businessFax'
  | 'homeFax'
  | 'car'
  | 'pager'
  | 'radio'
  | 'assistant'
  | 'companyMain'
  | 'mms';

/**
 * A time zone: an IANA name when one is known, else the rule a phone sent (the TIME_ZONE_INFORMATION
 * of MS-ASDTYPE 2.6.4) so that an unknown zone keeps its offset and daylight-saving rule.
 */
export type TimeZone = { iana: string } | { rule: TimeZoneRule };

export interface TimeZoneRule {
  /** Minutes: UTC = local time + bias (UTC+1 is -60). */
  bias: number;
  standardName: string;
  standardBias: number;
  daylightName: string;
  daylightBias: number;
  /** When standard and daylight time begin; absent when the zone has no daylight saving. */
  standardStart?: TransitionRule;
  daylightStart?: TransitionRule;
}

/** SYSTEMTIME as a yearly rule: `week` 1–5 (5 = last) `dayOfWeek` (0 = Sunday) of `month`, at hour:minute. */
export interface TransitionRule {
  month: number;
  week: number;
  dayOfWeek: number;
  hour: number;
  minute: number;
}

export type RecurrenceType = 'daily' | 'weekly' | 'monthly' | 'monthly-nth' | 'yearly' | 'yearly-nth';

/** MS-ASCAL / MS-ASTASK Recurrence. Days of the week are the EAS bit mask (1 Sunday … 64 Saturday, 127 last day). */
export interface Recurrence {
  type: RecurrenceType;
  interval: number;
  occurrences?: number;
  /** The last occurrence's start or the end of the series, an instant. */
  until?: string;
  dayOfWeek?: number;
  dayOfMonth?: number;
  /** 1–4, 5 = last. */
  weekOfMonth?: number;
  monthOfYear?: number;
  /** 0 = Sunday. */
  firstDayOfWeek?: number;
  calendarType?: number;
  isLeapMonth?: boolean;
}

export type AttendeeStatus = 'unknown' | 'tentative' | 'accepted' | 'declined' | 'not-responded';
export type AttendeeType = 'required' | 'optional' | 'resource';

export interface Attendee {
  email: string;
  name?: string;
  status?: AttendeeStatus;
  type?: AttendeeType;
  /** EAS 16.1 ProposedStartTime / ProposedEndTime. */
  proposedStart?: string;
  proposedEnd?: string;
}

export type BusyStatus = 'free' | 'tentative' | 'busy' | 'out-of-office' | 'working-elsewhere';
export type Sensitivity = 'normal' | 'personal' | 'private' | 'confidential';

/** The properties an occurrence of a series can override. */
export interface OccurrenceFields {
  subject?: string;
  location?: string;
  start?: string;
  end?: string;
  allDay?: boolean;
  body?: Body;
  busyStatus?: BusyStatus;
  sensitivity?: Sensitivity;
  /** Minutes before the start; 0 is at the start, absent is no reminder. */
  reminder?: number;
  categories?: string[];
  attendees?: Attendee[];
  meetingStatus?: number;
  responseType?: number;
  appointmentReplyTime?: string;
  onlineMeetingUrl?: string;
}

export interface AppointmentException extends OccurrenceFields {
  /** The start the occurrence would have had without the exception (ExceptionStartTime / InstanceId). */
  originalStart: string;
  deleted?: boolean;
}

export interface Appointment extends OccurrenceFields {
  /** iCalendar UID; the phone's ClientUid from 16.0. */
  uid?: string;
  start: string;
  end: string;
  /** All-day events start and end at midnight in `timeZone`. */
  allDay?: boolean;
  timeZone: TimeZone;
  dtStamp?: string;
  organizer?: { email: string; name?: string };
  responseRequested?: boolean;
  disallowNewTimeProposal?: boolean;
  recurrence?: Recurrence;
  exceptions?: AppointmentException[];
}

export type Importance = 'low' | 'normal' | 'high';

export interface TaskRecurrence extends Recurrence {
  /** The first occurrence's start, an instant. */
  start?: string;
  /** The next occurrence is scheduled from the completion of this one. */
  regenerate?: boolean;
  /** The series is over (DeadOccur). */
  deadOccur?: boolean;
}

export interface Task {
  subject?: string;
  body?: Body;
  categories?: string[];
  complete?: boolean;
  dateCompleted?: string;
  /** StartDate/DueDate are the user's local time written as UTC (MS-ASTASK); the Utc variants are real instants. */
  startDate?: string;
  utcStartDate?: string;
  dueDate?: string;
  utcDueDate?: string;
  importance?: Importance;
  sensitivity?: Sensitivity;
  reminderTime?: string;
  recurrence?: TaskRecurrence;
  ordinalDate?: string;
  subOrdinalDate?: string;
}

export interface Note {
  subject?: string;
  body?: Body;
  categories?: string[];
  /** 'IPM.StickyNote' unless the phone sent another. */
  messageClass?: string;
  lastModified?: string;
}
