import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { HttpError } from '../../src/http/errors.ts';
import {
  COMMAND_NAMES,
  PROTOCOL_VERSIONS,
  decodeBase64Query,
  encodeBase64Query,
  parseEasRequest,
  type Base64Query,
  type EasRequest,
} from '../../src/http/query.ts';

const FIXTURES = new URL('../fixtures/ms-as-examples/ms-ashttp/', import.meta.url);
const SPEC_BASE64 = readFileSync(new URL('query-base64-2.2.1.1.1.1.b64', FIXTURES), 'utf8').trim();
const SPEC_DECODED = JSON.parse(
  readFileSync(new URL('query-base64-2.2.1.1.1.1.decoded.json', FIXTURES), 'utf8'),
) as { decoded: Record<string, unknown>; plain_text_equivalent_given_by_spec: string };

const parse = (query: string, headers: Record<string, string> = {}): EasRequest =>
  parseEasRequest({ query, headers, clientAddress: '192.0.2.1' });

function rejectsWith(status: number, run: () => unknown, reason?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${String(error)}`);
    assert.equal(error.status, status, error.reason);
    if (reason !== undefined) assert.match(error.reason, reason);
    return true;
  });
}

describe('the base64 query', () => {
  test('parses the MS-ASHTTP 2.2.1.1.1.1 example as decoded in the fixture', () => {
    const request = parse(SPEC_BASE64);
    const expected = SPEC_DECODED.decoded;
    assert.equal(request.queryForm, 'base64');
    assert.equal(request.protocolVersion, expected.protocol_version);
    assert.equal(request.command, expected.command);
    assert.equal(request.locale, expected.locale);
    assert.equal(request.deviceId, expected.device_id);
    assert.equal(request.policyKey, undefined);
    assert.equal(request.deviceType, expected.device_type);
    assert.deepEqual(request.params, {});
    assert.equal(request.user, undefined);
  });

  test('names the same request as the plain query the spec calls equivalent', () => {
    const plain = SPEC_DECODED.plain_text_equivalent_given_by_spec.split(/[? ]/)[2] as string;
    const fromPlain = parse(plain, { 'ms-asprotocolversion': '14.0' });
    const fromBase64 = parse(SPEC_BASE64);
    // The spec's base64 example carries no User and the plain form no locale; all else agrees.
    const { queryForm: plainForm, user, ...plainRest } = fromPlain;
    const { queryForm: base64Form, locale, ...base64Rest } = fromBase64;
    assert.deepEqual([plainForm, base64Form], ['plain', 'base64']);
    assert.equal(user, 'rmjones');
    assert.equal(locale, 0x0409);
    assert.deepEqual(base64Rest, plainRest);
  });

  test('carries parameters, options, user and policy key, and accepts percent-encoding', () => {
    const query: Base64Query = {
      protocolVersion: '14.1',
      command: 'SmartReply',
      locale: 0x0407,
      deviceId: 'ApplDNPXXXXXXXXX',
      policyKey: 3942919513,
      deviceType: 'iPhone',
      user: 'EXAMPLE\\alice',
      params: { collectionId: '5', itemId: '5:12', longId: 'RgAAAA+/=', occurrence: '20250101T000000Z' },
      saveInSent: true,
      acceptMultiPart: false,
    };
    const encoded = encodeBase64Query(query);
    assert.deepEqual(decodeBase64Query(encoded), query);
    const request = parse(encodeURIComponent(encoded), { 'user-agent': 'Apple-iPhone/1' });
    assert.equal(request.saveInSent, true);
    assert.equal(request.user, 'EXAMPLE\\alice');
    assert.equal(request.policyKey, 3942919513);
    assert.equal(request.userAgent, 'Apple-iPhone/1');
    assert.equal(request.clientAddress, '192.0.2.1');
  });

  test('the blob wins over headers; headers only fill what it leaves out', () => {
    const base: Base64Query = {
      protocolVersion: '14.1',
      command: 'ItemOperations',
      locale: 0x0409,
      deviceId: 'dev',
      deviceType: 'Phone',
      params: {},
      saveInSent: false,
      acceptMultiPart: false,
    };
    const headers = { 'ms-asprotocolversion': '12.1', 'x-ms-policykey': '7', 'ms-asacceptmultipart': 'T' };
    const filled = parse(encodeBase64Query(base), headers);
    assert.equal(filled.protocolVersion, '14.1');
    assert.equal(filled.policyKey, 7);
    assert.equal(filled.acceptMultiPart, true);
    const own = parse(encodeBase64Query({ ...base, policyKey: 9 }), headers);
    assert.equal(own.policyKey, 9);
  });

  test('a device id of raw bytes (a GUID) reads as upper-case hex', () => {
    const guid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const bytes = Buffer.from([141, 9, 0x09, 0x04, guid.length, ...guid, 0, 5, ...Buffer.from('Phone')]);
    assert.equal(decodeBase64Query(bytes.toString('base64')).deviceId, '00112233445566778899AABBCCDDEEFF');
  });

  test('the AcceptMultiPart flag of Options', () => {
    const bytes = Buffer.from([141, 19, 0x09, 0x04, 1, 0x41, 0, 1, 0x42, 7, 1, 0x02]);
    const query = decodeBase64Query(bytes.toString('base64'));
    assert.equal(query.acceptMultiPart, true);
    assert.equal(query.saveInSent, false);
  });

  test('skips parameter tags MS-ASHTTP no longer defines', () => {
    const bytes = Buffer.from([141, 0, 0x09, 0x04, 1, 0x41, 0, 1, 0x42, 2, 3, 0x61, 0x62, 0x63, 1, 1, 0x37]);
    assert.deepEqual(decodeBase64Query(bytes.toString('base64')).params, { collectionId: '7' });
  });

  test('refuses what is not a well-formed query with 400', () => {
    const valid = Buffer.from(SPEC_BASE64, 'base64');
    for (let length = 0; length < valid.length; length++) {
      rejectsWith(400, () => decodeBase64Query(valid.subarray(0, length).toString('base64')));
    }
    rejectsWith(400, () => parse('jAAJBAp'), /not valid base64|ends inside/);
    const withVersion = (version: number) =>
      Buffer.from([version, 0, 9, 4, 1, 0x41, 0, 0]).toString('base64');
    rejectsWith(400, () => parse(withVersion(99)), /protocol version byte 99/);
    rejectsWith(
      400,
      () => parse(Buffer.from([141, 5, 9, 4, 1, 0x41, 0, 0]).toString('base64')),
      /command code 5/,
    );
    rejectsWith(400, () => parse(Buffer.from([141, 0, 9, 4, 0, 0, 0]).toString('base64')), /no device id/);
    rejectsWith(
      400,
      () => parse(Buffer.from([141, 0, 9, 4, 1, 0x41, 3, 1, 2, 3, 0]).toString('base64')),
      /0 or 4/,
    );
  });

  test('any bytes either parse or fail with HttpError 400', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeBase64Query(Buffer.from(bytes).toString('base64'));
        } catch (error) {
          assert.ok(error instanceof HttpError && error.status === 400, String(error));
        }
      }),
    );
  });

  test('encoding and decoding round-trip', () => {
    const text = fc.string({ unit: fc.constantFrom(...'abcXYZ019:-_./+= '), maxLength: 40 });
    const printable = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_'), minLength: 1, maxLength: 32 });
    const query = fc.record(
      {
        protocolVersion: fc.constantFrom(...PROTOCOL_VERSIONS),
        command: fc.constantFrom(...COMMAND_NAMES),
        locale: fc.integer({ min: 0, max: 0xffff }),
        deviceId: printable,
        policyKey: fc.integer({ min: 0, max: 0xffffffff }),
        deviceType: text,
        user: text,
        params: fc.record(
          { attachmentName: text, collectionId: text, itemId: text, longId: text, occurrence: text },
          { requiredKeys: [], noNullPrototype: true },
        ),
        saveInSent: fc.boolean(),
        acceptMultiPart: fc.boolean(),
      },
      {
        requiredKeys: [
          'protocolVersion',
          'command',
          'locale',
          'deviceId',
          'deviceType',
          'params',
          'saveInSent',
          'acceptMultiPart',
        ],
        noNullPrototype: true,
      },
    );
    fc.assert(
      fc.property(query, (value) => {
        const expected = { policyKey: undefined, user: undefined, ...value };
        assert.deepEqual(
          { policyKey: undefined, user: undefined, ...decodeBase64Query(encodeBase64Query(value)) },
          expected,
        );
      }),
    );
  });
});

describe('the plain query', () => {
  const version = { 'ms-asprotocolversion': '14.1' };

  test('reads command, user, device, parameters and flags', () => {
    const request = parse(
      'Cmd=SmartForward&User=EXAMPLE%5Calice&DeviceId=androidc123&DeviceType=Android' +
        '&CollectionId=5&ItemId=5%3A12&LongId=L1&Occurrence=O1&AttachmentName=a%2Fb&SaveInSent=T',
      { ...version, 'x-ms-policykey': '1234567890', 'user-agent': 'Android/1', 'ms-asacceptmultipart': 'T' },
    );
    assert.deepEqual(request, {
      command: 'SmartForward',
      protocolVersion: '14.1',
      user: 'EXAMPLE\\alice',
      deviceId: 'androidc123',
      deviceType: 'Android',
      policyKey: 1234567890,
      params: { attachmentName: 'a/b', collectionId: '5', itemId: '5:12', longId: 'L1', occurrence: 'O1' },
      saveInSent: true,
      acceptMultiPart: true,
      queryForm: 'plain',
      userAgent: 'Android/1',
      clientAddress: '192.0.2.1',
    });
  });

  test('matches parameter names in any letter case, the first occurrence winning', () => {
    const request = parse('cmd=Ping&deviceid=one&DEVICEID=two', version);
    assert.equal(request.command, 'Ping');
    assert.equal(request.deviceId, 'one');
    assert.equal(request.deviceType, '');
  });

  test('refuses missing or unknown parts', () => {
    rejectsWith(400, () => parse('User=a&DeviceId=d', version), /no Cmd/);
    rejectsWith(400, () => parse('Cmd=Sync&User=a&DeviceType=t', version), /no DeviceId/);
    rejectsWith(400, () => parse('Cmd=Sync&DeviceId=&DeviceType=t', version), /no DeviceId/);
    rejectsWith(400, () => parse('Cmd=Sync&DeviceId=d'), /no MS-ASProtocolVersion/);
    rejectsWith(
      400,
      () => parse('Cmd=Sync&DeviceId=d', { 'ms-asprotocolversion': '9.9' }),
      /unknown protocol version/,
    );
    rejectsWith(501, () => parse('Cmd=Frobnicate&DeviceId=d', version), /unknown command/);
    rejectsWith(
      400,
      () => parse('Cmd=Sync&DeviceId=d', { ...version, 'x-ms-policykey': 'abc' }),
      /X-MS-PolicyKey/,
    );
    rejectsWith(400, () => parse('Cmd=Sync&DeviceId=d', { ...version, 'x-ms-policykey': '4294967296' }));
  });
});
