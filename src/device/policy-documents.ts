// What a Provision response carries for a policy (MS-ASPROV): the EASProvisionDoc element tree for
// 12.0 and later, the WAP provisioning XML for 2.5, the policy type naming the format, and the
// policy key. Each version receives only the settings it defines, and the key is derived from
// exactly what that version receives, so a setting a version never sees cannot change its key
// (a key that does makes Outlook on 12.x loop Provision → 449 → Provision; grommunio-sync#26).

import { createHash } from 'node:crypto';
import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { el, type WbxmlElement } from '../wbxml/tree.ts';
import type { PolicySettingName, PolicySettings } from './policy-settings.ts';

/** The versions that receive their policy as an EASProvisionDoc. */
export type EasProvisionDocVersion = Exclude<ProtocolVersion, '2.5'>;

export type PolicyType = 'MS-WAP-Provisioning-XML' | 'MS-EAS-Provisioning-WBXML';

/** Policy Status (MS-ASPROV 2.2.2.54.1) for a request whose PolicyType `parsePolicyType` rejects. */
export const UNKNOWN_POLICY_TYPE_STATUS = 3;

/**
 * Temporary keys (the download phase) must be drawn from 1 to this value. Final keys from
 * `policyKeyFor` always have the high bit set, so the two can never be mistaken for each other.
 */
export const TEMPORARY_POLICY_KEY_MAX = 0x7fffffff;
const FINAL_POLICY_KEY_BIT = 0x80000000;

/**
 * The first version that receives each setting, listed in the order of the EASProvisionDoc
 * sequence in the MS-ASPROV schema (which is the order the document is sent in).
 */
const FIRST_VERSION = {
  DevicePasswordEnabled: '12.0',
  AlphanumericDevicePasswordRequired: '12.0',
  PasswordRecoveryEnabled: '12.0',
  // Token 0x10 is named DeviceEncryptionEnabled at 12.0 and means the same: storage card encryption.
  RequireStorageCardEncryption: '12.0',
  AttachmentsEnabled: '12.0',
  MinDevicePasswordLength: '12.0',
  MaxInactivityTimeDeviceLock: '12.0',
  MaxDevicePasswordFailedAttempts: '12.0',
  MaxAttachmentSize: '12.0',
  AllowSimpleDevicePassword: '12.0',
  DevicePasswordExpiration: '12.0',
  DevicePasswordHistory: '12.0',
  AllowStorageCard: '12.1',
  AllowCamera: '12.1',
  RequireDeviceEncryption: '12.1',
  AllowUnsignedApplications: '12.1',
  AllowUnsignedInstallationPackages: '12.1',
  MinDevicePasswordComplexCharacters: '12.1',
  AllowWiFi: '12.1',
  AllowTextMessaging: '12.1',
  AllowPOPIMAPEmail: '12.1',
  AllowBluetooth: '12.1',
  AllowIrDA: '12.1',
  RequireManualSyncWhenRoaming: '12.1',
  AllowDesktopSync: '12.1',
  MaxCalendarAgeFilter: '12.1',
  AllowHTMLEmail: '12.1',
  MaxEmailAgeFilter: '12.1',
  MaxEmailBodyTruncationSize: '12.1',
  MaxEmailHTMLBodyTruncationSize: '12.1',
  RequireSignedSMIMEMessages: '12.1',
  RequireEncryptedSMIMEMessages: '12.1',
  RequireSignedSMIMEAlgorithm: '12.1',
  RequireEncryptionSMIMEAlgorithm: '12.1',
  AllowSMIMEEncryptionAlgorithmNegotiation: '12.1',
  AllowSMIMESoftCerts: '12.1',
  AllowBrowser: '12.1',
  AllowConsumerEmail: '12.1',
  AllowRemoteDesktop: '12.1',
  AllowInternetSharing: '12.1',
  UnapprovedInROMApplicationList: '12.1',
  ApprovedApplicationList: '12.1',
} as const satisfies Record<PolicySettingName, EasProvisionDocVersion>;

const SETTINGS_IN_DOCUMENT_ORDER = Object.keys(FIRST_VERSION) as PolicySettingName[];

/** The item element of each list setting (MS-ASPROV 2.2.2.21, 2.2.2.29). */
const LIST_ITEMS = {
  UnapprovedInROMApplicationList: 'ApplicationName',
  ApprovedApplicationList: 'Hash',
} as const;
type ListSettingName = keyof typeof LIST_ITEMS;

function isListSetting(name: PolicySettingName): name is ListSettingName {
  return name in LIST_ITEMS;
}

/** The EASProvisionDoc (Provision namespace) with every setting the version defines, in schema order. */
export function policyElementsFor(
  settings: PolicySettings,
  protocolVersion: EasProvisionDocVersion,
): WbxmlElement {
  const elements = SETTINGS_IN_DOCUMENT_ORDER.filter((name) =>
    isVersionAtLeast(protocolVersion, FIRST_VERSION[name]),
  ).flatMap((name) => settingElements(settings, name));
  return el('Provision', 'EASProvisionDoc', elements);
}

function settingElements(settings: PolicySettings, name: PolicySettingName): WbxmlElement[] {
  if (isListSetting(name)) {
    const items = settings[name];
    // Present, the approved list is the only software allowed to run (MS-ASPROV 2.2.2.22): an empty
    // one would forbid everything, so it is left out. An empty unapproved list forbids nothing.
    if (name === 'ApprovedApplicationList' && items.length === 0) return [];
    return [
      el(
        'Provision',
        name,
        items.map((item) => el('Provision', LIST_ITEMS[name], item)),
      ),
    ];
  }
  const value = settings[name];
  // An unset limit is sent as an empty element, so a limit set earlier is lifted (MS-ASPROV 3.2.5.1.1).
  if (value === null) return [el('Provision', name)];
  if (typeof value === 'boolean') return [el('Provision', name, value ? '1' : '0')];
  return [el('Provision', name, String(value))];
}

/** A wap-provisioningdoc characteristic: a configuration service provider or a registry key. */
function characteristic(type: string, content: string): string {
  return `<characteristic type="${type}">${content}</characteristic>`;
}

function parm(name: string, value: number): string {
  return `<parm name="${name}" value="${value}"/>`;
}

const LASSD = 'HKLM\\Comm\\Security\\Policy\\LASSD';
const LOCK_AFTER_INACTIVITY = `${LASSD}\\AE\\{50C13377-C66D-400C-889E-C316FC4AB374}`;
const PASSWORD_RULES = `${LASSD}\\LAP\\lap_pw`;

/**
 * The EAS 2.5 policy (MS-ASPROV 2.2.2.24.2), laid out as Exchange 2003 SP2 sends it: the Windows
 * Mobile SecurityPolicy and Registry configuration the password settings map to. The registry part
 * is sent only when a password is required; the other settings have no 2.5 form.
 */
export function wapProvisioningXml(settings: PolicySettings): string {
  const securityPolicy = characteristic(
    'SecurityPolicy',
    // 4131: 0 requires a password, 1 does not. 4133: a connected desktop may unlock the device;
    // MS-ASPROV lists only 4131, Z-Push and Tine 2.0 send both. Its nearest setting is AllowDesktopSync.
    parm('4131', settings.DevicePasswordEnabled ? 0 : 1) + parm('4133', settings.AllowDesktopSync ? 1 : 0),
  );
  if (!settings.DevicePasswordEnabled) return `<wap-provisioningdoc>${securityPolicy}</wap-provisioningdoc>`;

  const lockSeconds = settings.MaxInactivityTimeDeviceLock;
  const failedAttempts = settings.MaxDevicePasswordFailedAttempts;
  const minimumLength = settings.MinDevicePasswordLength;
  const registry = [
    // AEFrequencyValue is in minutes.
    characteristic(
      LOCK_AFTER_INACTIVITY,
      lockSeconds === null
        ? parm('AEFrequencyType', 0)
        : parm('AEFrequencyType', 1) + parm('AEFrequencyValue', Math.ceil(lockSeconds / 60)),
    ),
    // After CodewordFrequency wrong passwords the device asks for a code word, so that presses in a
    // pocket cannot wipe it; the Exchange 2003 SP2 layout other servers copy asks at half the threshold.
    failedAttempts === null ? '' : characteristic(LASSD, parm('DeviceWipeThreshold', failedAttempts)),
    failedAttempts === null
      ? ''
      : characteristic(LASSD, parm('CodewordFrequency', Math.floor(failedAttempts / 2))),
    minimumLength === null
      ? ''
      : characteristic(PASSWORD_RULES, parm('MinimumPasswordLength', minimumLength)),
    // PasswordComplexity: 0 requires letters and digits, 2 accepts any password.
    characteristic(
      PASSWORD_RULES,
      parm('PasswordComplexity', settings.AlphanumericDevicePasswordRequired ? 0 : 2),
    ),
  ].join('');
  return `<wap-provisioningdoc>${securityPolicy}${characteristic('Registry', registry)}</wap-provisioningdoc>`;
}

export function policyTypeFor(protocolVersion: ProtocolVersion): PolicyType {
  return protocolVersion === '2.5' ? 'MS-WAP-Provisioning-XML' : 'MS-EAS-Provisioning-WBXML';
}

/**
 * The PolicyType of a Provision request, accepted only when it is the one this version receives
 * (clients ignore a policy of another type, MS-ASPROV 3.1.5.1.1). Undefined means the request gets
 * Policy Status `UNKNOWN_POLICY_TYPE_STATUS`.
 */
export function parsePolicyType(requested: string, protocolVersion: ProtocolVersion): PolicyType | undefined {
  const expected = policyTypeFor(protocolVersion);
  return requested === expected ? expected : undefined;
}

/**
 * The final policy key of these settings at this version: a hash of the policy type and the
 * document the version receives, with the high bit set (never 0, never a temporary key). The same
 * settings give the same key in every process; only a change the version receives changes it.
 */
export function policyKeyFor(settings: PolicySettings, protocolVersion: ProtocolVersion): number {
  const document =
    protocolVersion === '2.5'
      ? wapProvisioningXml(settings)
      : JSON.stringify(canonical(policyElementsFor(settings, protocolVersion)));
  const digest = createHash('sha256')
    .update(`${policyTypeFor(protocolVersion)}\n${document}`)
    .digest();
  return (digest.readUInt32BE(0) | FINAL_POLICY_KEY_BIT) >>> 0;
}

type CanonicalElement = [name: string, ...content: (string | CanonicalElement)[]];

/** An element as nested arrays: its name, then its text or its children; hashable as JSON. */
function canonical(element: WbxmlElement): CanonicalElement {
  return element.text === undefined
    ? [element.name, ...element.children.map(canonical)]
    : [element.name, element.text];
}
