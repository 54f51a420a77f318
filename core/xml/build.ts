/**
 * A tiny builder for the daemon's XML documents, compact as OpenNebula writes them (no
 * whitespace between elements; an empty element is `<X></X>`).
 */
export interface XmlNode {
  readonly xml: string;
}

export type XmlChild = XmlNode | string;

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** Text in CDATA; a `]]>` inside is split across two sections so the text survives intact. */
export function cdata(text: string): XmlNode {
  return { xml: `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>` };
}

/** An element; string children are escaped text. */
export function el(name: string, ...children: readonly XmlChild[]): XmlNode {
  const inner = children.map((c) => (typeof c === 'string' ? escapeXml(c) : c.xml)).join('');
  return { xml: `<${name}>${inner}</${name}>` };
}

export function raw(xml: string): XmlNode {
  return { xml };
}

export function render(node: XmlNode): string {
  return node.xml;
}
