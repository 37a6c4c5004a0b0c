import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, decodeFragment, el, encode, WbxmlError } from '../../src/wbxml/index.ts';
import type { WbxmlErrorReason } from '../../src/wbxml/index.ts';
import { FIXTURES } from './libwbxml.ts';

const HEADER = [0x03, 0x01, 0x6a, 0x00];
const SYNC = 0x45; // AirSync:Sync with content
const SYNC_KEY = 0x4b; // AirSync:SyncKey with content
const STATUS = 0x0e; // AirSync:Status, empty

function doc(...body: number[]): Buffer {
  return Buffer.from([...HEADER, ...body]);
}

/** STR_I with its NUL terminator. */
function str(text: string | Buffer): number[] {
  return [0x03, ...Buffer.from(text), 0x00];
}

function rejects(bytes: Buffer, reason: WbxmlErrorReason, offset?: number): WbxmlError {
  try {
    decode(bytes);
  } catch (error) {
    assert.ok(error instanceof WbxmlError, `expected WbxmlError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    if (offset !== undefined) assert.equal(error.offset, offset, error.message);
    return error;
  }
  assert.fail(`decoded without error; expected ${reason}`);
}

test('decodes elements, text, empty elements and code page switches', () => {
  const tree = decode(
    doc(SYNC, SYNC_KEY, ...str('0'), 0x01, STATUS, 0x00, 0x11, 0x4a, 0x46, ...str('2'), 0x01, 0x01, 0x01),
  );
  assert.deepEqual(
    tree,
    el('AirSync', 'Sync', [
      el('AirSync', 'SyncKey', '0'),
      el('AirSync', 'Status'),
      el('AirSyncBase', 'Body', [el('AirSyncBase', 'Type', '2')]),
    ]),
  );
});

test('a root element without content is a whole document', () => {
  assert.deepEqual(decode(doc(0x00, 0x07, 0x16)), el('FolderHierarchy', 'FolderSync'));
});

test('header: multi-byte public id, public id in the string table, WBXML 1.1/1.2', () => {
  const body = [SYNC, 0x01];
  assert.equal(decode(Buffer.from([0x03, 0x81, 0x7f, 0x6a, 0x00, ...body])).name, 'Sync');
  const table = [...Buffer.from('-//MICROSOFT//DTD ActiveSync//EN'), 0x00];
  assert.equal(decode(Buffer.from([0x03, 0x00, 0x00, 0x6a, table.length, ...table, ...body])).name, 'Sync');
  assert.equal(decode(Buffer.from([0x01, 0x01, 0x6a, 0x00, ...body])).name, 'Sync');
  rejects(Buffer.from([0x03, 0x00, 0x05, 0x6a, 0x02, 0x41, 0x00, ...body]), 'bad-string-reference');
});

test('header: charsets other than UTF-8 and unknown versions are rejected', () => {
  const latin1 = rejects(Buffer.from([0x03, 0x01, 0x04, 0x00, SYNC, 0x01]), 'unsupported-charset', 2);
  assert.match(latin1.message, /MIBenum 4/);
  rejects(Buffer.from([0x03, 0x01, 0x00, 0x00, SYNC, 0x01]), 'unsupported-charset');
  rejects(Buffer.from([0x00, 0x01, 0x6a, 0x00, SYNC, 0x01]), 'unsupported-version', 0);
  rejects(Buffer.from([0x04, 0x01, 0x6a, 0x00, SYNC, 0x01]), 'unsupported-version', 0);
  rejects(Buffer.from([]), 'truncated', 0);
  rejects(Buffer.from([0x03, 0x01, 0x6a]), 'truncated', 3);
});

test('STR_T reads from the string table, which is never part of the tree', () => {
  const table = [...Buffer.from('abc'), 0x00, ...Buffer.from('de'), 0x00];
  const bytes = Buffer.from([
    0x03,
    0x01,
    0x6a,
    table.length,
    ...table,
    SYNC,
    SYNC_KEY,
    0x83,
    0x04,
    0x83,
    0x01,
    0x01,
    0x01,
  ]);
  assert.deepEqual(decode(bytes), el('AirSync', 'Sync', [el('AirSync', 'SyncKey', 'debc')]));
  rejects(
    Buffer.from([0x03, 0x01, 0x6a, 0x02, 0x61, 0x00, SYNC, SYNC_KEY, 0x83, 0x02, 0x01, 0x01]),
    'bad-string-reference',
  );
  // An entry without terminator is not a string.
  rejects(
    Buffer.from([0x03, 0x01, 0x6a, 0x01, 0x61, SYNC, SYNC_KEY, 0x83, 0x00, 0x01, 0x01]),
    'bad-string-reference',
  );
});

test('STR_T references cannot expand a document beyond its own size', () => {
  const table = [...Buffer.alloc(200, 0x61), 0x00];
  const references = Array.from({ length: 50 }, () => [0x83, 0x00]).flat();
  const bytes = Buffer.from([
    0x03,
    0x01,
    0x6a,
    0x81,
    0x49,
    ...table,
    SYNC,
    SYNC_KEY,
    ...references,
    0x01,
    0x01,
  ]);
  rejects(bytes, 'too-large');
});

test('ENTITY decodes to the character; impossible code points are rejected', () => {
  const tree = decode(doc(SYNC, SYNC_KEY, ...str('a'), 0x02, 0xc1, 0x2c, 0x02, 0x26, 0x01, 0x01));
  assert.equal(tree.children[0]!.text, 'a\u20ac&');
  rejects(doc(SYNC, SYNC_KEY, 0x02, 0x84, 0x80, 0x80, 0x00, 0x01, 0x01), 'bad-entity');
});

test('OPAQUE is kept as bytes; consecutive pieces are joined', () => {
  const tree = decode(doc(SYNC, SYNC_KEY, 0xc3, 0x03, 0x00, 0xff, 0x0a, 0xc3, 0x01, 0x41, 0x01, 0x01));
  assert.deepEqual(tree.children[0]!.opaque, Buffer.from([0x00, 0xff, 0x0a, 0x41]));
  assert.equal(tree.children[0]!.text, undefined);
  const long = Buffer.alloc(300, 7);
  const big = decode(doc(SYNC, SYNC_KEY, 0xc3, 0x82, 0x2c, ...long, 0x01, 0x01));
  assert.deepEqual(big.children[0]!.opaque, long);
});

test('invalid UTF-8 becomes U+FFFD instead of failing the document', () => {
  const tree = decode(doc(SYNC, SYNC_KEY, ...str(Buffer.from([0x61, 0xc3, 0x28, 0xff, 0x62])), 0x01, 0x01));
  assert.equal(tree.children[0]!.text, 'a\ufffd(\ufffdb');
});

test('unknown tokens and code pages are rejected with page and token', () => {
  const unknownTag = rejects(doc(SYNC, 0x00, 0x04, 0x2b, 0x01), 'unknown-tag', 7);
  assert.match(unknownTag.message, /page 4 \(Calendar\) token 0x2b/);
  rejects(doc(SYNC, 0x2a, 0x01), 'unknown-tag', 5);
  rejects(doc(0x00, 0x1a, 0x05), 'unknown-code-page', 4);
  rejects(doc(0x00, 0xfe, 0x05), 'unknown-code-page', 4);
});

test('attributes, literals and extensions are rejected', () => {
  rejects(doc(0xc5, 0x01, 0x01), 'attributes-not-supported', 4);
  rejects(doc(0x85, 0x01), 'attributes-not-supported', 4);
  rejects(doc(0x04, 0x00), 'unsupported-token', 4);
  rejects(doc(SYNC, 0xc0, 0x01), 'unsupported-token', 5);
  rejects(doc(SYNC, 0x43, 0x01), 'unsupported-token', 5);
});

test('mb_u_int32 longer than 5 bytes or above 32 bits is rejected', () => {
  rejects(doc(SYNC, SYNC_KEY, 0xc3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01), 'bad-mb-uint32', 7);
  rejects(doc(SYNC, SYNC_KEY, 0xc3, 0x90, 0x80, 0x80, 0x80, 0x00, 0x01), 'bad-mb-uint32', 7);
  // 0x8f ff ff ff 7f = 2^32 - 1 is fine as a number, but no document has that many bytes left.
  rejects(doc(SYNC, SYNC_KEY, 0xc3, 0x8f, 0xff, 0xff, 0xff, 0x7f, 0x01), 'truncated');
});

test('document structure errors', () => {
  rejects(doc(), 'no-root-element', 4);
  rejects(doc(0x00, 0x01), 'no-root-element', 6);
  rejects(doc(SYNC), 'truncated', 5);
  rejects(doc(SYNC, SYNC_KEY, 0x03, 0x61), 'truncated');
  rejects(doc(0x01), 'unexpected-token', 4);
  rejects(doc(...str('x')), 'unexpected-token', 4);
  rejects(doc(SYNC, 0x01, 0x01), 'trailing-data', 6);
  rejects(doc(STATUS, STATUS), 'trailing-data', 5);
  rejects(doc(SYNC, ...str('x'), STATUS, 0x01), 'mixed-content', 8);
  rejects(doc(SYNC, STATUS, ...str('x'), 0x01), 'mixed-content', 6);
  rejects(doc(SYNC, ...str('x'), 0xc3, 0x01, 0x00, 0x01), 'mixed-content');
  rejects(doc(SYNC, 0xc3, 0x01, 0x00, ...str('x'), 0x01), 'mixed-content');
});

test('limits: depth, element count, document size', () => {
  const nested = (depth: number): Buffer =>
    Buffer.concat([Buffer.from(HEADER), Buffer.alloc(depth, SYNC), Buffer.alloc(depth, 0x01)]);
  assert.doesNotThrow(() => decode(nested(64)));
  rejects(nested(65), 'too-deep', 4 + 64);
  assert.throws(() => decode(nested(10), { maxDepth: 5 }), { reason: 'too-deep' });

  const started = performance.now();
  rejects(nested(100_000), 'too-deep');
  assert.ok(performance.now() - started < 1000);

  const flat = doc(SYNC, ...Array<number>(100).fill(STATUS), 0x01);
  assert.equal(decode(flat).children.length, 100);
  assert.throws(() => decode(flat, { maxElements: 100 }), { reason: 'too-many-elements' });
  assert.throws(() => decode(flat, { maxBytes: 100 }), { reason: 'too-large' });
});

test('a huge declared opaque or string-table length fails fast without allocating', () => {
  rejects(doc(SYNC, SYNC_KEY, 0xc3, 0x8f, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x01), 'truncated', 12);
  rejects(Buffer.from([0x03, 0x01, 0x6a, 0x8f, 0xff, 0xff, 0xff, 0x7f, SYNC, 0x01]), 'truncated', 8);
});

test('every truncation of a valid document is rejected with a WbxmlError', () => {
  const valid = encode(
    el('AirSync', 'Sync', [
      el('AirSync', 'SyncKey', 'ключ'),
      el('AirSyncBase', 'Body', [el('AirSyncBase', 'Data', Buffer.alloc(200, 1))]),
    ]),
  );
  for (let length = 0; length < valid.length; length++) {
    assert.throws(() => decode(valid.subarray(0, length)), WbxmlError, `length ${length}`);
  }
});

test('opaque data is a view into the input, not a copy', () => {
  const input = doc(SYNC, SYNC_KEY, 0xc3, 0x02, 0x10, 0x20, 0x01, 0x01);
  const opaque = decode(input).children[0]!.opaque!;
  assert.equal(opaque.buffer, input.buffer);
});

test('decodeFragment decodes headerless Horde fragments', () => {
  const fragment = readFileSync(join(FIXTURES, 'horde-activesync', 'default_policies.wbxml'));
  const tree = decodeFragment(fragment);
  assert.equal(tree.ns, 'Provision');
  assert.equal(tree.name, 'EASProvisionDoc');
  assert.deepEqual(
    tree.children.map((c) => [c.name, c.text]),
    [
      ['DevicePasswordEnabled', '0'],
      ['RequireStorageCardEncryption', '0'],
      ['AttachmentsEnabled', '1'],
      ['MaxAttachmentSize', '5000000'],
    ],
  );
  assert.deepEqual(decodeFragment(fragment), decode(Buffer.concat([Buffer.from(HEADER), fragment])));
});

test('decode accepts a plain Uint8Array', () => {
  const bytes = doc(SYNC, SYNC_KEY, ...str('7'), 0x01, 0x01);
  assert.deepEqual(decode(new Uint8Array(bytes)), decode(bytes));
});
