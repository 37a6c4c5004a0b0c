import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  TEMPORARY_POLICY_KEY_MAX,
  parsePolicyType,
  policyElementsFor,
  policyKeyFor,
  policyTypeFor,
  wapProvisioningXml,
  type EasProvisionDocVersion,
} from '../../src/device/policy-documents.ts';
import { PROTOCOL_VERSIONS, type ProtocolVersion } from '../../src/http/query.ts';
import {
  defaultPolicySettings,
  policySettingsSchema,
  type PolicySettingName,
  type PolicySettings,
} from '../../src/device/policy-settings.ts';
import { child, children, childText, decode, decodeFragment, encode } from '../../src/wbxml/index.ts';

const DOCUMENT_VERSIONS = PROTOCOL_VERSIONS.filter((v): v is EasProvisionDocVersion => v !== '2.5');

// Every EASProvisionDoc child in the order of the MS-ASPROV schema sequence, with the first version
// that defines it (MS-ASWBXML code page 14; token 0x10 was called DeviceEncryptionEnabled at 12.0).
const ELEMENTS: [PolicySettingName, EasProvisionDocVersion][] = [
  ['DevicePasswordEnabled', '12.0'],
  ['AlphanumericDevicePasswordRequired', '12.0'],
  ['PasswordRecoveryEnabled', '12.0'],
  ['RequireStorageCardEncryption', '12.0'],
  ['AttachmentsEnabled', '12.0'],
  ['MinDevicePasswordLength', '12.0'],
  ['MaxInactivityTimeDeviceLock', '12.0'],
  ['MaxDevicePasswordFailedAttempts', '12.0'],
  ['MaxAttachmentSize', '12.0'],
  ['AllowSimpleDevicePassword', '12.0'],
  ['DevicePasswordExpiration', '12.0'],
  ['DevicePasswordHistory', '12.0'],
  ['AllowStorageCard', '12.1'],
  ['AllowCamera', '12.1'],
  ['RequireDeviceEncryption', '12.1'],
  ['AllowUnsignedApplications', '12.1'],
  ['AllowUnsignedInstallationPackages', '12.1'],
  ['MinDevicePasswordComplexCharacters', '12.1'],
  ['AllowWiFi', '12.1'],
  ['AllowTextMessaging', '12.1'],
  ['AllowPOPIMAPEmail', '12.1'],
  ['AllowBluetooth', '12.1'],
  ['AllowIrDA', '12.1'],
  ['RequireManualSyncWhenRoaming', '12.1'],
  ['AllowDesktopSync', '12.1'],
  ['MaxCalendarAgeFilter', '12.1'],
  ['AllowHTMLEmail', '12.1'],
  ['MaxEmailAgeFilter', '12.1'],
  ['MaxEmailBodyTruncationSize', '12.1'],
  ['MaxEmailHTMLBodyTruncationSize', '12.1'],
  ['RequireSignedSMIMEMessages', '12.1'],
  ['RequireEncryptedSMIMEMessages', '12.1'],
  ['RequireSignedSMIMEAlgorithm', '12.1'],
  ['RequireEncryptionSMIMEAlgorithm', '12.1'],
  ['AllowSMIMEEncryptionAlgorithmNegotiation', '12.1'],
  ['AllowSMIMESoftCerts', '12.1'],
  ['AllowBrowser', '12.1'],
  ['AllowConsumerEmail', '12.1'],
  ['AllowRemoteDesktop', '12.1'],
  ['AllowInternetSharing', '12.1'],
  ['UnapprovedInROMApplicationList', '12.1'],
  ['ApprovedApplicationList', '12.1'],
];
const SINCE_12_1 = ELEMENTS.filter(([, since]) => since === '12.1').map(([name]) => name);
const IN_WAP_XML: PolicySettingName[] = [
  'DevicePasswordEnabled',
  'AllowDesktopSync',
  'MaxInactivityTimeDeviceLock',
  'MaxDevicePasswordFailedAttempts',
  'MinDevicePasswordLength',
  'AlphanumericDevicePasswordRequired',
];

const isAtLeast = (version: ProtocolVersion, minimum: ProtocolVersion) =>
  PROTOCOL_VERSIONS.indexOf(version) >= PROTOCOL_VERSIONS.indexOf(minimum);

const fixturePath = (name: string) => new URL(`../fixtures/horde-activesync/${name}`, import.meta.url);

interface XmlNode {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
  text: string;
}

/** Parses the little XML these tests meet; fails on anything not well-formed. */
function parseXml(source: string): XmlNode {
  const body = source
    .replace(/^\s*<\?xml[^>]*\?>/, '')
    .replace(/^\s*<!DOCTYPE[^>]*>/, '')
    .trim();
  const token = /<\/([\w:-]+)>|<([\w:-]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  const document: XmlNode = { name: '#document', attributes: {}, children: [], text: '' };
  const open = [document];
  while (token.lastIndex < body.length) {
    const at = token.lastIndex;
    const match = token.exec(body);
    assert.ok(match, `not well-formed at ${at}: ${body.slice(at, at + 40)}`);
    const [, closing, opening, attributes = '', selfClosing, text = ''] = match;
    const current = open[open.length - 1] as XmlNode;
    if (closing) {
      assert.equal(closing, current.name, 'mismatched end tag');
      open.pop();
    } else if (opening) {
      const node: XmlNode = {
        name: opening,
        attributes: Object.fromEntries(
          [...attributes.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
        ),
        children: [],
        text: '',
      };
      current.children.push(node);
      if (!selfClosing) open.push(node);
    } else {
      current.text += text;
    }
  }
  assert.equal(open.length, 1, 'unclosed element');
  assert.equal(document.children.length, 1, 'not exactly one root element');
  return document.children[0] as XmlNode;
}

/** Every parm of a wap-provisioningdoc as "characteristic/…/parm name" → value. */
function wapParms(node: XmlNode, path = ''): Map<string, string> {
  const parms = new Map<string, string>();
  for (const item of node.children) {
    if (item.name === 'parm') parms.set(`${path}${item.attributes.name}`, item.attributes.value ?? '');
    else for (const entry of wapParms(item, `${path}${item.attributes.type}/`)) parms.set(...entry);
  }
  return parms;
}

/** Valid settings covering every value range of MS-ASPROV 2.2.2. */
const settingsArbitrary: fc.Arbitrary<PolicySettings> = fc.record({
  DevicePasswordEnabled: fc.boolean(),
  AlphanumericDevicePasswordRequired: fc.boolean(),
  PasswordRecoveryEnabled: fc.boolean(),
  RequireStorageCardEncryption: fc.boolean(),
  AttachmentsEnabled: fc.boolean(),
  MinDevicePasswordLength: fc.option(fc.integer({ min: 1, max: 16 })),
  MaxInactivityTimeDeviceLock: fc.option(fc.integer({ min: 1, max: 9998 })),
  MaxDevicePasswordFailedAttempts: fc.option(fc.integer({ min: 4, max: 16 })),
  MaxAttachmentSize: fc.option(fc.integer({ min: 1, max: 0xffffffff })),
  AllowSimpleDevicePassword: fc.boolean(),
  DevicePasswordExpiration: fc.option(fc.integer({ min: 1, max: 0xffffffff })),
  DevicePasswordHistory: fc.integer({ min: 0, max: 0xffffffff }),
  AllowStorageCard: fc.boolean(),
  AllowCamera: fc.boolean(),
  RequireDeviceEncryption: fc.boolean(),
  AllowUnsignedApplications: fc.boolean(),
  AllowUnsignedInstallationPackages: fc.boolean(),
  MinDevicePasswordComplexCharacters: fc.integer({ min: 1, max: 4 }),
  AllowWiFi: fc.boolean(),
  AllowTextMessaging: fc.boolean(),
  AllowPOPIMAPEmail: fc.boolean(),
  AllowBluetooth: fc.constantFrom(0, 1, 2),
  AllowIrDA: fc.boolean(),
  RequireManualSyncWhenRoaming: fc.boolean(),
  AllowDesktopSync: fc.boolean(),
  MaxCalendarAgeFilter: fc.constantFrom(0, 4, 5, 6, 7),
  AllowHTMLEmail: fc.boolean(),
  MaxEmailAgeFilter: fc.constantFrom(0, 1, 2, 3, 4, 5),
  MaxEmailBodyTruncationSize: fc.integer({ min: -1, max: 0x7fffffff }),
  MaxEmailHTMLBodyTruncationSize: fc.integer({ min: -1, max: 0x7fffffff }),
  RequireSignedSMIMEMessages: fc.boolean(),
  RequireEncryptedSMIMEMessages: fc.boolean(),
  RequireSignedSMIMEAlgorithm: fc.constantFrom(0, 1),
  RequireEncryptionSMIMEAlgorithm: fc.constantFrom(0, 1, 2, 3, 4),
  AllowSMIMEEncryptionAlgorithmNegotiation: fc.constantFrom(0, 1, 2),
  AllowSMIMESoftCerts: fc.boolean(),
  AllowBrowser: fc.boolean(),
  AllowConsumerEmail: fc.boolean(),
  AllowRemoteDesktop: fc.boolean(),
  AllowInternetSharing: fc.boolean(),
  UnapprovedInROMApplicationList: fc.array(fc.string({ minLength: 1 }), { maxLength: 3 }),
  ApprovedApplicationList: fc.array(fc.stringMatching(/^[0-9a-f]{40}$/), { maxLength: 3 }),
});

/** Random settings, and a copy with one of `names` changed to another valid value. */
function withOneSettingFrom(names: PolicySettingName[]) {
  return fc
    .tuple(settingsArbitrary, settingsArbitrary, fc.constantFrom(...names))
    .filter(([base, other, name]) => JSON.stringify(base[name]) !== JSON.stringify(other[name]))
    .map(([base, other, name]) => ({ base, changed: { ...base, [name]: other[name] } as PolicySettings }));
}

it('draws test settings the schema accepts as they are', () => {
  fc.assert(
    fc.property(settingsArbitrary, (settings) => {
      assert.deepEqual(policySettingsSchema.parse(settings), { ...settings });
    }),
  );
});

describe('EASProvisionDoc', () => {
  for (const version of DOCUMENT_VERSIONS) {
    it(`holds exactly the elements ${version} defines, in schema order`, () => {
      const settings = {
        ...defaultPolicySettings,
        ApprovedApplicationList: ['0123456789abcdef0123456789abcdef01234567'],
      };
      const document = policyElementsFor(settings, version);
      assert.equal(document.ns, 'Provision');
      assert.equal(document.name, 'EASProvisionDoc');
      assert.ok(document.children.every((element) => element.ns === 'Provision'));
      assert.deepEqual(
        document.children.map((element) => element.name),
        ELEMENTS.filter(([, since]) => isAtLeast(version, since)).map(([name]) => name),
      );
    });
  }

  it('sends the 12.1 additions from 12.1 on', () => {
    assert.equal(child(policyElementsFor(defaultPolicySettings, '12.0'), 'AllowStorageCard'), undefined);
    assert.equal(childText(policyElementsFor(defaultPolicySettings, '12.1'), 'AllowStorageCard'), '1');
    assert.equal(child(policyElementsFor(defaultPolicySettings, '12.0'), 'MaxCalendarAgeFilter'), undefined);
    assert.equal(childText(policyElementsFor(defaultPolicySettings, '16.1'), 'MaxCalendarAgeFilter'), '0');
  });

  it('writes booleans as 1/0, numbers as decimals and unset limits as empty elements', () => {
    const document = policyElementsFor(
      {
        ...defaultPolicySettings,
        DevicePasswordEnabled: true,
        MaxEmailBodyTruncationSize: -1,
        MinDevicePasswordLength: 4,
      },
      '14.1',
    );
    assert.equal(childText(document, 'DevicePasswordEnabled'), '1');
    assert.equal(childText(document, 'AllowSimpleDevicePassword'), '1');
    assert.equal(childText(document, 'RequireDeviceEncryption'), '0');
    assert.equal(childText(document, 'MinDevicePasswordLength'), '4');
    assert.equal(childText(document, 'MaxEmailBodyTruncationSize'), '-1');
    assert.equal(childText(document, 'AllowBluetooth'), '2');
    assert.deepEqual(child(document, 'MaxAttachmentSize'), {
      ns: 'Provision',
      name: 'MaxAttachmentSize',
      children: [],
    });
  });

  it('sends the application lists with their item elements, and no empty approved list', () => {
    const empty = policyElementsFor(defaultPolicySettings, '14.1');
    assert.deepEqual(child(empty, 'UnapprovedInROMApplicationList')?.children, []);
    assert.equal(child(empty, 'ApprovedApplicationList'), undefined);

    const hash = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
    const listed = policyElementsFor(
      {
        ...defaultPolicySettings,
        UnapprovedInROMApplicationList: ['iexplore.exe', 'tmail.exe'],
        ApprovedApplicationList: [hash],
      },
      '14.1',
    );
    const unapproved = child(listed, 'UnapprovedInROMApplicationList');
    assert.deepEqual(unapproved && children(unapproved, 'ApplicationName').map((item) => item.text), [
      'iexplore.exe',
      'tmail.exe',
    ]);
    const approved = child(listed, 'ApprovedApplicationList');
    assert.deepEqual(approved && children(approved, 'Hash', 'Provision').map((item) => item.text), [hash]);
  });

  it("matches Horde's default_policies fixture for the elements it has (12.0)", () => {
    const horde = decodeFragment(readFileSync(fixturePath('default_policies.wbxml')));
    assert.deepEqual(
      horde.children.map((element) => [element.name, element.text]),
      [
        ['DevicePasswordEnabled', '0'],
        ['RequireStorageCardEncryption', '0'], // DeviceEncryptionEnabled in Horde: the 12.0 name of token 0x10
        ['AttachmentsEnabled', '1'],
        ['MaxAttachmentSize', '5000000'],
      ],
    );
    const ours = policyElementsFor({ ...defaultPolicySettings, MaxAttachmentSize: 5000000 }, '12.0');
    const inHorde = new Set(horde.children.map((element) => element.name));
    assert.deepEqual(
      { ...horde, children: ours.children.filter((element) => inHorde.has(element.name)) },
      horde,
    );
  });

  it('encodes at every version with the WBXML codec and decodes back unchanged', () => {
    fc.assert(
      fc.property(settingsArbitrary, fc.constantFrom(...DOCUMENT_VERSIONS), (settings, version) => {
        const document = policyElementsFor(settings, version);
        assert.deepEqual(decode(encode(document)), document);
      }),
      { numRuns: 50 },
    );
  });
});

describe('WAP provisioning XML (2.5)', () => {
  it("is well-formed for the defaults and carries the parms of Horde's default_policies.xml", () => {
    const ours = wapParms(parseXml(wapProvisioningXml(defaultPolicySettings)));
    const horde = wapParms(parseXml(readFileSync(fixturePath('default_policies.xml'), 'utf8')));
    assert.equal(horde.get('SecurityPolicy/4131'), '1');
    for (const [parm, value] of horde) assert.equal(ours.get(parm), value, parm);
    assert.deepEqual(
      [...ours],
      [
        ['SecurityPolicy/4131', '1'],
        ['SecurityPolicy/4133', '1'],
      ],
    );
  });

  it('maps the password settings to the Windows Mobile registry, as Exchange 2003 SP2 does', () => {
    const xml = wapProvisioningXml({
      ...defaultPolicySettings,
      DevicePasswordEnabled: true,
      AlphanumericDevicePasswordRequired: true,
      MinDevicePasswordLength: 6,
      MaxDevicePasswordFailedAttempts: 8,
      MaxInactivityTimeDeviceLock: 870,
      AllowDesktopSync: false,
    });
    const lassd = 'Registry/HKLM\\Comm\\Security\\Policy\\LASSD';
    assert.deepEqual(
      [...wapParms(parseXml(xml))],
      [
        ['SecurityPolicy/4131', '0'],
        ['SecurityPolicy/4133', '0'],
        [`${lassd}\\AE\\{50C13377-C66D-400C-889E-C316FC4AB374}/AEFrequencyType`, '1'],
        [`${lassd}\\AE\\{50C13377-C66D-400C-889E-C316FC4AB374}/AEFrequencyValue`, '15'],
        [`${lassd}/DeviceWipeThreshold`, '8'],
        [`${lassd}/CodewordFrequency`, '4'],
        [`${lassd}\\LAP\\lap_pw/MinimumPasswordLength`, '6'],
        [`${lassd}\\LAP\\lap_pw/PasswordComplexity`, '0'],
      ],
    );
    // One registry key per parm where Exchange repeats the key, as MS-ASPROV 2.2.2.24.2 shows.
    assert.equal(xml.split(`<characteristic type="HKLM\\Comm\\Security\\Policy\\LASSD">`).length - 1, 2);
  });

  it('leaves out the limits a password policy does not set', () => {
    const parms = wapParms(
      parseXml(wapProvisioningXml({ ...defaultPolicySettings, DevicePasswordEnabled: true })),
    );
    assert.deepEqual(
      [...parms].map(([path, value]) => [path.split('/').at(-1), value]),
      [
        ['4131', '0'],
        ['4133', '1'],
        ['AEFrequencyType', '0'],
        ['PasswordComplexity', '2'],
      ],
    );
  });

  it('is well-formed for any settings', () => {
    fc.assert(
      fc.property(
        settingsArbitrary,
        (settings) => parseXml(wapProvisioningXml(settings)).name === 'wap-provisioningdoc',
      ),
    );
  });
});

describe('policy type', () => {
  it('is the WAP XML at 2.5 and the WBXML document from 12.0 on', () => {
    assert.equal(policyTypeFor('2.5'), 'MS-WAP-Provisioning-XML');
    for (const version of DOCUMENT_VERSIONS)
      assert.equal(policyTypeFor(version), 'MS-EAS-Provisioning-WBXML');
  });

  it('accepts only the type the version receives', () => {
    assert.equal(parsePolicyType('MS-WAP-Provisioning-XML', '2.5'), 'MS-WAP-Provisioning-XML');
    assert.equal(parsePolicyType('MS-EAS-Provisioning-WBXML', '14.1'), 'MS-EAS-Provisioning-WBXML');
    assert.equal(parsePolicyType('MS-EAS-Provisioning-WBXML', '2.5'), undefined);
    assert.equal(parsePolicyType('MS-WAP-Provisioning-XML', '12.1'), undefined);
    assert.equal(parsePolicyType('ms-eas-provisioning-wbxml', '14.1'), undefined);
    assert.equal(parsePolicyType('', '16.1'), undefined);
  });
});

describe('policy key', () => {
  it('is the same in every process: the default policy keys are fixed', () => {
    // A change here re-provisions every device in the field; make it only on purpose.
    assert.deepEqual(
      Object.fromEntries(PROTOCOL_VERSIONS.map((v) => [v, policyKeyFor(defaultPolicySettings, v)])),
      {
        '2.5': 2971477988,
        '12.0': 3197098015,
        '12.1': 2749532859,
        '14.0': 2749532859,
        '14.1': 2749532859,
        '16.0': 2749532859,
        '16.1': 2749532859,
      },
    );
  });

  it('is a non-zero uint32 outside the temporary key range', () => {
    fc.assert(
      fc.property(settingsArbitrary, fc.constantFrom(...PROTOCOL_VERSIONS), (settings, version) => {
        const key = policyKeyFor(settings, version);
        return Number.isInteger(key) && key > TEMPORARY_POLICY_KEY_MAX && key <= 0xffffffff;
      }),
    );
  });

  it('changes at 12.1 but not at 12.0 when a 12.1 setting changes', () => {
    fc.assert(
      fc.property(withOneSettingFrom(SINCE_12_1), ({ base, changed }) => {
        assert.equal(policyKeyFor(changed, '12.0'), policyKeyFor(base, '12.0'));
        assert.notEqual(policyKeyFor(changed, '12.1'), policyKeyFor(base, '12.1'));
        assert.notEqual(policyKeyFor(changed, '16.1'), policyKeyFor(base, '16.1'));
      }),
    );
  });

  it('changes at 2.5 only when the WAP XML changes', () => {
    const others = ELEMENTS.map(([name]) => name).filter((name) => !IN_WAP_XML.includes(name));
    fc.assert(
      fc.property(withOneSettingFrom(others), ({ base, changed }) => {
        assert.equal(policyKeyFor(changed, '2.5'), policyKeyFor(base, '2.5'));
      }),
    );
    fc.assert(
      fc.property(settingsArbitrary, settingsArbitrary, (a, b) => {
        const sameXml = wapProvisioningXml(a) === wapProvisioningXml(b);
        return sameXml === (policyKeyFor(a, '2.5') === policyKeyFor(b, '2.5'));
      }),
    );
  });

  it('is shared by the versions that receive the same document', () => {
    fc.assert(
      fc.property(settingsArbitrary, (settings) => {
        const key = policyKeyFor(settings, '12.1');
        return (['14.0', '14.1', '16.0', '16.1'] as const).every((v) => policyKeyFor(settings, v) === key);
      }),
    );
  });
});
