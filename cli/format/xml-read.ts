/** A small typed view over the daemon's XML documents, for the CLIs (core/xml/tree.ts underneath). */
import { parseXmlTree, type XmlElement as XmlTreeElement } from '../../core/xml/tree.js';
import { CliError } from '../cli-error.js';

export class XmlElement {
  constructor(
    readonly name: string,
    private readonly node: XmlTreeElement | undefined,
  ) {}

  /** Child elements in document order, optionally only those with this name. */
  children(name?: string): XmlElement[] {
    const out: XmlElement[] = [];
    for (const c of this.node?.children ?? []) {
      if (c.kind === 'element' && (name === undefined || c.name === name))
        out.push(new XmlElement(c.name, c));
    }
    return out;
  }

  child(name: string): XmlElement | undefined {
    return this.children(name)[0];
  }

  /** Text content (text and CDATA) of this element, or of the named child ('' when absent). */
  text(name?: string): string {
    if (name !== undefined) return this.child(name)?.text() ?? '';
    let text = '';
    let hasElements = false;
    for (const c of this.node?.children ?? []) {
      if (c.kind === 'text' || c.kind === 'cdata') text += c.value;
      else if (c.kind === 'element') hasElements = true;
    }
    return hasElements && text.trim() === '' ? '' : text;
  }

  num(name: string): number {
    return Number(this.text(name));
  }
}

export function parseStringSync(xml: string): XmlElement {
  try {
    const root = parseXmlTree(xml);
    return new XmlElement(root.name, root);
  } catch (err) {
    throw new CliError(
      `the daemon sent a document that is not XML: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
