// FolderUpdate (MS-ASCMD 2.2.1.6): renames a user-created folder or moves it under another parent.

import { parseHierarchyKey } from '../sync/keys.ts';
import { ROOT_PARENT_ID } from '../sync/hierarchy.ts';
import { childText } from '../wbxml/index.ts';
import {
  FolderStatus,
  folderRequest,
  folderStatus,
  hierarchyElement,
  runFolderCommand,
} from './folder-sync.ts';
import { syncSessionOf, type CommandHandler } from './index.ts';

/** Status (FolderUpdate), MS-ASCMD 2.2.3.177.5. */
const Status = {
  ...FolderStatus,
  /** A folder with that name exists, or the folder is a special one. */
  ExistsOrSpecial: 2,
  NotFound: 4,
  ParentNotFound: 5,
} as const;

const OUTCOME_STATUS = {
  'invalid-key': Status.InvalidSyncKey,
  exists: Status.ExistsOrSpecial,
  special: Status.ExistsOrSpecial,
  'not-found': Status.NotFound,
  'parent-not-found': Status.ParentNotFound,
  invalid: Status.MalformedRequest,
} as const;

export const folderUpdate: CommandHandler = async (context, body) => {
  const request = folderRequest(body, 'FolderUpdate');
  const key = request && parseHierarchyKey(childText(request, 'SyncKey', 'FolderHierarchy'));
  const serverId = request && childText(request, 'ServerId', 'FolderHierarchy');
  const parentId = request && childText(request, 'ParentId', 'FolderHierarchy');
  const name = request && childText(request, 'DisplayName', 'FolderHierarchy');
  if (
    request === undefined ||
    serverId === undefined ||
    parentId === undefined ||
    name === undefined ||
    name.trim() === ''
  ) {
    return folderStatus(
      'FolderUpdate',
      Status.MalformedRequest,
      'FolderUpdate needs SyncKey, ServerId, ParentId and DisplayName',
    );
  }
  if (key === undefined || key === 0)
    return folderStatus('FolderUpdate', Status.InvalidSyncKey, 'SyncKey missing or malformed');
  const session = syncSessionOf(context);
  return runFolderCommand(context, 'FolderUpdate', async () => {
    const outcome = await context.sync.hierarchy.updateFolder(session.account, session.owner, {
      key,
      serverId,
      parentId: parentId === '' ? ROOT_PARENT_ID : parentId,
      name,
    });
    if (outcome.status !== 'ok') {
      return folderStatus('FolderUpdate', OUTCOME_STATUS[outcome.status], `FolderUpdate: ${outcome.status}`);
    }
    const tree = hierarchyElement('FolderUpdate', [
      hierarchyElement('Status', String(Status.Success)),
      hierarchyElement('SyncKey', String(outcome.syncKey)),
    ]);
    return { kind: 'wbxml', tree, protocolStatus: Status.Success };
  });
};
