// The item codecs by data class, working on PimItem: what the sync engine calls to write an item
// into a Sync response and to read one a phone sent.

import type { ItemWindow } from '../backends/contract.ts';
import type { ProtocolVersion } from '../http/query.ts';
import type { WbxmlElement } from '../wbxml/tree.ts';
import { calendarCodec } from './calendar.ts';
import type { ClassCodec, EncodeOptions } from './codec.ts';
import { contactCodec } from './contact.ts';
import { noteCodec } from './note.ts';
import { taskCodec } from './task.ts';
import type { PimClass, PimItem } from './types.ts';

export type * from './types.ts';
export { ItemError } from './codec.ts';
export type { BodyPreference, ClassCodec, EncodeOptions } from './codec.ts';
export { calendarCodec, contactCodec, noteCodec, taskCodec };

type DataOf<C extends PimClass> = Extract<PimItem, { class: C }>['data'];

const CODECS: { [C in PimClass]: ClassCodec<DataOf<C>> } = {
  Contacts: contactCodec,
  Calendar: calendarCodec,
  Tasks: taskCodec,
  Notes: noteCodec,
};

/** The codec of a data class, on PimItems of that class. */
export function codecFor(pimClass: PimClass): ClassCodec<PimItem> {
  return ITEM_CODECS[pimClass];
}

/** A class codec on PimItems, which checks that it is given items of its class. */
function itemCodec(pimClass: PimClass): ClassCodec<PimItem> {
  const codec = CODECS[pimClass] as ClassCodec<PimItem['data']>;
  const dataOf = (item: PimItem): PimItem['data'] => {
    if (item.class !== pimClass) throw new TypeError(`a ${item.class} item given to the ${pimClass} codec`);
    return item.data;
  };
  const wrap = (data: PimItem['data']): PimItem => ({ class: pimClass, data }) as PimItem;
  return {
    encode: (item, options) => codec.encode(dataOf(item), options),
    decode: (applicationData, version) => wrap(codec.decode(applicationData, version)),
    merge: (stored, incoming, supported, version) =>
      wrap(codec.merge(dataOf(stored), dataOf(incoming), supported, version)),
    window: (item) => codec.window(dataOf(item)),
  };
}

/** Built once: an item is encoded for every command of a Sync. */
const ITEM_CODECS: Record<PimClass, ClassCodec<PimItem>> = {
  Contacts: itemCodec('Contacts'),
  Calendar: itemCodec('Calendar'),
  Tasks: itemCodec('Tasks'),
  Notes: itemCodec('Notes'),
};

/** The children of ApplicationData for an item. */
export function encodeItem(item: PimItem, options: EncodeOptions): WbxmlElement[] {
  return codecFor(item.class).encode(item, options);
}

/** The item a phone sent in ApplicationData for a collection of `pimClass`; throws ItemError. */
export function decodeItem(
  pimClass: PimClass,
  applicationData: WbxmlElement,
  version: ProtocolVersion,
): PimItem {
  return codecFor(pimClass).decode(applicationData, version);
}

/** A phone's Change (as decodeItem returned it) applied to the stored item; see ClassCodec.merge. */
export function mergeItem(
  stored: PimItem,
  incoming: PimItem,
  supported: ReadonlySet<string> | undefined,
  version: ProtocolVersion,
): PimItem {
  return codecFor(stored.class).merge(stored, incoming, supported, version);
}

/** How far in time the item reaches, for FilterType. */
export function itemWindow(item: PimItem): ItemWindow {
  return codecFor(item.class).window(item);
}
