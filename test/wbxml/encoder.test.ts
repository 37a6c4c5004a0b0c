import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { decode, el, encode, encodeStream, sanitizeText, WbxmlWriter } from '../../src/wbxml/index.ts';
import type { WbxmlElement } from '../../src/wbxml/index.ts';

/** Bytes from annotated hex lines. */
function hex(...lines: string[]): Buffer {
  return Buffer.from(lines.join('').replace(/\s+/g, ''), 'hex');
}

test('writes the EAS header, tags with and without content, STR_I and SWITCH_PAGE on page changes only', () => {
  const tree = el('AirSync', 'Sync', [
    el('AirSync', 'SyncKey', '0'),
    el('AirSyncBase', 'Body', [el('AirSyncBase', 'Type', '2'), el('AirSyncBase', 'Truncated')]),
    el('AirSyncBase', 'NativeBodyType', '1'),
    el('AirSync', 'Status'),
  ]);
  const expected = hex(
    '03 01 6a 00', // WBXML 1.3, public id 1, UTF-8, empty string table
    '45', // <Sync>
    '4b 03 30 00 01', // <SyncKey>0</SyncKey>
    '00 11 4a', // page 17 (AirSyncBase), <Body>
    '46 03 32 00 01', // <Type>2</Type>
    '0d', // <Truncated/>
    '01', // </Body>
    '56 03 31 00 01', // <NativeBodyType>1</NativeBodyType>, same page
    '00 00 0e', // page 0, <Status/>
    '01', // </Sync>
  );
  assert.deepEqual(encode(tree), expected);
});

test('opaque data is written with an mb_u_int32 length', () => {
  const data = Buffer.alloc(200, 0xab);
  const bytes = encode(el('ComposeMail', 'SendMail', [el('ComposeMail', 'Mime', data)]));
  // Header, page 21, <SendMail>, <Mime>, OPAQUE, length 200 = 0x81 0x48.
  assert.deepEqual(bytes.subarray(0, 11), hex('03 01 6a 00', '00 15 45 50', 'c3 81 48'));
  assert.deepEqual(bytes.subarray(11, 211), data);
  assert.deepEqual(bytes.subarray(211), hex('01 01'));
});

test('elements without content are empty tags, whatever form the emptiness takes', () => {
  const empty = encode(el('ComposeMail', 'SendMail', [el('ComposeMail', 'SaveInSentItems')]));
  assert.deepEqual(encode(el('ComposeMail', 'SendMail', [el('ComposeMail', 'SaveInSentItems', '')])), empty);
  assert.deepEqual(
    encode(el('ComposeMail', 'SendMail', [el('ComposeMail', 'SaveInSentItems', Buffer.alloc(0))])),
    empty,
  );
  assert.deepEqual(
    encode(el('ComposeMail', 'SendMail', [el('ComposeMail', 'SaveInSentItems', '\u0000')])),
    empty,
  );
  assert.deepEqual(encode(el('AirSync', 'Sync')), hex('03 01 6a 00 05'));
});

test('text is sanitized: NUL and control characters removed, lone surrogates replaced, tab/CR/LF kept', () => {
  assert.equal(sanitizeText('a\u0000b\u0001c\u0008d\u000be\u000cf\u001fg\ufffeh\uffffi'), 'abcdefghi');
  assert.equal(sanitizeText('keep\ttab\r\nand\u007f\u0085 € 😀'), 'keep\ttab\r\nand\u007f\u0085 € 😀');
  const roundTrip = (text: string): string | undefined =>
    decode(encode(el('AirSync', 'Sync', [el('AirSync', 'SyncKey', text)]))).children[0]!.text;
  assert.equal(roundTrip('nul\u0000bell\u0007'), 'nulbell');
  assert.equal(
    roundTrip('lone \ud800 high, lone \udc00 low, pair \ud83d\ude00'),
    'lone \ufffd high, lone \ufffd low, pair 😀',
  );
});

test('unknown namespaces and tags are programming errors naming the tag', () => {
  assert.throws(() => encode(el('Calendar', 'TimeZone', 'x')), /no tag TimeZone on code page Calendar/);
  assert.throws(() => encode({ ns: 'Nope' as never, name: 'X', children: [] }), /Nope/);
  assert.throws(
    () => encode({ ns: 'AirSync', name: 'Sync', children: [el('AirSync', 'Status')], text: 'x' }),
    /AirSync:Sync has both children and text/,
  );
  assert.throws(
    () => encode({ ns: 'AirSync', name: 'Sync', children: [], text: 'x', opaque: Buffer.from('y') }),
    /both text and opaque/,
  );
});

function sampleTree(attachment: Buffer): WbxmlElement {
  return el('AirSync', 'Sync', [
    el('AirSync', 'Collections', [
      el('AirSync', 'Collection', [
        el('AirSync', 'SyncKey', '5'),
        el('AirSync', 'Commands', [
          ...Array.from({ length: 30 }, (_, i) =>
            el('AirSync', 'Add', [
              el('AirSync', 'ServerId', `1:${i}`),
              el('AirSync', 'ApplicationData', [
                el('Email', 'Subject', `message ${i} ✉`),
                el('AirSyncBase', 'Body', [el('AirSyncBase', 'Data', 'x'.repeat(i * 500))]),
              ]),
            ]),
          ),
          el('AirSync', 'Add', [
            el('AirSync', 'ApplicationData', [
              el('AirSyncBase', 'Body', [el('AirSyncBase', 'Data', attachment)]),
            ]),
          ]),
        ]),
      ]),
    ]),
  ]);
}

test('encodeStream yields the bytes of encode(), in bounded chunks, passing large opaque data through', () => {
  const attachment = Buffer.alloc(300_000, 9);
  const tree = sampleTree(attachment);
  const expected = encode(tree);
  for (const chunkSize of [64, 1000, 4096, 65536]) {
    const chunks = [...encodeStream(tree, { chunkSize })];
    assert.deepEqual(Buffer.concat(chunks), expected, `chunk size ${chunkSize}`);
    assert.ok(chunks.includes(attachment), 'the attachment is yielded as the caller’s Buffer, not copied');
    for (const chunk of chunks) {
      // Larger chunks are data passed through whole: the attachment, or the UTF-8 of a long text.
      const passedThrough = chunk === attachment || /^x+$/.test(chunk.toString('latin1'));
      assert.ok(chunk.length <= chunkSize || passedThrough, `a chunk of ${chunk.length} bytes`);
    }
  }
});

test('encodeStream is lazy and works with Readable.from', async () => {
  const tree = sampleTree(Buffer.alloc(100, 1));
  const stream = encodeStream(tree, { chunkSize: 1024 });
  const first = stream.next();
  assert.equal(first.done, false);
  assert.ok(first.value!.length <= 1024);
  const received: Buffer[] = [];
  for await (const chunk of Readable.from(encodeStream(tree, { chunkSize: 1024 })))
    received.push(chunk as Buffer);
  assert.deepEqual(Buffer.concat(received), encode(tree));
});

test('WbxmlWriter builds a document incrementally with the same bytes as encode()', () => {
  const chunks: Buffer[] = [];
  const writer = new WbxmlWriter((c) => chunks.push(c), { chunkSize: 128 });
  writer
    .openElement('AirSync', 'Sync')
    .openElement('AirSync', 'Collections')
    .openElement('AirSync', 'Collection');
  writer.leaf('AirSync', 'SyncKey', '5').openElement('AirSync', 'Commands');
  const tree = sampleTree(Buffer.alloc(20_000, 2));
  const commands = tree.children[0]!.children[0]!.children[1]!;
  for (const add of commands.children) writer.element(add);
  writer.close().close().close().close().end();
  const expected = encode(
    el('AirSync', 'Sync', [
      el('AirSync', 'Collections', [el('AirSync', 'Collection', [el('AirSync', 'SyncKey', '5'), commands])]),
    ]),
  );
  assert.deepEqual(Buffer.concat(chunks), expected);
});

test('WbxmlWriter refuses unbalanced use', () => {
  const sink = (): void => {};
  assert.throws(() => new WbxmlWriter(sink).close(), /close\(\) without an open element/);
  assert.throws(() => new WbxmlWriter(sink).end(), /before any element/);
  assert.throws(() => new WbxmlWriter(sink).openElement('AirSync', 'Sync').end(), /<Sync> still open/);
  assert.throws(
    () => new WbxmlWriter(sink).leaf('AirSync', 'Status').leaf('AirSync', 'Status'),
    /after the root/,
  );
  assert.throws(
    () => new WbxmlWriter(sink).openElement('AirSync', 'Sync').close().openElement('AirSync', 'Sync'),
    /after the root/,
  );
});

test('text longer than a chunk is written correctly', () => {
  const text = 'é'.repeat(50_000) + '😀'.repeat(10_000);
  const tree = el('AirSync', 'Sync', [el('AirSync', 'SyncKey', text)]);
  assert.equal(decode(encode(tree)).children[0]!.text, text);
  assert.deepEqual(Buffer.concat([...encodeStream(tree, { chunkSize: 100 })]), encode(tree));
});
