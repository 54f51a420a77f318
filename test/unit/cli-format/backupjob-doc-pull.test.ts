/**
 * The pull reader (cli/format/backupjob-doc-pull.ts) against the tree-based reader it replaces on
 * the hot path: the same objects for every document it reads, and every other document left to
 * the tree reader, so parseBackupJob[Pool]Xml give the same objects and the same errors as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupJobDoc } from '../../../cli/format/backupjob-doc.js';
import {
  parseBackupJobPoolXml,
  parseBackupJobXml,
  pullBackupJob,
  pullBackupJobPool,
} from '../../../cli/format/backupjob-doc-pull.js';
import { PERMISSION_ELEMENTS } from '../../../core/permissions.js';
import { cdata, escapeXml, render } from '../../../core/xml/build.js';
import { parseBackupJobPoolXmlTree, parseBackupJobXmlTree } from './backupjob-doc-tree.js';
import { job2Xml, POOL_XML, SCHED3, SCHED4 } from './fixtures.js';

/** Deterministic PRNG (mulberry32), so a failure names a seed that reproduces it. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Vector values as ordered entries: deepStrictEqual compares Maps regardless of order. */
function comparable(docs: BackupJobDoc | readonly BackupJobDoc[]): unknown {
  return JSON.parse(
    JSON.stringify(docs, (_k, v: unknown) =>
      v instanceof Map ? { map: [...v] } : Object.is(v, -0) ? 'minus zero' : v,
    ),
  );
}

function assertSame(actual: BackupJobDoc | readonly BackupJobDoc[], expected: typeof actual): void {
  assert.deepStrictEqual(actual, expected);
  assert.deepStrictEqual(comparable(actual), comparable(expected));
}

/** What a reader gives: the objects, or the error's class and message. */
function outcome<T>(read: () => T): { ok: T } | { error: string } {
  try {
    return { ok: read() };
  } catch (err) {
    return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

class Gen {
  readonly rnd: () => number;
  constructor(
    seed: number,
    readonly pretty: boolean,
  ) {
    this.rnd = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  /** Text with markup characters, `]]>`, blanks, non-ASCII and astral characters. */
  value(): string {
    const pieces = [
      'a',
      'Zz',
      ' ',
      '  ',
      '<b>',
      '&',
      '"q"',
      "'",
      ']]>',
      ']]',
      '>',
      'é',
      'Ω',
      '日本',
      '😀',
      '\n',
      '\t',
    ];
    let s = '';
    for (let i = this.int(6); i > 0; i--) s += this.pick(pieces);
    return s;
  }

  /** A value as the daemon writes it (CDATA, `]]>` split) or escaped, or with character references. */
  text(v: string): string {
    switch (this.int(4)) {
      case 0:
        return render(cdata(v));
      case 1:
        return escapeXml(v);
      case 2:
        return [...v].map((c) => (this.int(2) ? `&#${c.codePointAt(0)};` : escapeXml(c))).join('');
      default:
        return [...v].map((c) => `&#x${(c.codePointAt(0) as number).toString(16)};`).join('');
    }
  }

  el(name: string, inner: string, depth: number): string {
    if (inner === '' && this.int(3) === 0) return `<${name}/>`;
    if (!this.pretty) return `<${name}>${inner}</${name}>`;
    return `<${name}>${inner}</${name}${this.int(4) === 0 ? ' ' : ''}>\n${'  '.repeat(depth)}`;
  }

  block(name: string, children: readonly string[], depth: number): string {
    if (children.length === 0) return this.el(name, '', depth);
    const pad = this.pretty ? `\n${'  '.repeat(depth + 1)}` : '';
    return this.el(name, pad + children.join(''), depth);
  }

  /** An integer, sometimes with blanks around it (and a sign, where signs are allowed). */
  intText(n: number, signed = true): string {
    const s = String(n);
    return this.int(8) === 0 ? ` ${signed ? this.pick(['+', '']) : ''}${s}\n` : s;
  }

  ids(name: string, depth: number): string {
    const ids = Array.from({ length: this.int(4) }, () =>
      this.el('ID', this.intText(this.int(2000), false), depth + 1),
    );
    if (ids.length > 0 && this.int(5) === 0) ids.push(this.el('OTHER', 'x', depth + 1));
    return this.block(name, ids, depth);
  }

  schedAction(depth: number): string {
    const d = depth + 1;
    const parts = [
      this.el('ID', this.intText(this.int(100)), d),
      this.el('PARENT_ID', String(this.int(9)), d),
      this.el('TYPE', 'BACKUPJOB', d),
      this.el('ACTION', 'backup', d),
      this.el('ARGS', this.text(this.value()), d),
      this.el('TIME', String(1767225600 + this.int(99999)), d),
      this.el('REPEAT', String(this.int(5) - 1), d),
      this.el('DAYS', this.pick(['', '1,5', '0', '12']), d),
      this.el('END_TYPE', String(this.int(4) - 1), d),
      this.el('END_VALUE', this.pick(['-1', '10', '-0']), d),
      this.el('DONE', String(this.int(3) - 1), d),
      this.el('MESSAGE', this.text(this.value()), d),
      this.el('WARNING', '0', d),
      this.el('INTERVAL', this.pick(['', '6 hours']), d),
      this.el('CRON', this.pick(['', '0 3 * * *']), d),
    ];
    // Optional elements may be absent; the reader takes the first of a repeated one.
    const kept = parts.filter((_part, i) => i === 0 || i === 5 || this.int(6) !== 0);
    if (this.int(5) === 0) kept.push(this.el('MESSAGE', 'second', d));
    return this.block('SCHED_ACTION', kept, depth);
  }

  attribute(depth: number): string {
    const name = this.pick(['DESCRIPTION', 'KEEP_LAST', 'MODE', 'LABELS', 'X_Ü', 'a.b-c', 'EMPTY']);
    if (this.int(3) === 0) {
      const subs = Array.from({ length: 1 + this.int(3) }, () =>
        this.el(this.pick(['Z', 'A', 'KEY', 'Z']), this.text(this.value()), depth + 2),
      );
      return this.block(name, subs, depth + 1);
    }
    return this.el(name, this.text(this.value()), depth + 1);
  }

  job(depth: number, withScheds: boolean): string {
    const d = depth + 1;
    const perms = PERMISSION_ELEMENTS;
    const template = Array.from({ length: this.int(6) }, () => this.attribute(d));
    if (withScheds) {
      for (let i = this.int(3); i > 0; i--)
        template.splice(this.int(template.length + 1), 0, this.schedAction(d + 1));
    }
    const parts = [
      this.el('ID', this.intText(this.int(5000)), d),
      this.el('UID', String(this.int(3)), d),
      this.el('GID', String(this.int(3)), d),
      this.el('UNAME', this.text(this.pick(['oneadmin', 'ålice', 'b&b'])), d),
      this.el('GNAME', this.text('users'), d),
      this.el('NAME', this.text(this.value()), d),
      this.int(3) === 0
        ? this.block(
            'LOCK',
            [
              this.el('LOCKED', String(1 + this.int(4)), d + 1),
              ...(this.int(2) ? [this.el('OWNER', '0', d + 1)] : []),
              this.el('TIME', String(1767600000 + this.int(999)), d + 1),
              ...(this.int(2) ? [this.el('REQ_ID', String(this.int(99)), d + 1)] : []),
            ],
            d,
          )
        : '',
      this.block(
        'PERMISSIONS',
        perms.map((p) => this.el(p, String(this.int(2)), d + 1)),
        d,
      ),
      this.el('PRIORITY', String(this.int(100)), d),
      this.el('LAST_BACKUP_TIME', String(this.int(2) * 1767600000), d),
      this.el('LAST_BACKUP_DURATION', String(this.int(60)), d),
      this.ids('SCHED_ACTIONS', d),
      this.ids('UPDATED_VMS', d),
      this.ids('OUTDATED_VMS', d),
      this.ids('BACKING_UP_VMS', d),
      this.ids('ERROR_VMS', d),
      this.int(6) === 0 ? '' : this.block('TEMPLATE', template, d),
    ];
    if (this.int(6) === 0) parts.splice(1 + this.int(parts.length - 1), 0, this.el('UNKNOWN', '<X>y</X>', d));
    if (this.int(6) === 0) parts.push(this.el('NAME', 'second name', d));
    return this.block('BACKUPJOB', parts, depth);
  }

  prolog(): string {
    return this.pick(['', '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-8"?>\n', '\uFEFF']);
  }

  pool(): string {
    const jobs = Array.from({ length: this.int(4) }, () => this.job(1, false));
    return this.prolog() + this.block('BACKUPJOB_POOL', jobs, 0) + this.pick(['', '\n', ' <?pi x?> ']);
  }

  single(): string {
    return this.prolog() + this.job(0, true);
  }
}

const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);

/** Valid documents: the fixtures and the generated ones. */
function validPools(): string[] {
  const out = [
    POOL_XML,
    '<BACKUPJOB_POOL></BACKUPJOB_POOL>',
    '<BACKUPJOB_POOL/>',
    ' <BACKUPJOB_POOL >\n</BACKUPJOB_POOL>',
  ];
  for (const seed of SEEDS) out.push(new Gen(seed, seed % 2 === 0).pool());
  return out;
}

function validJobs(): string[] {
  const out = [job2Xml(), job2Xml([]), job2Xml([SCHED4, SCHED3], '<LOCK><LOCKED>1</LOCKED></LOCK>')];
  for (const seed of SEEDS) out.push(new Gen(seed, seed % 3 === 0).single());
  return out;
}

/** Small corruptions of a valid document; many leave it invalid, some leave it valid. */
function mutations(xml: string, seed: number): string[] {
  const rnd = prng(seed);
  const at = () => Math.floor(rnd() * xml.length);
  const i = at();
  const out = [
    xml.slice(0, i),
    xml.slice(0, i) + xml.slice(i + 1),
    `${xml.slice(0, i)}<${xml.slice(i)}`,
    `${xml.slice(0, i)}&${xml.slice(i)}`,
    `${xml.slice(0, i)}&nbsp;${xml.slice(i)}`,
    `${xml.slice(0, i)}&#0;${xml.slice(i)}`,
    `${xml.slice(0, i)}<!-- c -->${xml.slice(i)}`,
    `${xml.slice(0, i)}\r\n${xml.slice(i)}`,
    `${xml.slice(0, i)}<![CDATA[${xml.slice(i)}`,
    xml.replace('<ID>', '<ID a="1">'),
    xml.replace(/<(\w+)>[^<]*<\/\1>/, ''),
    xml.replace(/<PRIORITY>\d+/, '<PRIORITY>high'),
    xml.replace(/<LOCKED>\d/, '<LOCKED>x'),
    xml.replace('<OWNER_A>', '<OWNER_B>').replace('</OWNER_A>', '</OWNER_B>'),
    xml.replace(/<(UPDATED_VMS|OUTDATED_VMS)>/, '<$1><ID>-1</ID>'),
    xml.replace('</NAME>', '</NAMEX>'),
    xml.replace('<TEMPLATE>', '<TEMPLATE><SCHED_ACTION><TIME>1</TIME></SCHED_ACTION>'),
    xml.replace('<TEMPLATE>', `<TEMPLATE>${'<D>'.repeat(300)}${'</D>'.repeat(300)}`),
    `${xml}<X/>`,
    `${xml}text`,
    `<!DOCTYPE x>${xml}`,
    xml.replace('BACKUPJOB', 'VM').replace(/BACKUPJOB>$/, 'VM>'),
  ];
  return out;
}

describe('pull reader of BackupJob documents', () => {
  it('reads every valid pool exactly as the tree-based reader', () => {
    const pools = validPools();
    for (const xml of pools) {
      const pulled = pullBackupJobPool(xml);
      assert.ok(pulled, `the pull reader gave up on ${xml.slice(0, 200)}`);
      assertSame(pulled, parseBackupJobPoolXmlTree(xml));
      assertSame(parseBackupJobPoolXml(xml), pulled);
    }
    // The generator reaches the cases named in the brief.
    const all = pools.join('');
    for (const needle of [']]]]><![CDATA[>', '&amp;', '&#', '<LOCK>', '<SCHED_ACTIONS/>', 'é', '<Z>'])
      assert.ok(all.includes(needle), needle);
  });

  it('reads every valid single job exactly as the tree-based reader', () => {
    const jobs = validJobs();
    for (const xml of jobs) {
      const pulled = pullBackupJob(xml);
      assert.ok(pulled, `the pull reader gave up on ${xml.slice(0, 200)}`);
      assertSame(pulled, parseBackupJobXmlTree(xml));
      assertSame(parseBackupJobXml(xml), pulled);
    }
    assert.ok(jobs.some((x) => x.includes('<SCHED_ACTION>')));
    assert.ok(jobs.some((x) => pullBackupJob(x)?.schedActions.length === 2));
  });

  it('keeps -0, signs and blanks in integers as the tree reader reads them', () => {
    const xml = job2Xml([{ ...SCHED3, endValue: -0 }]).replace('<END_VALUE>0<', '<END_VALUE>-0<');
    const doc = pullBackupJob(xml.replace('<PRIORITY>50<', '<PRIORITY> +50\n<'));
    assert.ok(doc);
    assert.equal(doc.priority, 50);
    assert.ok(Object.is(doc.schedActions[0]?.endValue, -0));
    assertSame(doc, parseBackupJobXmlTree(xml.replace('<PRIORITY>50<', '<PRIORITY> +50\n<')));
  });

  it('leaves anything else to the tree reader: same objects or the same error as before', () => {
    let gaveUp = 0;
    let errors = 0;
    const check = <T extends BackupJobDoc | BackupJobDoc[]>(
      xml: string,
      pull: (x: string) => T | undefined,
      tree: (x: string) => T,
      parse: (x: string) => T,
    ) => {
      const reference = outcome(() => tree(xml));
      const pulled = pull(xml);
      if (pulled === undefined) gaveUp++;
      else {
        // Whatever the pull reader reads, the tree reader reads the same way.
        assert.ok('ok' in reference, `pull read a document the tree refuses: ${xml.slice(0, 300)}`);
        assertSame(pulled, reference.ok);
      }
      const actual = outcome(() => parse(xml));
      if ('error' in reference) {
        errors++;
        assert.deepStrictEqual(actual, reference);
      } else {
        assert.ok('ok' in actual);
        assertSame(actual.ok, reference.ok);
      }
    };
    validPools().forEach((xml, i) => {
      for (const bad of mutations(xml, i))
        check(bad, pullBackupJobPool, parseBackupJobPoolXmlTree, parseBackupJobPoolXml);
    });
    validJobs().forEach((xml, i) => {
      for (const bad of mutations(xml, i + 1000))
        check(bad, pullBackupJob, parseBackupJobXmlTree, parseBackupJobXml);
    });
    assert.ok(gaveUp > 1000, `gave up ${gaveUp} times`);
    assert.ok(errors > 1000, `${errors} errors`);
  });
});
