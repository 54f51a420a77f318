/**
 * The first entry points of `onebackupjob list` / `show`, kept for callers outside cli/format
 * until they move to backupjob-doc.ts, backupjob-list.ts and backupjob-show.ts; each one here
 * delegates to those. `templateAttributes` serves every CLI's TEMPLATE CONTENTS.
 */
import type { PrintableAttribute } from '../../core/template/serialize.js';
import type { BackupJobDoc } from './backupjob-doc.js';
import { parseBackupJobPoolXml, parseBackupJobXml } from './backupjob-doc-pull.js';
import { backupJobListColumns } from './backupjob-list.js';
import { formatBackupJob } from './backupjob-show.js';
import type { Column } from './table.js';
import type { XmlElement } from './xml-read.js';

/** Attributes of a TEMPLATE-like element (SCHED_ACTION left out), for templateToString. */
export function templateAttributes(template: XmlElement | undefined): PrintableAttribute[] {
  if (!template) return [];
  return template
    .children()
    .filter((c) => c.name !== 'SCHED_ACTION')
    .map((c) => {
      const subs = c.children();
      return subs.length === 0
        ? { kind: 'single', name: c.name, value: c.text() }
        : { kind: 'vector', name: c.name, values: new Map(subs.map((s) => [s.name, s.text()])) };
    });
}

interface ShowContext {
  /** Epoch seconds. */
  readonly now: number;
  readonly timeZone: string;
  readonly tty?: boolean;
}

/** @deprecated Use formatBackupJob(parseBackupJobXml(xml), options). */
export function formatBackupJobShow(xml: string, ctx: ShowContext): string {
  return formatBackupJob(parseBackupJobXml(xml), ctx);
}

interface ListContext {
  readonly timeZone: string;
  readonly numeric?: boolean;
}

/** @deprecated Use backupJobListColumns / formatBackupJobPool. */
export function backupJobColumns(ctx: ListContext): Column<BackupJobDoc>[] {
  return backupJobListColumns(ctx).map((c) => ({
    name: c.name,
    describe: c.description,
    size: c.width,
    left: c.align === 'left',
    adjust: c.truncate === false,
    expand: c.expand !== undefined && c.expand !== false,
    value: c.value,
  }));
}

/** @deprecated Use parseBackupJobPoolXml. */
export function backupJobPoolRows(xml: string): BackupJobDoc[] {
  return parseBackupJobPoolXml(xml);
}
