// Provision (MS-ASPROV): a device downloads the security policy and acknowledges it, and learns of a
// remote wipe. The policy takes two round trips: the download answers with the policy and a
// temporary key; the acknowledgement, sent with that key and the device's verdict, is answered with
// the final key the device then sends with every command (src/device/gate.ts checks it).
//
// The whole request is read before anything changes: one that does not follow the schema is answered
// Status 2 and changes nothing; an unknown PolicyType (Policy Status 3) or an acknowledgement of a
// download that is not the one on record (Policy Status 5) changes no key either. DeviceInformation,
// which 14.1 clients send with the download, is a setting of its own with its own Status, stored
// whatever becomes of the policy.

import { randomInt } from 'node:crypto';
import { parseDeviceInformation, type DeviceInformation } from '../device/device-information.ts';
import { DeviceStore, type WipeScope } from '../device/devices.ts';
import { dueWipe } from '../device/gate.ts';
import {
  parsePolicyType,
  policyElementsFor,
  TEMPORARY_POLICY_KEY_MAX,
  wapProvisioningXml,
} from '../device/policy-documents.ts';
import { finalPolicyKey } from '../device/policy-store.ts';
import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { child, el, type WbxmlElement } from '../wbxml/index.ts';
import type { CommandContext, CommandHandler, CommandResult } from './index.ts';

/** Status (Provision), MS-ASPROV 2.2.2.54.2 and 3.1.5.2. */
const Status = {
  Success: 1,
  ProtocolError: 2,
  /** The device could not apply the whole policy, and the server requires it to. */
  PolicyNotFullyApplied: 139,
  /** The device says a third party manages it, and the server requires its own policy. */
  ExternallyManaged: 145,
} as const;

/** Status (Policy) in responses, MS-ASPROV 2.2.2.54.1. */
const PolicyStatus = {
  Success: 1,
  NoPolicy: 2,
  UnknownPolicyType: 3,
  PolicyCorrupt: 4,
  WrongPolicyKey: 5,
} as const;

/** What the device answers to the policy in its acknowledgement (Status (Policy) in requests). */
const APPLIED = 1;
const PROVISIONED_BY_THIRD_PARTY = 4;

/** Settings DeviceInformation rides along in the download from EAS 14.1 (MS-ASPROV 2.2.2.53). */
const DEVICE_INFORMATION_VERSION: ProtocolVersion = '14.1';

interface ProvisionRequest {
  deviceInformation?: DeviceInformation;
  policy?: {
    type: string;
    /** Present in the acknowledgement: the temporary key, and whether the device applied the policy. */
    acknowledgement?: { temporaryKey: number; status: number };
  };
  /** The device's answer to a wipe directive: 1 wiped, 2 failed. */
  wipeAcknowledgement?: { scope: WipeScope; status: 1 | 2 };
}

/** The request does not follow the Provision schema: Status 2, nothing changes. */
class MalformedRequest extends Error {}

export const provision: CommandHandler = async (context, body) => {
  let request: ProvisionRequest;
  try {
    request = readRequest(body);
  } catch (error) {
    if (!(error instanceof MalformedRequest)) throw error;
    return answer({ status: Status.ProtocolError }, error.message);
  }
  const store = new DeviceStore(context.db);
  const session = context.device;
  const version = context.request.protocolVersion;

  if (request.wipeAcknowledgement !== undefined) {
    const { scope, status } = request.wipeAcknowledgement;
    await store.acknowledgeWipe(session, scope, status);
    // A failed wipe is answered Status 2 and asked for again (MS-ASPROV 3.2.5.1.2.2), if it is
    // still wanted.
    if (status === 2 && dueWipe(session) === scope) {
      await store.recordWipeDelivered(session, scope);
      return answer({ status: Status.ProtocolError, wipe: scope }, 'the device could not wipe itself');
    }
    return answer({ status: Status.Success });
  }

  let deviceInformation = false;
  if (request.deviceInformation !== undefined && isVersionAtLeast(version, DEVICE_INFORMATION_VERSION)) {
    await store.saveDeviceInformation(session.deviceId, request.deviceInformation);
    deviceInformation = true;
  }

  const wipe = dueWipe(session);
  if (wipe !== undefined) {
    await store.recordWipeDelivered(session, wipe);
    return answer({ deviceInformation, status: Status.Success, wipe });
  }
  if (request.policy === undefined) return answer({ deviceInformation, status: Status.Success });

  const policy = await policyAnswer(context, store, request.policy);
  if ('refusal' in policy) return policy.refusal;
  return answer({ deviceInformation, status: Status.Success, policy: policy.element }, policy.reason);
};

/** The Policy element to answer with, or the answer to the whole request when the device is refused. */
type PolicyAnswer = { element: WbxmlElement; reason?: string } | { refusal: CommandResult };

async function policyAnswer(
  context: CommandContext,
  store: DeviceStore,
  requested: NonNullable<ProvisionRequest['policy']>,
): Promise<PolicyAnswer> {
  const version = context.request.protocolVersion;
  const session = context.device;
  const policy = (status: number, content: WbxmlElement[] = []) =>
    el('Provision', 'Policy', [
      el('Provision', 'PolicyType', requested.type),
      el('Provision', 'Status', String(status)),
      ...content,
    ]);
  const failed = (status: number, reason: string): PolicyAnswer => ({ element: policy(status), reason });

  if (context.config.provisioning === 'off') return { element: policy(PolicyStatus.NoPolicy) };
  if (parsePolicyType(requested.type, version) === undefined) {
    return failed(
      PolicyStatus.UnknownPolicyType,
      `policy type "${requested.type}" is not sent at EAS ${version}`,
    );
  }

  const acknowledgement = requested.acknowledgement;
  if (acknowledgement === undefined) {
    const settings = session.policy.settings;
    if (settings === undefined) {
      return failed(PolicyStatus.PolicyCorrupt, `policy set "${session.policy.name}" does not validate`);
    }
    const temporaryKey = randomInt(1, TEMPORARY_POLICY_KEY_MAX + 1);
    await store.offerPolicy(session, { temporaryKey, finalKey: finalPolicyKey(settings, version) });
    const data =
      version === '2.5'
        ? el('Provision', 'Data', wapProvisioningXml(settings))
        : el('Provision', 'Data', [policyElementsFor(settings, version)]);
    return {
      element: policy(PolicyStatus.Success, [el('Provision', 'PolicyKey', String(temporaryKey)), data]),
    };
  }

  const wrongKey = failed(
    PolicyStatus.WrongPolicyKey,
    `acknowledged policy key ${acknowledgement.temporaryKey} is not the one handed out`,
  );
  if (acknowledgement.temporaryKey !== session.temporaryPolicyKey) return wrongKey;
  const ack = { ...acknowledgement, protocolVersion: version };
  if (acknowledgement.status === APPLIED || context.config.provisioning === 'allow') {
    const finalKey = await store.acceptPolicy(session, ack);
    if (finalKey === undefined) return wrongKey;
    return { element: policy(PolicyStatus.Success, [el('Provision', 'PolicyKey', String(finalKey))]) };
  }
  if (!(await store.refusePolicy(session, ack))) return wrongKey;
  const reason = `the device did not apply the policy (status ${acknowledgement.status}), which is required`;
  // Before 14.0 there is no status for this: 403 tells the device it may not sync, where a
  // policy error would only send it round the Provision loop again.
  if (!isVersionAtLeast(version, '14.0')) return { refusal: { kind: 'http', status: 403, reason } };
  const status =
    acknowledgement.status === PROVISIONED_BY_THIRD_PARTY
      ? Status.ExternallyManaged
      : Status.PolicyNotFullyApplied;
  return { refusal: answer({ status }, reason) };
}

interface Answer {
  /** Whether the request's DeviceInformation was stored; its Status then leads the response. */
  deviceInformation?: boolean;
  status: number;
  policy?: WbxmlElement;
  wipe?: WipeScope;
}

function answer(response: Answer, reason?: string): CommandResult {
  const content: WbxmlElement[] = [];
  if (response.deviceInformation === true) {
    content.push(el('Settings', 'DeviceInformation', [el('Settings', 'Status', '1')]));
  }
  content.push(el('Provision', 'Status', String(response.status)));
  if (response.policy !== undefined) content.push(el('Provision', 'Policies', [response.policy]));
  if (response.wipe !== undefined) {
    content.push(el('Provision', response.wipe === 'device' ? 'RemoteWipe' : 'AccountOnlyRemoteWipe'));
  }
  return {
    kind: 'wbxml',
    tree: el('Provision', 'Provision', content),
    protocolStatus: response.status,
    reason,
  };
}

// --- Reading the request ---------------------------------------------------------------------------

function readRequest(body: WbxmlElement | undefined): ProvisionRequest {
  if (body === undefined) throw new MalformedRequest('Provision request has no body');
  if (body.ns !== 'Provision' || body.name !== 'Provision') {
    throw new MalformedRequest(`Provision request has a ${body.ns}:${body.name} root`);
  }
  const parts = new Map<string, WbxmlElement>();
  for (const element of body.children) {
    const name = `${element.ns}:${element.name}`;
    if (!REQUEST_PARTS.has(name)) throw new MalformedRequest(`Provision may not contain ${name}`);
    if (parts.has(name)) throw new MalformedRequest(`Provision contains ${name} more than once`);
    parts.set(name, element);
  }
  const remoteWipe = parts.get('Provision:RemoteWipe');
  const accountOnlyWipe = parts.get('Provision:AccountOnlyRemoteWipe');
  if (remoteWipe !== undefined && accountOnlyWipe !== undefined) {
    throw new MalformedRequest('Provision acknowledges both a remote wipe and an account-only wipe');
  }
  // A wipe acknowledgement stands alone; what else comes with it is not read (iOS 5 sent a stray
  // Policy Status with it).
  if (remoteWipe !== undefined) return { wipeAcknowledgement: readWipeAcknowledgement(remoteWipe, 'device') };
  if (accountOnlyWipe !== undefined) {
    return { wipeAcknowledgement: readWipeAcknowledgement(accountOnlyWipe, 'account') };
  }

  const request: ProvisionRequest = {};
  const deviceInformation = parts.get('Settings:DeviceInformation');
  if (deviceInformation !== undefined) {
    request.deviceInformation = parseDeviceInformation(deviceInformation);
    if (request.deviceInformation === undefined) throw new MalformedRequest('DeviceInformation is malformed');
  }
  const policies = parts.get('Provision:Policies');
  if (policies !== undefined) request.policy = readPolicy(policies);
  return request;
}

const REQUEST_PARTS = new Set([
  'Settings:DeviceInformation',
  'Provision:Policies',
  'Provision:RemoteWipe',
  'Provision:AccountOnlyRemoteWipe',
]);

function readPolicy(policies: WbxmlElement): NonNullable<ProvisionRequest['policy']> {
  const [policy, ...others] = policies.children;
  if (policy === undefined || others.length > 0 || policy.ns !== 'Provision' || policy.name !== 'Policy') {
    throw new MalformedRequest('Policies must hold exactly one Policy');
  }
  const values = new Map<string, string>();
  for (const element of policy.children) {
    if (element.ns !== 'Provision' || !POLICY_VALUES.has(element.name)) {
      throw new MalformedRequest(`Policy may not contain ${element.ns}:${element.name}`);
    }
    if (values.has(element.name))
      throw new MalformedRequest(`Policy contains ${element.name} more than once`);
    values.set(element.name, leafText(element));
  }
  const type = values.get('PolicyType');
  if (type === undefined) throw new MalformedRequest('Policy has no PolicyType');
  const key = values.get('PolicyKey');
  const status = values.get('Status');
  if (key === undefined && status === undefined) return { type };
  if (key === undefined || status === undefined) {
    throw new MalformedRequest('an acknowledgement needs both PolicyKey and Status');
  }
  if (!/^\d{1,10}$/.test(key) || Number(key) > 0xffffffff) {
    throw new MalformedRequest(`PolicyKey "${key}" is not a 32-bit unsigned integer`);
  }
  if (!/^[1-4]$/.test(status)) throw new MalformedRequest(`Policy Status "${status}" is not 1 to 4`);
  return { type, acknowledgement: { temporaryKey: Number(key), status: Number(status) } };
}

const POLICY_VALUES = new Set(['PolicyType', 'PolicyKey', 'Status']);

function readWipeAcknowledgement(
  element: WbxmlElement,
  scope: WipeScope,
): NonNullable<ProvisionRequest['wipeAcknowledgement']> {
  const status = child(element, 'Status', 'Provision');
  if (status === undefined || element.children.length !== 1) {
    throw new MalformedRequest(`${element.name} must hold exactly one Status`);
  }
  const value = leafText(status);
  if (value !== '1' && value !== '2')
    throw new MalformedRequest(`${element.name} Status "${value}" is not 1 or 2`);
  return { scope, status: value === '1' ? 1 : 2 };
}

/** The text of an element that may hold nothing else. */
function leafText(element: WbxmlElement): string {
  if (element.children.length > 0 || element.opaque !== undefined) {
    throw new MalformedRequest(`${element.name} may hold only text`);
  }
  return element.text ?? '';
}
