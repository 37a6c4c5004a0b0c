// vCard ⇄ Contact: 3.0, 4.0 and quoted-printable 2.1 cards, broken cards among good ones, and the
// 3.0 cards written back.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ICAL from 'ical.js';
import type { ImportEntry, ImportedItem } from '../../src/model/ical.ts';
import type { Contact } from '../../src/model/types.ts';
import { NotVCardError, parseVCards, toVCards } from '../../src/model/vcard.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'ical');

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

function imported(entries: ImportEntry[]): ImportedItem[] {
  return entries.filter((entry): entry is ImportedItem => 'item' in entry);
}

function contacts(text: string): Contact[] {
  return imported(parseVCards(text).items).map(({ item }) => {
    assert.equal(item.class, 'Contacts');
    return item.data as Contact;
  });
}

/** Parse, write, parse again. */
function roundTrip(text: string): { first: ImportedItem[]; written: string; second: ImportedItem[] } {
  const first = imported(parseVCards(text).items);
  const written = toVCards(first.map(({ uid, item }) => ({ uid, data: item.data as Contact })));
  return { first, written, second: imported(parseVCards(written).items) };
}

describe('reading vCards', () => {
  test('vCard 3.0 with every field a contact keeps', () => {
    const { items } = parseVCards(fixture('contacts-v3.vcf'));
    const ann = items[0] as ImportedItem;
    assert.equal(ann.uid, '3b2a7c1e-0001-4a8e-9d7e-ann-example');
    assert.deepEqual(ann.notes, ['only the first 3 e-mail addresses were kept']);
    assert.deepEqual(ann.item.data, {
      lastName: 'Example',
      firstName: 'Ann',
      middleName: 'Marie',
      title: 'Dr.',
      suffix: 'PhD',
      fileAs: 'Dr. Ann Marie Example PhD',
      nickName: 'Annie',
      companyName: 'Example Corp',
      department: 'Research, Lab 2',
      jobTitle: 'Principal Scientist',
      // The preferred address first.
      emails: ['ann@home.example', 'ann.example@corp.example', 'ann.old@mail.example'],
      phones: {
        mobile: '+49 170 1234567',
        business: '+49 30 1234-0',
        business2: '+49 30 1234-99',
        homeFax: '+49 30 555 0101',
        businessFax: '+49 30 1234-1',
        car: '+49 171 7654321',
        pager: '+49 30 9999',
      },
      homeAddress: { street: 'Lindenstraße 5', city: 'Berlin', postalCode: '10115', country: 'Germany' },
      businessAddress: {
        street: 'Building C\nForschungsweg 1',
        city: 'Potsdam',
        state: 'Brandenburg',
        postalCode: '14469',
        country: 'Germany',
      },
      otherAddress: { street: 'Somewhere 9', city: 'Hamburg', postalCode: '20095', country: 'Germany' },
      birthday: '1984-02-29',
      anniversary: '2012-06-16',
      body: { format: 'text', data: 'Met at the conference, 2019.\nLikes tea.' },
      categories: ['Colleagues', 'VIP'],
      webPage: 'https://ann.example/',
      imAddresses: ['ann@jabber.example'],
      assistantName: 'Bea Helper',
      managerName: 'Carl Boss',
      spouse: 'Dana Example',
      picture:
        '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDAwUDQwLCwwZEhMPFB0aHx4dGhwcICQuJyAiLCMcHCg3KSwwMTQ0NB8nOT04MjwuMzQy/9k=',
    } satisfies Contact);
  });

  test('Apple-style groups, an untyped number, a birthday without a year, a company alone', () => {
    const [, bob, desk] = contacts(fixture('contacts-v3.vcf'));
    assert.deepEqual(bob, {
      lastName: 'Jones',
      firstName: 'Bob',
      fileAs: 'Bob Jones',
      emails: ['bob@jones.example'],
      phones: { home: '+1 212 555 0100', home2: '+1 212 555 0199' },
      birthday: '1604-11-05',
    });
    assert.deepEqual(desk, {
      fileAs: 'ACME Front Desk',
      companyName: 'ACME Inc.',
      phones: { companyMain: '+1 800 555 0000' },
    });
  });

  test('vCard 4.0: tel: URIs, PREF=1, RELATED, a date without a year, a data: URI photo', () => {
    const [chloe] = imported(parseVCards(fixture('contacts-v4.vcf')).items);
    assert.equal(chloe!.uid, 'urn:uuid:5f1c2d3e-0004-4000-8000-000000000004');
    assert.deepEqual(chloe!.item.data, {
      fileAs: 'Chloé Martin',
      lastName: 'Martin',
      firstName: 'Chloé',
      emails: ['chloe.martin@work.example', 'chloe@home.example'],
      phones: { mobile: '+33-6-12-34-56-78', business: '+33-1-23-45-67-89' },
      businessAddress: { street: '12 rue de la Paix', city: 'Paris', postalCode: '75002', country: 'France' },
      birthday: '1604-04-12',
      anniversary: '2015-09-05',
      spouse: 'Luc Martin',
      children: ['Emma'],
      body: { format: 'text', data: 'Prefers French.' },
      categories: ['Friends'],
      imAddresses: ['chloe@voip.example'],
      picture:
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
      webPage: 'https://chloe.example/',
    } satisfies Contact);
  });

  test('vCard 2.1: quoted-printable in UTF-8 and ISO-8859-1, soft line breaks, bare TYPE words', () => {
    assert.deepEqual(contacts(fixture('contacts-v21.vcf')), [
      {
        lastName: 'Müller',
        firstName: 'Jörg',
        fileAs: 'Jörg Müller',
        phones: { mobile: '+49 160 1112223', home: '+49 89 765432' },
        emails: ['joerg@mueller.example'],
        body: { format: 'text', data: 'Erste Zeile\nZweite Zeile, mit Komma und Straße' },
        businessAddress: {
          street: 'Hauptstraße 1',
          city: 'München',
          postalCode: '80331',
          country: 'Deutschland',
        },
      },
    ]);
  });

  test('a bad card is reported with its line, and the cards around it import', () => {
    const { items } = parseVCards(fixture('malformed.vcf'));
    assert.deepEqual(
      items.map((entry) =>
        'error' in entry ? `line ${entry.line}: ${entry.error}` : (entry.item.data as Contact).fileAs,
      ),
      [
        'First Good',
        'line 7: invalid line (no token ";" or ":") "THIS LINE HAS NO COLON"',
        'line 13: VCARD has no END',
        'Second Good',
        'line 23: the card has nothing a contact keeps (no name, address or number)',
      ],
    );
  });

  test('fields in forms a contact cannot keep are left out with a note', () => {
    const [entry] = imported(
      parseVCards(
        [
          'BEGIN:VCARD',
          'VERSION:3.0',
          'FN:Noted',
          'BDAY:sometime in May',
          'PHOTO;VALUE=uri:https://example.org/me.jpg',
          ...['1', '2', '3', '4', '5'].map((n) => `TEL;TYPE=CELL:+1 555 000${n}`),
          'END:VCARD',
        ].join('\r\n'),
      ).items,
    );
    assert.deepEqual(entry!.item.data, { fileAs: 'Noted', phones: { mobile: '+1 555 0001' } });
    assert.deepEqual(entry!.notes, [
      'BDAY "sometime in May" is not a date and was left out',
      'a PHOTO given as a link was left out',
      'phone number +1 555 0002 was left out: its EAS fields are taken',
      'phone number +1 555 0003 was left out: its EAS fields are taken',
      'phone number +1 555 0004 was left out: its EAS fields are taken',
      'phone number +1 555 0005 was left out: its EAS fields are taken',
    ]);
  });

  test('text without a card is not a vCard file', () => {
    assert.throws(() => parseVCards('BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n'), NotVCardError);
  });
});

describe('writing vCards', () => {
  for (const name of ['contacts-v3.vcf', 'contacts-v21.vcf']) {
    test(`${name}: the contacts come back unchanged`, () => {
      const { first, second } = roundTrip(fixture(name));
      // The same JSON, key order included: the store finds an unchanged item by comparing JSON.
      assert.equal(
        JSON.stringify(second.map(({ item }) => item)),
        JSON.stringify(first.map(({ item }) => item)),
      );
      const named = first.filter(({ uid }) => uid !== undefined);
      assert.deepEqual(
        second.filter(({ uid }) => named.some((entry) => entry.uid === uid)).map(({ uid }) => uid),
        named.map(({ uid }) => uid),
      );
    });
  }

  test('vCard 4.0 comes back as 3.0 with the same contact, children aside (3.0 has no field for them)', () => {
    const { first, second, written } = roundTrip(fixture('contacts-v4.vcf'));
    const { children, ...rest } = first[0]!.item.data as Contact;
    assert.deepEqual(children, ['Emma']);
    assert.deepEqual(second[0]!.item.data, rest);
    assert.equal(second[0]!.uid, first[0]!.uid);
    assert.match(written, /^BEGIN:VCARD\r\nVERSION:3\.0\r\n/);
    assert.match(written, /\r\nPHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo/);
  });

  test('the cards are 3.0 that ical.js reads, with FN always set and bare addresses', () => {
    const written = toVCards([
      {
        uid: 'company-only',
        data: { companyName: 'Only Company; Ltd', phones: { businessFax: '+1 555 0100' } },
      },
      { data: { firstName: 'Eve', emails: ['"Eve E." <eve@example.org>'], imAddresses: ['eve@im.example'] } },
    ]);
    const cards = (ICAL.parse(written) as unknown[][]).map((jcard) => new ICAL.Component(jcard));
    assert.equal(cards.length, 2);
    assert.equal(cards[0]!.getFirstPropertyValue('fn'), 'Only Company; Ltd');
    assert.equal(cards[0]!.getFirstPropertyValue('uid'), 'company-only');
    assert.deepEqual(cards[0]!.getFirstProperty('tel')!.getParameter('type'), ['work', 'fax']);
    assert.equal(cards[1]!.getFirstPropertyValue('fn'), 'Eve');
    assert.equal(cards[1]!.getFirstPropertyValue('email'), 'eve@example.org');
    assert.equal(cards[1]!.getFirstPropertyValue('impp'), 'im:eve@im.example');
    assert.match(String(cards[1]!.getFirstPropertyValue('uid')), /^[0-9a-f-]{36}$/);
    assert.ok(written.endsWith('END:VCARD\r\n'));
  });
});
