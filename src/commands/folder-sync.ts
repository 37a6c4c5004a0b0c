// FolderSync (MS-ASCMD 2.2.1.5): the folder hierarchy since the phone's key — every folder as an Add
// for key 0, then only what changed. ServerIds stay the same across a key-0 reset, and a phone that
// lost an answer and sends its previous key again gets that answer again (src/sync/hierarchy.ts).

import { parseHierarchyKey } from '../sync/keys.ts';
import type { FolderChange } from '../sync/hierarchy.ts';
import { childText, el, type WbxmlElement } from '../wbxml/index.ts';
import { syncSessionOf, type CommandContext, type CommandHandler, type CommandResult } from './index.ts';

/** Status (FolderSync), MS-ASCMD 2.2.3.177.4; also the values FolderCreate, FolderUpdate and FolderDelete share. */
export const FolderStatus = {
  Success: 1,
  ServerError: 6,
  InvalidSyncKey: 9,
  MalformedRequest: 10,
} as const;

export const folderSync: CommandHandler = async (context, body) => {
  const request = folderRequest(body, 'FolderSync');
  if (request === undefined)
    return folderStatus('FolderSync', FolderStatus.MalformedRequest, 'not a FolderSync request');
  const key = parseHierarchyKey(childText(request, 'SyncKey', 'FolderHierarchy'));
  if (key === undefined)
    return folderStatus('FolderSync', FolderStatus.InvalidSyncKey, 'SyncKey missing or malformed');
  const session = syncSessionOf(context);
  return runFolderCommand(context, 'FolderSync', async () => {
    const outcome = await context.sync.hierarchy.folderSync(
      session.account,
      session.owner,
      key,
      session.version,
    );
    if (outcome.status === 'invalid-key') {
      return folderStatus(
        'FolderSync',
        FolderStatus.InvalidSyncKey,
        `SyncKey ${key} is not the current or previous key`,
      );
    }
    const tree = hierarchyElement('FolderSync', [
      hierarchyElement('Status', String(FolderStatus.Success)),
      hierarchyElement('SyncKey', String(outcome.syncKey)),
      hierarchyElement('Changes', [
        hierarchyElement('Count', String(outcome.changes.length)),
        ...outcome.changes.map(changeElement),
      ]),
    ]);
    return { kind: 'wbxml', tree, protocolStatus: FolderStatus.Success };
  });
};

function changeElement(change: FolderChange): WbxmlElement {
  if (change.kind === 'delete')
    return hierarchyElement('Delete', [hierarchyElement('ServerId', change.serverId)]);
  return hierarchyElement(change.kind === 'add' ? 'Add' : 'Update', [
    hierarchyElement('ServerId', change.serverId),
    hierarchyElement('ParentId', change.parentId),
    hierarchyElement('DisplayName', change.name),
    hierarchyElement('Type', String(change.type)),
  ]);
}

export function hierarchyElement(name: string, content?: string | WbxmlElement[]): WbxmlElement {
  return el('FolderHierarchy', name, content);
}

/** The request's root when it is the FolderHierarchy element `name`. */
export function folderRequest(body: WbxmlElement | undefined, name: string): WbxmlElement | undefined {
  return body !== undefined && body.ns === 'FolderHierarchy' && body.name === name ? body : undefined;
}

/** An answer of a folder command with its Status alone. */
export function folderStatus(command: string, status: number, reason?: string): CommandResult {
  return {
    kind: 'wbxml',
    tree: hierarchyElement(command, [hierarchyElement('Status', String(status))]),
    protocolStatus: status,
    reason,
  };
}

/** Runs a folder command; a failure of a backend or the database is Status 6, and logged. */
export async function runFolderCommand(
  context: CommandContext,
  command: string,
  run: () => Promise<CommandResult>,
): Promise<CommandResult> {
  try {
    return await run();
  } catch (error) {
    context.log.error({ err: error }, `${command} failed`);
    return folderStatus(
      command,
      FolderStatus.ServerError,
      error instanceof Error ? error.message : String(error),
    );
  }
}
