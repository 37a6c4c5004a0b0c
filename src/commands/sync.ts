// Sync (MS-ASCMD 2.2.1.21): the phone's changes to some collections in, the server's changes out.
// This module reads the request and writes the answer; what happens to the state is the sync
// engine's (src/sync/engine.ts). Collections are processed in the order sent, and the request's
// WindowSize (12.1+) bounds the server changes of all of them together.
//
// An empty request (12.1+) repeats the collections of the last full one, with their current keys;
// a Partial one adds the collections it names to them. A collection the hierarchy no longer has
// fails the whole request with Status 12, before anything is applied, so the phone runs FolderSync.
//
// A request with Wait (12.1+, minutes) or HeartbeatInterval (14.0+, seconds) that finds nothing to
// send waits like a Ping (src/push/waiting.ts) and runs again when one of its folders changes; when
// the wait ends with nothing new, the answer is the empty Sync response (HTTP 200 without a body).
// The wait is cached per device account with the request: an empty or partial Sync waits as long.

import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import type { BodyPreference } from '../model/codec.ts';
import { decodeItem, encodeItem } from '../model/index.ts';
import { boundExceeded, heartbeatLimits, waitLimits, type Limits } from '../push/heartbeat.ts';
import { readPushParameters, savePushParameters } from '../push/parameters.ts';
import type { Waiter } from '../push/waiting.ts';
import {
  DEFAULT_OPTIONS,
  normalizeWindowSize,
  SyncEngine,
  SyncStatus,
  type ClientCommand,
  type ClientResponse,
  type CollectionOptions,
  type CollectionRequest,
  type CollectionResult,
  type CollectionState,
  type ServerCommand,
  type SyncSession,
  type WireCodec,
} from '../sync/engine.ts';
import { formatSyncKey } from '../sync/keys.ts';
import { child, childText, children, el, type WbxmlElement } from '../wbxml/index.ts';
import { syncSessionOf, type CommandContext, type CommandHandler, type CommandResult } from './index.ts';

/** Empty and partial Sync requests exist from 12.1. */
const CACHED_REQUEST_VERSION: ProtocolVersion = '12.1';
/** The request's own WindowSize, for all collections together, exists from 12.1. */
const GLOBAL_WINDOW_VERSION: ProtocolVersion = '12.1';
/** Supported exists from 12.0. */
const SUPPORTED_VERSION: ProtocolVersion = '12.0';
/** Wait (minutes) exists from 12.1, HeartbeatInterval (seconds) from 14.0. */
const WAIT_VERSION: ProtocolVersion = '12.1';
const HEARTBEAT_VERSION: ProtocolVersion = '14.0';
/** Status 14 (MS-ASCMD 2.2.3.177.17): Wait or HeartbeatInterval outside the limits, given in Limit. */
const INVALID_WAIT = 14;

/** The request does not follow the Sync schema: Status 4 for all of it. */
class MalformedRequest extends Error {}

interface SyncRequest {
  /** Absent: an empty request. */
  collections?: CollectionRequest[];
  partial: boolean;
  windowSize?: number;
  /** Minutes. */
  wait?: number;
  /** Seconds. */
  heartbeatInterval?: number;
}

export const sync: CommandHandler = async (context, body) => {
  const version = context.request.protocolVersion;
  let request: SyncRequest;
  try {
    request = readRequest(body, version);
  } catch (error) {
    if (!(error instanceof MalformedRequest)) throw error;
    return globalStatus(SyncStatus.ProtocolError, error.message);
  }
  const asked = askedHeartbeat(request, heartbeatLimits(context.config.push));
  if ('kind' in asked) return asked;
  const engine = context.sync;
  const session = syncSessionOf(context);
  const states = await engine.collections(session.account);

  let collections = request.collections ?? [];
  const cached = [...states.values()].filter((state) => state.collection?.requested === 1);
  if (request.collections === undefined || request.partial) {
    if (!isVersionAtLeast(version, CACHED_REQUEST_VERSION) && request.collections === undefined) {
      return globalStatus(
        SyncStatus.ProtocolError,
        `an empty Sync request needs protocol ${CACHED_REQUEST_VERSION}`,
      );
    }
    if (cached.length === 0 && collections.length === 0) {
      return globalStatus(
        SyncStatus.IncompleteRequest,
        'an empty or partial Sync, and no earlier request to repeat',
      );
    }
    const named = new Set(collections.map((collection) => collection.collectionId));
    collections = [
      ...collections,
      ...cached.filter((state) => !named.has(state.folder.server_id)).map(repeated),
    ];
  }
  const unknown = collections.find((collection) => {
    const state = states.get(collection.collectionId);
    return state === undefined || state.folder.deleted !== 0;
  });
  if (unknown !== undefined) {
    return globalStatus(
      SyncStatus.HierarchyChanged,
      `collection ${unknown.collectionId} is not in the folder hierarchy`,
    );
  }

  const codec: WireCodec = {
    decode: (pimClass, applicationData) => decodeItem(pimClass, applicationData, version),
    encode: (item, options) =>
      encodeItem(item, { version, bodyPreferences: options.bodyPreferences, truncation: options.truncation }),
  };
  const heartbeat = await cachedHeartbeat(context, request, asked.seconds);
  // Subscribed before the first run, so that a change made while it runs is not missed.
  const waiter =
    heartbeat === undefined
      ? undefined
      : context.push.wait({
          account: session.account,
          userId: session.owner.id,
          folders: collections.flatMap((collection) => {
            const folder = states.get(collection.collectionId)?.folder;
            return folder === undefined
              ? []
              : [{ userId: session.owner.id, backend: folder.backend, folderId: folder.folder_id }];
          }),
          heartbeatMs: heartbeat * 1000,
          connection: context.connection,
        });
  try {
    let results = await syncCollections(context, session, states, collections, request.windowSize, codec);
    if (request.collections !== undefined) {
      const named = new Set(request.collections.map((collection) => collection.collectionId));
      await engine.rememberRequested(session.account, states, named, request.partial);
    }
    if (waiter !== undefined && nothingToSend(collections, results)) {
      const rerun = collections.map((collection) => ({ ...collection, commands: [] }));
      const woken = await waitForChanges(waiter, async () => {
        const now = await engine.collections(session.account);
        const again = await syncCollections(context, session, now, rerun, request.windowSize, codec);
        return nothingToSend(rerun, again) ? undefined : again;
      });
      if (woken === undefined) return { kind: 'empty' };
      results = woken;
    }
    return syncAnswer(results, version);
  } finally {
    waiter?.end();
  }
};

function syncAnswer(results: readonly CollectionResult[], version: ProtocolVersion): CommandResult {
  const failure = results.find((result) => result.status !== SyncStatus.Success);
  const tree = el('AirSync', 'Sync', [
    el(
      'AirSync',
      'Collections',
      results.map((result) => collectionElement(result, version)),
    ),
  ]);
  return {
    kind: 'wbxml',
    tree,
    protocolStatus: failure?.status ?? SyncStatus.Success,
    reason: failure?.reason,
  };
}

/** Each collection in the order sent; the request's WindowSize (12.1+) bounds their server changes together. */
async function syncCollections(
  context: CommandContext,
  session: SyncSession,
  states: ReadonlyMap<string, CollectionState>,
  collections: readonly CollectionRequest[],
  windowSize: number | undefined,
  codec: WireCodec,
): Promise<CollectionResult[]> {
  // Without a WindowSize of its own, a request is bounded only by each collection's.
  let room =
    windowSize !== undefined && isVersionAtLeast(session.version, GLOBAL_WINDOW_VERSION)
      ? normalizeWindowSize(windowSize)
      : Number.POSITIVE_INFINITY;
  const results: CollectionResult[] = [];
  for (const collection of collections) {
    const result = await context.sync.sync(
      session,
      states.get(collection.collectionId),
      collection,
      room,
      codec,
    );
    room -= result.commands.length;
    results.push(result);
  }
  return results;
}

// --- Waiting -------------------------------------------------------------------------------------

/** The wait the request asks for, in seconds, or why it cannot have it (Status 4 or 14). */
function askedHeartbeat(request: SyncRequest, limits: Limits): { seconds?: number } | CommandResult {
  if (request.wait !== undefined && request.heartbeatInterval !== undefined) {
    return globalStatus(SyncStatus.ProtocolError, 'a Sync with both Wait and HeartbeatInterval');
  }
  if (request.heartbeatInterval !== undefined) {
    const bound = boundExceeded(request.heartbeatInterval, limits);
    if (bound !== undefined) {
      return invalidWait(
        bound,
        `HeartbeatInterval ${request.heartbeatInterval} is outside ${limits.min}–${limits.max} seconds`,
      );
    }
    return { seconds: request.heartbeatInterval };
  }
  if (request.wait !== undefined) {
    const minutes = waitLimits(limits);
    const bound = boundExceeded(request.wait, minutes);
    if (bound !== undefined) {
      return invalidWait(bound, `Wait ${request.wait} is outside ${minutes.min}–${minutes.max} minutes`);
    }
    return { seconds: request.wait * 60 };
  }
  return {};
}

function invalidWait(limit: number, reason: string): CommandResult {
  return {
    kind: 'wbxml',
    tree: el('AirSync', 'Sync', [
      el('AirSync', 'Status', String(INVALID_WAIT)),
      el('AirSync', 'Limit', String(limit)),
    ]),
    protocolStatus: INVALID_WAIT,
    reason,
  };
}

/**
 * How long this request waits, in seconds, undefined when it does not. A request that names its
 * wait is cached with it; an empty or partial one without repeats the cached wait; a full one
 * without clears it, as it replaces the cached request (MS-ASCMD 2.2.1.21.1).
 */
async function cachedHeartbeat(
  context: CommandContext,
  request: SyncRequest,
  asked: number | undefined,
): Promise<number | undefined> {
  // Below 12.1 a Sync neither waits nor repeats a cached request.
  if (!isVersionAtLeast(context.request.protocolVersion, WAIT_VERSION)) return undefined;
  const account = context.device.accountId;
  const cached = await readPushParameters(context.db, account);
  const repeats = request.collections === undefined || request.partial;
  if (asked === undefined && repeats) {
    if (cached.syncHeartbeat === null) return undefined;
    // The limits may have changed since the wait was accepted.
    const { min, max } = heartbeatLimits(context.config.push);
    return Math.min(max, Math.max(min, cached.syncHeartbeat));
  }
  await savePushParameters(context.db, account, cached, { syncHeartbeat: asked ?? null });
  return asked;
}

/** The answer would tell the phone nothing: every collection succeeded at its own key, with no commands and no responses. */
function nothingToSend(
  requests: readonly CollectionRequest[],
  results: readonly CollectionResult[],
): boolean {
  return results.every(
    (result, index) =>
      result.status === SyncStatus.Success &&
      result.syncKey === requests[index]?.syncKey &&
      result.commands.length === 0 &&
      result.responses.length === 0 &&
      !result.moreAvailable,
  );
}

/**
 * Waits until a folder of the request changes and `run` finds something to send (its results), or
 * the wait ends (undefined). A change `run` finds nothing for (one the device cannot see) waits on.
 */
async function waitForChanges(
  waiter: Waiter,
  run: () => Promise<CollectionResult[] | undefined>,
): Promise<CollectionResult[] | undefined> {
  for (;;) {
    const wake = await waiter.next();
    if (wake.kind === 'end') return undefined;
    const results = await run();
    if (results !== undefined) return results;
  }
}

/** A collection of the cached request, at its current key and with its remembered options. */
function repeated(state: CollectionState): CollectionRequest {
  const collection = state.collection as NonNullable<CollectionState['collection']>;
  return {
    collectionId: state.folder.server_id,
    syncKey: formatSyncKey({ epoch: collection.epoch, generation: collection.generation }),
    windowSize: collection.window_size ?? undefined,
    options: SyncEngine.optionsOf(collection),
    commands: [],
  };
}

function globalStatus(status: SyncStatus, reason: string): CommandResult {
  return {
    kind: 'wbxml',
    tree: el('AirSync', 'Sync', [el('AirSync', 'Status', String(status))]),
    protocolStatus: status,
    reason,
  };
}

// --- Reading the request ---------------------------------------------------------------------------

function readRequest(body: WbxmlElement | undefined, version: ProtocolVersion): SyncRequest {
  if (body === undefined) return { partial: false };
  if (body.ns !== 'AirSync' || body.name !== 'Sync')
    throw new MalformedRequest(`a ${body.ns}:${body.name} root`);
  const collectionsElement = child(body, 'Collections', 'AirSync');
  const partial = child(body, 'Partial', 'AirSync') !== undefined;
  const windowSize = optionalNumber(body, 'WindowSize');
  const collections =
    collectionsElement &&
    children(collectionsElement, 'Collection', 'AirSync').map((element) => readCollection(element, version));
  // Below the versions that define them, the elements are left alone.
  const wait = isVersionAtLeast(version, WAIT_VERSION) ? optionalInterval(body, 'Wait') : undefined;
  const heartbeatInterval = isVersionAtLeast(version, HEARTBEAT_VERSION)
    ? optionalInterval(body, 'HeartbeatInterval')
    : undefined;
  return { collections, partial, windowSize, wait, heartbeatInterval };
}

/** Wait or HeartbeatInterval: an integer, which may well be out of bounds (Status 14), even negative. */
function optionalInterval(parent: WbxmlElement, name: string): number | undefined {
  const text = childText(parent, name, 'AirSync');
  if (text === undefined) return undefined;
  if (!/^\s*-?\d{1,9}\s*$/.test(text)) throw new MalformedRequest(`${name} "${text}" is not a number`);
  return Number(text);
}

function readCollection(element: WbxmlElement, version: ProtocolVersion): CollectionRequest {
  const collectionId = childText(element, 'CollectionId', 'AirSync');
  const syncKey = childText(element, 'SyncKey', 'AirSync');
  if (collectionId === undefined || collectionId === '')
    throw new MalformedRequest('a Collection without CollectionId');
  if (syncKey === undefined || syncKey === '')
    throw new MalformedRequest(`collection ${collectionId} has no SyncKey`);
  const getChanges = child(element, 'GetChanges', 'AirSync');
  const supported = child(element, 'Supported', 'AirSync');
  const options = children(element, 'Options', 'AirSync');
  if (options.length > 1) throw new MalformedRequest(`collection ${collectionId} has more than one Options`);
  const commands = child(element, 'Commands', 'AirSync');
  return {
    collectionId,
    syncKey,
    className: childText(element, 'Class', 'AirSync'),
    getChanges: getChanges === undefined ? undefined : getChanges.text !== '0',
    windowSize: optionalNumber(element, 'WindowSize'),
    options: options[0] && readOptions(options[0], version),
    supported:
      supported !== undefined && isVersionAtLeast(version, SUPPORTED_VERSION)
        ? supported.children.map((property) => `${property.ns}:${property.name}`)
        : undefined,
    commands:
      commands === undefined ? [] : commands.children.map((command) => readCommand(command, collectionId)),
  };
}

function readOptions(element: WbxmlElement, version: ProtocolVersion): CollectionOptions {
  const bodyPreferences = isVersionAtLeast(version, '12.0')
    ? children(element, 'BodyPreference', 'AirSyncBase').map(readBodyPreference)
    : [];
  return {
    filterType: optionalNumber(element, 'FilterType') ?? DEFAULT_OPTIONS.filterType,
    conflict: optionalNumber(element, 'Conflict') ?? DEFAULT_OPTIONS.conflict,
    bodyPreferences: bodyPreferences.length === 0 ? undefined : bodyPreferences,
    truncation: optionalNumber(element, 'Truncation'),
    mimeSupport: optionalNumber(element, 'MIMESupport') ?? DEFAULT_OPTIONS.mimeSupport,
  };
}

function readBodyPreference(element: WbxmlElement): BodyPreference {
  const type = Number(childText(element, 'Type', 'AirSyncBase'));
  if (!Number.isInteger(type) || type < 1 || type > 4)
    throw new MalformedRequest('a BodyPreference without a valid Type');
  const truncationSize = optionalNumber(element, 'TruncationSize', 'AirSyncBase');
  const preview = optionalNumber(element, 'Preview', 'AirSyncBase');
  const allOrNone = childText(element, 'AllOrNone', 'AirSyncBase');
  return {
    type,
    ...(truncationSize === undefined ? {} : { truncationSize }),
    ...(allOrNone === undefined ? {} : { allOrNone: allOrNone === '1' }),
    ...(preview === undefined ? {} : { preview }),
  };
}

function readCommand(element: WbxmlElement, collectionId: string): ClientCommand {
  const serverId = childText(element, 'ServerId', 'AirSync');
  const applicationData = child(element, 'ApplicationData', 'AirSync');
  const instanceId = childText(element, 'InstanceId', 'AirSyncBase');
  const missing = (what: string) =>
    new MalformedRequest(`a ${element.name} in collection ${collectionId} without ${what}`);
  switch (element.name) {
    case 'Add': {
      const clientId = childText(element, 'ClientId', 'AirSync');
      if (clientId === undefined || clientId === '') throw missing('ClientId');
      if (applicationData === undefined) throw missing('ApplicationData');
      return { kind: 'add', clientId, applicationData };
    }
    case 'Change':
      if (serverId === undefined) throw missing('ServerId');
      if (applicationData === undefined) throw missing('ApplicationData');
      return {
        kind: 'change',
        serverId,
        applicationData,
        ...(instanceId === undefined ? {} : { instanceId }),
      };
    case 'Delete':
      if (serverId === undefined) throw missing('ServerId');
      return { kind: 'delete', serverId, ...(instanceId === undefined ? {} : { instanceId }) };
    case 'Fetch':
      if (serverId === undefined) throw missing('ServerId');
      return { kind: 'fetch', serverId };
    default:
      throw new MalformedRequest(`a ${element.name} command in collection ${collectionId}`);
  }
}

function optionalNumber(
  parent: WbxmlElement,
  name: string,
  ns: 'AirSync' | 'AirSyncBase' = 'AirSync',
): number | undefined {
  const text = childText(parent, name, ns);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < 0)
    throw new MalformedRequest(`${name} "${text}" is not a number`);
  return value;
}

// --- Writing the answer ----------------------------------------------------------------------------

function collectionElement(result: CollectionResult, version: ProtocolVersion): WbxmlElement {
  const content: WbxmlElement[] = [];
  if (version === '2.5' && result.pimClass !== undefined)
    content.push(el('AirSync', 'Class', result.pimClass));
  // A phone whose key is no longer valid starts over from key 0.
  const syncKey = result.status === SyncStatus.InvalidSyncKey ? '0' : result.syncKey;
  if (syncKey !== undefined) content.push(el('AirSync', 'SyncKey', syncKey));
  content.push(
    el('AirSync', 'CollectionId', result.collectionId),
    el('AirSync', 'Status', String(result.status)),
  );
  if (result.moreAvailable) content.push(el('AirSync', 'MoreAvailable'));
  if (result.commands.length > 0)
    content.push(el('AirSync', 'Commands', result.commands.map(commandElement)));
  if (result.responses.length > 0)
    content.push(el('AirSync', 'Responses', result.responses.map(responseElement)));
  return el('AirSync', 'Collection', content);
}

const COMMAND_NAMES = {
  add: 'Add',
  change: 'Change',
  delete: 'Delete',
  'soft-delete': 'SoftDelete',
} as const;

function commandElement(command: ServerCommand): WbxmlElement {
  const content = [el('AirSync', 'ServerId', command.serverId)];
  if (command.kind === 'add' || command.kind === 'change')
    content.push(el('AirSync', 'ApplicationData', command.data));
  return el('AirSync', COMMAND_NAMES[command.kind], content);
}

function responseElement(response: ClientResponse): WbxmlElement {
  const status = el('AirSync', 'Status', String(response.status));
  switch (response.kind) {
    case 'add':
      return el('AirSync', 'Add', [
        el('AirSync', 'ClientId', response.clientId),
        ...(response.serverId === undefined ? [] : [el('AirSync', 'ServerId', response.serverId)]),
        status,
      ]);
    case 'fetch':
      return el('AirSync', 'Fetch', [
        el('AirSync', 'ServerId', response.serverId),
        status,
        ...(response.data === undefined ? [] : [el('AirSync', 'ApplicationData', response.data)]),
      ]);
    default:
      return el('AirSync', response.kind === 'change' ? 'Change' : 'Delete', [
        el('AirSync', 'ServerId', response.serverId),
        status,
      ]);
  }
}
