// The payload a message travels in between processes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage } from '../../src/push/wire.ts';

test('a change survives the trip with all its fields, and without the ones it lacks', () => {
  const full = {
    userId: 3,
    backend: 'store',
    folderId: 'f/1:ü',
    origin: 'account:9',
    hierarchy: true,
    seq: 41,
  };
  assert.deepEqual(decodeMessage(encodeMessage('instance-a', { kind: 'change', change: full })), {
    source: 'instance-a',
    message: { kind: 'change', change: full },
  });
  const bare = { userId: 3, backend: 'imap', folderId: 'INBOX' };
  assert.deepEqual(decodeMessage(encodeMessage('instance-b', { kind: 'change', change: bare })), {
    source: 'instance-b',
    message: { kind: 'change', change: bare },
  });
});

test('a supersede survives the trip', () => {
  const supersede = { kind: 'supersede', account: 12, at: 1_767_225_600_000 } as const;
  assert.deepEqual(decodeMessage(encodeMessage('instance-a', supersede)), {
    source: 'instance-a',
    message: supersede,
  });
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
    '{"source":"a","supersede":"12","at":1}',
    '{"source":"a","supersede":null,"at":1}',
    '{"source":"a","supersede":12}',
  ]) {
    assert.equal(decodeMessage(payload), undefined, payload);
  }
});

test('fields it does not know are left behind', () => {
  const decoded = decodeMessage('{"source":"a","userId":1,"backend":"store","folderId":"x","extra":true}');
  assert.deepEqual(decoded, {
    source: 'a',
    message: { kind: 'change', change: { userId: 1, backend: 'store', folderId: 'x' } },
  });
});
