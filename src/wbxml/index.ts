// The WBXML codec of EAS: element tree, decoder, encoders, code pages and an XML view for logs.

export { el, child, children, childText } from './tree.ts';
export type { Content, Namespace, WbxmlElement } from './tree.ts';
export { decode, decodeFragment, WbxmlError } from './decoder.ts';
export type { DecodeOptions, WbxmlErrorReason } from './decoder.ts';
export { encode, encodeStream, sanitizeText, WbxmlWriter } from './encoder.ts';
export type { WriterOptions } from './encoder.ts';
export { CODE_PAGES, codePage, tagName, tagToken } from './codepages.ts';
export type { CodePage } from './codepages.ts';
export { redactedPlaceholder, toXml } from './xml.ts';
export type { RedactDecision, XmlOptions } from './xml.ts';
