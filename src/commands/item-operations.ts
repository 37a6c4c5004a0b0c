// ItemOperations (MS-ASCMD 2.2.1.10), the Fetch of one contact, appointment, task or note by
// CollectionId and ServerId from the Mailbox store, with the Options' BodyPreference. The other
// operations (EmptyFolderContents, Move, attachments, document libraries) are mail's and are
// answered as not supported.

import { encodeItem } from '../model/index.ts';
import type { BodyPreference } from '../model/codec.ts';
import { child, childText, children, el, type WbxmlElement } from '../wbxml/index.ts';
import { syncSessionOf, type CommandContext, type CommandHandler } from './index.ts';

/** Status (ItemOperations), MS-ASCMD 2.2.3.177.7. */
const Status = {
  Success: 1,
  ProtocolError: 2,
  ServerError: 3,
  ObjectNotFound: 6,
  UnknownStore: 9,
  InvalidAttachment: 15,
  ActionNotSupported: 156,
} as const;

const MAILBOX_STORE = 'mailbox';

export const itemOperations: CommandHandler = async (context, body) => {
  if (body?.ns !== 'ItemOperations' || body.name !== 'ItemOperations' || body.children.length === 0) {
    return answer([], Status.ProtocolError, 'not an ItemOperations request');
  }
  const unsupported = body.children.find((operation) => operation.name !== 'Fetch');
  if (unsupported !== undefined) {
    return answer([], Status.ActionNotSupported, `ItemOperations ${unsupported.name} is not supported`);
  }
  const fetches: WbxmlElement[] = [];
  for (const fetch of body.children) fetches.push(await fetchOne(context, fetch));
  return answer(fetches, Status.Success);
};

async function fetchOne(context: CommandContext, fetch: WbxmlElement): Promise<WbxmlElement> {
  const store = childText(fetch, 'Store', 'ItemOperations');
  const collectionId = childText(fetch, 'CollectionId', 'AirSync');
  const serverId = childText(fetch, 'ServerId', 'AirSync');
  const fail = (status: number) => fetchElement(status, collectionId, serverId);
  if (store === undefined) return fail(Status.ProtocolError);
  if (store.toLowerCase() !== MAILBOX_STORE) return fail(Status.UnknownStore);
  if (childText(fetch, 'FileReference', 'AirSyncBase') !== undefined) return fail(Status.InvalidAttachment);
  if (collectionId === undefined || serverId === undefined) {
    // A LongId names a search result; PIM items found by Search are not fetched this way.
    return fail(
      childText(fetch, 'LongId', 'Search') === undefined ? Status.ProtocolError : Status.ObjectNotFound,
    );
  }
  const options = child(fetch, 'Options', 'ItemOperations');
  const bodyPreferences =
    options === undefined ? [] : children(options, 'BodyPreference', 'AirSyncBase').map(readBodyPreference);
  try {
    const outcome = await context.sync.fetchItem(syncSessionOf(context), { collectionId, serverId });
    if (outcome.status !== 'ok') return fail(Status.ObjectNotFound);
    const properties = encodeItem(outcome.item, {
      version: context.request.protocolVersion,
      bodyPreferences: bodyPreferences.length === 0 ? undefined : bodyPreferences,
    });
    return el('ItemOperations', 'Fetch', [
      el('ItemOperations', 'Status', String(Status.Success)),
      el('AirSync', 'CollectionId', collectionId),
      el('AirSync', 'ServerId', serverId),
      el('AirSync', 'Class', outcome.pimClass),
      el('ItemOperations', 'Properties', properties),
    ]);
  } catch (error) {
    context.log.error({ err: error }, 'ItemOperations Fetch failed');
    return fail(Status.ServerError);
  }
}

function readBodyPreference(element: WbxmlElement): BodyPreference {
  const number = (name: string) => {
    const text = childText(element, name, 'AirSyncBase');
    return text === undefined || !/^\d+$/.test(text) ? undefined : Number(text);
  };
  const truncationSize = number('TruncationSize');
  return { type: number('Type') ?? 1, ...(truncationSize === undefined ? {} : { truncationSize }) };
}

function fetchElement(
  status: number,
  collectionId: string | undefined,
  serverId: string | undefined,
): WbxmlElement {
  return el('ItemOperations', 'Fetch', [
    el('ItemOperations', 'Status', String(status)),
    ...(collectionId === undefined ? [] : [el('AirSync', 'CollectionId', collectionId)]),
    ...(serverId === undefined ? [] : [el('AirSync', 'ServerId', serverId)]),
  ]);
}

function answer(fetches: WbxmlElement[], status: number, reason?: string) {
  const content = [el('ItemOperations', 'Status', String(status))];
  if (fetches.length > 0) content.push(el('ItemOperations', 'Response', fetches));
  const failed = fetches
    .map((fetch) => Number(childText(fetch, 'Status', 'ItemOperations')))
    .find((s) => s !== 1);
  return {
    kind: 'wbxml' as const,
    tree: el('ItemOperations', 'ItemOperations', content),
    protocolStatus: failed ?? status,
    reason,
  };
}
