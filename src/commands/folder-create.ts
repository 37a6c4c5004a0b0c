// FolderCreate (MS-ASCMD 2.2.1.2): a user-created contacts, calendar, task or notes folder. The new
// folder is recorded as known to the phone under the new hierarchy key, so its next FolderSync does
// not report it again.

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

/** Status (FolderCreate), MS-ASCMD 2.2.3.177.2. */
const Status = {
  ...FolderStatus,
  Exists: 2,
  SpecialParent: 3,
  ParentNotFound: 5,
} as const;

const OUTCOME_STATUS = {
  'invalid-key': Status.InvalidSyncKey,
  exists: Status.Exists,
  special: Status.SpecialParent,
  'parent-not-found': Status.ParentNotFound,
  'not-found': Status.ParentNotFound,
  invalid: Status.MalformedRequest,
} as const;

export const folderCreate: CommandHandler = async (context, body) => {
  const request = folderRequest(body, 'FolderCreate');
  const key = request && parseHierarchyKey(childText(request, 'SyncKey', 'FolderHierarchy'));
  const name = request && childText(request, 'DisplayName', 'FolderHierarchy');
  const parentId = request && childText(request, 'ParentId', 'FolderHierarchy');
  const type = Number(request && childText(request, 'Type', 'FolderHierarchy'));
  if (
    request === undefined ||
    name === undefined ||
    name.trim() === '' ||
    parentId === undefined ||
    !Number.isInteger(type)
  ) {
    return folderStatus(
      'FolderCreate',
      Status.MalformedRequest,
      'FolderCreate needs SyncKey, ParentId, DisplayName and Type',
    );
  }
  if (key === undefined || key === 0)
    return folderStatus('FolderCreate', Status.InvalidSyncKey, 'SyncKey missing or malformed');
  const session = syncSessionOf(context);
  return runFolderCommand(context, 'FolderCreate', async () => {
    const outcome = await context.sync.hierarchy.createFolder(session.account, session.owner, {
      key,
      parentId: parentId === '' ? ROOT_PARENT_ID : parentId,
      name,
      type,
      version: session.version,
    });
    if (outcome.status !== 'ok') {
      return folderStatus('FolderCreate', OUTCOME_STATUS[outcome.status], `FolderCreate: ${outcome.status}`);
    }
    const tree = hierarchyElement('FolderCreate', [
      hierarchyElement('Status', String(Status.Success)),
      hierarchyElement('SyncKey', String(outcome.syncKey)),
      hierarchyElement('ServerId', outcome.serverId),
    ]);
    return { kind: 'wbxml', tree, protocolStatus: Status.Success };
  });
};
