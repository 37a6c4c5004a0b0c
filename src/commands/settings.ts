// Settings (MS-ASCMD 2.2.1.18): a batch of Get and Set operations on named properties — Out of
// Office, the device's recovery password, what the device says about itself, the user's addresses,
// rights management templates. Properties run in request order and are answered in that order, each
// with its own Status first.
//
// The whole request is read before anything runs: one that does not follow the command's schema
// (unknown or misplaced elements, a required one missing, an element the protocol version lacks) is
// answered with Settings Status 2 alone and changes nothing. A well-formed property whose values are
// unacceptable gets its own failure Status, and the others still run.

import { parseDeviceInformation } from '../device/device-information.ts';
import { DeviceStore } from '../device/devices.ts';
import {
  changeOofSettings,
  OOF_AUDIENCES,
  OOF_BODY_TYPES,
  OOF_STATES,
  readOofSettings,
  replyText,
  type OofAudience,
  type OofAudienceSettings,
  type OofBodyType,
  type OofChange,
  type OofSettings,
} from '../device/oof.ts';
import { MAX_RECOVERY_PASSWORD_LENGTH, setRecoveryPassword } from '../device/recovery-password.ts';
import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { mailIdentityOf } from '../state/mail-identity.ts';
import { child, el, type WbxmlElement } from '../wbxml/index.ts';
import type { CommandContext, CommandHandler } from './index.ts';

/** Status (MS-ASCMD 2.2.3.177.15), and the common status 168 (2.2.4) for rights management. */
const Status = {
  Success: 1,
  ProtocolError: 2,
  ServerUnavailable: 4,
  InvalidArguments: 5,
  ConflictingArguments: 6,
  DeniedByPolicy: 7,
  IrmFeatureDisabled: 168,
} as const;
type Status = (typeof Status)[keyof typeof Status];

/** The request does not follow the Settings schema: Settings Status 2, nothing runs. */
class MalformedRequest extends Error {}

/** What a property answers: its Status, then its Get with what was read. */
interface PropertyResponse {
  status: Status;
  get?: WbxmlElement;
}

/** One property of the request, read and checked, ready to run. */
interface Operation {
  property: string;
  run(context: CommandContext): Promise<PropertyResponse>;
}

export const settings: CommandHandler = async (context, body) => {
  let operations: Operation[];
  try {
    operations = readRequest(body, context.request.protocolVersion);
  } catch (error) {
    if (!(error instanceof MalformedRequest)) throw error;
    return answer([], Status.ProtocolError, error.message);
  }

  const properties: WbxmlElement[] = [];
  for (const { property, run } of operations) {
    let response: PropertyResponse;
    try {
      response = await run(context);
    } catch (error) {
      // The other properties may still succeed; the phone retries this one later.
      context.log.error({ err: error }, `Settings ${property} failed`);
      response = { status: Status.ServerUnavailable };
    }
    const content = [settingsElement('Status', String(response.status))];
    if (response.get !== undefined) content.push(response.get);
    properties.push(settingsElement(property, content));
  }
  return answer(properties, Status.Success);
};

function answer(properties: WbxmlElement[], status: Status, reason?: string) {
  const tree = settingsElement('Settings', [settingsElement('Status', String(status)), ...properties]);
  return { kind: 'wbxml' as const, tree, protocolStatus: status, reason };
}

// --- Reading the request ---------------------------------------------------------------------------

type PropertyReader = (element: WbxmlElement, version: ProtocolVersion) => Operation['run'];

const PROPERTIES: Readonly<Record<string, PropertyReader>> = {
  Oof: readOof,
  DevicePassword: readDevicePassword,
  DeviceInformation: readDeviceInformation,
  UserInformation: readUserInformation,
  RightsManagementInformation: readRightsManagementInformation,
};

function readRequest(body: WbxmlElement | undefined, version: ProtocolVersion): Operation[] {
  if (body === undefined) throw new MalformedRequest('Settings request has no body');
  if (body.ns !== 'Settings' || body.name !== 'Settings') {
    throw new MalformedRequest(`Settings request has a ${body.ns}:${body.name} root`);
  }
  if (body.children.length === 0) throw new MalformedRequest('Settings request names no property');
  // The properties may come in any order and more than once: each is an operation of its own.
  expectChildren(body, Object.keys(PROPERTIES), Object.keys(PROPERTIES));
  return body.children.map((element) => ({
    property: element.name,
    run: (PROPERTIES[element.name] as PropertyReader)(element, version),
  }));
}

/**
 * Checks that `parent` has only Settings children named in `allowed`, and each at most once unless
 * it is `repeatable`.
 */
function expectChildren(
  parent: WbxmlElement,
  allowed: readonly string[],
  repeatable: readonly string[] = [],
) {
  const seen = new Set<string>();
  for (const { ns, name } of parent.children) {
    if (ns !== 'Settings' || !allowed.includes(name)) {
      throw new MalformedRequest(`${parent.name} may not contain ${ns}:${name}`);
    }
    if (seen.has(name) && !repeatable.includes(name)) {
      throw new MalformedRequest(`${parent.name} contains ${name} more than once`);
    }
    seen.add(name);
  }
}

/** The one Settings child named `name`, which the schema requires. */
function required(parent: WbxmlElement, name: string): WbxmlElement {
  const element = child(parent, name, 'Settings');
  if (element === undefined) throw new MalformedRequest(`${parent.name} has no ${name}`);
  return element;
}

/** The text of an element that may hold nothing else; '' when it is empty. */
function leafText(element: WbxmlElement): string {
  if (element.children.length > 0 || element.opaque !== undefined) {
    throw new MalformedRequest(`${element.name} may hold only text`);
  }
  return element.text ?? '';
}

/** An element that carries nothing, such as `<Get/>` or `<AppliesToInternal/>`. */
function expectEmpty(element: WbxmlElement): void {
  if (element.children.length > 0) throw new MalformedRequest(`${element.name} must be empty`);
}

function settingsElement(name: string, content?: string | WbxmlElement[]): WbxmlElement {
  return el('Settings', name, content);
}

const failure = (status: Status) => async (): Promise<PropertyResponse> => ({ status });

// --- Oof --------------------------------------------------------------------------------------------

/** BodyType values are matched in any letter case (clients send "TEXT", "Text", "HTML"). */
function bodyTypeOf(text: string): OofBodyType | undefined {
  return OOF_BODY_TYPES.find((bodyType) => bodyType === text.toLowerCase());
}

const AUDIENCE_ELEMENTS: Readonly<Record<OofAudience, string>> = {
  internal: 'AppliesToInternal',
  externalKnown: 'AppliesToExternalKnown',
  externalUnknown: 'AppliesToExternalUnknown',
};

function readOof(oof: WbxmlElement): Operation['run'] {
  expectChildren(oof, ['Get', 'Set']);
  const get = child(oof, 'Get', 'Settings');
  const set = child(oof, 'Set', 'Settings');
  if (get !== undefined && set !== undefined) throw new MalformedRequest('Oof has both Get and Set');
  if (get !== undefined) return readOofGet(get);
  if (set !== undefined) return readOofSet(set);
  throw new MalformedRequest('Oof has neither Get nor Set');
}

function readOofGet(get: WbxmlElement): Operation['run'] {
  expectChildren(get, ['BodyType']);
  const requested = leafText(required(get, 'BodyType'));
  const bodyType = bodyTypeOf(requested);
  if (bodyType === undefined) return failure(Status.InvalidArguments);
  return async ({ db, user }) => {
    const settings = await readOofSettings(db, user.id);
    // The BodyType is answered as the client spelled it: clients compare it with what they sent.
    return { status: Status.Success, get: oofGetResponse(settings, bodyType, requested) };
  };
}

function oofGetResponse(settings: OofSettings, bodyType: OofBodyType, bodyTypeName: string): WbxmlElement {
  const content = [settingsElement('OofState', String(settings.state))];
  if (settings.startTime !== null && settings.endTime !== null) {
    content.push(
      settingsElement('StartTime', settings.startTime),
      settingsElement('EndTime', settings.endTime),
    );
  }
  // One OofMessage per audience, even one that is disabled and has no reply (MS-ASCMD 2.2.3.122).
  for (const audience of OOF_AUDIENCES) {
    const { enabled, reply } = settings.audiences[audience];
    const message = [
      settingsElement(AUDIENCE_ELEMENTS[audience]),
      settingsElement('Enabled', enabled ? '1' : '0'),
    ];
    if (reply !== null) {
      message.push(
        settingsElement('ReplyMessage', replyText(reply, bodyType)),
        settingsElement('BodyType', bodyTypeName),
      );
    }
    content.push(settingsElement('OofMessage', message));
  }
  return settingsElement('Get', content);
}

function readOofSet(set: WbxmlElement): Operation['run'] {
  expectChildren(set, ['OofState', 'StartTime', 'EndTime', 'OofMessage'], ['OofMessage']);
  for (const element of set.children) {
    if (element.name === 'OofMessage') expectOofMessage(element);
    else leafText(element);
  }
  const change = oofChangeOf(set);
  if (typeof change === 'number') return failure(change);
  return async ({ db, user }) => {
    await changeOofSettings(db, user.id, change);
    return { status: Status.Success };
  };
}

function optionalText(parent: WbxmlElement, name: string): string | undefined {
  const element = child(parent, name, 'Settings');
  return element === undefined ? undefined : leafText(element);
}

/** The change a well-formed Oof Set asks for, or the Status that refuses it. */
function oofChangeOf(set: WbxmlElement): OofChange | Status {
  const change: OofChange = { audiences: {} };

  const stateText = optionalText(set, 'OofState');
  if (stateText !== undefined) {
    const state = OOF_STATES.find((value) => String(value) === stateText);
    if (state === undefined) return Status.InvalidArguments;
    change.state = state;
  }

  const start = optionalText(set, 'StartTime');
  const end = optionalText(set, 'EndTime');
  // MS-ASCMD 2.2.3.176.2: a StartTime without an EndTime, or the reverse, is answered with Status 2.
  if ((start === undefined) !== (end === undefined)) return Status.ProtocolError;
  if (start !== undefined && end !== undefined) {
    const startTime = dateTimeOf(start);
    const endTime = dateTimeOf(end);
    if (startTime === undefined || endTime === undefined) return Status.InvalidArguments;
    if (endTime <= startTime) return Status.ConflictingArguments;
    change.period = { startTime, endTime };
  }

  for (const message of set.children.filter((element) => element.name === 'OofMessage')) {
    const audience = audienceOf(message);
    if (audience === undefined) return Status.ProtocolError;
    if (change.audiences[audience] !== undefined) return Status.ConflictingArguments;
    const settings = audienceSettingsOf(message);
    if (typeof settings === 'number') return settings;
    change.audiences[audience] = settings;
  }
  // Exchange keeps one reply for all external senders and refuses two different ones; clients
  // were written against that, so airsync keeps the two audiences' replies the same too.
  const known = change.audiences.externalKnown?.reply;
  const unknown = change.audiences.externalUnknown?.reply;
  if (known && unknown && (known.text !== unknown.text || known.bodyType !== unknown.bodyType)) {
    return Status.ConflictingArguments;
  }
  return change;
}

function expectOofMessage(message: WbxmlElement): void {
  const markers = Object.values(AUDIENCE_ELEMENTS);
  expectChildren(message, [...markers, 'Enabled', 'ReplyMessage', 'BodyType']);
  for (const element of message.children) {
    if (markers.includes(element.name)) expectEmpty(element);
    else leafText(element);
  }
}

/** The one audience an OofMessage names; undefined when it names none or several. */
function audienceOf(message: WbxmlElement): OofAudience | undefined {
  const named = OOF_AUDIENCES.filter((audience) => child(message, AUDIENCE_ELEMENTS[audience], 'Settings'));
  return named.length === 1 ? named[0] : undefined;
}

/** An OofMessage replaces its audience's settings: what it leaves out is off, or empty. */
function audienceSettingsOf(message: WbxmlElement): OofAudienceSettings | Status {
  const enabled = optionalText(message, 'Enabled') ?? '0';
  if (enabled !== '0' && enabled !== '1') return Status.InvalidArguments;
  const text = optionalText(message, 'ReplyMessage');
  const bodyTypeText = optionalText(message, 'BodyType');
  const bodyType = bodyTypeText === undefined ? undefined : bodyTypeOf(bodyTypeText);
  if (bodyTypeText !== undefined && bodyType === undefined) return Status.InvalidArguments;
  // MS-ASCMD 2.2.3.17: a ReplyMessage needs its BodyType.
  if (text !== undefined && bodyType === undefined) return Status.ProtocolError;
  const reply = text === undefined || text === '' || bodyType === undefined ? null : { text, bodyType };
  return { enabled: enabled === '1', reply };
}

/** An EAS dateTime (`2007-05-08T10:00:00.000Z`) as ISO-8601 UTC; undefined when it is none. */
function dateTimeOf(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(text)) return undefined;
  const time = new Date(text);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

// --- DevicePassword ---------------------------------------------------------------------------------

function readDevicePassword(devicePassword: WbxmlElement): Operation['run'] {
  expectChildren(devicePassword, ['Set']);
  const set = required(devicePassword, 'Set');
  expectChildren(set, ['Password']);
  const password = leafText(required(set, 'Password'));
  if ([...password].length > MAX_RECOVERY_PASSWORD_LENGTH) return failure(Status.InvalidArguments);
  return async ({ db, config, device }) => {
    if (device.policy.settings?.PasswordRecoveryEnabled !== true) return { status: Status.DeniedByPolicy };
    // An empty Password clears the one stored (MS-ASCMD 2.2.3.132.3).
    await setRecoveryPassword(db, config, device.accountId, password === '' ? null : password);
    return { status: Status.Success };
  };
}

// --- DeviceInformation ------------------------------------------------------------------------------

/** The children of DeviceInformation's Set, and the first protocol version of each (MS-ASCMD 2.2.3.167). */
const DEVICE_INFORMATION_ELEMENTS: Readonly<Record<string, ProtocolVersion>> = {
  Model: '12.0',
  IMEI: '12.0',
  FriendlyName: '12.0',
  OS: '12.0',
  OSLanguage: '12.0',
  PhoneNumber: '12.0',
  UserAgent: '12.0',
  EnableOutboundSMS: '14.0',
  MobileOperator: '14.0',
};

function readDeviceInformation(deviceInformation: WbxmlElement, version: ProtocolVersion): Operation['run'] {
  expectChildren(deviceInformation, ['Set']);
  const set = required(deviceInformation, 'Set');
  const defined = Object.keys(DEVICE_INFORMATION_ELEMENTS).filter((name) =>
    isVersionAtLeast(version, DEVICE_INFORMATION_ELEMENTS[name] as ProtocolVersion),
  );
  expectChildren(set, defined);
  set.children.forEach(leafText);
  // MS-ASCMD 2.2.3.167: a Set may leave out any value, but must carry at least one.
  if (set.children.length === 0) return failure(Status.ProtocolError);
  const information = parseDeviceInformation(deviceInformation);
  if (information === undefined) return failure(Status.InvalidArguments);
  return async ({ db, device }) => {
    if (!(await new DeviceStore(db).saveDeviceInformation(device.deviceId, information))) {
      throw new Error(`device ${device.deviceId} was removed while its request ran`);
    }
    return { status: Status.Success };
  };
}

// --- UserInformation --------------------------------------------------------------------------------

function readUserInformation(userInformation: WbxmlElement, version: ProtocolVersion): Operation['run'] {
  expectChildren(userInformation, ['Get']);
  expectEmpty(required(userInformation, 'Get'));
  return async ({ db, user, config, publicHost }) => {
    const { address, displayName } = await mailIdentityOf(db, user, config.mailDomain ?? publicHost);
    const addresses = settingsElement('EmailAddresses', [settingsElement('SMTPAddress', address)]);
    if (!isVersionAtLeast(version, '14.1')) {
      return { status: Status.Success, get: settingsElement('Get', [addresses]) };
    }
    // From 14.1 the addresses are per account; airsync users have one account. AccountId, AccountName
    // and SendDisabled are left out, as Exchange does: without an AccountId the primary address sends.
    addresses.children.push(settingsElement('PrimarySmtpAddress', address));
    const account =
      displayName === null ? [addresses] : [settingsElement('UserDisplayName', displayName), addresses];
    const accounts = settingsElement('Accounts', [settingsElement('Account', account)]);
    return { status: Status.Success, get: settingsElement('Get', [accounts]) };
  };
}

// --- RightsManagementInformation --------------------------------------------------------------------

function readRightsManagementInformation(
  rightsManagementInformation: WbxmlElement,
  version: ProtocolVersion,
): Operation['run'] {
  if (!isVersionAtLeast(version, '14.1')) {
    throw new MalformedRequest(`RightsManagementInformation is not defined at protocol version ${version}`);
  }
  expectChildren(rightsManagementInformation, ['Get']);
  expectEmpty(required(rightsManagementInformation, 'Get'));
  // airsync has no rights management: the server says IRM is disabled (MS-ASRM 3.2.4.1), with the
  // empty Get the schema requires.
  return async () => ({ status: Status.IrmFeatureDisabled, get: settingsElement('Get') });
}
