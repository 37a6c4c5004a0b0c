// GetItemEstimate (MS-ASCMD 2.2.1.9): how many changes the next Sync of each collection would bring,
// counted the way Sync would send them (FilterType honoured, the device's own changes not counted),
// and changing nothing.
//
// Where things are differs per version: 2.5 and 12.0 send a GetItemEstimate Class and CollectionId
// with an AirSync FilterType and SyncKey; 12.1 drops Class; from 14.0 FilterType sits in an AirSync
// Options element. Each is read wherever its version puts it.

import { isVersionAtLeast } from '../http/query.ts';
import { child, childText, children, el, type WbxmlElement } from '../wbxml/index.ts';
import { syncSessionOf, type CommandHandler } from './index.ts';

/** Status (GetItemEstimate), MS-ASCMD 2.2.3.177.6. */
const Status = {
  Success: 1,
  InvalidCollection: 2,
  NotPrimed: 3,
  InvalidSyncKey: 4,
} as const;

const OUTCOME_STATUS = {
  'invalid-collection': Status.InvalidCollection,
  'not-primed': Status.NotPrimed,
  'invalid-key': Status.InvalidSyncKey,
} as const;

export const getItemEstimate: CommandHandler = async (context, body) => {
  const version = context.request.protocolVersion;
  const collections =
    body?.ns === 'GetItemEstimate' && body.name === 'GetItemEstimate'
      ? child(body, 'Collections', 'GetItemEstimate')
      : undefined;
  const requested = collections === undefined ? [] : children(collections, 'Collection', 'GetItemEstimate');
  if (requested.length === 0) {
    const tree = estimateElement('GetItemEstimate', [
      estimateElement('Response', [estimateElement('Status', String(Status.InvalidCollection))]),
    ]);
    return {
      kind: 'wbxml',
      tree,
      protocolStatus: Status.InvalidCollection,
      reason: 'no Collection to estimate',
    };
  }
  const engine = context.sync;
  const session = syncSessionOf(context);
  const responses: WbxmlElement[] = [];
  let firstFailure: number | undefined;
  for (const collection of requested) {
    const collectionId = childText(collection, 'CollectionId', 'GetItemEstimate') ?? '';
    const syncKey =
      childText(collection, 'SyncKey', 'AirSync') ?? childText(collection, 'SyncKey', 'GetItemEstimate');
    const options = child(collection, 'Options', 'AirSync');
    const filterText =
      (options && childText(options, 'FilterType', 'AirSync')) ??
      childText(collection, 'FilterType', 'AirSync') ??
      childText(collection, 'FilterType', 'GetItemEstimate');
    const filterType = filterText === undefined ? undefined : Number(filterText);
    const outcome =
      syncKey === undefined || (filterType !== undefined && !Number.isInteger(filterType))
        ? ({ status: 'invalid-key' } as const)
        : await engine.estimate(session, { collectionId, syncKey, filterType });
    const status = outcome.status === 'ok' ? Status.Success : OUTCOME_STATUS[outcome.status];
    if (status !== Status.Success) firstFailure ??= status;
    const content: WbxmlElement[] = [];
    // 2.5 and 12.0 name the class of each collection in the answer.
    if (outcome.status === 'ok' && !isVersionAtLeast(version, '12.1')) {
      content.push(estimateElement('Class', outcome.pimClass));
    }
    content.push(estimateElement('CollectionId', collectionId));
    if (outcome.status === 'ok') content.push(estimateElement('Estimate', String(outcome.estimate)));
    responses.push(
      estimateElement('Response', [
        estimateElement('Status', String(status)),
        estimateElement('Collection', content),
      ]),
    );
  }
  return {
    kind: 'wbxml',
    tree: estimateElement('GetItemEstimate', responses),
    protocolStatus: firstFailure ?? Status.Success,
  };
};

function estimateElement(name: string, content?: string | WbxmlElement[]): WbxmlElement {
  return el('GetItemEstimate', name, content);
}
