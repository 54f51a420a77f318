/**
 * onebackupjob: every command of OpenNebula's CLI (SPEC.md 3.2), thin over the XML-RPC API.
 * Multi-ID commands keep going after a failure; each error goes to stderr; exit 255 if any failed.
 */
import type { Argv } from 'yargs';
import { JOB_ATTRIBUTES } from '../../core/template/job-attributes.js';
import { parseTemplate } from '../../core/template/parser.js';
import { nearMisses } from '../../core/template/suggest.js';
import { CliError } from '../cli-error.js';
import {
  chgrpCommand,
  chmodCommand,
  chownCommand,
  deleteCommand,
  lockCommand,
  type ObjectRef,
  renameCommand,
  unlockCommand,
} from '../common/object-commands.js';
import { type CommandSpec, clientFor, forEachId, type GlobalArgs, stdio } from '../common/program.js';
import { POOLS, resolveId, resolveIds } from '../common/resolve.js';
import { editText, readStdinIfPiped, readTemplateFile } from '../common/template-input.js';
import { SCHEDULE_OPTION_HELP, scheduleOptionsFromArgs, scheduleTemplate } from '../schedule-options.js';
import { RUN_COMMANDS } from './runs.js';
import { currentTemplateText, listCommand, schedActionText, showCommand } from './views.js';

type Args = Record<string, unknown> & GlobalArgs;
const s = (v: unknown): string => String(v);

function verbose(argv: Args, id: number, verb: string): void {
  if (argv.verbose) stdio.out(`BACKUPJOB ${id}: ${verb}\n`);
}

const scheduleOptions = (y: Argv<GlobalArgs>) => {
  let out = y;
  for (const [name, describe] of Object.entries(SCHEDULE_OPTION_HELP))
    out = out.option(name, { type: 'string', describe });
  return out;
};

function timeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** The schedule to add, when schedule options are given (refused before anything is sent if wrong). */
function schedText(argv: Args): { template: string; description: string } | undefined {
  const spec = scheduleOptionsFromArgs(argv);
  if (spec === undefined) return undefined;
  return scheduleTemplate(spec, { now: Math.floor(Date.now() / 1000), timeZone: timeZone() });
}

function createFromOptions(argv: Args): string | undefined {
  const lines: string[] = [];
  const q = (v: unknown) => JSON.stringify(s(v)).replace(/\\\\/g, '\\');
  if (argv['name'] !== undefined) lines.push(`NAME = ${q(argv['name'])}`);
  if (argv['description'] !== undefined) lines.push(`DESCRIPTION = ${q(argv['description'])}`);
  if (argv['vms'] !== undefined) lines.push(`BACKUP_VMS = ${q(argv['vms'])}`);
  if (argv['datastore'] !== undefined) lines.push(`DATASTORE_ID = ${q(argv['datastore'])}`);
  if (argv['keep'] !== undefined) lines.push(`KEEP_LAST = ${q(argv['keep'])}`);
  if (argv['mode'] !== undefined) lines.push(`MODE = ${q(argv['mode'])}`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : undefined;
}

/** Backup jobs for the commands every object CLI shares (cli/common/object-commands.ts). */
const BACKUPJOB: ObjectRef = {
  prefix: 'one.backupjob',
  pool: POOLS.backupjob,
  label: 'BACKUPJOB',
  noun: 'Backup Job',
  rangeHelp: 'Backup job IDs or names: 1,8..15 or nightly,weekly',
  idHelp: 'Backup job ID or name',
  // OpenNebula's onebackupjob says so when only the owner changes (onevm and the others do not).
  ownerChangedVerb: 'Owner changed',
};

const range = (y: Argv<GlobalArgs>) =>
  y.positional('range', { type: 'string', describe: BACKUPJOB.rangeHelp });

/**
 * Warns on stderr of attribute names one typo away from a backup job attribute (`BACKUP_VM`):
 * they would be kept as user attributes and the job would silently lack what was meant.
 */
function warnNearMisses(text: string, where: string): void {
  let attributes: ReturnType<typeof parseTemplate>['attributes'];
  try {
    attributes = parseTemplate(text).attributes;
  } catch {
    return; // the daemon reports syntax errors with their line
  }
  for (const m of nearMisses(attributes, JOB_ATTRIBUTES))
    stdio.err(
      `${where}:${m.line}:${m.column}: warning: ${m.name} is not a backup job attribute; did you mean ${m.suggestion}?\n`,
    );
}

export const COMMANDS: readonly CommandSpec[] = [
  {
    command: 'create [file]',
    describe: 'Creates a new Backup Job from a template file, standard input or the options',
    builder: (y) =>
      scheduleOptions(
        y
          .positional('file', { type: 'string', describe: 'Template file (OpenNebula syntax)' })
          .option('name', { type: 'string', describe: 'Name of the new backup job' })
          .option('description', { type: 'string', describe: 'Description for the new backup job' })
          .option('vms', { type: 'string', describe: 'VM IDs to back up, in order: "1,2,3"' })
          .option('datastore', { type: 'string', describe: 'Backup datastore ID (DATASTORE_ID)' })
          .option('keep', { type: 'string', describe: 'Backups to keep (KEEP_LAST)' })
          .option('mode', { type: 'string', describe: 'Backup mode: full or increment' }),
      ),
    run: async (argv) => {
      const text = argv['file']
        ? readTemplateFile(s(argv['file']))
        : (readStdinIfPiped() ?? createFromOptions(argv));
      if (text === undefined)
        throw new CliError('a template is needed: give a file, pipe one on stdin, or use --name/--vms/...');
      warnNearMisses(text, argv['file'] ? s(argv['file']) : 'template');
      const client = clientFor(argv);
      const sched = schedText(argv);
      const id = await client.callInt('one.backupjob.allocate', text);
      stdio.out(`ID: ${id}\n`);
      if (sched) {
        await client.callInt('one.backupjob.schedadd', id, sched.template);
        stdio.out(`BACKUPJOB ${id}: ${sched.description}\n`);
      }
    },
  },
  deleteCommand(BACKUPJOB),
  {
    command: 'update <id> [file]',
    describe: 'Updates the template of a Backup Job (replaces it; -a merges). Without a file opens $EDITOR',
    builder: (y) =>
      y
        .positional('id', { type: 'string', describe: 'Backup job ID or name' })
        .positional('file', { type: 'string', describe: 'Template file' })
        .option('append', {
          alias: 'a',
          type: 'boolean',
          describe: 'Merge the new attributes into the template',
        }),
    run: async (argv) => {
      const client = clientFor(argv);
      const id = await resolveId(client, POOLS.backupjob, s(argv['id']));
      let text: string;
      if (argv['file']) text = readTemplateFile(s(argv['file']));
      else {
        const current = argv['append'] ? '' : await currentTemplateText(client, id);
        text = editText(current);
      }
      warnNearMisses(text, argv['file'] ? s(argv['file']) : 'template');
      await client.call('one.backupjob.update', id, text, argv['append'] ? 1 : 0);
      verbose(argv, id, 'modified');
    },
  },
  chgrpCommand(BACKUPJOB),
  chownCommand(BACKUPJOB),
  chmodCommand(BACKUPJOB),
  renameCommand(BACKUPJOB),
  listCommand,
  showCommand,
  lockCommand(BACKUPJOB),
  unlockCommand(BACKUPJOB),
  {
    command: 'backup <range>',
    describe: 'Starts the backups of the Backup Jobs now, or schedules them with --schedule',
    builder: (y) => scheduleOptions(range(y)),
    run: async (argv, status) => {
      const client = clientFor(argv);
      const sched = schedText(argv);
      await forEachId(await resolveIds(client, POOLS.backupjob, s(argv['range'])), status, async (id) => {
        if (sched) {
          await client.callInt('one.backupjob.schedadd', id, sched.template);
          stdio.out(`BACKUPJOB ${id}: ${sched.description}\n`);
        } else {
          await client.call('one.backupjob.backup', id);
          verbose(argv, id, 'Starting Backups');
        }
      });
    },
  },
  simple(
    'cancel',
    'Cancels the pending and running backups of the Backup Jobs',
    'one.backupjob.cancel',
    'Backups canceled',
  ),
  simple(
    'retry',
    'Retries the backups of the VMs in ERROR',
    'one.backupjob.retry',
    'Retrying backups for failed Virtual Machines',
  ),
  {
    command: 'priority <range> <priority>',
    describe: 'Changes the priority of the Backup Jobs (users 0-49, admins 0-99)',
    builder: (y) => range(y).positional('priority', { type: 'string', describe: 'New priority' }),
    run: async (argv, status) => {
      const text = s(argv['priority']).trim();
      if (!/^\d+$/.test(text))
        throw new CliError(`priority "${text}" is not a whole number (users 0-49, admins 0-99)`);
      const client = clientFor(argv);
      await forEachId(await resolveIds(client, POOLS.backupjob, s(argv['range'])), status, async (id) => {
        await client.call('one.backupjob.priority', id, Number(text));
        verbose(argv, id, 'Priority changed');
      });
    },
  },
  {
    command: 'sched-delete <id> <sched_id>',
    describe: 'Deletes a Scheduled Action from the Backup Job',
    builder: (y) => y.positional('id', { type: 'string' }).positional('sched_id', { type: 'string' }),
    run: async (argv) => {
      const client = clientFor(argv);
      const id = await resolveId(client, POOLS.backupjob, s(argv['id']));
      await client.call('one.backupjob.scheddelete', id, wholeNumber(argv['sched_id'], 'schedule ID'));
      verbose(argv, id, 'Scheduled Action deleted');
    },
  },
  {
    command: 'sched-update <id> <sched_id> [file]',
    describe: 'Updates a Scheduled Action: a file (or stdin, or $EDITOR) of KEY="value" lines',
    builder: (y) =>
      y
        .positional('id', { type: 'string' })
        .positional('sched_id', { type: 'string' })
        .positional('file', { type: 'string' }),
    run: async (argv) => {
      const client = clientFor(argv);
      const id = await resolveId(client, POOLS.backupjob, s(argv['id']));
      const saId = wholeNumber(argv['sched_id'], 'schedule ID');
      const existing = await schedActionText(client, id, saId);
      const body = argv['file']
        ? readTemplateFile(s(argv['file']))
        : (readStdinIfPiped() ?? editText(existing));
      const pairs = body
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'));
      const template = `SCHED_ACTION = [ ${pairs.join(',\n')} ]\n`;
      try {
        await client.call('one.backupjob.schedupdate', id, saId, template);
      } catch (err) {
        throw new CliError(`Error updating: ${(err as Error).message}`);
      }
      verbose(argv, id, 'Sched action updated');
    },
  },
  ...RUN_COMMANDS,
];

function wholeNumber(v: unknown, what: string): number {
  const t = s(v).trim();
  if (!/^\d+$/.test(t)) throw new CliError(`${what} "${t}" is not a whole number`);
  return Number(t);
}

function simple(name: string, describe: string, method: string, verb: string): CommandSpec {
  return {
    command: `${name} <range>`,
    describe,
    builder: range,
    run: async (argv, status) => {
      const client = clientFor(argv);
      await forEachId(await resolveIds(client, POOLS.backupjob, s(argv['range'])), status, async (id) => {
        await client.call(method, id);
        verbose(argv, id, verb);
      });
    },
  };
}
