// Element tree → XML text, for logs and debugging only (EAS never exchanges this XML).
//
// The root element declares its namespace as the default (`<Sync xmlns="AirSync:">`, spelled with the
// trailing colon libwbxml and older EAS examples use) and every other namespace of the tree with a
// lower-case prefix (`xmlns:airsyncbase="AirSyncBase:"`, `<airsyncbase:Body>`). Opaque content is
// shown as base64 and marked with an `opaque="base64"` attribute, which cannot be confused with EAS
// data because EAS uses no attributes.

import type { Namespace, WbxmlElement } from './tree.ts';

/**
 * What to do with an element in the log: render it, leave it out, or render it with this text in
 * place of its content (e.g. `[redacted 1234 bytes]`, see redactedPlaceholder()).
 * (`string & {}` keeps the two literals visible to editors.)
 */
export type RedactDecision = 'keep' | 'drop' | (string & {});

export interface XmlOptions {
  /** Called for every element, with its ancestors from the root down. */
  redact?: (element: WbxmlElement, ancestors: readonly WbxmlElement[]) => RedactDecision;
  /** Indentation per nesting level; '' puts the whole document on one line. Default: two spaces. */
  indent?: string;
}

/** Renders a tree as namespaced, escaped XML. */
export function toXml(root: WbxmlElement, options: XmlOptions = {}): string {
  const renderer = new XmlRenderer(root.ns, options);
  // Evaluated once the root's content is rendered, when all namespaces in use are known.
  const declarations = (): string =>
    [
      ` xmlns="${root.ns}:"`,
      ...[...renderer.prefixedNamespaces].map((ns) => ` xmlns:${prefix(ns)}="${ns}:"`),
    ].join('');
  return renderer.element(root, [], declarations);
}

/** `[redacted N bytes]`, N being the UTF-8 size of the element's text, opaque data or descendants. */
export function redactedPlaceholder(element: WbxmlElement): string {
  return `[redacted ${contentBytes(element)} bytes]`;
}

function contentBytes(element: WbxmlElement): number {
  if (element.text !== undefined) return Buffer.byteLength(element.text, 'utf8');
  if (element.opaque !== undefined) return element.opaque.length;
  return element.children.reduce((sum, c) => sum + contentBytes(c), 0);
}

class XmlRenderer {
  /** Namespaces other than the root's that occur in the output. */
  readonly prefixedNamespaces = new Set<Namespace>();
  private readonly indent: string;
  private readonly newline: string;

  constructor(
    private readonly defaultNamespace: Namespace,
    private readonly options: XmlOptions,
  ) {
    this.indent = options.indent ?? '  ';
    this.newline = this.indent === '' ? '' : '\n';
  }

  element(element: WbxmlElement, ancestors: WbxmlElement[], attributes: () => string = () => ''): string {
    const decision = this.options.redact?.(element, ancestors) ?? 'keep';
    if (decision === 'drop') return '';
    const pad = this.indent.repeat(ancestors.length);
    const name = this.qualifiedName(element);
    if (decision !== 'keep') return `${pad}<${name}${attributes()}>${escapeText(decision)}</${name}>`;
    if (element.children.length > 0) {
      ancestors.push(element);
      const inner = element.children
        .map((c) => this.element(c, ancestors))
        .filter((s) => s !== '')
        .join(this.newline);
      ancestors.pop();
      if (inner !== '') {
        return `${pad}<${name}${attributes()}>${this.newline}${inner}${this.newline}${pad}</${name}>`;
      }
    } else if (element.text !== undefined) {
      return `${pad}<${name}${attributes()}>${escapeText(element.text)}</${name}>`;
    } else if (element.opaque !== undefined) {
      return `${pad}<${name}${attributes()} opaque="base64">${element.opaque.toString('base64')}</${name}>`;
    }
    return `${pad}<${name}${attributes()}/>`;
  }

  private qualifiedName({ ns, name }: WbxmlElement): string {
    if (ns === this.defaultNamespace) return name;
    this.prefixedNamespaces.add(ns);
    return `${prefix(ns)}:${name}`;
  }
}

function prefix(ns: Namespace): string {
  return ns.toLowerCase();
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

// eslint-disable-next-line no-control-regex -- control characters are made visible as references
const NEEDS_ESCAPE = /[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g;

function escapeText(text: string): string {
  return text.replace(NEEDS_ESCAPE, (c) => ESCAPES[c] ?? `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`);
}
