import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultPolicySettings, policySettingsSchema } from '../../src/device/policy-settings.ts';

describe('policy settings', () => {
  it('fills every setting a policy leaves out with the default', () => {
    const settings = policySettingsSchema.parse({ DevicePasswordEnabled: true, MinDevicePasswordLength: 6 });
    assert.deepEqual(settings, {
      ...defaultPolicySettings,
      DevicePasswordEnabled: true,
      MinDevicePasswordLength: 6,
    });
    assert.deepEqual(policySettingsSchema.parse(defaultPolicySettings), defaultPolicySettings);
  });

  it('defaults to a policy that restricts nothing', () => {
    const restrictions = Object.entries(defaultPolicySettings).filter(([name, value]) =>
      name.startsWith('Allow') || name === 'AttachmentsEnabled'
        ? value === false || value === 0
        : name.startsWith('Require') && value === true,
    );
    assert.deepEqual(restrictions, []);
    assert.equal(defaultPolicySettings.DevicePasswordEnabled, false);
    assert.equal(defaultPolicySettings.AllowBluetooth, 2);
    assert.equal(defaultPolicySettings.AllowSMIMEEncryptionAlgorithmNegotiation, 2);
    for (const limit of [
      'MaxAttachmentSize',
      'MaxDevicePasswordFailedAttempts',
      'MaxInactivityTimeDeviceLock',
      'DevicePasswordExpiration',
      'MinDevicePasswordLength',
    ] as const) {
      assert.equal(defaultPolicySettings[limit], null, limit);
    }
    assert.equal(defaultPolicySettings.MaxCalendarAgeFilter, 0);
    assert.equal(defaultPolicySettings.MaxEmailAgeFilter, 0);
    assert.equal(defaultPolicySettings.MaxEmailBodyTruncationSize, -1);
    assert.equal(defaultPolicySettings.MaxEmailHTMLBodyTruncationSize, -1);
    assert.deepEqual(defaultPolicySettings.ApprovedApplicationList, []);
  });

  it('returns frozen settings', () => {
    assert.ok(Object.isFrozen(defaultPolicySettings));
    assert.ok(Object.isFrozen(policySettingsSchema.parse({ ApprovedApplicationList: ['ab12'] })));
  });

  const rejected: [setting: string, value: unknown, message: RegExp][] = [
    ['MaxCalendarAgeFilter', 3, /0 \(all\), 4 \(2 weeks\), 5 \(1 month\), 6 \(3 months\) or 7 \(6 months\)/],
    ['MaxEmailAgeFilter', 6, /0 \(all\), 1 \(1 day\).* or 5 \(1 month\)/],
    ['MinDevicePasswordLength', 17, /password length from 1 to 16, or null for no minimum/],
    ['MinDevicePasswordLength', 0, /password length from 1 to 16/],
    ['MaxDevicePasswordFailedAttempts', 3, /4 to 16 failed attempts, or null for no limit/],
    ['MaxDevicePasswordFailedAttempts', 4.5, /4 to 16 failed attempts/],
    ['MinDevicePasswordComplexCharacters', 5, /1 to 4 character groups/],
    ['MaxInactivityTimeDeviceLock', 9999, /1 to 9998 seconds, or null for no lock/],
    ['MaxAttachmentSize', 2 ** 32, /bytes, or null for no limit/],
    ['MaxAttachmentSize', '5000000', /bytes, or null for no limit/],
    ['DevicePasswordHistory', -1, /a number of passwords, 0 for none/],
    ['MaxEmailBodyTruncationSize', -2, /-1 \(no truncation\), 0 \(headers only\) or a size/],
    ['AllowBluetooth', 3, /0 \(disabled\), 1 \(hands-free only\) or 2 \(allowed\)/],
    ['RequireSignedSMIMEAlgorithm', 2, /0 \(SHA-1\) or 1 \(MD5\)/],
    ['RequireEncryptionSMIMEAlgorithm', 5, /0 \(TripleDES\).* or 4 \(RC2 40-bit\)/],
    ['AllowSMIMEEncryptionAlgorithmNegotiation', -1, /0 \(do not negotiate\)/],
    ['AllowCamera', 1, /true or false/],
    ['ApprovedApplicationList', [''], /an application hash/],
    ['UnapprovedInROMApplicationList', 'calc.exe', /expected array/],
  ];
  for (const [setting, value, message] of rejected) {
    it(`rejects ${setting} = ${JSON.stringify(value)} and says what it expects`, () => {
      const result = policySettingsSchema.safeParse({ [setting]: value });
      assert.equal(result.success, false);
      const [issue, ...others] = result.error?.issues ?? [];
      assert.deepEqual(others, []);
      assert.deepEqual(issue?.path.slice(0, 1), [setting]);
      assert.match(issue?.message ?? '', message);
    });
  }

  it('rejects a setting MS-ASPROV does not define, such as a misspelt one', () => {
    const result = policySettingsSchema.safeParse({ AllowWifi: false });
    assert.equal(result.success, false);
    assert.match(result.error?.issues[0]?.message ?? '', /Unrecognized key: "AllowWifi"/);
  });
});
