// The minimal Redis client: the reply parser on its own, then against the Redis server on
// 127.0.0.1:6379 (AIRSYNC_TEST_REDIS to use another).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { encodeCommand, RespConnection, RespError, RespParser, type RespValue } from '../../src/push/resp.ts';
import { REDIS_URL, waitFor } from './helpers.ts';

describe('RespParser', () => {
  const stream = Buffer.from(
    '+OK\r\n-ERR unknown command\r\n:42\r\n$4\r\nhé!\r\n$-1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n*2\r\n:1\r\n$0\r\n\r\n*-1\r\n',
  );
  const expected = (values: RespValue[]): void => {
    assert.equal(values.length, 7);
    assert.equal(values[0], 'OK');
    assert.ok(values[1] instanceof RespError);
    assert.equal((values[1] as RespError).message, 'ERR unknown command');
    assert.deepEqual(values.slice(2), [42, 'hé!', null, ['message', 'ch', [1, '']], null]);
  };

  test('parses every reply type from one chunk', () => {
    expected(new RespParser().push(stream));
  });

  test('parses the same replies fed one byte at a time', () => {
    const parser = new RespParser();
    const values: RespValue[] = [];
    for (let index = 0; index < stream.length; index++)
      values.push(...parser.push(stream.subarray(index, index + 1)));
    expected(values);
  });

  test('refuses bytes that are no reply', () => {
    assert.throws(() => new RespParser().push(Buffer.from('hello\r\n')), RespError);
    assert.throws(() => new RespParser().push(Buffer.from('$x\r\n')), RespError);
  });

  test('counts bulk string lengths in bytes', () => {
    assert.equal(encodeCommand(['SET', 'ü']).toString(), '*2\r\n$3\r\nSET\r\n$2\r\nü\r\n');
  });
});

describe('RespConnection', () => {
  let connection: RespConnection;
  before(async () => {
    connection = await RespConnection.open({ url: REDIS_URL, name: 'airsync-test-resp' });
  });
  after(async () => {
    await connection.close();
  });

  test('answers pipelined commands in order', async () => {
    const replies = await Promise.all([
      connection.command(['ECHO', 'one']),
      connection.command(['PING']),
      connection.command(['ECHO', 'x'.repeat(100_000)]),
      connection.command(['CLIENT', 'GETNAME']),
    ]);
    assert.deepEqual(replies, ['one', 'PONG', 'x'.repeat(100_000), 'airsync-test-resp']);
  });

  test('an error reply rejects its command and the connection goes on', async () => {
    await assert.rejects(connection.command(['NO-SUCH-COMMAND']), RespError);
    assert.equal(await connection.command(['ECHO', 'still here']), 'still here');
  });

  test('delivers messages of a subscribed channel', async () => {
    const channel = `airsync_test_${randomBytes(6).toString('hex')}`;
    const messages: Array<[string, string]> = [];
    const subscriber = await RespConnection.open({
      url: REDIS_URL,
      onMessage: (from, message) => messages.push([from, message]),
    });
    try {
      assert.deepEqual(await subscriber.command(['SUBSCRIBE', channel]), ['subscribe', channel, 1]);
      assert.equal(await connection.command(['PUBLISH', channel, 'hello']), 1);
      await waitFor(() => messages.length === 1, 'the message');
      assert.deepEqual(messages, [[channel, 'hello']]);
    } finally {
      await subscriber.close();
    }
  });

  test('reports a closed connection, and refuses commands after it', async () => {
    let closed: Error | undefined;
    const other = await RespConnection.open({ url: REDIS_URL, onClose: (error) => (closed = error) });
    other.destroy();
    await waitFor(() => closed !== undefined, 'the close');
    await assert.rejects(other.command(['PING']));
  });

  test('refuses a URL that is not redis:// and a server that is not there', async () => {
    await assert.rejects(RespConnection.open({ url: 'rediss://127.0.0.1:6379' }), /redis:\/\//);
    await assert.rejects(RespConnection.open({ url: 'redis://127.0.0.1:1' }), /ECONNREFUSED/);
  });
});
