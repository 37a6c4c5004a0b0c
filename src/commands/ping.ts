// Ping (MS-ASCMD 2.2.1.13, 3.1.5.8): the phone names folders and a heartbeat, and the answer comes
// when one of the folders changes (Status 2, with the folders), when the folder list changes (7), or
// when the heartbeat ends quietly (1). The heartbeat and the folder list are cached per device
// account, so that a Ping may leave out either or both (an empty Ping repeats the last one).
//
// Before waiting, the Ping checks once what already happened: a folder that is not in the device's
// hierarchy, or a hierarchy changed since its last FolderSync, is 7; a folder with changes the device
// has not synced is 2 at once. Then it waits on the change bus (src/push/waiting.ts) holding nothing
// but a subscription and a timer; a newer request of the same device account ends it with 1.
//
// The spec asks for an answer only when items are added (3.1.5.8); this Ping also answers for
// changed and deleted items, as phones expect edits made elsewhere to show without delay.

import { boundExceeded, heartbeatLimits, type Limits } from '../push/heartbeat.ts';
import { readPushParameters, savePushParameters } from '../push/parameters.ts';
import type { EndReason } from '../push/waiting.ts';
import { folderKey, type FolderRef } from '../push/bus.ts';
import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { foldersWithChanges, hierarchyChanged, watchedFolders, type WatchedFolder } from '../sync/pending.ts';
import { child, childText, children, el, type WbxmlElement } from '../wbxml/index.ts';
import { syncSessionOf, type CommandContext, type CommandHandler, type CommandResult } from './index.ts';

/** Status (Ping), MS-ASCMD 2.2.3.177.11. */
export const PingStatus = {
  HeartbeatExpired: 1,
  ChangesOccurred: 2,
  MissingParameters: 3,
  SyntaxError: 4,
  HeartbeatOutOfBounds: 5,
  TooManyFolders: 6,
  FolderSyncRequired: 7,
  ServerError: 8,
} as const;

/** The values of Class; Notes exists from 14.0 (MS-ASCMD 2.2.3.27.4). */
const CLASSES = ['Email', 'Calendar', 'Contacts', 'Tasks', 'Notes'];
const NOTES_VERSION: ProtocolVersion = '14.0';

const END_REASONS: Record<EndReason, string | undefined> = {
  heartbeat: undefined,
  superseded: 'a newer request of the device account ended the wait',
  shutdown: 'the server is shutting down',
  'hang-up': 'the client hung up',
};

/** The request does not follow the Ping schema: Status 4. */
class MalformedRequest extends Error {}

interface PingRequest {
  /** Seconds; absent: the cached one. */
  heartbeat?: number;
  /** ServerIds; absent: the cached list. */
  folders?: string[];
}

export const ping: CommandHandler = async (context, body) => {
  let request: PingRequest;
  try {
    request = readRequest(body, context.request.protocolVersion);
  } catch (error) {
    if (!(error instanceof MalformedRequest)) throw error;
    return answer(PingStatus.SyntaxError, [], error.message);
  }
  const limits = heartbeatLimits(context.config.push);
  try {
    return await pingWith(context, request, limits);
  } catch (error) {
    context.log.error({ err: error }, 'Ping failed');
    return answer(PingStatus.ServerError, [], error instanceof Error ? error.message : String(error));
  }
};

async function pingWith(
  context: CommandContext,
  request: PingRequest,
  limits: Limits,
): Promise<CommandResult> {
  const { db, sync: engine, config } = context;
  const { account, owner, version } = syncSessionOf(context);

  if (request.heartbeat !== undefined) {
    const refused = refuseHeartbeat(request.heartbeat, limits);
    if (refused !== undefined) return refused;
  }
  if (request.folders !== undefined && request.folders.length > config.push.maxFolders) {
    return tooManyFolders(request.folders.length, config.push.maxFolders);
  }
  const cached = await readPushParameters(db, account);
  await savePushParameters(db, account, cached, {
    pingHeartbeat: request.heartbeat,
    pingFolders: request.folders,
  });
  const heartbeat = request.heartbeat ?? cached.pingHeartbeat;
  const serverIds = request.folders ?? cached.pingFolders;
  if (heartbeat === null || serverIds === null) {
    const missing = heartbeat === null ? 'HeartbeatInterval' : 'Folders';
    return answer(
      PingStatus.MissingParameters,
      [],
      `no ${missing} in the request, and none cached from an earlier Ping`,
    );
  }
  // Limits may have changed since the cached values were accepted: they are checked again.
  const refused = refuseHeartbeat(heartbeat, limits);
  if (refused !== undefined) return refused;
  if (serverIds.length > config.push.maxFolders)
    return tooManyFolders(serverIds.length, config.push.maxFolders);

  const folders = watchedFolders(engine, await engine.collections(account), serverIds);
  if (folders === undefined) {
    return answer(PingStatus.FolderSyncRequired, [], 'a folder of the Ping is not in the device’s hierarchy');
  }
  const serverIdOf = new Map(folders.map((folder) => [folderKey(refOf(owner.id, folder)), folder.serverId]));
  // Subscribed before looking, so that a change made while this Ping looks is not missed.
  const waiter = context.push.wait({
    account,
    userId: owner.id,
    folders: folders.map((folder) => refOf(owner.id, folder)),
    hierarchy: true,
    heartbeatMs: heartbeat * 1000,
    connection: context.connection,
  });
  try {
    const hierarchyOutdated = () => hierarchyChanged(db, engine, account, owner, version);
    if (await hierarchyOutdated()) {
      return answer(
        PingStatus.FolderSyncRequired,
        [],
        'the folder hierarchy changed since the last FolderSync',
      );
    }
    const pending = await foldersWithChanges(owner, folders);
    if (pending.length > 0) return changesIn(pending);
    for (;;) {
      const wake = await waiter.next();
      if (wake.kind === 'end') return answer(PingStatus.HeartbeatExpired, [], END_REASONS[wake.reason]);
      // A change to the folder list may be one the device does not see (a collection it does not
      // sync): only a real difference sends it to FolderSync.
      if ((wake.hierarchy || wake.gap) && (await hierarchyOutdated())) {
        return answer(
          PingStatus.FolderSyncRequired,
          [],
          'the folder hierarchy changed while the Ping waited',
        );
      }
      const changed = wake.gap
        ? await foldersWithChanges(owner, folders)
        : serverIds.filter((serverId) =>
            wake.folders.some((folder) => serverIdOf.get(folderKey(folder)) === serverId),
          );
      if (changed.length > 0) return changesIn(changed);
    }
  } finally {
    waiter.end();
  }
}

function refOf(userId: number, folder: WatchedFolder): FolderRef {
  return { userId, backend: folder.backend.name, folderId: folder.folderId };
}

function refuseHeartbeat(heartbeat: number, limits: Limits): CommandResult | undefined {
  const bound = boundExceeded(heartbeat, limits);
  if (bound === undefined) return undefined;
  return answer(
    PingStatus.HeartbeatOutOfBounds,
    [el('Ping', 'HeartbeatInterval', String(bound))],
    `HeartbeatInterval ${heartbeat} is outside ${limits.min}–${limits.max} seconds`,
  );
}

function tooManyFolders(count: number, maxFolders: number): CommandResult {
  return answer(
    PingStatus.TooManyFolders,
    [el('Ping', 'MaxFolders', String(maxFolders))],
    `${count} folders, more than the ${maxFolders} a Ping may watch`,
  );
}

function changesIn(serverIds: readonly string[]): CommandResult {
  return answer(PingStatus.ChangesOccurred, [
    el(
      'Ping',
      'Folders',
      serverIds.map((serverId) => el('Ping', 'Folder', serverId)),
    ),
  ]);
}

function answer(status: number, content: WbxmlElement[], reason?: string): CommandResult {
  return {
    kind: 'wbxml',
    tree: el('Ping', 'Ping', [el('Ping', 'Status', String(status)), ...content]),
    protocolStatus: status,
    reason,
  };
}

// --- Reading the request ---------------------------------------------------------------------------

function readRequest(body: WbxmlElement | undefined, version: ProtocolVersion): PingRequest {
  if (body === undefined) return {};
  if (body.ns !== 'Ping' || body.name !== 'Ping')
    throw new MalformedRequest(`a ${body.ns}:${body.name} root`);
  const heartbeatText = childText(body, 'HeartbeatInterval', 'Ping');
  const foldersElement = child(body, 'Folders', 'Ping');
  if (heartbeatText === undefined && foldersElement === undefined) {
    throw new MalformedRequest('a Ping element with neither HeartbeatInterval nor Folders');
  }
  const request: PingRequest = {};
  if (heartbeatText !== undefined) {
    // A negative interval is out of bounds (Status 5), not malformed.
    if (!/^\s*-?\d{1,9}\s*$/.test(heartbeatText)) {
      throw new MalformedRequest(`HeartbeatInterval "${heartbeatText}" is not a number`);
    }
    request.heartbeat = Number(heartbeatText);
  }
  if (foldersElement !== undefined) request.folders = readFolders(foldersElement, version);
  return request;
}

function readFolders(element: WbxmlElement, version: ProtocolVersion): string[] {
  const folders = children(element, 'Folder', 'Ping');
  if (folders.length === 0) throw new MalformedRequest('Folders without a Folder');
  const ids = folders.map((folder) => {
    const id = childText(folder, 'Id', 'Ping');
    if (id === undefined || id === '') throw new MalformedRequest('a Folder without Id');
    const folderClass = childText(folder, 'Class', 'Ping');
    if (
      folderClass !== undefined &&
      (!CLASSES.includes(folderClass) ||
        (folderClass === 'Notes' && !isVersionAtLeast(version, NOTES_VERSION)))
    ) {
      throw new MalformedRequest(`folder ${id} has Class "${folderClass}", not one of protocol ${version}`);
    }
    return id;
  });
  const twice = ids.find((id, index) => ids.indexOf(id) !== index);
  if (twice !== undefined) throw new MalformedRequest(`folder ${twice} is named twice`);
  return ids;
}
