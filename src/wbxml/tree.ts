// The typed element tree every command works with. An EAS element carries exactly one kind of
// content: child elements, text, or opaque bytes (MS-ASWBXML never mixes them).

/** Code page names as MS-ASWBXML spells them (page 0 = AirSync … page 25 = Find). */
export type Namespace =
  | 'AirSync'
  | 'Contacts'
  | 'Email'
  | 'AirNotify'
  | 'Calendar'
  | 'Move'
  | 'GetItemEstimate'
  | 'FolderHierarchy'
  | 'MeetingResponse'
  | 'Tasks'
  | 'ResolveRecipients'
  | 'ValidateCert'
  | 'Contacts2'
  | 'Ping'
  | 'Provision'
  | 'Search'
  | 'GAL'
  | 'AirSyncBase'
  | 'Settings'
  | 'DocumentLibrary'
  | 'ItemOperations'
  | 'ComposeMail'
  | 'Email2'
  | 'Notes'
  | 'RightsManagement'
  | 'Find';

export interface WbxmlElement {
  ns: Namespace;
  name: string;
  children: WbxmlElement[];
  /** Inline or string-table text, concatenated. */
  text?: string;
  /** OPAQUE content (MIME bodies, TimeZone blobs, attachments). */
  opaque?: Buffer;
}

export type Content = string | Buffer | WbxmlElement[] | undefined;

/** Builds an element; `content` is text, opaque bytes or children. */
export function el(ns: Namespace, name: string, content?: Content): WbxmlElement {
  if (content === undefined) return { ns, name, children: [] };
  if (typeof content === 'string') return { ns, name, children: [], text: content };
  if (Buffer.isBuffer(content)) return { ns, name, children: [], opaque: content };
  return { ns, name, children: content };
}

/** The first child with this name (and namespace, when given). */
export function child(parent: WbxmlElement, name: string, ns?: Namespace): WbxmlElement | undefined {
  return parent.children.find((c) => c.name === name && (ns === undefined || c.ns === ns));
}

/** All children with this name (and namespace, when given). */
export function children(parent: WbxmlElement, name: string, ns?: Namespace): WbxmlElement[] {
  return parent.children.filter((c) => c.name === name && (ns === undefined || c.ns === ns));
}

/** Text of the named child, or undefined when it is absent. */
export function childText(parent: WbxmlElement, name: string, ns?: Namespace): string | undefined {
  return child(parent, name, ns)?.text;
}
