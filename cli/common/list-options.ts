/** The list options every CLI shares (OpenNebula's cli_helper), and their mapping to TableOptions. */
import type { Argv } from 'yargs';
import type { TableOptions } from '../format/table.js';
import type { GlobalArgs } from './program.js';

export function listOptions(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y
    .option('list', {
      alias: 'l',
      type: 'string',
      describe: 'Selects columns to display with list command: -l ID,NAME',
    })
    .option('csv', { type: 'boolean', describe: 'Write table in csv format' })
    .option('csv-del', { type: 'string', describe: 'Set delimiter for csv output' })
    .option('filter', {
      alias: 'f',
      type: 'string',
      array: true,
      describe: 'Filter data: -f COL=value (operators = != < <= > >= ~), several allowed',
    })
    .option('operator', { type: 'string', describe: 'Logical operator between filters: AND (default) or OR' })
    .option('no-header', { type: 'boolean', describe: 'Hide the header of the table' })
    .option('adjust', {
      type: 'string',
      describe: 'Adjust size to not truncate selected columns: --adjust NAME,VMS',
    })
    .option('size', { alias: 's', type: 'string', describe: 'Change the size of columns: -s name=20,vms=30' })
    .option('describe', { type: 'boolean', describe: 'Describe list columns' })
    .option('numeric', { alias: 'n', type: 'boolean', describe: 'Do not translate user and group IDs' })
    .option('xml', { alias: 'x', type: 'boolean', describe: 'Show the resource in xml format' })
    .option('json', { alias: 'j', type: 'boolean', describe: 'Show the resource in JSON format' });
}

const split = (v: unknown): string[] | undefined =>
  v === undefined
    ? undefined
    : String(v)
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');

export function tableOptions(argv: Record<string, unknown>): TableOptions {
  const filters = argv['filter'] as unknown[] | undefined;
  return {
    list: split(argv['list']),
    csv: argv['csv'] === true || argv['csv-del'] !== undefined,
    csvDelimiter: argv['csv-del'] === undefined ? undefined : String(argv['csv-del']),
    filter: filters?.map(String).flatMap((f) => f.split(',')),
    operator: argv['operator'] === undefined ? undefined : String(argv['operator']),
    noHeader: argv['header'] === false || argv['no-header'] === true,
    adjust: split(argv['adjust']),
    size: split(argv['size']),
    tty: process.stdout.isTTY ? { columns: process.stdout.columns || 80 } : undefined,
  };
}
