// The payload a change travels in between processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeChange, encodeChange } from '../../src/push/wire.ts';

test('a change survives the trip with all its fields, and without the ones it lacks', () => {
  const full = {
    userId: 3,
    backend: 'store',
    folderId: 'f/1:ü',
    origin: 'account:9',
    hierarchy: true,
    seq: 41,
  };
  assert.deepEqual(decodeChange(encodeChange('instance-a', full)), { source: 'instance-a', change: full });
  const bare = { userId: 3, backend: 'imap', folderId: 'INBOX' };
  assert.deepEqual(decodeChange(encodeChange('instance-b', bare)), { source: 'instance-b', change: bare });
});

test('anything else on the channel decodes as undefined', () => {
  for (const payload of [
    '',
    'not json',
    'null',
    '[1,2]',
    '{"userId":1,"backend":"store","folderId":"x"}',
    '{"source":"a","userId":"1","backend":"store","folderId":"x"}',
    '{"source":"a","userId":1.5,"backend":"store","folderId":"x"}',
    '{"source":"a","userId":1,"folderId":"x"}',
    '{"source":"a","userId":1,"backend":"store","folderId":7}',
    '{"source":"a","userId":1,"backend":"store","folderId":"x","origin":5}',
    '{"source":"a","userId":1,"backend":"store","folderId":"x","hierarchy":"yes"}',
    '{"source":"a","userId":1,"backend":"store","folderId":"x","seq":"12"}',
  ]) {
    assert.equal(decodeChange(payload), undefined, payload);
  }
});

test('fields it does not know are left behind', () => {
  const decoded = decodeChange('{"source":"a","userId":1,"backend":"store","folderId":"x","extra":true}');
  assert.deepEqual(decoded, { source: 'a', change: { userId: 1, backend: 'store', folderId: 'x' } });
});
