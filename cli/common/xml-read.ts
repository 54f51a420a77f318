/** A small typed view over the daemon's XML documents, for the CLIs (xml2js underneath). */
import { parseString } from 'xml2js';
import { CliError } from './credentials.js';

type Raw = { [key: string]: unknown; _?: string; $$?: Raw[]; '#name'?: string };

export class XmlElement {
  constructor(
    readonly name: string,
    private readonly raw: Raw | string,
  ) {}

  /** Child elements in document order, optionally only those with this name. */
  children(name?: string): XmlElement[] {
    if (typeof this.raw === 'string') return [];
    const all = (this.raw.$$ ?? []).map((r) => new XmlElement(String(r['#name']), r));
    return name === undefined ? all : all.filter((c) => c.name === name);
  }

  child(name: string): XmlElement | undefined {
    return this.children(name)[0];
  }

  /** Text content of this element, or of the named child ('' when absent). */
  text(name?: string): string {
    if (name !== undefined) return this.child(name)?.text() ?? '';
    if (typeof this.raw === 'string') return this.raw;
    return typeof this.raw._ === 'string' ? this.raw._ : '';
  }

  num(name: string): number {
    return Number(this.text(name));
  }
}

export function parseStringSync(xml: string): XmlElement {
  let result: XmlElement | undefined;
  let failure: unknown;
  parseString(
    xml,
    {
      explicitChildren: true,
      preserveChildrenOrder: true,
      charsAsChildren: false,
      explicitRoot: true,
      trim: false,
    },
    (err, doc: Record<string, Raw> | null) => {
      if (err || !doc) {
        failure = err ?? new Error('empty document');
        return;
      }
      const [name, raw] = Object.entries(doc)[0] as [string, Raw];
      result = new XmlElement(name, raw ?? '');
    },
  );
  if (!result) throw new CliError(`the daemon sent a document that is not XML: ${String(failure)}`);
  return result;
}
