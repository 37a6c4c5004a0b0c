// MS-ASCNTC: a contact as the children of ApplicationData, Contacts and Contacts2 code pages plus
// the AirSyncBase body (the class's own Body at 2.5).

import { ItemError, type ClassCodec } from './codec.ts';
import { bodyProperty, nativeBodyTypeProperty } from './body.ts';
import {
  decodeWithTable,
  encodeWithTable,
  field,
  list,
  mergeWithTable,
  nested,
  parseDate,
  parseDateTime,
  property,
  slot,
  text,
  textOf,
  type Property,
  type PropertyTable,
  type Wire,
} from './property-table.ts';
import type { Contact, ContactPhoneKind, PostalAddress } from './types.ts';

/**
 * The largest Picture accepted, in base64 characters. MS-ASCNTC caps it at 48 KB and wants Status 6
 * above, but phones send camera photos far larger, and refusing the whole contact loses more than
 * a large photo costs.
 */
export const MAX_PICTURE_LENGTH = 4 * 1024 * 1024;

const DAY = 24 * 60 * 60 * 1000;

/**
 * Birthday and Anniversary are dateTimes, but mean a day: phones send the local midnight of that day
 * in UTC (2000-05-14T22:00:00.000Z is the 15th in Berlin), 08:00 (Android) or 11:59 (Exchange), and
 * MS-ASCNTC says to ignore the time. Rounding to the nearest midnight UTC (the cut at noon) gives the
 * day for every zone from UTC−11 to UTC+12. We send the day at 11:59 UTC, as Exchange does: a phone
 * that shows it in its own zone shows the same day anywhere from UTC−11:59 to UTC+12.
 */
const dayOfYear: Wire<string> = {
  write: (value) => (parseDate(value) === undefined ? undefined : `${value}T11:59:00.000Z`),
  read(element, key) {
    const value = textOf(element).trim();
    if (value === '') return undefined;
    const date = parseDate(value);
    if (date !== undefined) return date;
    const instant = parseDateTime(value);
    if (instant === undefined)
      throw new ItemError(`${key}: ${JSON.stringify(value.slice(0, 40))} is not a date`);
    const nearestMidnight = Math.floor((Date.parse(instant) + DAY / 2) / DAY) * DAY;
    return new Date(nearestMidnight).toISOString().slice(0, 10);
  },
};

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Picture: base64 (a few phones send it as opaque bytes; those are the image itself). */
const picture: Wire<string> = {
  write: (value) => (value === '' ? undefined : value),
  read(element, key) {
    const raw = element.text ?? element.opaque?.toString('latin1') ?? '';
    let value = raw.replace(/\s+/g, '');
    if (element.text === undefined && element.opaque !== undefined && !BASE64.test(value)) {
      value = element.opaque.toString('base64');
    }
    if (value === '') return undefined;
    if (value.length > MAX_PICTURE_LENGTH) {
      throw new ItemError(`${key}: larger than ${MAX_PICTURE_LENGTH} base64 characters`);
    }
    if (!BASE64.test(value) || value.length % 4 === 1) throw new ItemError(`${key}: not base64`);
    return value;
  },
};

type TextField = {
  [K in keyof Contact]-?: NonNullable<Contact[K]> extends string ? K : never;
}[keyof Contact];

const contactText = (name: string, key: TextField): Property<Contact> =>
  property('Contacts', name, field<Contact, TextField>(key), text());

const phone = (ns: 'Contacts' | 'Contacts2', name: string, kind: ContactPhoneKind): Property<Contact> =>
  property(ns, name, nested('phones', kind), text());

const address = (kind: 'Business' | 'Home' | 'Other'): Property<Contact>[] => {
  const key = `${kind.toLowerCase()}Address` as 'businessAddress' | 'homeAddress' | 'otherAddress';
  const parts: [string, keyof PostalAddress][] = [
    ['City', 'city'],
    ['Country', 'country'],
    ['PostalCode', 'postalCode'],
    ['State', 'state'],
    ['Street', 'street'],
  ];
  return parts.map(([suffix, part]) =>
    property('Contacts', `${kind}Address${suffix}`, nested(key, part), text()),
  );
};

/** Every element of the class, in the order they are written. */
export const CONTACT_PROPERTIES: PropertyTable<Contact> = [
  bodyProperty('Contacts'),
  property('Contacts', 'Anniversary', field('anniversary'), dayOfYear),
  contactText('AssistantName', 'assistantName'),
  phone('Contacts', 'AssistantPhoneNumber', 'assistant'),
  property('Contacts', 'Birthday', field('birthday'), dayOfYear),
  phone('Contacts', 'Business2PhoneNumber', 'business2'),
  ...address('Business'),
  phone('Contacts', 'BusinessFaxNumber', 'businessFax'),
  phone('Contacts', 'BusinessPhoneNumber', 'business'),
  phone('Contacts', 'CarPhoneNumber', 'car'),
  property('Contacts', 'Categories', field('categories'), list('Contacts', 'Category', 300)),
  property('Contacts', 'Children', field('children'), list('Contacts', 'Child', 300)),
  contactText('CompanyName', 'companyName'),
  contactText('Department', 'department'),
  property('Contacts', 'Email1Address', slot('emails', 0), text()),
  property('Contacts', 'Email2Address', slot('emails', 1), text()),
  property('Contacts', 'Email3Address', slot('emails', 2), text()),
  contactText('FileAs', 'fileAs'),
  contactText('FirstName', 'firstName'),
  phone('Contacts', 'Home2PhoneNumber', 'home2'),
  ...address('Home'),
  phone('Contacts', 'HomeFaxNumber', 'homeFax'),
  phone('Contacts', 'HomePhoneNumber', 'home'),
  contactText('JobTitle', 'jobTitle'),
  contactText('LastName', 'lastName'),
  contactText('MiddleName', 'middleName'),
  phone('Contacts', 'MobilePhoneNumber', 'mobile'),
  contactText('OfficeLocation', 'officeLocation'),
  ...address('Other'),
  phone('Contacts', 'PagerNumber', 'pager'),
  phone('Contacts', 'RadioPhoneNumber', 'radio'),
  contactText('Spouse', 'spouse'),
  contactText('Suffix', 'suffix'),
  contactText('Title', 'title'),
  contactText('WebPage', 'webPage'),
  contactText('YomiCompanyName', 'yomiCompanyName'),
  contactText('YomiFirstName', 'yomiFirstName'),
  contactText('YomiLastName', 'yomiLastName'),
  // MS-ASCMD Change: a Change without Picture leaves the photo as it is; an empty one removes it.
  property('Contacts', 'Picture', field('picture'), picture, { keptWhenAbsent: true }),
  // The recipient information cache's element (14.0+); WeightedRank has no place in the model.
  property('Contacts', 'Alias', field('alias'), text(), { since: '14.0' }),
  property('Contacts2', 'CustomerId', field('customerId'), text()),
  property('Contacts2', 'GovernmentId', field('governmentId'), text()),
  property('Contacts2', 'IMAddress', slot('imAddresses', 0), text()),
  property('Contacts2', 'IMAddress2', slot('imAddresses', 1), text()),
  property('Contacts2', 'IMAddress3', slot('imAddresses', 2), text()),
  property('Contacts2', 'ManagerName', field('managerName'), text()),
  phone('Contacts2', 'CompanyMainPhone', 'companyMain'),
  property('Contacts2', 'AccountName', field('accountName'), text()),
  property('Contacts2', 'NickName', field('nickName'), text()),
  phone('Contacts2', 'MMS', 'mms'),
  nativeBodyTypeProperty('Contacts'),
];

export const contactCodec: ClassCodec<Contact> = {
  encode: (contact, options) => encodeWithTable(CONTACT_PROPERTIES, contact, options),
  decode: (applicationData, version) => decodeWithTable(CONTACT_PROPERTIES, applicationData, version),
  merge: (stored, incoming, supported, version) =>
    mergeWithTable(CONTACT_PROPERTIES, stored, incoming, supported, version),
  window: () => ({ end: null }),
};
