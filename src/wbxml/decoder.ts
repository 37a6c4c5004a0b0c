// WBXML 1.3 → element tree, for documents sent by phones. Everything a client sends is untrusted:
// every malformed, truncated or hostile input ends in one WbxmlError, in time linear in its size,
// with memory bounded by its size (limits on document size, depth, element count and string-table
// expansion; a declared string or opaque length can never exceed the bytes actually present).
//
// Strings are decoded as UTF-8 with invalid sequences replaced by U+FFFD rather than rejected: a
// single badly encoded subject must not make a whole Sync request (and so the folder) fail forever.

import {
  CHARSET_UTF8,
  CODE_PAGES,
  type CodePage,
  GlobalToken,
  TAG_HAS_ATTRIBUTES,
  TAG_HAS_CONTENT,
  TAG_TOKEN_MASK,
} from './codepages.ts';
import type { WbxmlElement } from './tree.ts';

/** Why a document was rejected: short, stable codes for logs and metrics. */
export type WbxmlErrorReason =
  | 'truncated'
  | 'unsupported-version'
  | 'unsupported-charset'
  | 'bad-mb-uint32'
  | 'bad-string-reference'
  | 'bad-entity'
  | 'unknown-code-page'
  | 'unknown-tag'
  | 'attributes-not-supported'
  | 'unsupported-token'
  | 'unexpected-token'
  | 'mixed-content'
  | 'no-root-element'
  | 'trailing-data'
  | 'too-large'
  | 'too-deep'
  | 'too-many-elements';

/** The one error a malformed, truncated or hostile document produces. */
export class WbxmlError extends Error {
  override readonly name = 'WbxmlError';

  constructor(
    readonly reason: WbxmlErrorReason,
    /** Byte offset in the decoded buffer at which the problem was found. */
    readonly offset: number,
    detail?: string,
  ) {
    super(`WBXML ${reason} at byte ${offset}${detail === undefined ? '' : `: ${detail}`}`);
  }
}

export interface DecodeOptions {
  /** Largest accepted document in bytes. The HTTP layer should pass its own body limit. */
  maxBytes?: number;
  /** Deepest accepted nesting; the root element is at depth 1. EAS documents stay below 20. */
  maxDepth?: number;
  /**
   * Most elements accepted in one document. Each costs about 100 bytes of memory for one byte of
   * input; a Sync request of 512 contacts has about 30,000.
   */
  maxElements?: number;
}

const DEFAULT_LIMITS: Required<DecodeOptions> = {
  maxBytes: 64 * 1024 * 1024,
  maxDepth: 64,
  maxElements: 200_000,
};

const MAX_CODE_POINT = 0x10ffff;

/** Decodes a complete WBXML document (header, string table and body). */
export function decode(input: Uint8Array, options: DecodeOptions = {}): WbxmlElement {
  const decoder = new Decoder(asBuffer(input), { ...DEFAULT_LIMITS, ...options });
  decoder.readHeader();
  return decoder.readBody();
}

/**
 * Decodes a headerless body, as if it followed the header EAS always sends (WBXML 1.3, unknown public
 * id, UTF-8, empty string table: 03 01 6A 00). For test fragments such as Horde_ActiveSync's.
 */
export function decodeFragment(body: Uint8Array, options: DecodeOptions = {}): WbxmlElement {
  return new Decoder(asBuffer(body), { ...DEFAULT_LIMITS, ...options }).readBody();
}

function asBuffer(input: Uint8Array): Buffer {
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

const NO_CONTENT = 0;
const TEXT = 1;
const OPAQUE = 2;
type ContentKind = typeof NO_CONTENT | typeof TEXT | typeof OPAQUE;

/**
 * An element whose END has not been read yet, with its content so far. One per nesting level,
 * reused from element to element: decoding allocates little beyond the tree itself.
 */
class OpenElement {
  content: ContentKind = NO_CONTENT;
  /** The first content piece, as a byte range of the input (the usual case: one STR_I or OPAQUE). */
  start = 0;
  end = 0;
  /** Further pieces: text made of several strings or entities, opaque data in several parts. */
  more: Buffer[] | undefined;

  constructor(public element: WbxmlElement) {}

  /** Takes this nesting level over for the next element at the same depth. */
  reuse(element: WbxmlElement): void {
    this.element = element;
    this.content = NO_CONTENT;
    this.more = undefined;
  }
}

class Decoder {
  private pos = 0;
  /** The string table, as a byte range of the input. */
  private stringTableStart = 0;
  private stringTableEnd = 0;
  /** Bytes produced by STR_T references so far; bounded so a small document cannot expand hugely. */
  private stringTableExpansion = 0;
  private page: CodePage = CODE_PAGES[0]!;
  /** Open elements, outermost first; `levels[depth]` and beyond are kept for reuse. */
  private readonly levels: OpenElement[] = [];
  private depth = 0;
  private elementCount = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly limits: Required<DecodeOptions>,
  ) {
    if (buf.length > limits.maxBytes) {
      throw new WbxmlError('too-large', limits.maxBytes, `document of ${buf.length} bytes`);
    }
  }

  readHeader(): void {
    const version = this.byte();
    // 1.1 and 1.2 share 1.3's layout; EAS clients send 1.3.
    if (version < 0x01 || version > 0x03) {
      throw new WbxmlError('unsupported-version', 0, `version byte 0x${hex(version)}`);
    }
    const publicId = this.mbUint32();
    // Public id 0 means "the id is a string in the string table", which is only read below.
    const publicIdOffset = this.pos;
    const publicIdIndex = publicId === 0 ? this.mbUint32() : undefined;
    const charsetOffset = this.pos;
    const charset = this.mbUint32();
    if (charset !== CHARSET_UTF8) {
      throw new WbxmlError('unsupported-charset', charsetOffset, `MIBenum ${charset}, only UTF-8 (106)`);
    }
    const length = this.mbUint32();
    this.stringTableStart = this.pos;
    this.stringTableEnd = this.skip(length);
    if (publicIdIndex !== undefined && publicIdIndex >= length) {
      throw new WbxmlError('bad-string-reference', publicIdOffset, `public id at ${publicIdIndex}`);
    }
  }

  readBody(): WbxmlElement {
    while (this.pos < this.buf.length) {
      const offset = this.pos;
      const token = this.buf[this.pos++]!;
      let root: WbxmlElement | undefined;
      switch (token) {
        case GlobalToken.SWITCH_PAGE:
          this.switchPage(offset);
          break;
        case GlobalToken.END:
          root = this.endElement(offset);
          break;
        case GlobalToken.STR_I:
          this.inlineString(offset);
          break;
        case GlobalToken.STR_T:
          this.tableString(offset);
          break;
        case GlobalToken.ENTITY:
          this.entity(offset);
          break;
        case GlobalToken.OPAQUE:
          this.opaque(offset);
          break;
        case GlobalToken.LITERAL:
        case GlobalToken.LITERAL_C:
        case GlobalToken.LITERAL_A:
        case GlobalToken.LITERAL_AC:
        case GlobalToken.PI:
        case GlobalToken.EXT_I_0:
        case GlobalToken.EXT_I_1:
        case GlobalToken.EXT_I_2:
        case GlobalToken.EXT_T_0:
        case GlobalToken.EXT_T_1:
        case GlobalToken.EXT_T_2:
        case GlobalToken.EXT_0:
        case GlobalToken.EXT_1:
        case GlobalToken.EXT_2:
          throw new WbxmlError('unsupported-token', offset, `global token 0x${hex(token)}, unused by EAS`);
        default:
          root = this.startElement(token, offset);
      }
      if (root !== undefined) return this.endOfDocument(root);
    }
    throw this.depth === 0
      ? new WbxmlError('no-root-element', this.pos)
      : new WbxmlError('truncated', this.pos, `${this.depth} element(s) not closed`);
  }

  private switchPage(offset: number): void {
    const number = this.byte();
    const page = CODE_PAGES[number];
    if (page === undefined) throw new WbxmlError('unknown-code-page', offset, `page ${number}`);
    this.page = page;
  }

  /** Reads a tag; returns the element if it is a root without content, i.e. the whole document. */
  private startElement(token: number, offset: number): WbxmlElement | undefined {
    if ((token & TAG_HAS_ATTRIBUTES) !== 0) {
      throw new WbxmlError('attributes-not-supported', offset, `tag byte 0x${hex(token)}`);
    }
    const { page, limits, depth } = this;
    const tagToken = token & TAG_TOKEN_MASK;
    const name = page.names[tagToken];
    if (name === undefined) {
      throw new WbxmlError('unknown-tag', offset, `page ${page.page} (${page.ns}) token 0x${hex(tagToken)}`);
    }
    if (depth >= limits.maxDepth)
      throw new WbxmlError('too-deep', offset, `more than ${limits.maxDepth} levels`);
    if (++this.elementCount > limits.maxElements) {
      throw new WbxmlError('too-many-elements', offset, `more than ${limits.maxElements}`);
    }
    const element: WbxmlElement = { ns: page.ns, name, children: [] };
    const withContent = (token & TAG_HAS_CONTENT) !== 0;
    if (depth > 0) {
      const parent = this.levels[depth - 1]!;
      if (parent.content !== NO_CONTENT) {
        throw new WbxmlError(
          'mixed-content',
          offset,
          `${name} inside ${parent.element.name}, which has content`,
        );
      }
      parent.element.children.push(element);
    } else if (!withContent) {
      return element;
    }
    if (withContent) {
      const level = this.levels[this.depth++];
      if (level === undefined) this.levels.push(new OpenElement(element));
      else level.reuse(element);
    }
    return undefined;
  }

  /** Reads an END; returns the root once it is closed. */
  private endElement(offset: number): WbxmlElement | undefined {
    if (this.depth === 0) throw new WbxmlError('unexpected-token', offset, 'END outside an element');
    const closed = this.levels[--this.depth]!;
    this.finishContent(closed);
    return this.depth === 0 ? closed.element : undefined;
  }

  private inlineString(offset: number): void {
    const target = this.innermost(offset);
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new WbxmlError('truncated', this.buf.length, 'inline string without terminator');
    this.addRange(target, TEXT, this.pos, end, offset);
    this.pos = end + 1;
  }

  private tableString(offset: number): void {
    const target = this.innermost(offset);
    const start = this.stringTableStart + this.mbUint32();
    const end = start < this.stringTableEnd ? this.buf.indexOf(0, start) : -1;
    if (end < 0 || end >= this.stringTableEnd) {
      throw new WbxmlError(
        'bad-string-reference',
        offset,
        `string table offset ${start - this.stringTableStart}`,
      );
    }
    this.stringTableExpansion += end - start;
    if (this.stringTableExpansion > this.buf.length) {
      throw new WbxmlError('too-large', offset, 'string table references expand beyond the document size');
    }
    this.addRange(target, TEXT, start, end, offset);
  }

  private entity(offset: number): void {
    const target = this.innermost(offset);
    const codePoint = this.mbUint32();
    if (codePoint > MAX_CODE_POINT) throw new WbxmlError('bad-entity', offset, `code point ${codePoint}`);
    // The character is not in the input: it goes after an empty first range.
    if (this.claim(target, TEXT, offset)) target.start = target.end = 0;
    (target.more ??= []).push(Buffer.from(String.fromCodePoint(codePoint), 'utf8'));
  }

  private opaque(offset: number): void {
    const target = this.innermost(offset);
    const length = this.mbUint32();
    const start = this.pos;
    this.addRange(target, OPAQUE, start, this.skip(length), offset);
  }

  /** The innermost open element, which receives the content token at `offset`. */
  private innermost(offset: number): OpenElement {
    if (this.depth === 0) throw new WbxmlError('unexpected-token', offset, 'content outside the root');
    return this.levels[this.depth - 1]!;
  }

  /** Adds a piece of text or opaque data, given as a byte range of the input. */
  private addRange(target: OpenElement, kind: ContentKind, start: number, end: number, offset: number): void {
    if (this.claim(target, kind, offset)) {
      target.start = start;
      target.end = end;
    } else {
      (target.more ??= []).push(this.buf.subarray(start, end));
    }
  }

  /** Checks that `target` may take content of this kind; true if this is its first piece. */
  private claim(target: OpenElement, kind: ContentKind, offset: number): boolean {
    if (target.element.children.length > 0) {
      throw new WbxmlError('mixed-content', offset, `content after child elements of ${target.element.name}`);
    }
    if (target.content === kind) return false;
    if (target.content !== NO_CONTENT) {
      throw new WbxmlError('mixed-content', offset, `text and opaque data in ${target.element.name}`);
    }
    target.content = kind;
    return true;
  }

  /** Turns the content pieces of a closed element into its text or opaque value. */
  private finishContent({ element, content, start, end, more }: OpenElement): void {
    const { buf } = this;
    // Buffer#toString replaces invalid UTF-8 with U+FFFD; it never throws.
    if (content === TEXT) {
      element.text =
        more === undefined
          ? buf.toString('utf8', start, end)
          : Buffer.concat([buf.subarray(start, end), ...more]).toString('utf8');
    } else if (content === OPAQUE) {
      // Opaque data in one piece stays a view into the input: no copy of large bodies.
      element.opaque =
        more === undefined ? buf.subarray(start, end) : Buffer.concat([buf.subarray(start, end), ...more]);
    }
  }

  private endOfDocument(root: WbxmlElement): WbxmlElement {
    if (this.pos !== this.buf.length) {
      throw new WbxmlError('trailing-data', this.pos, `${this.buf.length - this.pos} byte(s) after the root`);
    }
    return root;
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new WbxmlError('truncated', this.pos);
    return this.buf[this.pos++]!;
  }

  /** Skips `length` bytes; returns the new position. */
  private skip(length: number): number {
    if (length > this.buf.length - this.pos) {
      throw new WbxmlError(
        'truncated',
        this.pos,
        `${length} bytes declared, ${this.buf.length - this.pos} left`,
      );
    }
    return (this.pos += length);
  }

  /** A multi-byte unsigned integer: 7 bits per byte, high bit = "more follows", at most 32 bits. */
  private mbUint32(): number {
    const start = this.pos;
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      value = value * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) {
        if (value > 0xffffffff) throw new WbxmlError('bad-mb-uint32', start, 'value exceeds 32 bits');
        return value;
      }
    }
    throw new WbxmlError('bad-mb-uint32', start, 'longer than 5 bytes');
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
