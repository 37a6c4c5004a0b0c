// MS-ASNOTE: a note as the children of ApplicationData. The class exists from protocol 14.0.

import { isVersionAtLeast, type ProtocolVersion } from '../http/query.ts';
import { bodyProperty } from './body.ts';
import { ItemError, type ClassCodec } from './codec.ts';
import {
  compactDateTime,
  decodeWithTable,
  encodeWithTable,
  field,
  list,
  mergeWithTable,
  property,
  text,
  textOf,
  type Property,
  type PropertyTable,
  type Wire,
} from './property-table.ts';
import type { Note } from './types.ts';

export const DEFAULT_NOTE_CLASS = 'IPM.StickyNote';

/** MS-ASNOTE MessageClass: IPM.StickyNote or IPM.StickyNote.<anything>; the default is not stored. */
const messageClass: Wire<string> = {
  write: (value) => value,
  read(element, key) {
    const value = textOf(element).trim();
    if (!/^IPM\.StickyNote(\..+)?$/i.test(value)) {
      throw new ItemError(
        `${key}: ${JSON.stringify(value.slice(0, 40))} is not IPM.StickyNote or IPM.StickyNote.*`,
      );
    }
    return value.toLowerCase() === DEFAULT_NOTE_CLASS.toLowerCase() ? undefined : value;
  },
};

/** LastModifiedDate: written from the store's time; a phone's is ignored (MS-ASNOTE 3.2.5.3.1). */
const lastModified: Property<Note> = {
  ...property('Notes', 'LastModifiedDate', field('lastModified'), compactDateTime),
  keptWhenAbsent: true,
  decode: () => false,
};

export const NOTE_PROPERTIES: PropertyTable<Note> = [
  bodyProperty('Notes'),
  // MS-ASNOTE 3.2.5.3: neither a missing Body nor a missing Subject deletes it.
  property('Notes', 'Subject', field('subject'), text(), { keptWhenAbsent: true }),
  property('Notes', 'MessageClass', field('messageClass'), messageClass, { whenUnset: DEFAULT_NOTE_CLASS }),
  lastModified,
  property('Notes', 'Categories', field('categories'), list('Notes', 'Category', 300)),
];

const hasNotes = (version: ProtocolVersion): boolean => isVersionAtLeast(version, '14.0');

export const noteCodec: ClassCodec<Note> = {
  encode(note, options) {
    // Below 14.0 there is no Notes code page: such a phone is never offered a notes folder.
    if (!hasNotes(options.version))
      throw new RangeError(`the Notes class needs protocol 14.0, not ${options.version}`);
    return encodeWithTable(NOTE_PROPERTIES, note, options);
  },
  decode(applicationData, version) {
    if (!hasNotes(version)) throw new ItemError(`the Notes class needs protocol 14.0, not ${version}`);
    return decodeWithTable(NOTE_PROPERTIES, applicationData, version);
  },
  merge: (stored, incoming, supported, version) =>
    mergeWithTable(NOTE_PROPERTIES, stored, incoming, supported, version),
  window: () => ({ end: null }),
};
