// The device security policy: every EASProvisionDoc setting of MS-ASPROV 2.2.2 as one typed model.
// Keys are the spec's element names and values use the spec's value spaces, so a policy reads the
// same in the store, the CLI and the protocol log. `null` is the empty element the spec allows for
// "no limit" (its unsignedIntOrEmpty / unsignedByteOrEmpty types). Every setting has a default,
// and the defaults restrict nothing, so any device can accept the default policy.

import { z } from 'zod';

const UNSIGNED_INT_MAX = 0xffffffff;
const SIGNED_INT_MAX = 0x7fffffff;

function flag(defaultValue: boolean) {
  return z.boolean({ error: 'expected true or false' }).default(defaultValue);
}

/** An integer in [min, max]; `expected` completes the error message "expected …". */
function integer(min: number, max: number, expected: string) {
  const error = `expected ${expected}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** One of the spec's codes; `expected` spells out what each one means. */
function code<const Values extends readonly [number, ...number[]]>(values: Values, expected: string) {
  return z.literal(values, { error: `expected ${expected}` });
}

/** A list of non-empty strings, empty unless set; `item` names one in the error message. */
function list(item: string) {
  return z
    .array(z.string({ error: `expected ${item}` }).min(1, { error: `expected ${item}` }))
    .readonly()
    .default(() => []);
}

export const policySettingsSchema = z
  .strictObject({
    /** A device password (PIN) is required. The other password settings apply only when true. */
    DevicePasswordEnabled: flag(false),
    /** The password must contain letters and digits. */
    AlphanumericDevicePasswordRequired: flag(false),
    /** The device may store a recovery password on the server (Settings DevicePassword). */
    PasswordRecoveryEnabled: flag(false),
    /** Content on the storage card must be encrypted. */
    RequireStorageCardEncryption: flag(false),
    /** Attachments may be downloaded. */
    AttachmentsEnabled: flag(true),
    /** Minimum password length; null or 1 means no minimum. */
    MinDevicePasswordLength: integer(1, 16, 'a password length from 1 to 16, or null for no minimum')
      .nullable()
      .default(null),
    /** Seconds without use before the device locks itself; null means never. */
    MaxInactivityTimeDeviceLock: integer(
      1,
      9998,
      '1 to 9998 seconds, or null for no lock (clients read 9999 and more as unlimited)',
    )
      .nullable()
      .default(null),
    /** Wrong passwords before the device wipes itself; null means no limit. */
    MaxDevicePasswordFailedAttempts: integer(4, 16, '4 to 16 failed attempts, or null for no limit')
      .nullable()
      .default(null),
    /** Largest attachment in bytes; null means no limit. */
    MaxAttachmentSize: integer(1, UNSIGNED_INT_MAX, `1 to ${UNSIGNED_INT_MAX} bytes, or null for no limit`)
      .nullable()
      .default(null),
    /** Passwords of repeated ("2222") or sequential ("abcd") characters are allowed. */
    AllowSimpleDevicePassword: flag(true),
    /** Days until a password expires; null means it never does. */
    DevicePasswordExpiration: integer(1, UNSIGNED_INT_MAX, 'a number of days, or null for no expiry')
      .nullable()
      .default(null),
    /** Previous passwords the device remembers to prevent reuse; 0 means none. */
    DevicePasswordHistory: integer(0, UNSIGNED_INT_MAX, 'a number of passwords, 0 for none').default(0),
    /** The storage card may be used. */
    AllowStorageCard: flag(true),
    /** The camera may be used. */
    AllowCamera: flag(true),
    /** The device must encrypt its storage. */
    RequireDeviceEncryption: flag(false),
    /** Unsigned applications may run. */
    AllowUnsignedApplications: flag(true),
    /** Unsigned installation packages (.cab) may be installed. */
    AllowUnsignedInstallationPackages: flag(true),
    /** Character groups (lower case, upper case, digits, symbols) a password must mix. */
    MinDevicePasswordComplexCharacters: integer(1, 4, '1 to 4 character groups').default(1),
    /** Wi-Fi may be used. */
    AllowWiFi: flag(true),
    /** Text messaging (SMS) may be used. */
    AllowTextMessaging: flag(true),
    /** POP and IMAP accounts may be used. */
    AllowPOPIMAPEmail: flag(true),
    /** 0 disables Bluetooth, 1 allows hands-free profiles only, 2 allows Bluetooth. */
    AllowBluetooth: code([0, 1, 2], '0 (disabled), 1 (hands-free only) or 2 (allowed)').default(2),
    /** Infrared (IrDA) connections may be used. */
    AllowIrDA: flag(true),
    /** The device syncs only on demand while roaming (no push). */
    RequireManualSyncWhenRoaming: flag(false),
    /** The device may sync with Desktop ActiveSync. */
    AllowDesktopSync: flag(true),
    /** Calendar window: 0 all, 4 two weeks, 5 one month, 6 three months, 7 six months. */
    MaxCalendarAgeFilter: code(
      [0, 4, 5, 6, 7],
      '0 (all), 4 (2 weeks), 5 (1 month), 6 (3 months) or 7 (6 months)',
    ).default(0),
    /** HTML mail may be shown. */
    AllowHTMLEmail: flag(true),
    /** Mail window: 0 all, 1 one day, 2 three days, 3 one week, 4 two weeks, 5 one month. */
    MaxEmailAgeFilter: code(
      [0, 1, 2, 3, 4, 5],
      '0 (all), 1 (1 day), 2 (3 days), 3 (1 week), 4 (2 weeks) or 5 (1 month)',
    ).default(0),
    /** Plain-text body truncation size: -1 none, 0 headers only, otherwise the size. */
    MaxEmailBodyTruncationSize: integer(
      -1,
      SIGNED_INT_MAX,
      '-1 (no truncation), 0 (headers only) or a size',
    ).default(-1),
    /** HTML body truncation size: -1 none, 0 headers only, otherwise the size. */
    MaxEmailHTMLBodyTruncationSize: integer(
      -1,
      SIGNED_INT_MAX,
      '-1 (no truncation), 0 (headers only) or a size',
    ).default(-1),
    /** Outgoing mail must be S/MIME signed. */
    RequireSignedSMIMEMessages: flag(false),
    /** Outgoing mail must be S/MIME encrypted. */
    RequireEncryptedSMIMEMessages: flag(false),
    /** Signing algorithm: 0 SHA-1, 1 MD5. */
    RequireSignedSMIMEAlgorithm: code([0, 1], '0 (SHA-1) or 1 (MD5)').default(0),
    /** Encryption algorithm: 0 TripleDES, 1 DES, 2 RC2 128-bit, 3 RC2 64-bit, 4 RC2 40-bit. */
    RequireEncryptionSMIMEAlgorithm: code(
      [0, 1, 2, 3, 4],
      '0 (TripleDES), 1 (DES), 2 (RC2 128-bit), 3 (RC2 64-bit) or 4 (RC2 40-bit)',
    ).default(0),
    /** Algorithm negotiation: 0 none, 1 strong algorithms only, 2 any algorithm. */
    AllowSMIMEEncryptionAlgorithmNegotiation: code(
      [0, 1, 2],
      '0 (do not negotiate), 1 (strong algorithms only) or 2 (any algorithm)',
    ).default(2),
    /** Soft certificates may be used for S/MIME. */
    AllowSMIMESoftCerts: flag(true),
    /** The web browser may be used. */
    AllowBrowser: flag(true),
    /** Personal (consumer) mail accounts may be set up. */
    AllowConsumerEmail: flag(true),
    /** Remote Desktop may be used. */
    AllowRemoteDesktop: flag(true),
    /** Internet sharing (tethering) may be used. */
    AllowInternetSharing: flag(true),
    /** In-ROM applications (.exe names) that must not run. */
    UnapprovedInROMApplicationList: list('an application name'),
    /** SHA-1 hashes of the only in-memory applications allowed to run; empty means no restriction. */
    ApprovedApplicationList: list('an application hash'),
  })
  .readonly();

export type PolicySettings = z.output<typeof policySettingsSchema>;
export type PolicySettingName = keyof PolicySettings;

/** The policy any device accepts: no password, nothing disabled, no limits. */
export const defaultPolicySettings: PolicySettings = policySettingsSchema.parse({});
