import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CODE_PAGES, codePage, tagName, tagToken } from '../../src/wbxml/index.ts';
import type { Namespace } from '../../src/wbxml/index.ts';
import { LIBWBXML_NAMES, libwbxmlDecode, namespaceOf, parseXml, UNKNOWN_TO_LIBWBXML } from './libwbxml.ts';

const PAGE_ORDER: readonly Namespace[] = [
  'AirSync',
  'Contacts',
  'Email',
  'AirNotify',
  'Calendar',
  'Move',
  'GetItemEstimate',
  'FolderHierarchy',
  'MeetingResponse',
  'Tasks',
  'ResolveRecipients',
  'ValidateCert',
  'Contacts2',
  'Ping',
  'Provision',
  'Search',
  'GAL',
  'AirSyncBase',
  'Settings',
  'DocumentLibrary',
  'ItemOperations',
  'ComposeMail',
  'Email2',
  'Notes',
  'RightsManagement',
  'Find',
];

test('there are 26 code pages in MS-ASWBXML order', () => {
  assert.deepEqual(
    CODE_PAGES.map((cp) => cp.ns),
    PAGE_ORDER,
  );
  CODE_PAGES.forEach((cp, i) => assert.equal(cp.page, i));
});

test('the token and name maps are inverse and use only tag tokens 0x05–0x3F', () => {
  for (const cp of CODE_PAGES) {
    let count = 0;
    cp.names.forEach((name, token) => {
      if (name === undefined) return;
      count++;
      assert.ok(token >= 0x05 && token <= 0x3f, `${cp.ns} 0x${token.toString(16)}`);
      assert.equal(cp.tokens.get(name), token, `${cp.ns}:${name}`);
      assert.equal(tagName(cp.page, token), name);
      assert.deepEqual(tagToken(cp.ns, name), { page: cp.page, token });
    });
    assert.equal(cp.tokens.size, count, `${cp.ns}: a name occurs twice`);
    assert.equal(codePage(cp.ns), cp);
  }
  assert.equal(tagName(26, 0x05), undefined);
  assert.equal(tagToken('Calendar', 'TimeZone'), undefined);
});

test('spot checks against MS-ASWBXML', () => {
  const expect: [Namespace, string, number][] = [
    ['AirSync', 'Sync', 0x05],
    ['AirSync', 'HeartbeatInterval', 0x29],
    ['Contacts', 'BusinessAddressCity', 0x0d],
    ['Email', 'Att0Id', 0x09],
    ['Calendar', 'Timezone', 0x05],
    ['Calendar', 'DtStamp', 0x11],
    ['Calendar', 'ExceptionStartTime', 0x16],
    ['Calendar', 'ClientUid', 0x3c],
    ['FolderHierarchy', 'FolderSync', 0x16],
    ['AirSyncBase', 'InstanceId', 0x2d],
    ['ComposeMail', 'Mime', 0x10],
    ['Find', 'Find', 0x05],
    ['Find', 'GalSearchCriterion', 0x19],
    ['Find', 'Picture', 0x22],
  ];
  for (const [ns, name, token] of expect) assert.equal(tagToken(ns, name)?.token, token, `${ns}:${name}`);
});

test('every token of pages 0–24 has the name libwbxml gives it (modulo its known spellings)', async () => {
  // One document per page: an AirSync root with every token 0x05–0x3F of the page as an empty child.
  const pages = CODE_PAGES.filter((cp) => cp.ns !== 'Find');
  const documents = pages.map((cp) => {
    const body = [0x45];
    for (let token = 0x05; token <= 0x3f; token++) body.push(0x00, cp.page, token);
    return Buffer.from([0x03, 0x01, 0x6a, 0x00, ...body, 0x01]);
  });
  const outputs = await libwbxmlDecode(documents);
  pages.forEach((cp, i) => {
    const children = parseXml(outputs[i]!.toString('latin1')).children;
    assert.equal(children.length, 0x3f - 0x05 + 1);
    children.forEach((node, index) => {
      const token = 0x05 + index;
      const ours = cp.names[token];
      const where = `${cp.ns} 0x${token.toString(16)}`;
      if (ours === undefined || UNKNOWN_TO_LIBWBXML.includes(`${cp.ns}:${ours}`)) {
        assert.equal(node.name, 'unknown', `${where}: libwbxml knows ${node.name}`);
      } else {
        assert.equal(namespaceOf(node.uri), cp.ns, where);
        assert.equal(LIBWBXML_NAMES[cp.ns]?.[node.name] ?? node.name, ours, where);
      }
    });
  });
});
