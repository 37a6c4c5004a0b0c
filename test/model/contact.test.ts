// MS-ASCNTC: the specification's examples, per-version trees, Birthday days, pictures, ghosting,
// malformed contacts, and a round trip through WBXML for any contact.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ItemError, type EncodeOptions } from '../../src/model/codec.ts';
import { contactCodec, MAX_PICTURE_LENGTH } from '../../src/model/contact.ts';
import type { Contact, ContactPhoneKind, PostalAddress } from '../../src/model/types.ts';
import { isVersionAtLeast, PROTOCOL_VERSIONS, type ProtocolVersion } from '../../src/http/query.ts';
import {
  child,
  childText,
  decode,
  el,
  encode,
  sanitizeText,
  type WbxmlElement,
} from '../../src/wbxml/index.ts';
import { FIXTURES, libwbxmlDecode, shapeOf, shapeOfLibwbxmlOutput } from '../wbxml/libwbxml.ts';

/** The ApplicationData of the first Add of a Sync document. */
function applicationDataOf(document: WbxmlElement): WbxmlElement {
  const path = ['Collections', 'Collection', 'Commands', 'Add', 'ApplicationData'];
  return path.reduce((element, name) => child(element, name, 'AirSync')!, document);
}

const fixture = (path: string): WbxmlElement =>
  applicationDataOf(decode(readFileSync(join(FIXTURES, 'ms-as-examples', path))));

const appData = (...children: WbxmlElement[]): WbxmlElement => el('AirSync', 'ApplicationData', children);
const decodeAt = (version: ProtocolVersion, ...children: WbxmlElement[]): Contact =>
  contactCodec.decode(appData(...children), version);
const keys = (elements: WbxmlElement[]): string[] => elements.map((e) => `${e.ns}:${e.name}`);

/** MS-ASCNTC 4: the spec shortens the photo to `/9j/4AAQSkZJRgABAQEAYABgAAD/...`. */
const ELIDED_PICTURE = '/9j/4AAQSkZJRgABAQEAYABgAAD/...';

const ANAT_KERRY: Contact = {
  webPage: 'http://www.contoso.com/',
  businessAddress: {
    country: 'United States of America',
    city: 'Redmond',
    postalCode: '10021',
    state: 'WA',
    street: '234 Main St.',
  },
  emails: ['"Anat Kerry (anat@contoso.com)" <anat@contoso.com>'],
  phones: {
    businessFax: '(206) 555-0100',
    home: '(206) 555-0101',
    mobile: '(206) 555-0102',
    business: '(206) 555-0103',
  },
  fileAs: 'Kerry, Anat',
  firstName: 'Anat',
  middleName: 'M.',
  companyName: 'Contoso, Ltd.',
  lastName: 'Kerry',
  jobTitle: 'Development Manager',
  picture: '/9j/4AAQSkZJRgABAQEAYABgAAD/',
};

describe('the specification examples', () => {
  test('MS-ASCNTC 4: the new contact, whose picture the spec elides, is refused for that picture alone', () => {
    const example = fixture('ms-ascntc/sync-response-4-new-contact.wbxml');
    assert.equal(childText(example, 'Picture', 'Contacts'), ELIDED_PICTURE);
    assert.throws(
      () => contactCodec.decode(example, '12.1'),
      (error: unknown) => {
        return error instanceof ItemError && error.message.startsWith('Contacts:Picture');
      },
    );
  });

  test('MS-ASCNTC 4: the new contact decodes to its model; the truncated RTF notes are not a body', () => {
    const example = fixture('ms-ascntc/sync-response-4-new-contact.wbxml');
    const picture = example.children.find((c) => c.name === 'Picture')!;
    picture.text = ELIDED_PICTURE.replace('...', '');
    assert.deepEqual(contactCodec.decode(example, '12.1'), ANAT_KERRY);
  });

  test('MS-ASCNTC 4: re-encoded, the example has the same contact elements', () => {
    const example = fixture('ms-ascntc/sync-response-4-new-contact.wbxml');
    const contactElements = (elements: WbxmlElement[]) =>
      elements
        .filter((e) => e.ns === 'Contacts' && e.name !== 'Picture')
        .map((e) => `${e.name}=${e.text}`)
        .sort();
    const encoded = contactCodec.encode(ANAT_KERRY, { version: '12.1' });
    assert.deepEqual(contactElements(encoded), contactElements(example.children));
  });

  test('MS-ASWBXML 4: Funk, Don', () => {
    const example = fixture('ms-aswbxml/sync-response-new-contact-4.wbxml');
    assert.deepEqual(contactCodec.decode(example, '12.1'), {
      fileAs: 'Funk, Don',
      firstName: 'Don',
      lastName: 'Funk',
    });
  });

  test('what we encode, libwbxml decodes to the same tree', async () => {
    const full: Contact = {
      ...ANAT_KERRY,
      title: 'Dr.',
      suffix: 'Jr.',
      birthday: '1980-02-29',
      anniversary: '2005-06-18',
      children: ['Ann', 'Bo'],
      categories: ['Work', 'Büro'],
      emails: ['a@example.org', 'b@example.org', 'c@example.org'],
      imAddresses: ['xmpp:a@example.org', 'sip:a@example.org'],
      phones: {
        mobile: '+1 1',
        home: '+1 2',
        home2: '+1 3',
        business: '+1 4',
        business2: '+1 5',
        businessFax: '+1 6',
        homeFax: '+1 7',
        car: '+1 8',
        pager: '+1 9',
        radio: '+1 10',
        assistant: '+1 11',
        companyMain: '+1 12',
        mms: '+1 13',
      },
      homeAddress: { street: 'Home St. 1', city: 'Berlin' },
      otherAddress: { postalCode: '99999' },
      nickName: 'Nat',
      customerId: 'C-1',
      governmentId: 'G-1',
      accountName: 'A-1',
      managerName: 'Boss',
      alias: 'anat',
      body: { format: 'text', data: 'Met at the conference.\nLikes tea.' },
    };
    const options: EncodeOptions[] = [
      { version: '2.5' },
      { version: '12.1', bodyPreferences: [{ type: 1, truncationSize: 10 }] },
      { version: '16.1', bodyPreferences: [{ type: 2, preview: 20 }] },
    ];
    const trees = options.map((o) => appData(...contactCodec.encode(full, o)));
    const outputs = await libwbxmlDecode(trees.map((tree) => encode(tree)));
    trees.forEach((tree, i) => assert.deepEqual(shapeOfLibwbxmlOutput(outputs[i]!), shapeOf(tree)));
    // Read back: Alias is a 14.0 element, and a body sent in part is no body.
    const withoutAlias = structuredClone(full);
    delete withoutAlias.alias;
    const withoutAliasAndBody = structuredClone(withoutAlias);
    delete withoutAliasAndBody.body;
    const expected: Contact[] = [
      withoutAlias,
      withoutAliasAndBody,
      { ...full, body: { format: 'html', data: 'Met at the conference.<br>\nLikes tea.' } },
    ];
    trees.forEach((tree, i) =>
      assert.deepEqual(contactCodec.decode(decode(encode(tree)), options[i]!.version), expected[i]),
    );
  });
});

describe('versions', () => {
  const contact: Contact = {
    firstName: 'Ann',
    nickName: 'Annie',
    alias: 'ann',
    phones: { companyMain: '+49 30 1', mms: '+49 170 1' },
    imAddresses: ['ann@im.example'],
    body: { format: 'text', data: 'notes' },
  };

  test('2.5: the Contacts Body; 12.0 on: AirSyncBase Body and NativeBodyType', () => {
    assert.deepEqual(keys(contactCodec.encode(contact, { version: '2.5' })), [
      'Contacts:Body',
      'Contacts:BodySize',
      'Contacts:BodyTruncated',
      'Contacts:FirstName',
      'Contacts2:IMAddress',
      'Contacts2:CompanyMainPhone',
      'Contacts2:NickName',
      'Contacts2:MMS',
    ]);
    const modern = contactCodec.encode(contact, { version: '12.0' });
    assert.equal(keys(modern)[0], 'AirSyncBase:Body');
    assert.equal(keys(modern).at(-1), 'AirSyncBase:NativeBodyType');
    assert.ok(!keys(modern).includes('Contacts:Body'));
  });

  test('Contacts2 at every version; Alias from 14.0', () => {
    for (const version of PROTOCOL_VERSIONS) {
      const encoded = keys(contactCodec.encode(contact, { version }));
      assert.ok(encoded.includes('Contacts2:NickName'), version);
      assert.equal(encoded.includes('Contacts:Alias'), isVersionAtLeast(version, '14.0'), version);
    }
  });

  test('a phone that cannot send Alias keeps the stored one', () => {
    const merged = contactCodec.merge(
      contact,
      decodeAt('12.1', el('Contacts', 'FirstName', 'Ann')),
      undefined,
      '12.1',
    );
    assert.deepEqual(merged, { firstName: 'Ann', alias: 'ann', body: contact.body });
  });
});

describe('Birthday and Anniversary', () => {
  const birthday = (value: string): string | undefined =>
    decodeAt('14.1', el('Contacts', 'Birthday', value)).birthday;

  test('are days: the time a phone sends is rounded to the nearest midnight UTC', () => {
    assert.equal(birthday('2000-05-14T22:00:00.000Z'), '2000-05-15'); // Berlin summer: local midnight of the 15th
    assert.equal(birthday('2000-05-15T04:00:00.000Z'), '2000-05-15'); // New York
    assert.equal(birthday('2000-05-15T08:00:00.000Z'), '2000-05-15'); // Android
    assert.equal(birthday('2000-05-15T11:59:00.000Z'), '2000-05-15'); // Exchange
    assert.equal(birthday('2000-05-14T12:00:00.000Z'), '2000-05-15'); // Auckland winter: local midnight
    assert.equal(birthday('2000-05-15T00:00:00Z'), '2000-05-15');
    assert.equal(birthday('20000515T000000Z'), '2000-05-15');
    assert.equal(birthday('2000-05-15'), '2000-05-15');
    assert.equal(birthday('1999-12-31T23:00:00.000Z'), '2000-01-01');
  });

  test('are sent at 11:59 UTC', () => {
    const encoded = contactCodec.encode(
      { birthday: '1980-02-29', anniversary: '2005-06-18' },
      { version: '14.1' },
    );
    const text = (name: string) => encoded.find((e) => e.name === name)?.text;
    assert.equal(text('Birthday'), '1980-02-29T11:59:00.000Z');
    assert.equal(text('Anniversary'), '2005-06-18T11:59:00.000Z');
  });

  test('what is not a date is refused', () => {
    for (const value of [
      'tomorrow',
      '2000-02-30T00:00:00.000Z',
      '2000-13-01',
      '15.05.2000',
      '2000-05-15T25:00:00Z',
    ]) {
      assert.throws(() => birthday(value), ItemError, value);
    }
  });
});

describe('Picture', () => {
  const base64Of = (bytes: number) => Buffer.alloc(bytes, 0xab).toString('base64');

  test('larger than the 48 KB of MS-ASCNTC is accepted; above the cap, ItemError', () => {
    const large = base64Of(200 * 1024);
    assert.equal(decodeAt('14.1', el('Contacts', 'Picture', large)).picture, large);
    const huge = base64Of((MAX_PICTURE_LENGTH / 4) * 3 + 3);
    assert.throws(() => decodeAt('14.1', el('Contacts', 'Picture', huge)), ItemError);
  });

  test('line-wrapped base64 is joined; opaque bytes are the image', () => {
    const picture = base64Of(90);
    const wrapped = picture.match(/.{1,76}/g)!.join('\r\n');
    assert.equal(decodeAt('14.1', el('Contacts', 'Picture', wrapped)).picture, picture);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]);
    assert.equal(decodeAt('14.1', el('Contacts', 'Picture', jpeg)).picture, jpeg.toString('base64'));
  });

  test('what is not base64 is refused', () => {
    assert.throws(() => decodeAt('14.1', el('Contacts', 'Picture', 'not a picture!')), ItemError);
  });
});

describe('malformed contacts', () => {
  test('oversized strings and lists: ItemError', () => {
    assert.throws(() => decodeAt('14.1', el('Contacts', 'FirstName', 'x'.repeat(40000))), ItemError);
    const categories = Array.from({ length: 301 }, (_, i) => el('Contacts', 'Category', `c${i}`));
    assert.throws(() => decodeAt('14.1', el('Contacts', 'Categories', categories)), ItemError);
    const children = Array.from({ length: 301 }, (_, i) => el('Contacts', 'Child', `c${i}`));
    assert.throws(() => decodeAt('14.1', el('Contacts', 'Children', children)), ItemError);
  });

  test('invalid UTF-8 arrives as U+FFFD and is accepted', () => {
    // <ApplicationData><FirstName>A\xff\xfeB</FirstName></ApplicationData>, FirstName on page 1
    const document = Buffer.from([
      0x03, 0x01, 0x6a, 0x00, 0x5d, 0x00, 0x01, 0x5f, 0x03, 0x41, 0xff, 0xfe, 0x42, 0x00, 0x01, 0x01,
    ]);
    assert.deepEqual(contactCodec.decode(decode(document), '14.1'), { firstName: 'A\ufffd\ufffdB' });
  });

  test('elements of other classes and unknown to the model are ignored', () => {
    assert.deepEqual(
      decodeAt(
        '14.1',
        el('Contacts', 'WeightedRank', '3'),
        el('Email', 'Subject', 'x'),
        el('Contacts', 'LastName', 'Li'),
      ),
      { lastName: 'Li' },
    );
  });
});

/** Freezes a value and everything in it, so that changing it throws. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) Object.values(value).forEach(deepFreeze);
  return Object.freeze(value);
}

describe('merge: a Change applied to the stored contact', () => {
  // Merge is pure: the stored contact is never changed.
  const stored: Contact = deepFreeze({
    firstName: 'Ann',
    lastName: 'Lee',
    companyName: 'Contoso',
    emails: ['ann@contoso.com', 'ann@home.example'],
    phones: { mobile: '+1 555 0100', home: '+1 555 0101' },
    homeAddress: { street: 'Main St. 1', city: 'Springfield' },
    picture: 'AAAA',
    body: { format: 'html', data: '<p>notes</p>' },
    birthday: '1990-01-02',
  });

  test('without Supported, what the phone left out is deleted, except Body and Picture', () => {
    const incoming = decodeAt(
      '14.1',
      el('Contacts', 'FirstName', 'Anna'),
      el('Contacts', 'HomeAddressCity', 'Shelbyville'),
    );
    assert.deepEqual(contactCodec.merge(stored, incoming, undefined, '14.1'), {
      firstName: 'Anna',
      homeAddress: { city: 'Shelbyville' },
      picture: 'AAAA',
      body: stored.body,
    });
  });

  test('with Supported, elements not in it are ghosted and keep their stored value', () => {
    const supported = new Set([
      'Contacts:FirstName',
      'Contacts:LastName',
      'Contacts:Email1Address',
      'Contacts:HomeAddressStreet',
    ]);
    const incoming = decodeAt(
      '14.1',
      el('Contacts', 'FirstName', 'Anna'),
      el('Contacts', 'Email1Address', 'anna@contoso.com'),
    );
    assert.deepEqual(contactCodec.merge(stored, incoming, supported, '14.1'), {
      firstName: 'Anna',
      companyName: 'Contoso',
      emails: ['anna@contoso.com', 'ann@home.example'],
      phones: stored.phones,
      homeAddress: { city: 'Springfield' },
      picture: 'AAAA',
      body: stored.body,
      birthday: '1990-01-02',
    });
  });

  test('an empty Supported ghosts everything; what the phone sent still replaces', () => {
    const incoming = decodeAt('14.1', el('Contacts', 'CompanyName', 'Fabrikam'));
    assert.deepEqual(contactCodec.merge(stored, incoming, new Set(), '14.1'), {
      ...stored,
      companyName: 'Fabrikam',
    });
  });

  test('sent empty clears, even Picture and Body', () => {
    const incoming = decodeAt(
      '14.1',
      el('Contacts', 'Picture'),
      el('AirSyncBase', 'Body', [el('AirSyncBase', 'Type', '1'), el('AirSyncBase', 'Data')]),
      el('Contacts', 'LastName'),
    );
    const supported = new Set(['Contacts:LastName', 'Contacts:Picture']);
    const merged = contactCodec.merge(stored, incoming, supported, '14.1');
    assert.equal(merged.picture, undefined);
    assert.equal(merged.body, undefined);
    assert.equal(merged.lastName, undefined);
    assert.equal(merged.firstName, 'Ann');
  });

  test('a truncated body does not replace the whole one', () => {
    const incoming = decodeAt(
      '14.1',
      el('Contacts', 'FirstName', 'Ann'),
      el('AirSyncBase', 'Body', [
        el('AirSyncBase', 'Type', '1'),
        el('AirSyncBase', 'Truncated', '1'),
        el('AirSyncBase', 'Data', 'no'),
      ]),
    );
    assert.deepEqual(contactCodec.merge(stored, incoming, undefined, '14.1').body, stored.body);
  });

  test('a model not made by decode counts its set fields as sent', () => {
    assert.deepEqual(contactCodec.merge(stored, { lastName: 'Li' }, undefined, '14.1'), {
      lastName: 'Li',
      picture: 'AAAA',
      body: stored.body,
    });
  });
});

describe('round trip: model → encode → WBXML → decode', () => {
  const value = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 24 })
    .map(sanitizeText)
    .filter((s) => s !== '');
  const values = (max: number) => fc.array(value, { minLength: 1, maxLength: max });
  const day = fc
    .date({
      min: new Date('1900-01-01T00:00:00Z'),
      max: new Date('2099-12-31T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString().slice(0, 10));
  const picture = fc
    .uint8Array({ minLength: 1, maxLength: 64 })
    .map((bytes) => Buffer.from(bytes).toString('base64'));
  const address = fc.record<PostalAddress>(
    { street: value, city: value, state: value, postalCode: value, country: value },
    { requiredKeys: ['city'], noNullPrototype: true },
  );
  const PHONE_KINDS: ContactPhoneKind[] = [
    'mobile',
    'home',
    'home2',
    'business',
    'business2',
    'businessFax',
    'homeFax',
    'car',
    'pager',
    'radio',
    'assistant',
    'companyMain',
    'mms',
  ];
  const phones = fc.record(Object.fromEntries(PHONE_KINDS.map((kind) => [kind, value])), {
    requiredKeys: ['mobile'],
    noNullPrototype: true,
  });
  const textKeys = [
    'title',
    'firstName',
    'middleName',
    'lastName',
    'suffix',
    'fileAs',
    'yomiFirstName',
    'yomiLastName',
    'yomiCompanyName',
    'nickName',
    'companyName',
    'department',
    'jobTitle',
    'officeLocation',
    'managerName',
    'assistantName',
    'spouse',
    'webPage',
    'customerId',
    'governmentId',
    'accountName',
  ] as const;
  const contact = (version: ProtocolVersion, bodyFormats: readonly ('text' | 'html' | 'rtf')[]) =>
    fc.record<Contact>(
      {
        ...Object.fromEntries(textKeys.map((key) => [key, value])),
        ...(isVersionAtLeast(version, '14.0') ? { alias: value } : {}),
        children: values(4),
        categories: values(4),
        emails: values(3),
        imAddresses: values(3),
        birthday: day,
        anniversary: day,
        phones,
        homeAddress: address,
        businessAddress: address,
        otherAddress: address,
        picture,
        body: fc
          .record({ format: fc.constantFrom(...bodyFormats), data: value }, { noNullPrototype: true })
          .map((body) =>
            body.format === 'rtf' ? { ...body, data: Buffer.from(body.data).toString('base64') } : body,
          ),
      },
      { requiredKeys: [], noNullPrototype: true },
    );

  for (const version of ['2.5', '12.1', '14.1', '16.1'] as const) {
    test(`at ${version}`, () => {
      const formats = version === '2.5' ? (['text'] as const) : (['text', 'html', 'rtf'] as const);
      fc.assert(
        fc.property(contact(version, formats), (model) => {
          const type = model.body === undefined ? 1 : { text: 1, html: 2, rtf: 3 }[model.body.format];
          const options: EncodeOptions = { version, bodyPreferences: [{ type }] };
          const wire = decode(encode(appData(...contactCodec.encode(model, options))));
          assert.deepEqual(contactCodec.decode(wire, version), model);
        }),
        { numRuns: 150 },
      );
    });
  }
});
