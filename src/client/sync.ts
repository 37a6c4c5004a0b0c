// The sync commands from the phone's side: each helper builds the request a phone sends at the
// client's protocol version and reads the answer into plain values. Items stay ApplicationData
// elements; the model's codecs (src/model) turn them into items.

import type { ProtocolVersion } from '../http/query.ts';
import { isProtocolVersion, isVersionAtLeast } from '../http/query.ts';
import type { BodyPreference } from '../model/codec.ts';
import { child, childText, children, el, type Namespace, type WbxmlElement } from '../wbxml/index.ts';
import type { EasClient, EasResponse } from './client.ts';

/** Every helper's answer carries the exchange itself, for what the fields leave out. */
interface Answered {
  response: EasResponse;
}

// --- Folders ---------------------------------------------------------------------------------------

export interface FolderEntry {
  kind: 'add' | 'update' | 'delete';
  serverId: string;
  parentId?: string;
  name?: string;
  type?: number;
}

export interface FolderSyncResult extends Answered {
  status: number | undefined;
  syncKey: string | undefined;
  changes: FolderEntry[];
}

export async function folderSync(client: EasClient, syncKey = '0'): Promise<FolderSyncResult> {
  const response = await client.send('FolderSync', hierarchy('FolderSync', [hierarchy('SyncKey', syncKey)]));
  const body = response.body;
  const changes = body && child(body, 'Changes', 'FolderHierarchy');
  return {
    response,
    status: numberOf(body, 'Status', 'FolderHierarchy'),
    syncKey: body && childText(body, 'SyncKey', 'FolderHierarchy'),
    changes: (changes?.children ?? []).filter((entry) => entry.name !== 'Count').map(readFolderEntry),
  };
}

function readFolderEntry(entry: WbxmlElement): FolderEntry {
  const type = numberOf(entry, 'Type', 'FolderHierarchy');
  return {
    kind: entry.name === 'Add' ? 'add' : entry.name === 'Update' ? 'update' : 'delete',
    serverId: childText(entry, 'ServerId', 'FolderHierarchy') ?? '',
    ...optional('parentId', childText(entry, 'ParentId', 'FolderHierarchy')),
    ...optional('name', childText(entry, 'DisplayName', 'FolderHierarchy')),
    ...optional('type', type),
  };
}

export interface FolderCommandResult extends Answered {
  status: number | undefined;
  syncKey: string | undefined;
  /** FolderCreate: the new folder's ServerId. */
  serverId: string | undefined;
}

export async function folderCreate(
  client: EasClient,
  request: { syncKey: string; parentId: string; name: string; type: number },
): Promise<FolderCommandResult> {
  return folderCommand(client, 'FolderCreate', [
    hierarchy('SyncKey', request.syncKey),
    hierarchy('ParentId', request.parentId),
    hierarchy('DisplayName', request.name),
    hierarchy('Type', String(request.type)),
  ]);
}

export async function folderUpdate(
  client: EasClient,
  request: { syncKey: string; serverId: string; parentId: string; name: string },
): Promise<FolderCommandResult> {
  return folderCommand(client, 'FolderUpdate', [
    hierarchy('SyncKey', request.syncKey),
    hierarchy('ServerId', request.serverId),
    hierarchy('ParentId', request.parentId),
    hierarchy('DisplayName', request.name),
  ]);
}

export async function folderDelete(
  client: EasClient,
  request: { syncKey: string; serverId: string },
): Promise<FolderCommandResult> {
  return folderCommand(client, 'FolderDelete', [
    hierarchy('SyncKey', request.syncKey),
    hierarchy('ServerId', request.serverId),
  ]);
}

async function folderCommand(
  client: EasClient,
  command: 'FolderCreate' | 'FolderUpdate' | 'FolderDelete',
  content: WbxmlElement[],
): Promise<FolderCommandResult> {
  const response = await client.send(command, hierarchy(command, content));
  const body = response.body;
  return {
    response,
    status: numberOf(body, 'Status', 'FolderHierarchy'),
    syncKey: body && childText(body, 'SyncKey', 'FolderHierarchy'),
    serverId: body && childText(body, 'ServerId', 'FolderHierarchy'),
  };
}

function hierarchy(name: string, content?: string | WbxmlElement[]): WbxmlElement {
  return el('FolderHierarchy', name, content);
}

// --- Sync ------------------------------------------------------------------------------------------

export interface SyncOptions {
  filterType?: number;
  conflict?: number;
  bodyPreferences?: readonly BodyPreference[];
  /** 2.5 Truncation. */
  truncation?: number;
  mimeSupport?: number;
}

export type ClientSyncCommand =
  | { kind: 'add'; clientId: string; data: WbxmlElement[] }
  | { kind: 'change'; serverId: string; data: WbxmlElement[]; instanceId?: string }
  | { kind: 'delete'; serverId: string; instanceId?: string }
  | { kind: 'fetch'; serverId: string };

export interface SyncCollectionRequest {
  collectionId: string;
  syncKey: string;
  /** Sent in 2.5 requests, where a collection names its class. */
  className?: string;
  /** Elements named by Supported (12.0+), sent empty. */
  supported?: readonly { ns: Namespace; name: string }[];
  deletesAsMoves?: boolean;
  getChanges?: boolean;
  windowSize?: number;
  options?: SyncOptions;
  commands?: readonly ClientSyncCommand[];
}

export interface SyncRequestOptions {
  /** The request's own WindowSize (12.1+). */
  windowSize?: number;
  partial?: boolean;
}

export interface ServerSyncCommand {
  kind: 'add' | 'change' | 'delete' | 'soft-delete';
  serverId: string;
  applicationData?: WbxmlElement;
}

export interface SyncResponseEntry {
  kind: 'add' | 'change' | 'delete' | 'fetch';
  status: number | undefined;
  clientId?: string;
  serverId?: string;
  applicationData?: WbxmlElement;
}

export interface SyncCollectionResult {
  collectionId: string;
  syncKey: string | undefined;
  status: number | undefined;
  className: string | undefined;
  moreAvailable: boolean;
  commands: ServerSyncCommand[];
  responses: SyncResponseEntry[];
}

export interface SyncResult extends Answered {
  /** The Sync's own Status: present when the whole request failed. */
  status: number | undefined;
  collections: SyncCollectionResult[];
}

/** A Sync of these collections; none: an empty request (12.1+), which repeats the last full one. */
export async function sync(
  client: EasClient,
  collections: readonly SyncCollectionRequest[],
  options: SyncRequestOptions = {},
): Promise<SyncResult> {
  const version = versionOf(client);
  const content: WbxmlElement[] = [];
  if (collections.length > 0) {
    content.push(
      el(
        'AirSync',
        'Collections',
        collections.map((collection) => collectionElement(collection, version)),
      ),
    );
  }
  if (options.windowSize !== undefined) content.push(el('AirSync', 'WindowSize', String(options.windowSize)));
  if (options.partial === true) content.push(el('AirSync', 'Partial'));
  const tree = content.length === 0 ? undefined : el('AirSync', 'Sync', content);
  const response = await client.send('Sync', tree);
  const body = response.body;
  const collectionsElement = body && child(body, 'Collections', 'AirSync');
  return {
    response,
    status: numberOf(body, 'Status', 'AirSync'),
    collections: collectionsElement
      ? children(collectionsElement, 'Collection', 'AirSync').map(readCollection)
      : [],
  };
}

function collectionElement(request: SyncCollectionRequest, version: ProtocolVersion): WbxmlElement {
  const content: WbxmlElement[] = [];
  if (request.className !== undefined) content.push(el('AirSync', 'Class', request.className));
  content.push(
    el('AirSync', 'SyncKey', request.syncKey),
    el('AirSync', 'CollectionId', request.collectionId),
  );
  if (request.supported !== undefined) {
    content.push(
      el(
        'AirSync',
        'Supported',
        request.supported.map((property) => el(property.ns, property.name)),
      ),
    );
  }
  if (request.deletesAsMoves !== undefined) {
    content.push(el('AirSync', 'DeletesAsMoves', request.deletesAsMoves ? '1' : '0'));
  }
  if (request.getChanges !== undefined)
    content.push(el('AirSync', 'GetChanges', request.getChanges ? '1' : '0'));
  if (request.windowSize !== undefined) content.push(el('AirSync', 'WindowSize', String(request.windowSize)));
  if (request.options !== undefined) content.push(optionsElement(request.options, version));
  if (request.commands !== undefined && request.commands.length > 0) {
    content.push(el('AirSync', 'Commands', request.commands.map(commandElement)));
  }
  return el('AirSync', 'Collection', content);
}

function optionsElement(options: SyncOptions, version: ProtocolVersion): WbxmlElement {
  const content: WbxmlElement[] = [];
  if (options.filterType !== undefined) content.push(el('AirSync', 'FilterType', String(options.filterType)));
  if (options.truncation !== undefined) content.push(el('AirSync', 'Truncation', String(options.truncation)));
  if (options.conflict !== undefined) content.push(el('AirSync', 'Conflict', String(options.conflict)));
  if (options.mimeSupport !== undefined)
    content.push(el('AirSync', 'MIMESupport', String(options.mimeSupport)));
  if (isVersionAtLeast(version, '12.0'))
    content.push(...(options.bodyPreferences ?? []).map(bodyPreferenceElement));
  return el('AirSync', 'Options', content);
}

export function bodyPreferenceElement(preference: BodyPreference): WbxmlElement {
  const content = [el('AirSyncBase', 'Type', String(preference.type))];
  if (preference.truncationSize !== undefined) {
    content.push(el('AirSyncBase', 'TruncationSize', String(preference.truncationSize)));
  }
  if (preference.allOrNone !== undefined)
    content.push(el('AirSyncBase', 'AllOrNone', preference.allOrNone ? '1' : '0'));
  if (preference.preview !== undefined)
    content.push(el('AirSyncBase', 'Preview', String(preference.preview)));
  return el('AirSyncBase', 'BodyPreference', content);
}

function commandElement(command: ClientSyncCommand): WbxmlElement {
  const instance = 'instanceId' in command && command.instanceId !== undefined;
  switch (command.kind) {
    case 'add':
      return el('AirSync', 'Add', [
        el('AirSync', 'ClientId', command.clientId),
        el('AirSync', 'ApplicationData', command.data),
      ]);
    case 'change':
      return el('AirSync', 'Change', [
        el('AirSync', 'ServerId', command.serverId),
        ...(instance ? [el('AirSyncBase', 'InstanceId', command.instanceId)] : []),
        el('AirSync', 'ApplicationData', command.data),
      ]);
    case 'delete':
      return el('AirSync', 'Delete', [
        el('AirSync', 'ServerId', command.serverId),
        ...(instance ? [el('AirSyncBase', 'InstanceId', command.instanceId)] : []),
      ]);
    case 'fetch':
      return el('AirSync', 'Fetch', [el('AirSync', 'ServerId', command.serverId)]);
  }
}

const SERVER_COMMAND_KINDS: Record<string, ServerSyncCommand['kind']> = {
  Add: 'add',
  Change: 'change',
  Delete: 'delete',
  SoftDelete: 'soft-delete',
};

function readCollection(element: WbxmlElement): SyncCollectionResult {
  const commands = child(element, 'Commands', 'AirSync');
  const responses = child(element, 'Responses', 'AirSync');
  return {
    collectionId: childText(element, 'CollectionId', 'AirSync') ?? '',
    syncKey: childText(element, 'SyncKey', 'AirSync'),
    status: numberOf(element, 'Status', 'AirSync'),
    className: childText(element, 'Class', 'AirSync'),
    moreAvailable: child(element, 'MoreAvailable', 'AirSync') !== undefined,
    commands: (commands?.children ?? []).map((command) => ({
      kind: SERVER_COMMAND_KINDS[command.name] ?? 'change',
      serverId: childText(command, 'ServerId', 'AirSync') ?? '',
      ...optional('applicationData', child(command, 'ApplicationData', 'AirSync')),
    })),
    responses: (responses?.children ?? []).map((entry) => ({
      kind: entry.name.toLowerCase() as SyncResponseEntry['kind'],
      status: numberOf(entry, 'Status', 'AirSync'),
      ...optional('clientId', childText(entry, 'ClientId', 'AirSync')),
      ...optional('serverId', childText(entry, 'ServerId', 'AirSync')),
      ...optional('applicationData', child(entry, 'ApplicationData', 'AirSync')),
    })),
  };
}

// --- GetItemEstimate -------------------------------------------------------------------------------

export interface EstimateRequest {
  collectionId: string;
  syncKey: string;
  /** Sent in 2.5 and 12.0, where a collection names its class. */
  className?: string;
  filterType?: number;
}

export interface EstimateResult extends Answered {
  estimates: { status: number | undefined; collectionId: string | undefined; estimate: number | undefined }[];
}

/** GetItemEstimate in the shape of the client's version (2.5/12.0, 12.1, 14.0+). */
export async function getItemEstimate(
  client: EasClient,
  collections: readonly EstimateRequest[],
): Promise<EstimateResult> {
  const version = versionOf(client);
  const estimate = (name: string, content?: string | WbxmlElement[]) => el('GetItemEstimate', name, content);
  const collectionElement = (request: EstimateRequest): WbxmlElement => {
    const filter = request.filterType === undefined ? undefined : String(request.filterType);
    if (!isVersionAtLeast(version, '12.1')) {
      return estimate('Collection', [
        ...(request.className === undefined ? [] : [estimate('Class', request.className)]),
        estimate('CollectionId', request.collectionId),
        ...(filter === undefined ? [] : [el('AirSync', 'FilterType', filter)]),
        el('AirSync', 'SyncKey', request.syncKey),
      ]);
    }
    if (!isVersionAtLeast(version, '14.0')) {
      return estimate('Collection', [
        el('AirSync', 'SyncKey', request.syncKey),
        estimate('CollectionId', request.collectionId),
        ...(filter === undefined ? [] : [el('AirSync', 'FilterType', filter)]),
      ]);
    }
    return estimate('Collection', [
      el('AirSync', 'SyncKey', request.syncKey),
      estimate('CollectionId', request.collectionId),
      ...(filter === undefined ? [] : [el('AirSync', 'Options', [el('AirSync', 'FilterType', filter)])]),
    ]);
  };
  const response = await client.send(
    'GetItemEstimate',
    estimate('GetItemEstimate', [estimate('Collections', collections.map(collectionElement))]),
  );
  return {
    response,
    estimates: (response.body ? children(response.body, 'Response', 'GetItemEstimate') : []).map((entry) => {
      const collection = child(entry, 'Collection', 'GetItemEstimate');
      return {
        status: numberOf(entry, 'Status', 'GetItemEstimate'),
        collectionId: collection && childText(collection, 'CollectionId', 'GetItemEstimate'),
        estimate: numberOf(collection, 'Estimate', 'GetItemEstimate'),
      };
    }),
  };
}

// --- MoveItems -------------------------------------------------------------------------------------

export interface MoveRequest {
  serverId: string;
  from: string;
  to: string;
}

export interface MoveItemsResult extends Answered {
  moves: { serverId: string | undefined; status: number | undefined; newServerId: string | undefined }[];
}

export async function moveItems(client: EasClient, moves: readonly MoveRequest[]): Promise<MoveItemsResult> {
  const tree = el(
    'Move',
    'MoveItems',
    moves.map((move) =>
      el('Move', 'Move', [
        el('Move', 'SrcMsgId', move.serverId),
        el('Move', 'SrcFldId', move.from),
        el('Move', 'DstFldId', move.to),
      ]),
    ),
  );
  const response = await client.send('MoveItems', tree);
  return {
    response,
    moves: (response.body ? children(response.body, 'Response', 'Move') : []).map((entry) => ({
      serverId: childText(entry, 'SrcMsgId', 'Move'),
      status: numberOf(entry, 'Status', 'Move'),
      newServerId: childText(entry, 'DstMsgId', 'Move'),
    })),
  };
}

// --- ItemOperations Fetch --------------------------------------------------------------------------

export interface ItemFetchResult extends Answered {
  /** The ItemOperations Status. */
  status: number | undefined;
  /** The Fetch's own Status. */
  fetchStatus: number | undefined;
  className: string | undefined;
  /** The item, as the Properties element. */
  properties: WbxmlElement | undefined;
}

export async function itemOperationsFetch(
  client: EasClient,
  request: {
    collectionId: string;
    serverId: string;
    store?: string;
    bodyPreferences?: readonly BodyPreference[];
  },
): Promise<ItemFetchResult> {
  const fetch = el('ItemOperations', 'Fetch', [
    el('ItemOperations', 'Store', request.store ?? 'Mailbox'),
    el('AirSync', 'CollectionId', request.collectionId),
    el('AirSync', 'ServerId', request.serverId),
    ...(request.bodyPreferences === undefined
      ? []
      : [el('ItemOperations', 'Options', request.bodyPreferences.map(bodyPreferenceElement))]),
  ]);
  const response = await client.send('ItemOperations', el('ItemOperations', 'ItemOperations', [fetch]));
  const body = response.body;
  const answered = body && child(body, 'Response', 'ItemOperations');
  const fetched = answered && child(answered, 'Fetch', 'ItemOperations');
  return {
    response,
    status: numberOf(body, 'Status', 'ItemOperations'),
    fetchStatus: numberOf(fetched, 'Status', 'ItemOperations'),
    className: fetched && childText(fetched, 'Class', 'AirSync'),
    properties: fetched && child(fetched, 'Properties', 'ItemOperations'),
  };
}

// --- Helpers ---------------------------------------------------------------------------------------

function versionOf(client: EasClient): ProtocolVersion {
  const version = client.protocolVersion;
  if (!isProtocolVersion(version)) throw new RangeError(`unknown protocol version ${version}`);
  return version;
}

function numberOf(parent: WbxmlElement | undefined, name: string, ns: Namespace): number | undefined {
  const text = parent && childText(parent, name, ns);
  return text === undefined ? undefined : Number(text);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
