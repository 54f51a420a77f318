/**
 * Character-level reading of template text with 1-based line and column tracking. CRLF and a
 * lone CR are read as LF. Values follow OpenNebula's lexer: a quoted value `"..."` (only `\"`
 * is an escape) or an unquoted run of characters other than blanks and `= # , [ ]`; when both
 * match at a `"`, the longer wins (so `"x"y` is the unquoted value `"x"y`, as in OpenNebula).
 */
import type { Position } from './types.js';

const UNQUOTED = /[^=#\s,[\]]/;

export type ValueResult =
  | { readonly kind: 'value'; readonly value: string; readonly quoted: boolean }
  | { readonly kind: 'error'; readonly at: Position; readonly message: string };

export class Scanner {
  private readonly text: string;
  private i = 0;
  private line = 1;
  private col = 1;

  constructor(text: string) {
    this.text = text.replace(/\r\n?/g, '\n');
  }

  position(): Position {
    return { line: this.line, column: this.col };
  }

  offset(): number {
    return this.i;
  }

  atEnd(): boolean {
    return this.i >= this.text.length;
  }

  peek(ahead = 0): string | undefined {
    return this.text[this.i + ahead];
  }

  advance(): void {
    if (this.text[this.i] === '\n') {
      this.line++;
      this.col = 1;
    } else this.col++;
    this.i++;
  }

  skipBlanks(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.advance();
  }

  /** Blanks, comments (`#` to end of line) and, when allowed, newlines. */
  skipSpaceAndComments(newlines: boolean): void {
    for (;;) {
      const ch = this.peek();
      if (ch === ' ' || ch === '\t' || ch === '\f' || ch === '\v' || (newlines && ch === '\n'))
        this.advance();
      else if (ch === '#') {
        while (!this.atEnd() && this.peek() !== '\n') this.advance();
      } else return;
    }
  }

  /** The text from offset up to the next blank, newline or '#' (for quoting hints). */
  wordFrom(offset: number): string {
    const m = /^[^\s#]*/.exec(this.text.slice(offset, offset + 200));
    return m ? m[0] : '';
  }

  skipLine(): void {
    while (!this.atEnd() && this.peek() !== '\n') this.advance();
  }

  readName(): string {
    const start = this.i;
    while (!this.atEnd() && /[A-Za-z0-9_]/.test(this.peek() as string)) this.advance();
    return this.text.slice(start, this.i);
  }

  private unquotedLength(from: number): number {
    let j = from;
    while (j < this.text.length && UNQUOTED.test(this.text[j] as string)) j++;
    return j - from;
  }

  private consume(n: number): string {
    const start = this.i;
    for (let k = 0; k < n; k++) this.advance();
    return this.text.slice(start, this.i);
  }

  readValue(): ValueResult {
    const at = this.position();
    const unquotedLen = this.unquotedLength(this.i);
    if (this.peek() !== '"') {
      if (unquotedLen === 0)
        return { kind: 'error', at, message: `expected a value, found '${this.peek() ?? 'end of file'}'` };
      return { kind: 'value', value: unescapeQuotes(this.consume(unquotedLen)), quoted: false };
    }
    // Quoted: find the closing quote; remember an escaped quote that ends a line (`"x\"` + newline).
    let j = this.i + 1;
    let value = '';
    let suspicious: Position | undefined;
    let line = at.line;
    let col = at.column + 1;
    while (j < this.text.length) {
      const c = this.text[j] as string;
      if (c === '\\' && this.text[j + 1] === '"') {
        if (!suspicious && /^[ \t]*(\n|$)/.test(this.text.slice(j + 2, j + 200)))
          suspicious = { line, column: col };
        value += '"';
        j += 2;
        col += 2;
        continue;
      }
      if (c === '"') break;
      value += c;
      if (c === '\n') {
        line++;
        col = 1;
      } else col++;
      j++;
    }
    if (j >= this.text.length) {
      if (suspicious) {
        return {
          kind: 'error',
          at: suspicious,
          message:
            'a quoted value cannot end with a backslash: \\" is an escaped quote, so the value does not end here',
        };
      }
      return {
        kind: 'error',
        at,
        message: `unterminated quote: the value opened here never closes; add the closing "`,
      };
    }
    const quotedLen = j + 1 - this.i;
    if (unquotedLen > quotedLen)
      return { kind: 'value', value: unescapeQuotes(this.consume(unquotedLen)), quoted: false };
    const after = this.text[j + 1];
    if (after !== undefined && !/[\s#,\]]/.test(after)) {
      if (suspicious) {
        return {
          kind: 'error',
          at: suspicious,
          message:
            'a quoted value cannot end with a backslash: \\" is an escaped quote, so the value does not end here',
        };
      }
      if (line > at.line) {
        return {
          kind: 'error',
          at,
          message: `unterminated quote: the value opened here runs on to line ${line}; add the closing " on this line`,
        };
      }
    }
    this.consume(quotedLen);
    return { kind: 'value', value, quoted: true };
  }
}

/** OpenNebula's unescape: `\"` becomes `"`; every other backslash stays as typed. */
function unescapeQuotes(s: string): string {
  return s.replaceAll('\\"', '"');
}
