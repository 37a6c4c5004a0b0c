import { test } from 'node:test';
import assert from 'node:assert/strict';
import { el, redactedPlaceholder, toXml } from '../../src/wbxml/index.ts';
import type { WbxmlElement } from '../../src/wbxml/index.ts';

const sendMail = el('ComposeMail', 'SendMail', [
  el('ComposeMail', 'ClientId', '42'),
  el('ComposeMail', 'SaveInSentItems'),
  el('ComposeMail', 'Mime', Buffer.from('Subject: hi\r\n\r\nsecret body')),
]);

test('renders namespaces, empty elements, escaped text and base64 opaque data', () => {
  const tree = el('AirSync', 'Sync', [
    el('AirSync', 'SyncKey', 'a < b & c > d'),
    el('AirSyncBase', 'Body', [
      el('AirSyncBase', 'Type', '1'),
      el('AirSyncBase', 'Data', Buffer.from([0, 1, 2])),
    ]),
    el('Email', 'Subject', 'bell\u0007'),
    el('AirSync', 'Status'),
  ]);
  assert.equal(
    toXml(tree),
    [
      '<Sync xmlns="AirSync:" xmlns:airsyncbase="AirSyncBase:" xmlns:email="Email:">',
      '  <SyncKey>a &lt; b &amp; c &gt; d</SyncKey>',
      '  <airsyncbase:Body>',
      '    <airsyncbase:Type>1</airsyncbase:Type>',
      '    <airsyncbase:Data opaque="base64">AAEC</airsyncbase:Data>',
      '  </airsyncbase:Body>',
      '  <email:Subject>bell&#x7;</email:Subject>',
      '  <Status/>',
      '</Sync>',
    ].join('\n'),
  );
});

test('indent "" renders one line', () => {
  assert.equal(
    toXml(el('Ping', 'Ping', [el('Ping', 'Status', '1')]), { indent: '' }),
    '<Ping xmlns="Ping:"><Status>1</Status></Ping>',
  );
  assert.equal(toXml(el('AirSync', 'Sync')), '<Sync xmlns="AirSync:"/>');
});

test('the redaction hook keeps, drops or replaces elements, and sees the ancestors', () => {
  const seen: string[] = [];
  const xml = toXml(sendMail, {
    redact: (element, ancestors) => {
      seen.push([...ancestors.map((a) => a.name), element.name].join('/'));
      if (element.name === 'Mime') return redactedPlaceholder(element);
      if (element.name === 'SaveInSentItems') return 'drop';
      return 'keep';
    },
  });
  assert.equal(
    xml,
    [
      '<SendMail xmlns="ComposeMail:">',
      '  <ClientId>42</ClientId>',
      '  <Mime>[redacted 26 bytes]</Mime>',
      '</SendMail>',
    ].join('\n'),
  );
  assert.deepEqual(seen, ['SendMail', 'SendMail/ClientId', 'SendMail/SaveInSentItems', 'SendMail/Mime']);
});

test('namespaces of dropped elements are not declared', () => {
  const tree = el('AirSync', 'Sync', [
    el('AirSyncBase', 'Body', [el('AirSyncBase', 'Data', 'x')]),
    el('AirSync', 'Status'),
  ]);
  assert.equal(
    toXml(tree, { redact: (e) => (e.ns === 'AirSyncBase' ? 'drop' : 'keep'), indent: '' }),
    '<Sync xmlns="AirSync:"><Status/></Sync>',
  );
});

test('a redacted container shows the size of everything inside it', () => {
  const body: WbxmlElement = el('AirSyncBase', 'Body', [
    el('AirSyncBase', 'Type', '2'),
    el('AirSyncBase', 'Data', '<p>héllo</p>'),
    el('AirSyncBase', 'Preview', Buffer.alloc(10)),
  ]);
  assert.equal(redactedPlaceholder(body), '[redacted 24 bytes]');
  assert.equal(
    toXml(body, { redact: (e) => (e.name === 'Body' ? redactedPlaceholder(e) : 'keep') }),
    '<Body xmlns="AirSyncBase:">[redacted 24 bytes]</Body>',
  );
  assert.equal(toXml(body, { redact: () => 'drop' }), '');
});

test('an element whose children are all dropped is rendered empty', () => {
  const tree = el('AirSync', 'Sync', [
    el('AirSync', 'Collections', [el('AirSyncBase', 'Body', [el('AirSyncBase', 'Data', 'x')])]),
  ]);
  assert.equal(
    toXml(tree, { redact: (e) => (e.name === 'Data' ? 'drop' : 'keep') }),
    [
      '<Sync xmlns="AirSync:" xmlns:airsyncbase="AirSyncBase:">',
      '  <Collections>',
      '    <airsyncbase:Body/>',
      '  </Collections>',
      '</Sync>',
    ].join('\n'),
  );
});
