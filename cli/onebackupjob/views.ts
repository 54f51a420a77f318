/** onebackupjob list / show, and the text the editor starts from in update and sched-update. */
import { templateToString } from '../../core/template/serialize.js';
import { CliError } from '../cli-error.js';
import type { OneClient } from '../common/client.js';
import { listOptions, tableOptions } from '../common/list-options.js';
import { type CommandSpec, clientFor, stdio } from '../common/program.js';
import { POOLS, resolveId } from '../common/resolve.js';
import { backupJobColumns, backupJobPoolRows } from '../format/backupjob.js';
import { parseBackupJobXml } from '../format/backupjob-doc-pull.js';
import { formatBackupJob } from '../format/backupjob-show.js';
import { describeColumns, renderTable } from '../format/table.js';
import { localTimeZone } from '../format/time.js';
import { parseStringSync } from '../format/xml-read.js';
import { prettyXml, xmlToOneJson } from '../format/xml-tokens.js';
import { currentRunSection } from './runs.js';

const FORCE_ARRAY = ['SCHED_ACTION', 'BACKUPJOB'];

/** `list [filterflag]`: a all, m mine, g group, G primary group, or a user ID or name. */
async function poolFilter(client: OneClient, flag: string | undefined): Promise<number> {
  switch (flag) {
    case undefined:
    case 'a':
    case 'all':
      return -2;
    case 'm':
    case 'mine':
      return -3;
    case 'g':
    case 'group':
      return -1;
    case 'G':
    case 'primary':
      return -4;
    default:
      return resolveId(client, POOLS.user, flag);
  }
}

export const listCommand: CommandSpec = {
  command: 'list [filterflag]',
  describe: 'Lists Backup Jobs in the pool (filterflag: a all, m mine, g group, G primary group, or a user)',
  builder: (y) =>
    listOptions(y).positional('filterflag', { type: 'string', describe: 'a, m, g, G, or a user ID or name' }),
  run: async (argv) => {
    const columns = backupJobColumns({ timeZone: localTimeZone(), numeric: argv['numeric'] === true });
    if (argv['describe']) {
      stdio.out(describeColumns(columns));
      return;
    }
    const client = clientFor(argv);
    const filter = await poolFilter(
      client,
      argv['filterflag'] === undefined ? undefined : String(argv['filterflag']),
    );
    const xml = await client.callString('one.backupjobpool.info', filter, -1, -1);
    if (argv['xml']) stdio.out(`${prettyXml(xml)}\n`);
    else if (argv['json']) stdio.out(`${JSON.stringify(xmlToOneJson(xml, FORCE_ARRAY), null, 2)}\n`);
    else stdio.out(renderTable(columns, backupJobPoolRows(xml), tableOptions(argv)));
  },
};

export const showCommand: CommandSpec = {
  command: 'show <id>',
  describe: 'Shows information for the given Backup Job',
  builder: (y) =>
    y
      .positional('id', { type: 'string', describe: 'Backup job ID or name' })
      .option('xml', { alias: 'x', type: 'boolean', describe: 'Show the resource in xml format' })
      .option('json', { alias: 'j', type: 'boolean', describe: 'Show the resource in JSON format' }),
  run: async (argv) => {
    const client = clientFor(argv);
    const id = await resolveId(client, POOLS.backupjob, String(argv['id']));
    const xml = await client.callString('one.backupjob.info', id, false);
    if (argv['xml']) stdio.out(`${prettyXml(xml)}\n`);
    else if (argv['json'])
      stdio.out(`${JSON.stringify(xmlToOneJson(xml, FORCE_ARRAY.slice(0, 1)), null, 2)}\n`);
    else {
      const runs = parseStringSync(await client.callString('one.backupjob.runs', id, -1));
      stdio.out(
        formatBackupJob(parseBackupJobXml(xml), {
          now: Math.floor(Date.now() / 1000),
          timeZone: localTimeZone(),
          tty: process.stdout.isTTY === true,
          currentRun: currentRunSection(runs, localTimeZone()),
        }),
      );
    }
  },
};

/** The job's template as `update` opens it in the editor (no SCHED_ACTION). */
export async function currentTemplateText(client: OneClient, id: number): Promise<string> {
  const xml = await client.callString('one.backupjob.info', id, false);
  return templateToString(parseBackupJobXml(xml).template);
}

/** One schedule as `KEY="value"` lines, for sched-update; fails if the job lacks it. */
export async function schedActionText(client: OneClient, id: number, saId: number): Promise<string> {
  const xml = await client.callString('one.backupjob.info', id, false);
  const sa = parseBackupJobXml(xml).schedActions.find((s) => s.id === saId);
  if (!sa) throw new CliError(`Sched action ${saId} not found`);
  return `TIME="${sa.time}"\nREPEAT="${sa.repeat}"\nDAYS="${sa.days}"\nEND_TYPE="${sa.endType}"\nEND_VALUE="${sa.endValue}"\n`;
}
