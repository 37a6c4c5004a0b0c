// Provisioning from the phone's side (MS-ASPROV 3.1.5): download the policy, acknowledge it, keep
// the final key on the client for every later command — and when the server answers with a wipe
// directive instead, acknowledge the wipe. Returns what happened, for tests and `airsync probe`.

import { deviceInformationElement, type DeviceInformation } from '../device/device-information.ts';
import { policyTypeFor } from '../device/policy-documents.ts';
import { isProtocolVersion, isVersionAtLeast } from '../http/query.ts';
import { child, childText, el, type WbxmlElement } from '../wbxml/index.ts';
import type { EasClient, EasResponse } from './client.ts';

export interface ProvisionOptions {
  /**
   * What the phone answers to the policy: 1 applied (the default), 2 partly applied, 3 not applied,
   * 4 provisioned by a third party.
   */
  applied?: 1 | 2 | 3 | 4;
  /** Sent with the download from EAS 14.1, where MS-ASPROV requires it. */
  deviceInformation?: DeviceInformation;
  /**
   * What the phone answers to a wipe directive: 1 wiped (the default), 2 failed, or nothing at all
   * (`'leave-pending'`: a diagnostic client must never make the server believe a phone erased itself).
   */
  wipeStatus?: 1 | 2 | 'leave-pending';
}

export type ProvisionOutcome =
  /** The client now holds `policyKey`. `policy` is the EASProvisionDoc, or the WAP XML at 2.5. */
  | {
      kind: 'provisioned';
      policyKey: string;
      /** The key of the download phase, which the acknowledgement carried. */
      temporaryKey: string;
      policy: WbxmlElement | string | undefined;
    }
  /** The server has no policy for this client (Policy Status 2); it holds no key. */
  | { kind: 'no-policy' }
  /** The server asked for a wipe, and the client acknowledged it; it holds no key. */
  | { kind: 'wipe-acknowledged'; scope: 'device' | 'account'; response: EasResponse }
  /** The server asked for a wipe, which the client left unanswered (`wipeStatus: 'leave-pending'`). */
  | { kind: 'wipe-pending'; scope: 'device' | 'account' }
  /** The server refused; the client holds no key. */
  | { kind: 'refused'; phase: 'download' | 'acknowledgement'; response: EasResponse };

const DEFAULT_DEVICE_INFORMATION: DeviceInformation = { model: 'airsync-client' };

export async function provision(
  client: EasClient,
  options: ProvisionOptions = {},
): Promise<ProvisionOutcome> {
  const version = client.protocolVersion;
  if (!isProtocolVersion(version)) throw new RangeError(`cannot provision at protocol version ${version}`);
  const policyType = policyTypeFor(version);
  const policies = (content: WbxmlElement[]) =>
    el('Provision', 'Policies', [
      el('Provision', 'Policy', [el('Provision', 'PolicyType', policyType), ...content]),
    ]);

  // The download is sent without a policy key (MS-ASPROV 3.1.5.1.1).
  client.policyKey = undefined;
  const download: WbxmlElement[] = [];
  if (isVersionAtLeast(version, '14.1')) {
    download.push(deviceInformationElement(options.deviceInformation ?? DEFAULT_DEVICE_INFORMATION));
  }
  download.push(policies([]));
  const downloaded = await client.send('Provision', el('Provision', 'Provision', download));
  const offered = readResponse(downloaded);
  if (offered.wipe !== undefined) return acknowledgeWipe(client, offered.wipe, options.wipeStatus ?? 1);
  if (offered.status !== '1') return { kind: 'refused', phase: 'download', response: downloaded };
  if (offered.policyStatus === '2') return { kind: 'no-policy' };
  if (offered.policyStatus !== '1' || offered.policyKey === undefined) {
    return { kind: 'refused', phase: 'download', response: downloaded };
  }

  // The acknowledgement carries the temporary key, in the body and as the current key.
  client.policyKey = offered.policyKey;
  const acknowledgement = policies([
    el('Provision', 'PolicyKey', offered.policyKey),
    el('Provision', 'Status', String(options.applied ?? 1)),
  ]);
  const acknowledged = await client.send('Provision', el('Provision', 'Provision', [acknowledgement]));
  const final = readResponse(acknowledged);
  client.policyKey = undefined;
  if (final.wipe !== undefined) return acknowledgeWipe(client, final.wipe, options.wipeStatus ?? 1);
  if (final.status !== '1' || final.policyStatus !== '1' || final.policyKey === undefined) {
    return { kind: 'refused', phase: 'acknowledgement', response: acknowledged };
  }
  client.policyKey = final.policyKey;
  return {
    kind: 'provisioned',
    policyKey: final.policyKey,
    temporaryKey: offered.policyKey,
    policy: offered.data,
  };
}

async function acknowledgeWipe(
  client: EasClient,
  scope: 'device' | 'account',
  status: 1 | 2 | 'leave-pending',
): Promise<ProvisionOutcome> {
  client.policyKey = undefined;
  if (status === 'leave-pending') return { kind: 'wipe-pending', scope };
  const name = scope === 'device' ? 'RemoteWipe' : 'AccountOnlyRemoteWipe';
  const response = await client.send(
    'Provision',
    el('Provision', 'Provision', [el('Provision', name, [el('Provision', 'Status', String(status))])]),
  );
  return { kind: 'wipe-acknowledged', scope, response };
}

interface ProvisionResponse {
  status?: string;
  policyStatus?: string;
  policyKey?: string;
  data?: WbxmlElement | string;
  wipe?: 'device' | 'account';
}

function readResponse(response: EasResponse): ProvisionResponse {
  const root = response.body;
  if (response.status !== 200 || root === undefined || root.name !== 'Provision') return {};
  const policy = child(root, 'Policies', 'Provision')?.children.find((element) => element.name === 'Policy');
  const data = policy && child(policy, 'Data', 'Provision');
  return {
    status: childText(root, 'Status', 'Provision'),
    policyStatus: policy && childText(policy, 'Status', 'Provision'),
    policyKey: policy && childText(policy, 'PolicyKey', 'Provision'),
    data: data?.text ?? data?.children[0],
    wipe: child(root, 'RemoteWipe', 'Provision')
      ? 'device'
      : child(root, 'AccountOnlyRemoteWipe', 'Provision')
        ? 'account'
        : undefined,
  };
}
