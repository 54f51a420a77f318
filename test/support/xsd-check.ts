/**
 * Checks an XML document against the content model of an OpenNebula schema, as extracted into
 * test/support/opennebula-xsd.json by scripts/extract-one-xsd.mjs: every required element present,
 * in the schema's order, no more occurrences than allowed, integers and decimals well-formed, and
 * no element the schema does not know except onebackup's documented extensions (EXTENSIONS).
 * Schemas are deterministic (XSD's unique particle attribution), so greedy matching is exact.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseXmlTree, type XmlElement } from '../../core/xml/tree.js';
import { REPO } from './daemon.js';

interface ElementDecl {
  readonly n: string;
  readonly min: number;
  readonly max: number;
  readonly t?: string;
  readonly c?: Particle;
}
interface GroupDecl {
  readonly g: 'sequence' | 'choice' | 'all';
  readonly min: number;
  readonly max: number;
  readonly p: readonly Particle[];
}
interface AnyDecl {
  readonly any: true;
  readonly min: number;
  readonly max: number;
}
type Particle = ElementDecl | GroupDecl | AnyDecl;

const SCHEMA = JSON.parse(readFileSync(join(REPO, 'test', 'support', 'opennebula-xsd.json'), 'utf8')) as {
  documents: Record<string, ElementDecl>;
};

/**
 * Elements onebackup adds beyond OpenNebula's schemas, by path (`/`-joined element names from the
 * root, without the pool element): clients built from the schemas (pyone, goca, the Ruby OCA)
 * skip elements they do not know. Anything else unknown is an error.
 */
export const EXTENSIONS: ReadonlySet<string> = new Set([
  'VM/BACKUPS/BACKUP_PROGRESS',
  // When the VM's last backup ended (the scheduler's and `onevm backup --wait`'s reference).
  'VM/BACKUPS/BACKUP_CONFIG/LAST_BACKUP_TIME',
  ...[
    'BYTES_READ',
    'BYTES_STORED',
    'BYTES_DEDUPLICATED',
    'BYTES_ZERO',
    'DURATION_MS',
    'COMPRESSION',
    'ENCRYPTION',
    'DISK_DIGESTS',
    // A live (kvm) backup's instant: core/docs/inventory.ts captureEls.
    'HYPERVISOR',
    'CONSISTENCY',
    'FROZEN_MS',
    'CHECKPOINT',
    'CHANGES_SINCE',
    'CHANGED_BYTES',
    'FULL_READ',
    'WARNING',
  ].map((n) => `IMAGE/BACKUP_INCREMENTS/INCREMENT/${n}`),
  'BACKUPJOB/TEMPLATE/SCHED_ACTION/INTERVAL',
  'BACKUPJOB/TEMPLATE/SCHED_ACTION/CRON',
]);

const elementsOf = (e: XmlElement): XmlElement[] =>
  e.children.filter((c): c is XmlElement => c.kind === 'element');

function textOf(e: XmlElement): string {
  return e.children.map((c) => (c.kind === 'text' || c.kind === 'cdata' ? c.value : '')).join('');
}

const NUMERIC: Readonly<Record<string, RegExp>> = {
  integer: /^-?\d+$/,
  long: /^-?\d+$/,
  decimal: /^-?\d+(\.\d+)?$/,
  float: /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/,
};

class Checker {
  readonly problems: string[] = [];

  element(decl: ElementDecl, e: XmlElement, path: string): void {
    const pattern = decl.t ? NUMERIC[decl.t] : undefined;
    if (pattern && !pattern.test(textOf(e).trim())) {
      this.problems.push(`${path}: ${JSON.stringify(textOf(e))} is not an xs:${decl.t}`);
    }
    if (decl.t && decl.t !== 'anyType' && decl.t !== 'string' && elementsOf(e).length > 0) {
      this.problems.push(`${path}: holds elements, the schema says xs:${decl.t}`);
    }
    if (!decl.c) return;
    const rel = path.replace(/^[A-Z]+_POOL\//, '');
    const children = elementsOf(e).filter((c) => !EXTENSIONS.has(`${rel}/${c.name}`));
    const end = this.particle(decl.c, children, 0, path);
    if (end < children.length) {
      const next = children[end] as XmlElement;
      this.problems.push(
        `${path}: <${next.name}> is not allowed here (after ${end === 0 ? 'the start' : `<${children[end - 1]?.name}>`}); expected ${describe(decl.c)}`,
      );
    }
  }

  /** Matches p at children[pos...]; returns the position after what it consumed. */
  particle(p: Particle, children: readonly XmlElement[], pos: number, path: string): number {
    let count = 0;
    let at = pos;
    while (p.max === -1 || count < p.max) {
      const next = this.once(p, children, at, path);
      if (next === undefined) break;
      count++;
      // A group that matched nothing is satisfied once; looping on it would never end.
      if (next === at) break;
      at = next;
    }
    if (count < p.min) {
      const wanted = 'n' in p ? `<${p.n}>` : describe(p);
      const found = children[at] ? `<${children[at]?.name}>` : 'the end';
      this.problems.push(`${path}: missing ${wanted} (found ${found})`);
    }
    return at;
  }

  /** One occurrence of p at pos, or undefined when it does not start there. */
  once(p: Particle, children: readonly XmlElement[], pos: number, path: string): number | undefined {
    if ('any' in p) return pos < children.length ? pos + 1 : undefined;
    if ('n' in p) {
      const c = children[pos];
      if (c?.name !== p.n) return undefined;
      this.element(p, c, `${path}/${p.n}`);
      return pos + 1;
    }
    if (p.g === 'choice') {
      for (const alt of p.p) {
        if (this.starts(alt, children[pos])) return this.particle(alt, children, pos, path);
      }
      return undefined;
    }
    if (p.g === 'all') {
      let at = pos;
      const seen = new Set<string>();
      for (;;) {
        const c = children[at];
        const decl = p.p.find((q): q is ElementDecl => 'n' in q && q.n === c?.name && !seen.has(q.n));
        if (!c || !decl) break;
        seen.add(decl.n);
        this.element(decl, c, `${path}/${decl.n}`);
        at++;
      }
      for (const q of p.p)
        if ('n' in q && q.min > 0 && !seen.has(q.n)) this.problems.push(`${path}: missing <${q.n}>`);
      return at === pos ? undefined : at;
    }
    if (!this.starts(p, children[pos]) && !nullable(p)) return undefined;
    let at = pos;
    for (const q of p.p) at = this.particle(q, children, at, path);
    return at;
  }

  starts(p: Particle, c: XmlElement | undefined): boolean {
    if (!c) return false;
    if ('any' in p) return true;
    if ('n' in p) return p.n === c.name;
    if (p.g === 'sequence') {
      for (const q of p.p) {
        if (this.starts(q, c)) return true;
        if (q.min > 0 && !nullable(q)) return false;
      }
      return false;
    }
    return p.p.some((q) => this.starts(q, c));
  }
}

function nullable(p: Particle): boolean {
  if (p.min === 0) return true;
  if ('any' in p || 'n' in p) return false;
  return p.g === 'choice' ? p.p.some(nullable) : p.p.every(nullable);
}

function describe(p: Particle): string {
  if ('any' in p) return 'any element';
  if ('n' in p) return `<${p.n}>`;
  return p.p.map(describe).join(p.g === 'choice' ? ' | ' : ', ');
}

/** Problems of `xml` against OpenNebula's schema `schema` (vm, vm_pool, host, ...); [] when valid. */
export function checkAgainstXsd(schema: string, xml: string): string[] {
  const decl = SCHEMA.documents[schema];
  if (!decl) throw new Error(`no schema ${schema} in opennebula-xsd.json`);
  const root = parseXmlTree(xml);
  if (root.name !== decl.n) return [`root is <${root.name}>, the schema's is <${decl.n}>`];
  const c = new Checker();
  c.element(decl, root, root.name);
  return c.problems;
}

/** The schema documents extracted (for tests that cover them all). */
export const XSD_DOCUMENTS: readonly string[] = Object.keys(SCHEMA.documents);
