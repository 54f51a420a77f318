/**
 * Rules shared by the text and XML forms of a template: how names are stored (SPEC.md 1.3,
 * row 16) and which values can be stored at all.
 */
import { findNonXmlChar } from '../xml/build.js';

/** What the text grammar accepts as a name (SPEC.md 1.2). */
export const NAME_PATTERN = /^[A-Za-z0-9_]+$/;

/**
 * Upper-cases a name and applies OpenNebula's ONE_ prefix: a first character that is not a letter
 * or `_`, or a name spelled with upper-case `XML` at the start, cannot be an XML element name.
 * The check looks at the original spelling, so `xml_thing` becomes `XML_THING`, unprefixed.
 *
 * OpenNebula applies this to top-level names only and upper-cases vector sub-keys as they are,
 * so `V = [ 1A = "x" ]` gives it a document with a `<1A>` element no XML parser reads back. We
 * apply it to sub-keys too, so that every stored template has a well-formed XML form.
 */
export function normaliseName(original: string): string {
  const needsPrefix = !/^[A-Za-z_]/.test(original) || original.startsWith('XML');
  const upper = original.toUpperCase();
  return needsPrefix ? `ONE_${upper}` : upper;
}

/** OpenNebula's `trim`: the ASCII white space " \f\n\r\t\v" at both ends; NBSP and others stay. */
export function trimValue(value: string): string {
  return value.replace(/^[ \f\n\r\t\v]+|[ \f\n\r\t\v]+$/g, '');
}

/** A reason a value cannot be stored, and where in the value it is. */
interface ValueProblem {
  readonly index: number;
  readonly message: string;
}

const CONTROL_NAMES: Readonly<Record<string, string>> = {
  '\0': 'NUL',
  '\f': 'form feed',
  '\v': 'vertical tab',
  '\x1B': 'escape',
};

/**
 * Why value cannot be kept, if it cannot: a `]]>` (templates are stored and shown in XML CDATA
 * sections, which it would end; OpenNebula answers a bare `Parse error.`) or a character XML 1.0
 * cannot carry at all (OpenNebula stores it and then writes XML nobody can read).
 */
export function findValueProblem(value: string): ValueProblem | undefined {
  const cdataEnd = value.indexOf(']]>');
  const bad = findNonXmlChar(value);
  const badIndex = bad === undefined ? -1 : value.indexOf(bad);
  if (cdataEnd !== -1 && (badIndex === -1 || cdataEnd < badIndex)) {
    return {
      index: cdataEnd,
      message: "a value cannot contain ']]>': templates are kept in XML CDATA sections, which it would end",
    };
  }
  if (bad === undefined) return undefined;
  const code = `U+${(bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  const name = CONTROL_NAMES[bad];
  return {
    index: badIndex,
    message: `a value cannot contain the character ${code}${name ? ` (${name})` : ''}: XML cannot carry it`,
  };
}
