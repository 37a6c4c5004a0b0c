// Property tests over the real code page tables: round trips, streaming equality, and hostile input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CODE_PAGES,
  decode,
  el,
  encode,
  encodeStream,
  sanitizeText,
  WbxmlError,
  type Namespace,
  type WbxmlElement,
} from '../../src/wbxml/index.ts';

const TAGS: readonly (readonly [Namespace, string])[] = CODE_PAGES.flatMap((cp) =>
  cp.names.flatMap((name) => (name === undefined ? [] : [[cp.ns, name] as const])),
);

const tag = fc.constantFrom(...TAGS);

/** Text as it survives encoding: any Unicode, minus the characters the encoder drops. */
const text = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 40 })
  .map(sanitizeText)
  .filter((s) => s !== '');

const opaque = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes));

const tree: fc.Arbitrary<WbxmlElement> = fc.letrec<{
  node: WbxmlElement;
  leaf: WbxmlElement;
  branch: WbxmlElement;
}>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('branch')),
  leaf: fc
    .tuple(tag, fc.option(fc.oneof(text, opaque), { nil: undefined }))
    .map(([[ns, name], content]) => el(ns, name, content)),
  branch: fc
    .tuple(tag, fc.array(tie('node'), { minLength: 1, maxLength: 6 }))
    .map(([[ns, name], kids]) => el(ns, name, kids)),
})).node;

/** Runs `decode` on hostile input: it may fail, but only with a WbxmlError, and quickly. */
function decodeHostile(bytes: Uint8Array): void {
  // CPU time rather than wall time, so that a loaded test machine does not fail the check.
  const started = process.cpuUsage();
  try {
    decode(bytes);
  } catch (error) {
    if (!(error instanceof WbxmlError)) throw error;
  }
  const { user, system } = process.cpuUsage(started);
  const ms = (user + system) / 1000;
  // Linear time: a generous constant plus 0.5 µs per input byte (GC included).
  assert.ok(
    ms < 200 + bytes.length / 2_000,
    `decode took ${ms.toFixed(1)} ms of CPU for ${bytes.length} bytes`,
  );
}

test('random trees over all 26 code pages round-trip through encode and decode', () => {
  fc.assert(
    fc.property(tree, (t) => {
      assert.deepStrictEqual(decode(encode(t)), t);
    }),
    { numRuns: 300 },
  );
});

test('encodeStream yields exactly the bytes of encode, for any chunk size', () => {
  fc.assert(
    fc.property(tree, fc.integer({ min: 1, max: 2048 }), (t, chunkSize) => {
      assert.deepStrictEqual(Buffer.concat([...encodeStream(t, { chunkSize })]), encode(t));
    }),
    { numRuns: 200 },
  );
});

test('any text decodes as its sanitized, well-formed form', () => {
  const anyCodeUnits = fc.string({
    unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)),
  });
  fc.assert(
    fc.property(anyCodeUnits, (s) => {
      const decoded = decode(encode(el('AirSync', 'Sync', [el('AirSync', 'SyncKey', s)])));
      const expected = Buffer.from(sanitizeText(s), 'utf8').toString('utf8'); // lone surrogates → U+FFFD
      assert.equal(decoded.children[0]!.text, expected === '' ? undefined : expected);
      // eslint-disable-next-line no-control-regex -- the characters that must be gone
      assert.doesNotMatch(expected, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/);
    }),
    { numRuns: 300 },
  );
});

test('random bytes only ever fail with WbxmlError, quickly', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), decodeHostile), { numRuns: 1000 });
  // Behind a valid header the body parser sees the random bytes.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (body) =>
      decodeHostile(Buffer.from([0x03, 0x01, 0x6a, 0x00, ...body])),
    ),
    { numRuns: 1000 },
  );
});

test('mutated and truncated valid documents only ever fail with WbxmlError, quickly', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );
  fc.assert(
    fc.property(tree, fc.array(mutation, { minLength: 1, maxLength: 8 }), (t, mutations) => {
      const bytes = [...encode(t)];
      for (const m of mutations) {
        const at = m.at % (bytes.length + 1);
        if (m.kind === 'set') bytes[at] = m.byte;
        else if (m.kind === 'insert') bytes.splice(at, 0, m.byte);
        else if (m.kind === 'delete') bytes.splice(at, 1);
        else bytes.length = at;
      }
      decodeHostile(Buffer.from(bytes));
    }),
    { numRuns: 500 },
  );
});

test('hostile shapes: deep nesting, huge declared lengths, over-long integers', () => {
  const header = Buffer.from([0x03, 0x01, 0x6a, 0x00]);
  decodeHostile(Buffer.concat([header, Buffer.alloc(100_000, 0x45)]));
  decodeHostile(Buffer.concat([header, Buffer.alloc(100_000, 0x45), Buffer.alloc(100_000, 0x01)]));
  decodeHostile(Buffer.concat([header, Buffer.from([0x45, 0x4b, 0xc3, 0x8f, 0xff, 0xff, 0xff, 0x7f])]));
  decodeHostile(Buffer.concat([header, Buffer.from([0x45, 0x4b, 0xc3]), Buffer.alloc(10_000, 0xff)]));
  decodeHostile(Buffer.from([0x03, 0x8f, 0xff, 0xff, 0xff, 0x7f, 0x6a, 0x00, 0x45, 0x01]));
  decodeHostile(Buffer.concat([header, Buffer.from([0x45, 0x4b, 0x03]), Buffer.alloc(1_000_000, 0x61)]));
  // Many small elements: bounded by maxElements, linear time.
  decodeHostile(Buffer.concat([header, Buffer.from([0x45]), Buffer.alloc(2_000_000, 0x0e)]));
});
