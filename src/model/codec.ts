// The EAS side of the item model: one codec per data class turns a model into the children of a
// Sync ApplicationData (or ItemOperations Properties) and back, for the protocol version in use.

import type { ItemWindow } from '../backends/contract.ts';
import type { ProtocolVersion } from '../http/query.ts';
import type { WbxmlElement } from '../wbxml/tree.ts';

/** One AirSyncBase BodyPreference of the request (12.0+). */
export interface BodyPreference {
  /** 1 plain text, 2 HTML, 3 RTF, 4 MIME. */
  type: number;
  truncationSize?: number;
  allOrNone?: boolean;
  /** Preview characters (14.0+). */
  preview?: number;
}

export interface EncodeOptions {
  version: ProtocolVersion;
  /** The collection's body preferences; none: the body as plain text, whole. */
  bodyPreferences?: readonly BodyPreference[];
  /** 2.5 / 12.0 Truncation: 0–9 (MS-ASCMD Truncation) applied to plain bodies of old clients. */
  truncation?: number;
}

/** An item the phone sent that cannot be accepted; the engine answers Status 6 for it alone. */
export class ItemError extends Error {
  override readonly name = 'ItemError';
}

export interface ClassCodec<T> {
  /** The children of ApplicationData for this item at `options.version`. */
  encode(data: T, options: EncodeOptions): WbxmlElement[];
  /** The model of an ApplicationData (or Properties) element a phone sent; throws ItemError. */
  decode(applicationData: WbxmlElement, version: ProtocolVersion): T;
  /**
   * A phone's Change applied to the stored item: what it sent replaces, what it left out is deleted —
   * except properties it does not support (ghosted: not in `supported`, the `Namespace:Name`s of its
   * Supported element, when it sent one), which keep their stored value.
   */
  merge(stored: T, incoming: T, supported: ReadonlySet<string> | undefined, version: ProtocolVersion): T;
  /** How far in time the item reaches, for FilterType. */
  window(data: T): ItemWindow;
}
