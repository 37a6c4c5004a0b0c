// MoveItems (MS-ASCMD 2.2.1.12): moves items the phone holds between folders of the same class.
// Each Move is answered on its own; a moved item gets a new ServerId in its new folder, and neither
// folder reports the move back to the phone that made it.

import { childText, el, type WbxmlElement } from '../wbxml/index.ts';
import { syncSessionOf, type CommandHandler } from './index.ts';

/** Status (MoveItems), MS-ASCMD 2.2.3.177.9. */
const Status = {
  InvalidSource: 1,
  InvalidDestination: 2,
  Success: 3,
  SameFolder: 4,
  CannotMove: 5,
  Retry: 7,
} as const;

const OUTCOME_STATUS = {
  ok: Status.Success,
  'invalid-source': Status.InvalidSource,
  'invalid-destination': Status.InvalidDestination,
  'same-folder': Status.SameFolder,
  'other-class': Status.CannotMove,
  retry: Status.Retry,
} as const;

export const moveItems: CommandHandler = async (context, body) => {
  const moves =
    body?.ns === 'Move' && body.name === 'MoveItems' ? body.children.filter((c) => c.name === 'Move') : [];
  if (moves.length === 0) {
    const tree = el('Move', 'MoveItems', [
      el('Move', 'Response', [el('Move', 'Status', String(Status.CannotMove))]),
    ]);
    return { kind: 'wbxml', tree, protocolStatus: Status.CannotMove, reason: 'no Move in the request' };
  }
  const engine = context.sync;
  const session = syncSessionOf(context);
  const responses: WbxmlElement[] = [];
  let firstFailure: number | undefined;
  for (const move of moves) {
    const serverId = childText(move, 'SrcMsgId', 'Move');
    const sourceId = childText(move, 'SrcFldId', 'Move');
    const destinations = move.children.filter((c) => c.name === 'DstFldId');
    let status: number;
    let newId: string | undefined;
    if (serverId === undefined || sourceId === undefined) status = Status.InvalidSource;
    else if (destinations.length !== 1 || destinations[0]?.text === undefined) {
      // One item goes to one folder: more than one destination is Status 5.
      status = destinations.length > 1 ? Status.CannotMove : Status.InvalidDestination;
    } else {
      const outcome = await engine.moveItem(session, {
        serverId,
        sourceId,
        destinationId: destinations[0].text,
      });
      status = OUTCOME_STATUS[outcome.status];
      if (outcome.status === 'ok') newId = outcome.serverId;
    }
    if (status !== Status.Success) firstFailure ??= status;
    responses.push(
      el('Move', 'Response', [
        el('Move', 'SrcMsgId', serverId ?? ''),
        el('Move', 'Status', String(status)),
        ...(newId === undefined ? [] : [el('Move', 'DstMsgId', newId)]),
      ]),
    );
  }
  return {
    kind: 'wbxml',
    tree: el('Move', 'MoveItems', responses),
    protocolStatus: firstFailure ?? Status.Success,
  };
};
