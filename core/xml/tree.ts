/**
 * A small non-validating XML reader for the daemon's own documents, keeping the node structure
 * libxml2 (and so Nokogiri, which OpenNebula's CLI uses) builds, because `-x` and `-j` depend on
 * it: every text and CDATA node is kept, adjacent text merges with text and adjacent CDATA with
 * CDATA (never with each other), comments are kept. As in every XML parser, line ends are read as
 * LF before anything else.
 *
 * Not supported, and reported as XmlSyntaxError: attributes, DTDs, entities other than the five
 * predefined ones and character references, processing instructions inside the root. Nesting
 * deeper than libxml2's default limit (256) is refused, so the recursive walkers over the tree
 * are safe.
 */

type XmlTreeNode = XmlElement | XmlText | XmlCData | XmlComment;

export interface XmlElement {
  readonly kind: 'element';
  readonly name: string;
  readonly children: readonly XmlTreeNode[];
}

/** Character data with references decoded. */
interface XmlText {
  readonly kind: 'text';
  readonly value: string;
}

/** The content of a CDATA section, as written between `<![CDATA[` and `]]>`. */
interface XmlCData {
  readonly kind: 'cdata';
  readonly value: string;
}

interface XmlComment {
  readonly kind: 'comment';
  readonly value: string;
}

export class XmlSyntaxError extends Error {
  override readonly name = 'XmlSyntaxError';
}

/** libxml2's `xmlParserMaxDepth` without XML_PARSE_HUGE. */
export const MAX_XML_DEPTH = 256;

const NAME_AT = /[A-Za-z_:\u0080-\uFFFF][\w.:\u0080-\uFFFF-]*/y;
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const REFERENCE = /&(?:#(\d{1,7})|#x([0-9A-Fa-f]{1,6})|(amp|lt|gt|quot|apos));/g;
const SPACE = new Set([' ', '\t', '\n']);
const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;

/** XML 1.0 `Char`. */
function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** An element being read: the same object becomes the finished element (one allocation). */
interface Open {
  readonly kind: 'element';
  readonly name: string;
  readonly children: XmlTreeNode[];
}

class Reader {
  #pos = 0;
  constructor(readonly src: string) {}

  fail(message: string, at = this.#pos): never {
    let line = 1;
    let lineStart = 0;
    for (let i = this.src.indexOf('\n'); i !== -1 && i < at; i = this.src.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    throw new XmlSyntaxError(`${message} at line ${line}, column ${at - lineStart + 1}`);
  }

  parse(): XmlElement {
    this.misc(true);
    if (this.#pos >= this.src.length) this.fail('no root element');
    const root = this.content();
    this.misc(false);
    if (this.#pos < this.src.length) this.fail('content after the root element');
    return root;
  }

  spaces(): void {
    while (SPACE.has(this.src[this.#pos] ?? '')) this.#pos++;
  }

  /** Whitespace, comments and processing instructions around the root (prolog and epilog). */
  misc(prolog: boolean): void {
    const s = this.src;
    for (;;) {
      this.spaces();
      if (s.startsWith('<?', this.#pos)) this.#pos = this.until('?>', 'processing instruction');
      else if (s.startsWith('<!--', this.#pos)) this.#pos = this.until('-->', 'comment');
      else if (prolog && s.startsWith('<!DOCTYPE', this.#pos)) this.fail('a DOCTYPE is not supported');
      else return;
    }
  }

  /** Index just past the next `end`. */
  until(end: string, what: string): number {
    const i = this.src.indexOf(end, this.#pos);
    if (i === -1) this.fail(`unterminated ${what}`);
    return i + end.length;
  }

  name(): string {
    NAME_AT.lastIndex = this.#pos;
    const m = NAME_AT.exec(this.src);
    if (!m) this.fail('expected an element name');
    this.#pos += m[0].length;
    return m[0];
  }

  /** The root element and everything inside it, iteratively (no recursion on nesting). */
  content(): XmlElement {
    const s = this.src;
    const stack: Open[] = [];
    for (;;) {
      const top = stack.at(-1);
      if (this.#pos >= s.length) this.fail(`<${top?.name ?? '?'}> is not closed`);
      if (s.charCodeAt(this.#pos) !== LT) {
        if (!top) this.fail('text outside the root element');
        const lt = s.indexOf('<', this.#pos);
        const end = lt === -1 ? s.length : lt;
        append(top.children, 'text', this.decode(this.#pos, end));
        this.#pos = end;
        continue;
      }
      const next = s.charCodeAt(this.#pos + 1);
      if (next === SLASH) {
        const done = this.close(stack);
        const parent = stack.at(-1);
        if (!parent) return done;
        parent.children.push(done);
      } else if (next === BANG && s.startsWith('<![CDATA[', this.#pos)) {
        if (!top) this.fail('CDATA outside the root element');
        const start = this.#pos + 9;
        const end = s.indexOf(']]>', start);
        if (end === -1) this.fail('unterminated CDATA section');
        append(top.children, 'cdata', s.slice(start, end));
        this.#pos = end + 3;
      } else if (next === BANG && s.startsWith('<!--', this.#pos)) {
        const end = this.until('-->', 'comment');
        top?.children.push({ kind: 'comment', value: s.slice(this.#pos + 4, end - 3) });
        this.#pos = end;
      } else if (next === BANG || next === QUESTION) {
        this.fail('processing instructions and declarations are not supported inside the root');
      } else {
        this.#pos++;
        const name = this.name();
        this.spaces();
        if (s.charCodeAt(this.#pos) === GT) {
          this.#pos++;
          if (stack.length >= MAX_XML_DEPTH) this.fail(`elements nested deeper than ${MAX_XML_DEPTH}`);
          stack.push({ kind: 'element', name, children: [] });
        } else if (s.startsWith('/>', this.#pos)) {
          this.#pos += 2;
          const empty: XmlElement = { kind: 'element', name, children: [] };
          if (!top) return empty;
          top.children.push(empty);
        } else {
          this.fail(`attributes are not supported (in <${name}>)`);
        }
      }
    }
  }

  /** An end tag: pops the element it closes, which must be the innermost one open. */
  close(stack: Open[]): XmlElement {
    const at = this.#pos;
    this.#pos += 2;
    const name = this.name();
    this.spaces();
    if (this.src.charCodeAt(this.#pos) !== GT) this.fail(`expected > to end </${name}`);
    this.#pos++;
    const open = stack.pop();
    if (!open || open.name !== name) {
      this.fail(open ? `</${name}> closes <${open.name}>` : `</${name}> closes nothing`, at);
    }
    return open;
  }

  /** Character data between start and end with its references replaced. */
  decode(start: number, end: number): string {
    return decodeReferences(this.src.slice(start, end), (message, offset) =>
      this.fail(message, start + offset),
    );
  }
}

/**
 * Character data with its references replaced; `fail` is called with the offset of the first
 * reference XML refuses (a stray `&`, a character XML does not allow).
 */
function decodeReferences(raw: string, fail: (message: string, offset: number) => never): string {
  if (!raw.includes('&')) return raw;
  // The common case, escaped markup (an XML document inside an XML-RPC string): only the
  // predefined entities, decoded in one pass over bytes (several times less garbage than
  // string replaces on a megabyte of text); anything else takes the general loop below.
  if (raw.length > 4096 && !raw.includes('&#')) {
    const fast = decodePredefined(raw);
    if (fast !== undefined) return fast;
  }
  let out = '';
  let last = 0;
  REFERENCE.lastIndex = 0;
  for (let m = REFERENCE.exec(raw); m; m = REFERENCE.exec(raw)) {
    const stray = raw.indexOf('&', last);
    if (stray < m.index) fail('& that starts no entity or character reference', stray);
    let ch: string;
    if (m[3] !== undefined) ch = PREDEFINED[m[3]] as string;
    else {
      const cp = m[1] !== undefined ? Number(m[1]) : Number.parseInt(m[2] as string, 16);
      if (!isXmlChar(cp)) fail(`${m[0]} is not a character XML allows`, m.index);
      ch = String.fromCodePoint(cp);
    }
    out += raw.slice(last, m.index) + ch;
    last = m.index + m[0].length;
  }
  const stray = raw.indexOf('&', last);
  if (stray !== -1) fail('& that starts no entity or character reference', stray);
  return out + raw.slice(last);
}

const REFUSED = new XmlSyntaxError('refused');
const refuse = (): never => {
  throw REFUSED;
};

/**
 * Character data (between tags, LF line ends) with its references replaced as parseXmlTree
 * replaces them, or undefined where parseXmlTree would refuse the document.
 */
export function decodeCharData(raw: string): string | undefined {
  try {
    return decodeReferences(raw, refuse);
  } catch (err) {
    if (err === REFUSED) return undefined;
    throw err;
  }
}

const AMP = 0x26;
const SEMI = 0x3b;

/** The byte `&name;` at src[at] stands for and the entity's length, for the five predefined ones. */
function predefinedAt(src: Buffer, at: number): [number, number] | undefined {
  const a = src[at + 1];
  const b = src[at + 2];
  const c = src[at + 3];
  if (b === 0x74 && c === SEMI) {
    if (a === 0x6c) return [LT, 4]; // &lt;
    if (a === 0x67) return [GT, 4]; // &gt;
    return undefined;
  }
  const d = src[at + 4];
  if (a === 0x61 && b === 0x6d && c === 0x70 && d === SEMI) return [AMP, 5]; // &amp;
  if (src[at + 5] !== SEMI) return undefined;
  if (a === 0x71 && b === 0x75 && c === 0x6f && d === 0x74) return [0x22, 6]; // &quot;
  if (a === 0x61 && b === 0x70 && c === 0x6f && d === 0x73) return [0x27, 6]; // &apos;
  return undefined;
}

/** Text with only `&lt; &gt; &amp; &quot; &apos;` decoded; undefined at any other `&`. */
function decodePredefined(raw: string): string | undefined {
  const src = Buffer.from(raw, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  // A plain loop: most runs between entities are a few bytes, where Buffer#copy costs more
  // than the bytes themselves.
  for (let i = 0; i < src.length; ) {
    const b = src[i] as number;
    if (b !== AMP) {
      out[o++] = b;
      i++;
      continue;
    }
    const entity = predefinedAt(src, i);
    if (!entity) return undefined;
    out[o++] = entity[0];
    i += entity[1];
  }
  return out.toString('utf8', 0, o);
}

/** Adds text or CDATA, merged into the previous sibling when it is of the same kind (libxml2). */
function append(children: XmlTreeNode[], kind: 'text' | 'cdata', value: string): void {
  const last = children.at(-1);
  if (last?.kind === kind) children[children.length - 1] = { kind, value: last.value + value };
  else children.push({ kind, value });
}

/**
 * Parses a document into its root element. Throws XmlSyntaxError (with line and column) on
 * anything that is not well-formed or not supported.
 */
export function parseXmlTree(xml: string): XmlElement {
  const src = xml.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  return new Reader(src).parse();
}
