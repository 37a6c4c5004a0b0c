// Bodies on the wire: the 2.5 class Body, AirSyncBase:Body chosen by BodyPreference, truncation in
// bytes of UTF-8, and what a phone's body means for the stored one.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bodyAsText,
  decodeBody,
  decompressRtf,
  encodeBody,
  encodeNativeBodyType,
  htmlToText,
  rtfToText,
  truncateUtf8,
} from '../../src/model/body.ts';
import { ItemError, type BodyPreference } from '../../src/model/codec.ts';
import type { Body } from '../../src/model/types.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { child, childText, el, type WbxmlElement } from '../../src/wbxml/index.ts';

/** MS-OXRTFCP 4.1.1: the compressed form of `{\rtf1\ansi\ansicpg1252\pard hello world}\r\n`. */
const SPEC_COMPRESSED_RTF = Buffer.from(
  '2d0000002b0000004c5a4675f1c5c7a703000a00726370673132354232' + '0af32068656c090020627705b06c647d0a800fa0',
  'hex',
);

/** An uncompressed ('MELA') compressed-RTF container, as MS-OXRTFCP allows. */
function uncompressedRtf(rtf: string): string {
  const raw = Buffer.from(rtf, 'latin1');
  const header = Buffer.alloc(16);
  header.writeUInt32LE(raw.length + 12, 0);
  header.writeUInt32LE(raw.length, 4);
  header.writeUInt32LE(0x414c454d, 8);
  return Buffer.concat([header, raw]).toString('base64');
}

const text = (data: string): Body => ({ format: 'text', data });
const html = (data: string): Body => ({ format: 'html', data });
const rtf: Body = { format: 'rtf', data: SPEC_COMPRESSED_RTF.toString('base64') };

/** The one AirSyncBase:Body of an encoding, as name → text of its children. */
function modernBody(
  body: Body | undefined,
  preferences?: BodyPreference[],
  version: ProtocolVersion = '14.1',
): Record<string, string | undefined> {
  const elements = encodeBody('Contacts', body, { version, bodyPreferences: preferences });
  assert.equal(elements.length, 1);
  const [element] = elements as [WbxmlElement];
  assert.equal(`${element.ns}:${element.name}`, 'AirSyncBase:Body');
  return Object.fromEntries(element.children.map((c) => [c.name, c.text]));
}

const names = (elements: WbxmlElement[]): string[] => elements.map((e) => `${e.ns}:${e.name}`);

describe('encodeBody at 2.5: the class own elements', () => {
  test('Contacts and Tasks write Body, BodySize and BodyTruncated; Calendar has no BodySize', () => {
    const body = text('Call back\nafter lunch');
    const contact = encodeBody('Contacts', body, { version: '2.5' });
    assert.deepEqual(names(contact), ['Contacts:Body', 'Contacts:BodySize', 'Contacts:BodyTruncated']);
    assert.deepEqual(
      contact.map((e) => e.text),
      ['Call back\nafter lunch', '21', '0'],
    );
    assert.deepEqual(names(encodeBody('Tasks', body, { version: '2.5' })), [
      'Tasks:Body',
      'Tasks:BodySize',
      'Tasks:BodyTruncated',
    ]);
    assert.deepEqual(names(encodeBody('Calendar', body, { version: '2.5' })), [
      'Calendar:Body',
      'Calendar:BodyTruncated',
    ]);
  });

  test('Truncation counts characters (1 = 512), and BodySize is the whole', () => {
    const long = 'é'.repeat(600);
    const [bodyElement, size, truncated] = encodeBody('Contacts', text(long), {
      version: '2.5',
      truncation: 1,
    });
    assert.equal(bodyElement!.text, 'é'.repeat(512));
    assert.equal(size!.text, '600');
    assert.equal(truncated!.text, '1');
    assert.equal(encodeBody('Contacts', text(long), { version: '2.5', truncation: 9 })[0]!.text, long);
  });

  test('HTML goes as its text; RTF as text plus CompressedRTF', () => {
    assert.equal(
      encodeBody('Tasks', html('<p>Buy <b>milk</b></p>'), { version: '2.5' })[0]!.text,
      'Buy milk',
    );
    const elements = encodeBody('Contacts', rtf, { version: '2.5' });
    assert.equal(elements[0]!.text, 'hello world');
    assert.deepEqual(elements.at(-1), el('Contacts', 'CompressedRTF', rtf.data));
  });

  test('no body, no elements; Notes have no 2.5 form', () => {
    assert.deepEqual(encodeBody('Contacts', undefined, { version: '2.5' }), []);
    assert.deepEqual(encodeBody('Notes', text('x'), { version: '2.5' }), []);
  });
});

describe('encodeBody from 12.0: AirSyncBase:Body', () => {
  test('without preferences: plain text, whole', () => {
    assert.deepEqual(modernBody(html('<div>Hi &amp; bye</div>')), {
      Type: '1',
      EstimatedDataSize: '8',
      Data: 'Hi & bye',
    });
  });

  test('an item without a body still says so, with empty data', () => {
    assert.deepEqual(modernBody(undefined, [{ type: 2 }]), { Type: '2', EstimatedDataSize: '0', Data: '' });
  });

  test('the first preference the body can be served in wins', () => {
    // RTF is only served when stored as RTF; MIME never for these classes.
    assert.deepEqual(modernBody(text('a < b'), [{ type: 3 }, { type: 4 }, { type: 2 }]), {
      Type: '2',
      EstimatedDataSize: '8',
      Data: 'a &lt; b',
    });
    assert.equal(modernBody(rtf, [{ type: 3 }, { type: 1 }]).Data, rtf.data);
    assert.equal(modernBody(rtf, [{ type: 2 }, { type: 1 }]).Data, 'hello world');
    assert.equal(modernBody(html('<b>x</b>'), [{ type: 2 }]).Data, '<b>x</b>');
    // Nothing the phone asked for fits: plain text.
    assert.equal(modernBody(text('plain'), [{ type: 3 }]).Type, '1');
  });

  test('TruncationSize counts bytes of UTF-8 and never splits a character', () => {
    const data = 'hé😀!';
    assert.equal(Buffer.byteLength(data), 8);
    assert.deepEqual(modernBody(text(data), [{ type: 1, truncationSize: 6 }]), {
      Type: '1',
      EstimatedDataSize: '8',
      Truncated: '1',
      Data: 'hé',
    });
    assert.equal(modernBody(text(data), [{ type: 1, truncationSize: 7 }]).Data, 'hé😀');
    assert.deepEqual(modernBody(text(data), [{ type: 1, truncationSize: 8 }]), {
      Type: '1',
      EstimatedDataSize: '8',
      Data: data,
    });
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7].map((n) => truncateUtf8(data, n)),
      ['', 'h', 'h', 'hé', 'hé', 'hé', 'hé', 'hé😀'],
    );
  });

  test('AllOrNone passes over a type too large to send whole (MS-ASAIRS example)', () => {
    const body = html(`<p>${'x'.repeat(60)}</p>`);
    const preferences = [
      { type: 2, allOrNone: true, truncationSize: 50 },
      { type: 1, truncationSize: 50 },
    ];
    assert.deepEqual(modernBody(body, preferences), {
      Type: '1',
      EstimatedDataSize: '60',
      Truncated: '1',
      Data: 'x'.repeat(50),
    });
    // Small enough: HTML, whole.
    assert.equal(modernBody(html('<p>short</p>'), preferences).Type, '2');
    // No preference left: the size, and no data.
    assert.deepEqual(modernBody(body, [{ type: 2, allOrNone: true, truncationSize: 50 }]), {
      Type: '2',
      EstimatedDataSize: '67',
      Truncated: '1',
    });
  });

  test('a truncated RTF body stays whole base64 quadruples', () => {
    assert.equal(modernBody(rtf, [{ type: 3, truncationSize: 10 }]).Data, rtf.data.slice(0, 8));
  });

  test('Preview from 14.0, only beside non-text or empty data', () => {
    const body = html('<p>Dear   team,</p><p>the meeting moves.</p>');
    assert.equal(modernBody(body, [{ type: 2, preview: 10 }]).Preview, 'Dear team,');
    assert.equal(modernBody(body, [{ type: 2, preview: 10 }], '12.1').Preview, undefined);
    assert.equal(modernBody(body, [{ type: 1, preview: 10 }]).Preview, undefined);
    assert.equal(modernBody(body, [{ type: 1, truncationSize: 0, preview: 4 }]).Preview, 'Dear');
  });

  test('NativeBodyType: Calendar and Contacts from 12.0', () => {
    assert.deepEqual(encodeNativeBodyType('Contacts', html('x'), '12.0'), [
      el('AirSyncBase', 'NativeBodyType', '2'),
    ]);
    assert.deepEqual(encodeNativeBodyType('Calendar', undefined, '16.1'), [
      el('AirSyncBase', 'NativeBodyType', '1'),
    ]);
    assert.deepEqual(encodeNativeBodyType('Tasks', html('x'), '14.1'), []);
    assert.deepEqual(encodeNativeBodyType('Contacts', html('x'), '2.5'), []);
  });
});

describe('decodeBody', () => {
  const appData = (...children: WbxmlElement[]): WbxmlElement => el('AirSync', 'ApplicationData', children);
  const modern = (...children: WbxmlElement[]): WbxmlElement => appData(el('AirSyncBase', 'Body', children));

  test('Type 1, 2 and 3 are text, HTML and RTF', () => {
    const data = (value: string) => el('AirSyncBase', 'Data', value);
    assert.deepEqual(
      decodeBody('Tasks', modern(el('AirSyncBase', 'Type', '1'), data('hi')), '14.1'),
      text('hi'),
    );
    assert.deepEqual(
      decodeBody('Notes', modern(el('AirSyncBase', 'Type', '2'), data('<b>hi</b>')), '14.1'),
      html('<b>hi</b>'),
    );
    const wrapped = `${rtf.data.slice(0, 20)}\r\n${rtf.data.slice(20)}`;
    assert.deepEqual(
      decodeBody('Contacts', modern(el('AirSyncBase', 'Type', '3'), data(wrapped)), '12.0'),
      rtf,
    );
  });

  test('absent or truncated: undefined, so a Change keeps the stored body', () => {
    assert.equal(decodeBody('Contacts', appData(), '14.1'), undefined);
    const truncated = modern(
      el('AirSyncBase', 'Type', '1'),
      el('AirSyncBase', 'EstimatedDataSize', '5500'),
      el('AirSyncBase', 'Truncated', '1'),
      el('AirSyncBase', 'Data', 'the first part'),
    );
    assert.equal(decodeBody('Contacts', truncated, '14.1'), undefined);
    // A size without data: there is a body the phone did not send.
    const announced = modern(el('AirSyncBase', 'Type', '1'), el('AirSyncBase', 'EstimatedDataSize', '40'));
    assert.equal(decodeBody('Contacts', announced, '14.1'), undefined);
  });

  test('sent empty: a body with empty data, so a Change clears it', () => {
    assert.deepEqual(
      decodeBody('Contacts', modern(el('AirSyncBase', 'Type', '1'), el('AirSyncBase', 'Data')), '14.1'),
      text(''),
    );
    assert.deepEqual(
      decodeBody(
        'Contacts',
        modern(el('AirSyncBase', 'Type', '1'), el('AirSyncBase', 'EstimatedDataSize', '0')),
        '14.1',
      ),
      text(''),
    );
  });

  test('the 2.5 class Body and CompressedRTF', () => {
    assert.deepEqual(decodeBody('Contacts', appData(el('Contacts', 'Body', 'note')), '2.5'), text('note'));
    assert.deepEqual(decodeBody('Tasks', appData(el('Tasks', 'CompressedRTF', rtf.data)), '2.5'), rtf);
    const truncated = appData(el('Calendar', 'Body', 'part'), el('Calendar', 'BodyTruncated', '1'));
    assert.equal(decodeBody('Calendar', truncated, '2.5'), undefined);
    // Not a 12.0 element.
    assert.equal(decodeBody('Contacts', appData(el('Contacts', 'Body', 'note')), '12.0'), undefined);
  });

  test('an unknown Type, RTF that is not base64: ItemError', () => {
    assert.throws(
      () =>
        decodeBody('Tasks', modern(el('AirSyncBase', 'Type', '4'), el('AirSyncBase', 'Data', 'x')), '14.1'),
      ItemError,
    );
    assert.throws(
      () =>
        decodeBody(
          'Tasks',
          modern(el('AirSyncBase', 'Type', '3'), el('AirSyncBase', 'Data', 'no-t base64!')),
          '14.1',
        ),
      ItemError,
    );
  });

  test('what encodeBody writes, decodeBody reads back', () => {
    for (const body of [text('a\r\nb ✓'), html('<p>x</p>'), rtf]) {
      const type = { text: 1, html: 2, rtf: 3 }[body.format];
      const children = encodeBody('Notes', body, { version: '16.1', bodyPreferences: [{ type }] });
      assert.deepEqual(decodeBody('Notes', appData(...children), '16.1'), body);
    }
    const [legacy] = encodeBody('Tasks', text('x'), { version: '2.5' });
    assert.deepEqual(decodeBody('Tasks', appData(legacy!), '2.5'), text('x'));
  });

  test('encoded trees carry the body where the class expects it', () => {
    const root = appData(...encodeBody('Calendar', text('x'), { version: '12.1' }));
    assert.equal(childText(child(root, 'Body', 'AirSyncBase')!, 'Data', 'AirSyncBase'), 'x');
  });
});

describe('conversions', () => {
  test('MS-OXRTFCP: the specification example decompresses, and the uncompressed form is read as is', () => {
    assert.equal(
      decompressRtf(SPEC_COMPRESSED_RTF)?.toString('latin1'),
      '{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n',
    );
    const plain = '{\\rtf1 plain}';
    assert.equal(decompressRtf(Buffer.from(uncompressedRtf(plain), 'base64'))?.toString('latin1'), plain);
    assert.equal(decompressRtf(Buffer.from('not rtf at all!!!')), undefined);
    assert.equal(decompressRtf(Buffer.alloc(3)), undefined);
  });

  test('RTF text: paragraphs, escapes, code page bytes, Unicode, skipped destinations', () => {
    const document =
      '{\\rtf1\\ansi\\ansicpg1252{\\fonttbl{\\f0 Arial;}}{\\colortbl;\\red255;}' +
      "{\\*\\generator Riched20;}\\pard Gr\\u252?\\'dfe\\par\n" +
      "caf\\'e9 \\{x\\}\\tab end\\par}";
    assert.equal(rtfToText(Buffer.from(document, 'latin1')), 'Grüße\ncafé {x}\tend');
    assert.equal(bodyAsText({ format: 'rtf', data: uncompressedRtf(document) }), 'Grüße\ncafé {x}\tend');
  });

  test('HTML text: hidden parts dropped, blocks and breaks as lines, entities decoded', () => {
    const page =
      '<html><head><title>t</title><style>p { color: red }</style></head><body>' +
      '<!-- hidden --><p>Hello&nbsp;<b>world</b></p><div>a &amp; b &#x1F600; &#8364;</div>' +
      'one<br>two<br><br>four<script>alert(1)</script><header>kept</header></body></html>';
    assert.equal(htmlToText(page), 'Hello world\na & b 😀 €\none\ntwo\n\nfour\nkept');
    // An unclosed script hides the rest, and costs one pass.
    assert.equal(htmlToText(`x<script>${'<script>'.repeat(10000)}`), 'x');
  });
});
