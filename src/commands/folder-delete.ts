// FolderDelete (MS-ASCMD 2.2.1.3): deletes a user-created folder with its items. The phone's state
// of that collection goes with it.

import { parseHierarchyKey } from '../sync/keys.ts';
import { childText } from '../wbxml/index.ts';
import {
  FolderStatus,
  folderRequest,
  folderStatus,
  hierarchyElement,
  runFolderCommand,
} from './folder-sync.ts';
import { syncSessionOf, type CommandHandler } from './index.ts';

/** Status (FolderDelete), MS-ASCMD 2.2.3.177.3. */
const Status = {
  ...FolderStatus,
  Special: 3,
  NotFound: 4,
} as const;

const OUTCOME_STATUS = {
  'invalid-key': Status.InvalidSyncKey,
  special: Status.Special,
  'not-found': Status.NotFound,
  exists: Status.ServerError,
  'parent-not-found': Status.NotFound,
  invalid: Status.MalformedRequest,
} as const;

export const folderDelete: CommandHandler = async (context, body) => {
  const request = folderRequest(body, 'FolderDelete');
  const key = request && parseHierarchyKey(childText(request, 'SyncKey', 'FolderHierarchy'));
  const serverId = request && childText(request, 'ServerId', 'FolderHierarchy');
  if (request === undefined || serverId === undefined) {
    return folderStatus('FolderDelete', Status.MalformedRequest, 'FolderDelete needs SyncKey and ServerId');
  }
  if (key === undefined || key === 0)
    return folderStatus('FolderDelete', Status.InvalidSyncKey, 'SyncKey missing or malformed');
  const session = syncSessionOf(context);
  return runFolderCommand(context, 'FolderDelete', async () => {
    const outcome = await context.sync.hierarchy.deleteFolder(session.account, session.owner, {
      key,
      serverId,
    });
    if (outcome.status !== 'ok') {
      return folderStatus('FolderDelete', OUTCOME_STATUS[outcome.status], `FolderDelete: ${outcome.status}`);
    }
    const tree = hierarchyElement('FolderDelete', [
      hierarchyElement('Status', String(Status.Success)),
      hierarchyElement('SyncKey', String(outcome.syncKey)),
    ]);
    return { kind: 'wbxml', tree, protocolStatus: Status.Success };
  });
};
