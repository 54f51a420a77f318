/**
 * onebackupjob runs / pause / resume / exclude (issue 4, accsyn's run model): the runs of a job
 * with one line per VM task (status, attempt, progress, speed, time left, and why a queued VM
 * waits); `-x` prints the daemon's XML, `-j` the JSON shape OpenNebula's `-j` uses (strings).
 */
import { CliError } from '../cli-error.js';
import { type CommandSpec, clientFor, forEachId, type GlobalArgs, stdio } from '../common/program.js';
import { POOLS, resolveId, resolveIds } from '../common/resolve.js';
import { localTimeZone, strftime } from '../format/time.js';
import { parseStringSync, type XmlElement } from '../format/xml-read.js';
import { prettyXml } from '../format/xml-tokens.js';

type Args = Record<string, unknown> & GlobalArgs;

const TASK_FIELDS = [
  'VM_ID',
  'HOST',
  'STATUS',
  'ATTEMPT',
  'START',
  'END',
  'BYTES',
  'BYTES_TOTAL',
  'PROGRESS',
  'SPEED',
  'ETR',
  'ERROR',
  'RANK',
  'REASON',
  'DAEMON',
] as const;

/** `{"RUNS": [{"ID", "TRIGGER", "START", "END", "RESULT", "TASKS": [{...}]}]}`, values as strings. */
function runsJson(doc: XmlElement): { RUNS: Record<string, unknown>[] } {
  return {
    RUNS: doc.children('RUN').map((run) => ({
      ID: run.text('ID'),
      TRIGGER: run.text('TRIGGER'),
      START: run.text('START'),
      END: run.text('END'),
      RESULT: run.text('RESULT'),
      TASKS: (run.child('TASKS')?.children('TASK') ?? []).map((t) =>
        Object.fromEntries(TASK_FIELDS.filter((f) => t.child(f) !== undefined).map((f) => [f, t.text(f)])),
      ),
    })),
  };
}

function size(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)}${units[i]}`;
}

function clock(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** The human form: a header per run, then one line per task. */
function formatRuns(doc: XmlElement, timeZone: string): string {
  const when = (s: number) => (s > 0 ? strftime(s, '%m/%d %H:%M:%S', timeZone) : '-');
  const out: string[] = [];
  if (doc.num('PAUSED') === 1) out.push('JOB PAUSED: queued VMs are on hold (onebackupjob resume)\n');
  for (const run of doc.children('RUN')) {
    const result = run.text('RESULT') || 'running';
    out.push(
      `RUN ${run.text('ID')}  TRIGGER ${run.text('TRIGGER')}  START ${when(run.num('START'))}  END ${when(run.num('END'))}  RESULT ${result}`,
    );
    out.push(taskTable(run, when));
  }
  if (out.length === 0) return 'No runs yet: start one with onebackupjob backup <job>\n';
  return `${out.join('\n')}\n`;
}

/** The run in progress as `show` prints it, or undefined when no run is in progress. */
export function currentRunSection(
  doc: XmlElement,
  timeZone: string,
): { title: string; lines: string } | undefined {
  const run = doc.children('RUN').find((r) => r.num('END') === 0);
  if (!run) return undefined;
  const when = (s: number) => (s > 0 ? strftime(s, '%m/%d %H:%M:%S', timeZone) : '-');
  const held = doc.num('PAUSED') === 1 ? ', PAUSED' : '';
  return {
    title: `CURRENT RUN ${run.text('ID')} (${run.text('TRIGGER')}, started ${when(run.num('START'))}${held})`,
    lines: `${taskTable(run, when)}\n`,
  };
}

/** One line per task, columns aligned; a queued VM says its rank and why it waits. */
function taskTable(run: XmlElement, when: (s: number) => string): string {
  const rows = [['VM', 'HOST', 'STATUS', 'ATT', 'PROG', 'BYTES', 'SPEED', 'ETR', 'START', 'END', 'INFO']];
  for (const t of run.child('TASKS')?.children('TASK') ?? []) {
    const info = t.text('REASON') ? `#${t.text('RANK')} ${t.text('REASON')}` : t.text('ERROR');
    rows.push([
      t.text('VM_ID'),
      t.text('HOSTNAME') || t.text('HOST'),
      t.text('STATUS'),
      t.text('ATTEMPT'),
      `${t.num('PROGRESS')}%`,
      `${size(t.num('BYTES'))}/${size(t.num('BYTES_TOTAL'))}`,
      t.num('SPEED') > 0 ? `${size(t.num('SPEED'))}/s` : '-',
      t.num('ETR') > 0 ? clock(t.num('ETR')) : '-',
      when(t.num('START')),
      when(t.num('END')),
      info,
    ]);
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const line = (r: string[]) =>
    `  ${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join(' ')}`.trimEnd();
  return `${rows.map(line).join('\n')}\n`;
}

function idArg(v: unknown, what: string): number {
  const t = String(v).trim();
  if (!/^\d+$/.test(t)) throw new CliError(`${what} "${t}" is not a whole number`);
  return Number(t);
}

function holdCommand(name: 'pause' | 'resume', describe: string, verb: string): CommandSpec {
  return {
    command: `${name} <range>`,
    describe,
    builder: (y) => y.positional('range', { type: 'string', describe: 'Backup job IDs or names' }),
    run: async (argv: Args, status) => {
      const client = clientFor(argv);
      await forEachId(
        await resolveIds(client, POOLS.backupjob, String(argv['range'])),
        status,
        async (id) => {
          await client.call(`one.backupjob.${name}`, id);
          if (argv.verbose) stdio.out(`BACKUPJOB ${id}: ${verb}\n`);
        },
      );
    },
  };
}

export const RUN_COMMANDS: readonly CommandSpec[] = [
  {
    command: 'runs <id>',
    describe:
      'Lists the runs of a Backup Job: per VM status, attempts, progress, speed, time left and why it waits',
    builder: (y) =>
      y
        .positional('id', { type: 'string', describe: 'Backup job ID or name' })
        .option('run', { type: 'string', describe: 'Only this run (its ID)' })
        .option('log', {
          type: 'string',
          describe:
            'Print the backup log of this VM (its ID) in the run (default: the newest run that has it)',
        })
        .option('xml', { alias: 'x', type: 'boolean', describe: 'Show the runs in xml format' })
        .option('json', { alias: 'j', type: 'boolean', describe: 'Show the runs in JSON format' }),
    run: async (argv: Args) => {
      const client = clientFor(argv);
      const id = await resolveId(client, POOLS.backupjob, String(argv['id']));
      const runId = argv['run'] === undefined ? -1 : idArg(argv['run'], 'run ID');
      if (argv['log'] !== undefined) {
        const text = String(
          await client.call('one.backupjob.runlog', id, runId, idArg(argv['log'], 'VM ID')),
        );
        stdio.out(text === '' ? 'No log lines for this VM in the run\n' : text);
        return;
      }
      const xml = String(await client.call('one.backupjob.runs', id, runId));
      if (argv['xml']) stdio.out(`${prettyXml(xml)}\n`);
      else if (argv['json']) stdio.out(`${JSON.stringify(runsJson(parseStringSync(xml)), null, 2)}\n`);
      else stdio.out(formatRuns(parseStringSync(xml), localTimeZone()));
    },
  },
  holdCommand(
    'pause',
    'Holds the queued backups of the Backup Jobs (running ones finish)',
    'Backup Job paused',
  ),
  holdCommand('resume', 'Releases the backups held by pause', 'Backup Job resumed'),
  {
    command: 'exclude <id> <vm>',
    describe: 'Leaves a VM waiting in OUTDATED out of the current run of the Backup Job',
    builder: (y) =>
      y
        .positional('id', { type: 'string', describe: 'Backup job ID or name' })
        .positional('vm', { type: 'string', describe: 'VM ID' }),
    run: async (argv: Args) => {
      const client = clientFor(argv);
      const id = await resolveId(client, POOLS.backupjob, String(argv['id']));
      await client.call('one.backupjob.exclude', id, idArg(argv['vm'], 'VM ID'));
      if (argv.verbose) stdio.out(`BACKUPJOB ${id}: VM excluded\n`);
    },
  },
];
