/**
 * `onebackupjob list` and `show` exactly as OpenNebula's CLI prints them (SPEC.md 3.3, 3.4),
 * from the daemon's XML. Time zone and `now` are parameters, so tests pin them.
 */
import { type PrintableAttribute, templateToString } from '../../core/template/serialize.js';
import { parseStringSync, type XmlElement } from '../common/xml-read.js';
import { type Column, renderTable } from './table.js';
import { strftime } from './time.js';

const LOCK_LABELS = ['None', 'Use', 'Manage', 'Admin', 'All'];

export interface ShowContext {
  /** Epoch seconds. */
  readonly now: number;
  readonly timeZone: string;
  readonly tty?: boolean;
}

function header(text: string, ctx: ShowContext, underline = true): string {
  const padded = text.padEnd(80);
  return ctx.tty ? `\u001b[1m${underline ? '\u001b[4m' : ''}${padded}\u001b[0m\n` : `${padded}\n`;
}

const field = (name: string, value: string) => `${name.padEnd(15)}: ${value.padEnd(20)}\n`;

function timeToStr(epoch: number, pattern: string, tz: string): string {
  return epoch === 0 ? '-' : strftime(epoch, pattern, tz);
}

function periodToStr(seconds: number): string {
  const s = seconds % 60;
  const m = Math.floor(seconds / 60) % 60;
  const h = Math.floor(seconds / 3600) % 24;
  const d = Math.floor(seconds / 86400);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${String(d).padStart(3)}d ${two(h)}h${two(m)}m${two(s)}s`;
}

/** Attributes of a TEMPLATE element (SCHED_ACTION left out). */
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

/** Ruby's Float#round(2).to_s: 2.5 → "2.5", 3.0 → "3.0". */
function rubyRound2(x: number): string {
  const r = Math.round(x * 100) / 100;
  return Number.isInteger(r) ? `${r}.0` : String(r);
}

function schedStatus(sa: XmlElement, ctx: ShowContext): string {
  const done = sa.num('DONE');
  const message = sa.text('MESSAGE');
  if (done > 0 && sa.num('REPEAT') < 0) return `Done on ${strftime(done, '%m/%d %H:%M', ctx.timeZone)}`;
  if (message !== '') return `Error! ${message}`;
  const diff = sa.num('TIME') - ctx.now;
  const days = Math.round((diff / 86400) * 100) / 100;
  const hours = Math.round((diff / 3600) * 100) / 100;
  const minutes = Math.round((diff / 60) * 100) / 100;
  if (days > 1) return `Next in ${rubyRound2(diff / 86400)} days`;
  if (hours > 1) return `Next in ${rubyRound2(diff / 3600)} hours`;
  if (minutes > 0) return `Next in ${rubyRound2(diff / 60)} minutes`;
  return 'Overdue!';
}

export function schedColumns(ctx: ShowContext): Column<XmlElement>[] {
  return [
    {
      name: 'ID',
      describe: '',
      size: 5,
      adjust: true,
      value: (d) => {
        const warn = d.num('WARNING');
        const mark = d.num('DONE') <= 0 && warn !== 0 && warn < ctx.now ? '*' : '';
        return mark + d.text('ID');
      },
    },
    { name: 'ACTION', describe: '', size: 5, adjust: true, value: (d) => d.text('ACTION') },
    { name: 'ARGS', describe: '', size: 5, adjust: true, value: (d) => d.text('ARGS') || '-' },
    {
      name: 'SCHEDULED',
      describe: '',
      size: 5,
      adjust: true,
      value: (d) => timeToStr(d.num('TIME'), '%m/%d %H:%M', ctx.timeZone),
    },
    {
      name: 'REPEAT',
      describe: '',
      size: 5,
      adjust: true,
      value: (d) => {
        const days = d.text('DAYS');
        switch (d.text('REPEAT')) {
          case '0':
            return `Weekly ${days}`;
          case '1':
            return `Monthly ${days}`;
          case '2':
            return `Yearly ${days}`;
          case '3':
            return `Each ${days} hours`;
          default:
            return days;
        }
      },
    },
    {
      name: 'END',
      describe: '',
      size: 5,
      adjust: true,
      value: (d) => {
        switch (d.text('END_TYPE')) {
          case '0':
            return 'None';
          case '1':
            return `After ${d.text('END_VALUE')} times`;
          case '2':
            return `On ${timeToStr(d.num('END_VALUE'), '%m/%d/%y', ctx.timeZone)}`;
          default:
            return '';
        }
      },
    },
    { name: 'STATUS', describe: '', size: 50, left: true, value: (d) => schedStatus(d, ctx) },
  ];
}

export function formatBackupJobShow(xml: string, ctx: ShowContext): string {
  const bj = parseStringSync(xml);
  const lock = bj.child('LOCK');
  const perms = bj.child('PERMISSIONS');
  const mask = (who: string) =>
    (perms?.text(`${who}_U`) === '1' ? 'u' : '-') +
    (perms?.text(`${who}_M`) === '1' ? 'm' : '-') +
    (perms?.text(`${who}_A`) === '1' ? 'a' : '-');
  const ids = (name: string) => (bj.child(name)?.children('ID') ?? []).map((e) => e.text()).join(',');
  let out = header(`BACKUP JOB ${bj.text('ID')} INFORMATION`, ctx);
  out += field('ID', bj.text('ID'));
  out += field('NAME', bj.text('NAME'));
  out += field('USER', bj.text('UNAME'));
  out += field('GROUP', bj.text('GNAME'));
  out += field('LOCK', LOCK_LABELS[lock ? lock.num('LOCKED') : 0] ?? '-');
  out += header('PERMISSIONS', ctx, false);
  for (const who of ['OWNER', 'GROUP', 'OTHER']) out += field(who, mask(who));
  out += '\n';
  out += header('LAST BACKUP JOB EXECUTION INFORMATION', ctx);
  out += field('TIME', timeToStr(bj.num('LAST_BACKUP_TIME'), '%m/%d %H:%M:%S', ctx.timeZone));
  out += field('DURATION', periodToStr(bj.num('LAST_BACKUP_DURATION')));
  out += '\n';
  out += header('VIRTUAL MACHINE BACKUP STATUS', ctx);
  out += field('UPDATED', ids('UPDATED_VMS'));
  out += field('OUTDATED', ids('OUTDATED_VMS'));
  out += field('ONGOING', ids('BACKING_UP_VMS'));
  out += field('ERROR', ids('ERROR_VMS'));
  const template = bj.child('TEMPLATE');
  const sched = template?.children('SCHED_ACTION') ?? [];
  if (sched.length > 0) {
    out += '\n';
    out += header('SCHEDULED ACTIONS', ctx, false);
    out += renderTable(schedColumns(ctx), sched, ctx.tty ? { tty: { columns: 80 } } : {});
  }
  out += '\n';
  out += header('TEMPLATE CONTENTS', ctx, false);
  out += templateToString(templateAttributes(template));
  return out;
}

export interface ListContext {
  readonly timeZone: string;
  readonly numeric?: boolean;
}

export function backupJobColumns(ctx: ListContext): Column<XmlElement>[] {
  return [
    {
      name: 'ID',
      describe: 'ONE identifier for the Backup Job',
      size: 4,
      adjust: true,
      value: (d) => d.text('ID'),
    },
    {
      name: 'USER',
      describe: 'Username of the Backup Job owner',
      size: 8,
      left: true,
      value: (d) => (ctx.numeric ? d.text('UID') : d.text('UNAME')),
    },
    {
      name: 'GROUP',
      describe: 'Group of the Backup Job',
      size: 8,
      left: true,
      value: (d) => (ctx.numeric ? d.text('GID') : d.text('GNAME')),
    },
    {
      name: 'PRIO',
      describe: 'Priority of the Backup Job',
      size: 4,
      left: true,
      value: (d) => String(Number.parseInt(d.text('PRIORITY'), 10) || 0),
    },
    // The NAME description is OpenNebula's own copy-paste slip, kept for identical --describe.
    {
      name: 'NAME',
      describe: 'Date for the last backup operation',
      size: 15,
      left: true,
      expand: true,
      value: (d) => d.text('NAME'),
    },
    {
      name: 'LAST',
      describe: 'Date for the last backup operation',
      size: 15,
      left: true,
      expand: true,
      value: (d) => timeToStr(d.num('LAST_BACKUP_TIME'), '%m/%d/%y %H:%M', ctx.timeZone),
    },
    {
      name: 'VMS',
      describe: 'VM IDs part of this backup job',
      size: 15,
      left: true,
      expand: true,
      value: (d) => {
        const vms = d.child('TEMPLATE')?.text('BACKUP_VMS') ?? '-';
        return vms.length > 15 ? `${vms.slice(0, 12)}...` : vms;
      },
    },
  ];
}

export function backupJobPoolRows(xml: string): XmlElement[] {
  return parseStringSync(xml).children('BACKUPJOB');
}
