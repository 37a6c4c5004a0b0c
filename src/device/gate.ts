// The gate between a device and the commands: before a command runs, is a wipe due for this device
// or account, and does the policy key the device sent match the policy it must hold? A refused
// request is told to provision (MS-ASPROV 3.1.5.1): with HTTP 449 up to EAS 12.1, and from 14.0 with
// the command's own response carrying a common Status (MS-ASCMD 2.2.2) — 140 wipe requested, 142 not
// provisioned, 143 policy changed, 144 invalid key.
//
// Modes (config `provisioning`): `required` gates every device; `allow` gates a device only once it
// has applied a policy (so policy changes and wipes reach it), and lets in one that never asked or
// could not apply it; `off` sends no policies and checks no keys. Wipes are gated in every mode.

import type { Config } from '../config.ts';
import { isVersionAtLeast, type CommandName, type EasRequest } from '../http/query.ts';
import { el, type Namespace, type WbxmlElement } from '../wbxml/tree.ts';
import { ACCOUNT_ONLY_WIPE_VERSION, type DeviceSession, type WipeScope } from './devices.ts';
import { finalPolicyKey } from './policy-store.ts';
import type { DeviceQuirks } from './quirks.ts';

export type ProvisioningMode = Config['provisioning'];

/** MS-ASCMD 2.2.2 common statuses that send a device to Provision. */
export const ProvisionStatus = {
  RemoteWipeRequested: 140,
  DeviceNotProvisioned: 142,
  PolicyRefresh: 143,
  InvalidPolicyKey: 144,
} as const;
export type ProvisionStatus = (typeof ProvisionStatus)[keyof typeof ProvisionStatus];

export type GateRefusal =
  /** The device must provision (and there learn of a wipe) before this command. */
  | { kind: 'provision'; status: ProvisionStatus; reason: string }
  /** The account cannot be served at all at this protocol version. */
  | { kind: 'forbidden'; reason: string };

/** The wipe due for a session, the whole device's first. */
export function dueWipe(session: DeviceSession): WipeScope | undefined {
  if (session.deviceWipe !== 'none') return 'device';
  if (session.accountWipe !== 'none') return 'account';
  return undefined;
}

/** Whether the request may go on to its command; the refusal when it may not. */
export function checkGate(
  mode: ProvisioningMode,
  request: EasRequest,
  session: DeviceSession,
  quirks: DeviceQuirks,
): GateRefusal | undefined {
  // Ping carries no policy key (MS-ASPROV 3.2.5.1), and a wipe is delivered on the device's next
  // other request: a waiting Ping is answered as usual.
  if (request.command === 'Ping') return undefined;
  const wipe = dueWipe(session);
  if (wipe === 'account' && !isVersionAtLeast(request.protocolVersion, ACCOUNT_ONLY_WIPE_VERSION)) {
    // Requested while the device spoke 16.1; below that there is no way to wipe one account only,
    // and a full wipe is not what was asked for.
    return {
      kind: 'forbidden',
      reason: `account-only wipe pending, which EAS ${request.protocolVersion} cannot deliver`,
    };
  }
  if (request.command === 'Provision') return undefined;
  if (wipe !== undefined) {
    const reason = wipe === 'device' ? 'remote wipe requested' : 'account-only remote wipe requested';
    return provisionFirst(ProvisionStatus.RemoteWipeRequested, reason);
  }
  if (!enforcesPolicy(mode, session)) return undefined;
  return checkPolicyKey(request, session, quirks);
}

/** `allow` holds a device to the policy once it has applied one. */
function enforcesPolicy(mode: ProvisioningMode, session: DeviceSession): boolean {
  return mode === 'required' || (mode === 'allow' && session.acknowledgement === 'applied');
}

function checkPolicyKey(
  request: EasRequest,
  session: DeviceSession,
  quirks: DeviceQuirks,
): GateRefusal | undefined {
  const sent = request.policyKey ?? 0;
  const held = session.acknowledgement === 'applied' ? session.policyKey : undefined;
  if (held === undefined) {
    // Never provisioned, asked to provision again, or could not apply the policy: only a key this
    // server never handed out is "invalid".
    const known = sent === 0 || sent === session.policyKey || sent === session.previousPolicyKey;
    return known
      ? provisionFirst(ProvisionStatus.DeviceNotProvisioned, 'device not provisioned')
      : provisionFirst(ProvisionStatus.InvalidPolicyKey, `policy key ${sent} is not valid`);
  }
  const accepted = sent === held || (quirks.sendsPreviousPolicyKey && sent === session.previousPolicyKey);
  if (!accepted) {
    return sent === 0
      ? provisionFirst(ProvisionStatus.DeviceNotProvisioned, 'no policy key sent')
      : provisionFirst(ProvisionStatus.InvalidPolicyKey, `policy key ${sent} is not current`);
  }
  const settings = session.policy.settings;
  if (settings === undefined) {
    throw new Error(`policy set "${session.policy.name}" is corrupt: its settings do not validate`);
  }
  if (finalPolicyKey(settings, request.protocolVersion) !== held) {
    return provisionFirst(ProvisionStatus.PolicyRefresh, 'the policy has changed');
  }
  return undefined;
}

function provisionFirst(status: ProvisionStatus, reason: string): GateRefusal {
  return { kind: 'provision', status, reason };
}

/** How a refusal is answered. */
export interface RefusalAnswer {
  httpStatus: number;
  /** From EAS 14.0: the command's response carrying `status`. */
  body?: WbxmlElement;
  status?: ProvisionStatus;
}

export function refusalAnswer(
  refusal: GateRefusal,
  request: EasRequest,
  quirks: DeviceQuirks,
): RefusalAnswer {
  if (refusal.kind === 'forbidden') return { httpStatus: 403 };
  const root = RESPONSE_ROOTS[request.command];
  if (!isVersionAtLeast(request.protocolVersion, '14.0') || root === undefined) return { httpStatus: 449 };
  const body = el(root.ns, root.name, [el(root.ns, 'Status', String(refusal.status))]);
  return { httpStatus: quirks.needsHttp449 ? 449 : 200, body, status: refusal.status };
}

/**
 * The root element of each command's response, when it has a top-level Status for the common
 * statuses. Those without one — GetAttachment (no WBXML answer), MoveItems and MeetingResponse (a
 * Status per item only) — are answered HTTP 449, which clients of every version understand.
 */
const RESPONSE_ROOTS: Record<CommandName, { ns: Namespace; name: string } | undefined> = {
  Sync: { ns: 'AirSync', name: 'Sync' },
  SendMail: { ns: 'ComposeMail', name: 'SendMail' },
  SmartForward: { ns: 'ComposeMail', name: 'SmartForward' },
  SmartReply: { ns: 'ComposeMail', name: 'SmartReply' },
  GetAttachment: undefined,
  FolderSync: { ns: 'FolderHierarchy', name: 'FolderSync' },
  FolderCreate: { ns: 'FolderHierarchy', name: 'FolderCreate' },
  FolderDelete: { ns: 'FolderHierarchy', name: 'FolderDelete' },
  FolderUpdate: { ns: 'FolderHierarchy', name: 'FolderUpdate' },
  MoveItems: undefined,
  GetItemEstimate: { ns: 'GetItemEstimate', name: 'GetItemEstimate' },
  MeetingResponse: undefined,
  Search: { ns: 'Search', name: 'Search' },
  Settings: { ns: 'Settings', name: 'Settings' },
  Ping: { ns: 'Ping', name: 'Ping' },
  ItemOperations: { ns: 'ItemOperations', name: 'ItemOperations' },
  Provision: { ns: 'Provision', name: 'Provision' },
  ResolveRecipients: { ns: 'ResolveRecipients', name: 'ResolveRecipients' },
  ValidateCert: { ns: 'ValidateCert', name: 'ValidateCert' },
  Find: { ns: 'Find', name: 'Find' },
};
