import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readAutodiscoverRequest } from '../../src/http/autodiscover.ts';
import { ALICE, basic, send, startHarness, type Harness } from './harness.ts';

const MOBILESYNC_REQUEST = 'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006';
const MOBILESYNC_RESPONSE =
  'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006';

function requestXml(email: string, schema = MOBILESYNC_RESPONSE, namespace = MOBILESYNC_REQUEST): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${namespace}">
  <Request>
    <EMailAddress>${email}</EMailAddress>
    <AcceptableResponseSchema>${schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
}

function autodiscover(harness: Harness, body: string, url = '/autodiscover/autodiscover.xml') {
  return send(harness, {
    method: 'POST',
    url,
    headers: {
      authorization: basic(ALICE.name, ALICE.password),
      'content-type': 'text/xml',
      host: 'mail.example.com',
    },
    payload: body,
  });
}

describe('Autodiscover', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(() => harness.close());

  test('answers the mobilesync schema with the server URL, at any letter case of the path', async () => {
    for (const url of [
      '/autodiscover/autodiscover.xml',
      '/Autodiscover/Autodiscover.xml',
      '/AUTODISCOVER/AUTODISCOVER.XML',
    ]) {
      const { response } = await autodiscover(harness, requestXml('alice@example.com'), url);
      assert.equal(response.statusCode, 200, url);
      assert.match(response.headers['content-type'] as string, /^text\/xml/);
      assert.match(response.body, new RegExp(`<Response xmlns="${MOBILESYNC_RESPONSE}">`));
      assert.match(response.body, /<DisplayName>alice<\/DisplayName>/);
      assert.match(response.body, /<EMailAddress>alice@example.com<\/EMailAddress>/);
      assert.match(response.body, /<Type>MobileSync<\/Type>/);
      assert.match(response.body, /<Url>http:\/\/mail.example.com\/Microsoft-Server-ActiveSync<\/Url>/);
      assert.match(response.body, /<Name>http:\/\/mail.example.com\/Microsoft-Server-ActiveSync<\/Name>/);
    }
  });

  test('escapes what it echoes', async () => {
    const { response } = await autodiscover(harness, requestXml('&quot;a&amp;b&quot;&lt;x&gt;@example.com'));
    assert.match(response.body, /<EMailAddress>&quot;a&amp;b&quot;&lt;x&gt;@example.com<\/EMailAddress>/);
  });

  test('bad XML is an Autodiscover error 600 with HTTP 200', async () => {
    for (const body of ['', 'not xml', '<Autodiscover><Request><EMailAddress>a@b', requestXml('')]) {
      const { response, log } = await autodiscover(harness, body);
      assert.equal(response.statusCode, 200, body);
      assert.match(response.body, /<ErrorCode>600<\/ErrorCode>/, body);
      assert.match(response.body, /<Message>Invalid Request<\/Message>/);
      assert.match(log.reason as string, /Autodiscover error 600/);
    }
  });

  test('two Request elements are error 600, not the first one answered', async () => {
    const request = requestXml('alice@example.com');
    const twice = request.replace(/(<Request>[\s\S]*<\/Request>)/, '$1$1');
    assert.equal(twice.match(/<Request>/g)?.length, 2);
    const { response } = await autodiscover(harness, twice);
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /<ErrorCode>600<\/ErrorCode>/);
    assert.doesNotMatch(response.body, /<Url>/);
  });

  test('another schema (Outlook’s) is error 601', async () => {
    const outlook = requestXml(
      'alice@example.com',
      'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a',
      'http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006',
    );
    const { response } = await autodiscover(harness, outlook);
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /<ErrorCode>601<\/ErrorCode>/);
  });

  test('a DTD or an external entity is refused, never resolved', async () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>${requestXml(
      '&x;',
    )
      .split('\n')
      .slice(1)
      .join('\n')}`;
    const { response } = await autodiscover(harness, xxe);
    assert.match(response.body, /<ErrorCode>600<\/ErrorCode>/);
    assert.doesNotMatch(response.body, /root:/);
  });

  test('needs credentials', async () => {
    const { response } = await send(harness, {
      method: 'POST',
      url: '/Autodiscover/Autodiscover.xml',
      headers: { 'content-type': 'text/xml' },
      payload: requestXml('alice@example.com'),
    });
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['www-authenticate'], 'Basic realm="airsync"');
  });
});

test('the configured public URL wins over the Host header', async () => {
  const harness = await startHarness({ overrides: { publicUrl: 'https://eas.example.org/prefix/' } });
  try {
    const { response } = await autodiscover(harness, requestXml('alice@example.com'));
    assert.match(response.body, /<Url>https:\/\/eas.example.org\/prefix\/Microsoft-Server-ActiveSync<\/Url>/);
  } finally {
    await harness.close();
  }
});

test('readAutodiscoverRequest takes prefixed elements and character references', () => {
  const xml = `<a:Autodiscover xmlns:a="${MOBILESYNC_REQUEST}"><a:Request>
    <a:EMailAddress> al&#105;ce@ex&#x61;mple.com </a:EMailAddress>
    <a:AcceptableResponseSchema>${MOBILESYNC_RESPONSE}</a:AcceptableResponseSchema>
  </a:Request></a:Autodiscover>`;
  assert.deepEqual(readAutodiscoverRequest(xml), { ok: true, emailAddress: 'alice@example.com' });
  assert.equal(readAutodiscoverRequest(requestXml('a&b')).ok, false);
  assert.equal(readAutodiscoverRequest(requestXml('&constructor;')).ok, false);
});
