// The gate's decisions on their own, for every mode and state, and how refusals are answered; the
// quirks table; the provisioning mode in the configuration.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import type { DeviceSession } from '../../src/device/devices.ts';
import { checkGate, refusalAnswer, type GateRefusal } from '../../src/device/gate.ts';
import { policyKeyFor } from '../../src/device/policy-documents.ts';
import { defaultPolicySettings } from '../../src/device/policy-settings.ts';
import { quirksOf, type DeviceQuirks } from '../../src/device/quirks.ts';
import {
  COMMAND_NAMES,
  type CommandName,
  type EasRequest,
  type ProtocolVersion,
} from '../../src/http/query.ts';
import { decode, encode } from '../../src/wbxml/index.ts';

const NO_QUIRKS: DeviceQuirks = { sendsPreviousPolicyKey: false, needsHttp449: false };
const KEY = policyKeyFor(defaultPolicySettings, '14.1');

function request(
  options: { command?: CommandName; version?: ProtocolVersion; policyKey?: number } = {},
): EasRequest {
  return {
    command: options.command ?? 'Sync',
    protocolVersion: options.version ?? '14.1',
    deviceId: 'GATE1',
    deviceType: 'SmartPhone',
    policyKey: options.policyKey,
    params: {},
    saveInSent: false,
    acceptMultiPart: false,
    clientAddress: '192.0.2.1',
    queryForm: 'plain',
  };
}

function session(state: Partial<DeviceSession> = {}): DeviceSession {
  return {
    deviceId: 'GATE1',
    user: 'alice',
    accountId: 1,
    deviceWipe: 'none',
    accountWipe: 'none',
    policyKey: undefined,
    previousPolicyKey: undefined,
    temporaryPolicyKey: undefined,
    offeredPolicyKey: undefined,
    acknowledgement: undefined,
    policy: { name: undefined, source: 'built-in', settings: defaultPolicySettings },
    ...state,
  };
}

const provisioned = session({ policyKey: KEY, acknowledgement: 'applied', previousPolicyKey: 0x80000001 });

/** The refusal's status, 'forbidden', or 'pass'. */
function verdict(refusal: GateRefusal | undefined): number | 'forbidden' | 'pass' {
  if (refusal === undefined) return 'pass';
  return refusal.kind === 'forbidden' ? 'forbidden' : refusal.status;
}

describe('the gate', () => {
  test('required: keys are checked against the account and the current policy', () => {
    const cases: [DeviceSession, number | undefined, number | 'pass'][] = [
      [session(), undefined, 142],
      [session(), 0, 142],
      [session(), 12345, 144],
      [provisioned, KEY, 'pass'],
      [provisioned, undefined, 142],
      [provisioned, 12345, 144],
      [provisioned, 0x80000001, 144],
      // Provisioned under another policy: the key is right, the policy is not.
      [session({ policyKey: 0x80000002, acknowledgement: 'applied' }), 0x80000002, 143],
      // Could not apply the policy: the key it holds is not enough, though it was handed out.
      [session({ policyKey: KEY, acknowledgement: 'partly-applied' }), KEY, 142],
      // Asked to provision again.
      [session({ previousPolicyKey: KEY, acknowledgement: 'applied' }), KEY, 142],
    ];
    for (const [state, policyKey, expected] of cases) {
      assert.equal(verdict(checkGate('required', request({ policyKey }), state, NO_QUIRKS)), expected);
    }
  });

  test('the key is computed at the request version', () => {
    // The same policy has another document, so another key, at 2.5.
    assert.equal(
      verdict(checkGate('required', request({ version: '2.5', policyKey: KEY }), provisioned, NO_QUIRKS)),
      143,
    );
  });

  test('allow holds only accounts that applied the policy; off holds none', () => {
    for (const state of [session(), session({ policyKey: KEY, acknowledgement: 'partly-applied' })]) {
      assert.equal(verdict(checkGate('allow', request({ policyKey: 999 }), state, NO_QUIRKS)), 'pass');
    }
    assert.equal(verdict(checkGate('allow', request({ policyKey: 999 }), provisioned, NO_QUIRKS)), 144);
    assert.equal(verdict(checkGate('off', request({ policyKey: 999 }), provisioned, NO_QUIRKS)), 'pass');
  });

  test('the previous key is accepted from clients with the quirk', () => {
    const quirks = { ...NO_QUIRKS, sendsPreviousPolicyKey: true };
    assert.equal(
      verdict(checkGate('required', request({ policyKey: 0x80000001 }), provisioned, quirks)),
      'pass',
    );
  });

  test('Ping and Provision pass the policy check; Ping passes a due wipe too', () => {
    for (const command of ['Ping', 'Provision'] as const) {
      assert.equal(verdict(checkGate('required', request({ command }), session(), NO_QUIRKS)), 'pass');
      assert.equal(
        verdict(checkGate('off', request({ command }), session({ deviceWipe: 'pending' }), NO_QUIRKS)),
        'pass',
      );
    }
  });

  test('a due wipe stops every other command, in every mode', () => {
    for (const mode of ['off', 'allow', 'required'] as const) {
      for (const state of [
        session({ deviceWipe: 'pending' }),
        session({ deviceWipe: 'wiped' }),
        session({ ...provisioned, accountWipe: 'pending' }),
      ]) {
        assert.equal(
          verdict(checkGate(mode, request({ version: '16.1', policyKey: KEY }), state, NO_QUIRKS)),
          140,
        );
      }
    }
  });

  test('an account-only wipe cannot be served below 16.1', () => {
    const state = session({ accountWipe: 'pending' });
    for (const command of ['Sync', 'Provision'] as const) {
      assert.equal(
        verdict(checkGate('off', request({ command, version: '14.1' }), state, NO_QUIRKS)),
        'forbidden',
      );
    }
    assert.equal(
      verdict(checkGate('off', request({ command: 'Ping', version: '14.1' }), state, NO_QUIRKS)),
      'pass',
    );
  });
});

describe('refusal answers', () => {
  const refusal: GateRefusal = { kind: 'provision', status: 142, reason: 'test' };

  test('are HTTP 449 up to 12.1', () => {
    for (const version of ['2.5', '12.0', '12.1'] as const) {
      assert.deepEqual(refusalAnswer(refusal, request({ version }), NO_QUIRKS), { httpStatus: 449 });
    }
  });

  test("are each command's own response with the Status from 14.0, and encode", () => {
    for (const command of COMMAND_NAMES) {
      const answer = refusalAnswer(refusal, request({ command, version: '16.1' }), NO_QUIRKS);
      if (['GetAttachment', 'MoveItems', 'MeetingResponse'].includes(command)) {
        assert.deepEqual(answer, { httpStatus: 449 }, command);
        continue;
      }
      assert.equal(answer.httpStatus, 200);
      const body = decode(encode(answer.body!));
      assert.equal(body.children.length, 1);
      assert.equal(body.children[0]?.name, 'Status');
      assert.equal(body.children[0]?.ns, body.ns);
      assert.equal(body.children[0]?.text, '142');
    }
  });

  test('carry both for clients that need HTTP 449, and 403 for the forbidden', () => {
    const quirks = { ...NO_QUIRKS, needsHttp449: true };
    const answer = refusalAnswer(refusal, request({ command: 'FolderSync' }), quirks);
    assert.equal(answer.httpStatus, 449);
    assert.equal(answer.status, 142);
    assert.deepEqual(refusalAnswer({ kind: 'forbidden', reason: 'test' }, request(), NO_QUIRKS), {
      httpStatus: 403,
    });
  });
});

describe('the quirks table', () => {
  test('matches iOS 4 for the previous key', () => {
    assert.equal(quirksOf('iPhone', 'Apple-iPhone3C1/806.190').sendsPreviousPolicyKey, true);
    assert.equal(quirksOf('iPad', 'Apple-iPad1C1/812.1').sendsPreviousPolicyKey, true);
    assert.equal(quirksOf('iPhone', 'Apple-iPhone9C1/1602.92').sendsPreviousPolicyKey, false);
    assert.equal(quirksOf('SmartPhone', 'Apple-iPhone3C1/806.190').sendsPreviousPolicyKey, false);
  });

  test('matches the clients that need HTTP 449', () => {
    assert.equal(quirksOf('Android', 'Android/4.1.2-EAS-1.3').needsHttp449, true);
    assert.equal(quirksOf('WP8', 'MSFT-WP/8.0.10211').needsHttp449, true);
    assert.equal(quirksOf('Android', 'Android-Mail/2023.01.01').needsHttp449, false);
    assert.deepEqual(quirksOf('SmartPhone', undefined), NO_QUIRKS);
  });
});

test('the provisioning mode is allow unless configured, also by AIRSYNC_PROVISIONING', () => {
  assert.equal(loadConfig().provisioning, 'allow');
  assert.equal(loadConfig({ env: { AIRSYNC_PROVISIONING: 'required' } }).provisioning, 'required');
  assert.throws(
    () => loadConfig({ env: { AIRSYNC_PROVISIONING: 'sometimes' } }),
    /provisioning.*AIRSYNC_PROVISIONING/,
  );
});
