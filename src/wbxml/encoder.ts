// Element tree → WBXML 1.3, for responses to phones: version 1.3, public id 1 ("unknown"), UTF-8 and
// an empty string table, then the body with SWITCH_PAGE only where the code page changes.
//
// Text is sanitized on the way out: NUL, the other C0 controls except tab/LF/CR, and U+FFFE/U+FFFF
// are dropped, and lone surrogates become U+FFFD (by the UTF-8 conversion), because phones reject
// or mis-parse documents containing them. Elements without content are written as empty tags.
//
// Three entry points produce the same bytes: encode() returns one Buffer, encodeStream() yields
// chunks while it walks a tree, and WbxmlWriter lets a command append elements as it produces them,
// so that a large Sync response never has to exist as a whole, neither as a tree nor as bytes.

import {
  CHARSET_UTF8,
  codePage,
  GlobalToken,
  PUBLIC_ID_UNKNOWN,
  TAG_HAS_CONTENT,
  WBXML_VERSION_1_3,
} from './codepages.ts';
import type { Namespace, WbxmlElement } from './tree.ts';

const HEADER = Buffer.from([WBXML_VERSION_1_3, PUBLIC_ID_UNKNOWN, CHARSET_UTF8, 0x00]);
const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Room for the longest fixed-size run of bytes the writer reserves at once. */
const MIN_CHUNK_SIZE = 64;
const NO_CHUNK = Buffer.alloc(0);
/** Strings up to this length are written by writeShortText(), which beats Buffer#write's call cost. */
const SHORT_TEXT = 32;
/** Opaque data at least this large is handed on as its own chunk instead of being copied. */
const PASS_THROUGH_MIN = 16 * 1024;
/** Longest mb_u_int32 (5 bytes) + the OPAQUE token. */
const OPAQUE_HEADER_MAX = 6;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNWANTED_CHARACTER = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;
const UNWANTED_CHARACTERS = new RegExp(UNWANTED_CHARACTER.source, 'g');

/** Text as it will be sent: without the characters that phones choke on. */
export function sanitizeText(text: string): string {
  return UNWANTED_CHARACTER.test(text) ? text.replace(UNWANTED_CHARACTERS, '') : text;
}

/** Writes `text` as UTF-8 at `offset`; returns the byte count. Copies ASCII itself, the rest natively. */
function writeShortText(chunk: Buffer, offset: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return chunk.write(text, offset, 'utf8');
    chunk[offset + i] = c;
  }
  return text.length;
}

export interface WriterOptions {
  /** Size of the chunks handed to the sink (except passed-through opaque data). Default 64 KiB. */
  chunkSize?: number;
}

/**
 * Writes a WBXML document element by element and hands the bytes to `sink` in chunks of about
 * `chunkSize` bytes. Large opaque values are passed to the sink as they are, without a copy.
 * The header is written before the first element; call end() after the root is closed.
 * The sink is called synchronously: a caller writing to a socket can check for back-pressure
 * (`writableNeedDrain`) between elements and wait for 'drain' before appending more.
 */
export class WbxmlWriter {
  /** The chunk being filled; allocated when the first byte needs it. */
  private chunk = NO_CHUNK;
  private used = 0;
  private page = 0;
  /** Names of the open elements, for error messages and to check nesting. */
  private readonly open: string[] = [];
  private started = false;
  private finished = false;
  private readonly chunkSize: number;

  constructor(
    private readonly sink: (chunk: Buffer) => void,
    options: WriterOptions = {},
  ) {
    this.chunkSize = Math.max(options.chunkSize ?? DEFAULT_CHUNK_SIZE, MIN_CHUNK_SIZE);
  }

  /** Opens an element whose children follow; close it with close(). */
  openElement(ns: Namespace, name: string): this {
    this.writeTag(ns, name, true);
    this.open.push(name);
    return this;
  }

  /** Closes the innermost open element. */
  close(): this {
    if (this.open.pop() === undefined) throw new Error('WbxmlWriter: close() without an open element');
    this.writeEnd();
    return this;
  }

  /** Writes an element with text, opaque bytes or no content. */
  leaf(ns: Namespace, name: string, content?: string | Buffer): this {
    if (typeof content === 'string') {
      const text = sanitizeText(content);
      if (text === '') return this.emptyElement(ns, name);
      this.writeTag(ns, name, true);
      this.writeString(text);
    } else if (content !== undefined && content.length > 0) {
      this.writeTag(ns, name, true);
      this.writeOpaque(content);
    } else {
      return this.emptyElement(ns, name);
    }
    this.writeEnd();
    return this;
  }

  /** Writes an element and its whole subtree. */
  element(root: WbxmlElement): this {
    const walk = new TreeWalk(root);
    while (walk.step(this));
    return this;
  }

  /** Hands the last bytes to the sink. Throws when elements are still open. */
  end(): void {
    if (this.open.length > 0) throw new Error(`WbxmlWriter: end() with <${this.open.join('><')}> still open`);
    if (!this.started) throw new Error('WbxmlWriter: end() before any element');
    this.flush();
  }

  private emptyElement(ns: Namespace, name: string): this {
    this.writeTag(ns, name, false);
    return this;
  }

  private writeTag(ns: Namespace, name: string, withContent: boolean): void {
    if (this.finished) throw new Error(`WbxmlWriter: ${ns}:${name} after the root element was closed`);
    if (!this.started) {
      this.started = true;
      this.reserve(HEADER.length);
      this.used += HEADER.copy(this.chunk, this.used);
    }
    const cp = codePage(ns);
    const token = cp.tokens.get(name);
    if (token === undefined) throw new Error(`WBXML: no tag ${name} on code page ${ns}`);
    this.reserve(3);
    if (cp.page !== this.page) {
      this.chunk[this.used++] = GlobalToken.SWITCH_PAGE;
      this.chunk[this.used++] = cp.page;
      this.page = cp.page;
    }
    this.chunk[this.used++] = withContent ? token | TAG_HAS_CONTENT : token;
    if (!withContent && this.open.length === 0) this.finished = true;
  }

  private writeEnd(): void {
    this.reserve(1);
    this.chunk[this.used++] = GlobalToken.END;
    if (this.open.length === 0) this.finished = true;
  }

  private writeString(text: string): void {
    // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
    const worstCase = text.length * 3 + 2;
    if (worstCase <= this.chunkSize) {
      this.reserve(worstCase);
      const { chunk } = this;
      chunk[this.used++] = GlobalToken.STR_I;
      this.used +=
        text.length <= SHORT_TEXT
          ? writeShortText(chunk, this.used, text)
          : chunk.write(text, this.used, 'utf8');
      chunk[this.used++] = 0;
      return;
    }
    this.reserve(1);
    this.chunk[this.used++] = GlobalToken.STR_I;
    this.writeBytes(Buffer.from(text, 'utf8'));
    this.reserve(1);
    this.chunk[this.used++] = 0;
  }

  private writeOpaque(data: Buffer): void {
    this.reserve(OPAQUE_HEADER_MAX);
    this.chunk[this.used++] = GlobalToken.OPAQUE;
    let length = data.length;
    // mb_u_int32: 7-bit groups, most significant first, high bit on all but the last byte.
    const groups: number[] = [length & 0x7f];
    while ((length = Math.floor(length / 128)) > 0) groups.push((length & 0x7f) | 0x80);
    for (let i = groups.length - 1; i >= 0; i--) this.chunk[this.used++] = groups[i]!;
    this.writeBytes(data);
  }

  /** Copies small data into the current chunk; hands large data to the sink as it is. */
  private writeBytes(data: Buffer): void {
    if (data.length < PASS_THROUGH_MIN && data.length <= this.chunkSize) {
      this.reserve(data.length);
      this.used += data.copy(this.chunk, this.used);
      return;
    }
    this.flush();
    this.sink(data);
  }

  /** Makes room for `n` more bytes (n ≤ chunkSize) in the current chunk. */
  private reserve(n: number): void {
    if (this.used + n <= this.chunk.length) return;
    this.flush();
    this.chunk = Buffer.allocUnsafe(this.chunkSize);
  }

  /** Hands the filled part of the chunk to the sink, which keeps it: the next chunk is a new one. */
  private flush(): void {
    if (this.used > 0) this.sink(this.chunk.subarray(0, this.used));
    this.chunk = NO_CHUNK;
    this.used = 0;
  }
}

/**
 * Walks a tree depth first without recursion, writing one element boundary per step, so that
 * encodeStream() can hand out chunks between steps and deep trees cannot overflow the stack.
 */
class TreeWalk {
  private readonly stack: { element: WbxmlElement; next: number }[] = [];
  private pending: WbxmlElement | undefined;

  constructor(root: WbxmlElement) {
    this.pending = root;
  }

  /** Writes the next start tag, leaf or end tag; false when the walk is over. */
  step(writer: WbxmlWriter): boolean {
    const element = this.pending;
    if (element !== undefined) {
      this.pending = undefined;
      const { ns, name, children, text, opaque } = element;
      if (children.length > 0) {
        if (text !== undefined || opaque !== undefined) {
          throw new Error(`WBXML: ${ns}:${name} has both children and text or opaque content`);
        }
        writer.openElement(ns, name);
        this.stack.push({ element, next: 0 });
      } else {
        if (text !== undefined && opaque !== undefined) {
          throw new Error(`WBXML: ${ns}:${name} has both text and opaque content`);
        }
        writer.leaf(ns, name, text ?? opaque);
      }
    } else {
      const top = this.stack.at(-1);
      if (top === undefined) return false;
      const next = top.element.children[top.next++];
      if (next === undefined) {
        this.stack.pop();
        writer.close();
      } else {
        this.pending = next;
      }
    }
    return this.pending !== undefined || this.stack.length > 0;
  }
}

/** Encodes a tree as one WBXML document. */
export function encode(root: WbxmlElement): Buffer {
  const chunks: Buffer[] = [];
  const writer = new WbxmlWriter((chunk) => chunks.push(chunk), { chunkSize: 16 * 1024 });
  writer.element(root).end();
  // Copies even a single chunk, so the result is exactly as large as the document.
  return Buffer.concat(chunks);
}

/**
 * Encodes a tree lazily: each chunk is produced when the consumer asks for it, so
 * `Readable.from(encodeStream(tree))` streams a large response with back-pressure.
 * Yields the same bytes as encode(); large opaque values are yielded without a copy.
 */
export function* encodeStream(
  root: WbxmlElement,
  options: WriterOptions = {},
): Generator<Buffer, void, undefined> {
  const ready: Buffer[] = [];
  const writer = new WbxmlWriter((chunk) => ready.push(chunk), options);
  const walk = new TreeWalk(root);
  let more = true;
  while (more) {
    more = walk.step(writer);
    if (!more) writer.end();
    if (ready.length > 0) yield* ready.splice(0);
  }
}
