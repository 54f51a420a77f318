/**
 * A pull cursor over an XML document (line ends already LF, no BOM) for readers that build their
 * objects straight from the text (backupjob-doc-pull.ts): elements are pulled one at a time by
 * their parent's reader, no tree is built. It accepts what core/xml/tree.ts accepts and throws
 * NotWellFormed on anything else, leaving the message (line and column) to parseXmlTree.
 */
import { decodeCharData, MAX_XML_DEPTH } from '../../core/xml/tree.js';

/** The text is not XML this cursor reads; parseXmlTree says where and why. */
export class NotWellFormed extends Error {}

function notWellFormed(): never {
  throw new NotWellFormed();
}

const TAB = 0x09;
const LF = 0x0a;
const SPACE = 0x20;
const BANG = 0x21;
const SLASH = 0x2f;
const LT = 0x3c;
const GT = 0x3e;
const QUESTION = 0x3f;

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === TAB;
}

/** core/xml/tree.ts's NAME_AT, first character: `[A-Za-z_:\u0080-\uFFFF]`. */
function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0x80;
}

/** NAME_AT, later characters: `[\w.:\u0080-\uFFFF-]`. */
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d;
}

/** A cursor over the document: elements are pulled one at a time by their parent's reader. */
export class Pull {
  pos = 0;
  /** Elements open around the cursor (the tree reader's stack). */
  depth = 0;
  /** Whether the start tag `next` just read was `<X/>`. */
  empty = false;
  /** Text and CDATA gathered by `next` when asked to keep it. */
  text = '';

  constructor(readonly src: string) {}

  /** Whitespace, comments and processing instructions before or after the root. */
  misc(): void {
    const s = this.src;
    for (;;) {
      while (isSpace(s.charCodeAt(this.pos))) this.pos++;
      if (s.charCodeAt(this.pos) !== LT) return;
      // As the tree reader: the end is searched from the `<` (so `<?>` is a whole instruction).
      let end: string;
      if (s.charCodeAt(this.pos + 1) === QUESTION) end = '?>';
      else if (s.startsWith('<!--', this.pos)) end = '-->';
      else return;
      const at = s.indexOf(end, this.pos);
      if (at === -1) notWellFormed();
      this.pos = at + end.length;
    }
  }

  /** The root's start tag; returns its name. */
  root(): string {
    this.misc();
    if (this.src.charCodeAt(this.pos) !== LT) notWellFormed();
    this.pos++;
    return this.startTag();
  }

  /** After the root's end tag: only whitespace, comments and processing instructions may follow. */
  end(): void {
    this.misc();
    if (this.pos !== this.src.length) notWellFormed();
  }

  /** Just past `<`: the element name, up to and including `>` or `/>`. */
  startTag(): string {
    const s = this.src;
    const start = this.pos;
    if (!isNameStart(s.charCodeAt(start))) notWellFormed();
    let p = start + 1;
    while (isNameChar(s.charCodeAt(p))) p++;
    const name = s.slice(start, p);
    while (isSpace(s.charCodeAt(p))) p++;
    const c = s.charCodeAt(p);
    if (c === GT) {
      if (this.depth >= MAX_XML_DEPTH) notWellFormed();
      this.depth++;
      this.empty = false;
      this.pos = p + 1;
    } else if (c === SLASH && s.charCodeAt(p + 1) === GT) {
      this.empty = true;
      this.pos = p + 2;
    } else notWellFormed();
    return name;
  }

  /**
   * Inside `parent` (whose start tag was `<parent>`): the name of its next child element, its
   * start tag read (`empty` set), or undefined once `</parent>` is read. Text and CDATA on the way
   * are added to `text` when `keep`, and checked either way; comments are skipped.
   */
  next(parent: string, keep: boolean): string | undefined {
    const s = this.src;
    for (;;) {
      const lt = s.indexOf('<', this.pos);
      if (lt === -1) notWellFormed();
      if (lt > this.pos) {
        const raw = s.slice(this.pos, lt);
        const text = raw.indexOf('&') === -1 ? raw : (decodeCharData(raw) ?? notWellFormed());
        if (keep) this.text += text;
      }
      const c = s.charCodeAt(lt + 1);
      if (c === SLASH) {
        this.endTag(lt, parent);
        return undefined;
      }
      if (c === BANG) {
        if (s.startsWith('<![CDATA[', lt)) {
          const end = s.indexOf(']]>', lt + 9);
          if (end === -1) notWellFormed();
          if (keep) this.text += s.slice(lt + 9, end);
          this.pos = end + 3;
        } else if (s.startsWith('<!--', lt)) {
          const end = s.indexOf('-->', lt);
          if (end === -1) notWellFormed();
          this.pos = end + 3;
        } else notWellFormed();
        continue;
      }
      this.pos = lt + 1;
      return this.startTag();
    }
  }

  /** `</name>` at `lt`: reads past it, closing the element. */
  endTag(lt: number, name: string): void {
    const s = this.src;
    if (!s.startsWith(name, lt + 2)) notWellFormed();
    let p = lt + 2 + name.length;
    if (isNameChar(s.charCodeAt(p))) notWellFormed();
    while (isSpace(s.charCodeAt(p))) p++;
    if (s.charCodeAt(p) !== GT) notWellFormed();
    this.pos = p + 1;
    this.depth--;
  }

  /** Reads past the element `next` just started, checking it. */
  skip(name: string): void {
    if (this.empty) return;
    for (let c = this.next(name, false); c !== undefined; c = this.next(name, false)) this.skip(c);
  }

  /** The text of the element `next` just started (the tree reader's textOf). */
  textOf(name: string): string {
    if (this.empty) return '';
    // The daemon's leaves: plain text or one CDATA section, then the end tag.
    const s = this.src;
    const lt = s.indexOf('<', this.pos);
    if (lt !== -1 && s.charCodeAt(lt + 1) === SLASH) {
      const raw = s.slice(this.pos, lt);
      if (raw.indexOf('&') === -1) {
        this.endTag(lt, name);
        return raw;
      }
    } else if (lt === this.pos && s.startsWith('<![CDATA[', lt)) {
      const end = s.indexOf(']]>', lt + 9);
      if (end !== -1 && s.charCodeAt(end + 3) === LT && s.charCodeAt(end + 4) === SLASH) {
        const value = s.slice(lt + 9, end);
        this.endTag(end + 3, name);
        return value;
      }
    }
    const outer = this.text;
    this.text = '';
    let hasElements = false;
    for (let c = this.next(name, true); c !== undefined; c = this.next(name, true)) {
      hasElements = true;
      this.skip(c);
    }
    const text = this.text;
    this.text = outer;
    return hasElements && text.trim() === '' ? '' : text;
  }
}
