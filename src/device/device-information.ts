// Settings DeviceInformation (MS-ASCMD 2.2.3.45): what a phone says about itself — model, IMEI,
// operating system, phone number … It arrives in a Settings command, and at 14.1 and later also in
// the first Provision request; both read it here and store it with DeviceStore.saveDeviceInformation.

import { child, el, type WbxmlElement } from '../wbxml/tree.ts';

export interface DeviceInformation {
  model?: string;
  imei?: string;
  friendlyName?: string;
  os?: string;
  osLanguage?: string;
  phoneNumber?: string;
  /** The user agent the device reports of itself, which may differ from the HTTP User-Agent. */
  userAgent?: string;
  mobileOperator?: string;
  enableOutboundSms?: boolean;
}

type TextField = Exclude<keyof DeviceInformation, 'enableOutboundSms'>;

/** Each text field and its element in the Settings namespace. */
const TEXT_ELEMENTS: readonly (readonly [TextField, string])[] = [
  ['model', 'Model'],
  ['imei', 'IMEI'],
  ['friendlyName', 'FriendlyName'],
  ['os', 'OS'],
  ['osLanguage', 'OSLanguage'],
  ['phoneNumber', 'PhoneNumber'],
  ['userAgent', 'UserAgent'],
  ['mobileOperator', 'MobileOperator'],
];

/** MS-ASCMD allows MobileOperator 1024 characters; no value is longer in practice. */
export const DEVICE_INFORMATION_MAX_LENGTH = 1024;

/**
 * Reads a settings:DeviceInformation element (`<DeviceInformation><Set>…</Set></DeviceInformation>`).
 * Undefined when it is unacceptable: no Set, a value that is not text or is longer than
 * DEVICE_INFORMATION_MAX_LENGTH, or EnableOutboundSMS other than 0 or 1. Elements it does not know
 * are for the caller to refuse or skip.
 */
export function parseDeviceInformation(deviceInformation: WbxmlElement): DeviceInformation | undefined {
  const set = child(deviceInformation, 'Set', 'Settings');
  if (set === undefined) return undefined;
  const information: DeviceInformation = {};
  for (const [field, name] of TEXT_ELEMENTS) {
    const value = child(set, name, 'Settings');
    if (value === undefined) continue;
    if (value.children.length > 0 || value.opaque !== undefined) return undefined;
    const text = value.text ?? '';
    if (text.length > DEVICE_INFORMATION_MAX_LENGTH) return undefined;
    information[field] = text;
  }
  const outboundSms = child(set, 'EnableOutboundSMS', 'Settings');
  if (outboundSms !== undefined) {
    if (outboundSms.text !== '0' && outboundSms.text !== '1') return undefined;
    information.enableOutboundSms = outboundSms.text === '1';
  }
  return information;
}

/** The settings:DeviceInformation element a client sends. */
export function deviceInformationElement(information: DeviceInformation): WbxmlElement {
  const values = TEXT_ELEMENTS.flatMap(([field, name]) => {
    const value = information[field];
    return value === undefined ? [] : [el('Settings', name, value)];
  });
  if (information.enableOutboundSms !== undefined) {
    values.push(el('Settings', 'EnableOutboundSMS', information.enableOutboundSms ? '1' : '0'));
  }
  return el('Settings', 'DeviceInformation', [el('Settings', 'Set', values)]);
}
