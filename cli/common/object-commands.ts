/**
 * Commands that every object CLI shares (create from a template file, delete, list, show,
 * chown, chmod, rename, lock, unlock), built from one description of the object kind.
 */
import type { Argv } from 'yargs';
import { templateToString } from '../../core/template/serialize.js';
import { CliError } from '../cli-error.js';
import { templateAttributes } from '../format/backupjob.js';
import { type Column, describeColumns, renderTable } from '../format/table.js';
import { parseStringSync, type XmlElement } from '../format/xml-read.js';
import { prettyXml, xmlToOneJson } from '../format/xml-tokens.js';
import { listOptions, tableOptions } from './list-options.js';
import { parseOctet } from './octet.js';
import { type CommandSpec, clientFor, forEachId, type GlobalArgs, stdio } from './program.js';
import { POOLS, type PoolRef, resolveId, resolveIds } from './resolve.js';
import { readStdinIfPiped, readTemplateFile } from './template-input.js';

/** What the commands on existing objects (delete, chown, rename, lock...) need of a kind. */
export interface ObjectRef {
  /** Method prefix: one.vm, one.host, ... */
  readonly prefix: string;
  readonly pool: PoolRef;
  /** Word for messages and -v lines: VM, HOST, DATASTORE, IMAGE, USER, GROUP. */
  readonly label: string;
  /** Human name for help texts. */
  readonly noun: string;
  /** Help of `<range>`; `<noun> IDs or names: 1,8..15 or a,b` when not given. */
  readonly rangeHelp?: string;
  /** Help of rename's `<id>`; none when not given. */
  readonly idHelp?: string;
  /** The -v line of chown given no group; `Owner/Group changed` when not given. */
  readonly ownerChangedVerb?: string;
}

export interface ObjectKind extends ObjectRef {
  readonly columns: readonly Column<XmlElement>[];
  /** What `create --help` adds after the options: the template's attributes. */
  readonly createEpilog?: string;
  /** Extra arguments of pool.info after the session (filter, start, end...). */
  readonly poolArgs: readonly number[];
  /** The method `list` calls when not the pool's (e.g. one.vmpool.infoextended for full VMs). */
  readonly listMethod?: string;
  /** Lines of `show` between the header and TEMPLATE CONTENTS. */
  readonly showFields: (doc: XmlElement) => readonly (readonly [string, string])[];
  /** More sections of `show`, after the template. */
  readonly showExtra?: (doc: XmlElement) => string;
}

const s = (v: unknown) => String(v);
const field = (name: string, value: string) => `${name.padEnd(15)}: ${value.padEnd(20)}\n`;

function verbose(argv: GlobalArgs, kind: ObjectRef, id: number, verb: string): void {
  if (argv.verbose) stdio.out(`${kind.label} ${id}: ${verb}\n`);
}

const range = (kind: ObjectRef) => (y: Argv<GlobalArgs>) =>
  y.positional('range', {
    type: 'string',
    describe: kind.rangeHelp ?? `${kind.noun} IDs or names: 1,8..15 or a,b`,
  });

export function createCommand(kind: ObjectKind): CommandSpec {
  return {
    command: 'create [file]',
    describe: `Creates a new ${kind.noun} from a template file (or standard input)`,
    builder: (y) => {
      const b = y.positional('file', { type: 'string', describe: 'Template file (OpenNebula syntax)' });
      return kind.createEpilog ? b.epilog(kind.createEpilog) : b;
    },
    run: async (argv) => {
      const text = argv['file'] ? readTemplateFile(s(argv['file'])) : readStdinIfPiped();
      if (text === undefined) throw new CliError(`a template is needed: give a file or pipe one on stdin`);
      const id = await clientFor(argv).callInt(`${kind.prefix}.allocate`, text);
      stdio.out(`ID: ${id}\n`);
    },
  };
}

export function deleteCommand(kind: ObjectRef, method = `${kind.prefix}.delete`): CommandSpec {
  return {
    command: 'delete <range>',
    describe: `Deletes the given ${kind.noun}s`,
    builder: range(kind),
    run: async (argv, status) => {
      const client = clientFor(argv);
      await forEachId(await resolveIds(client, kind.pool, s(argv['range'])), status, async (id) => {
        verbose(argv, kind, id, 'deleting');
        await client.call(method, id);
      });
    },
  };
}

export function listCommand(kind: ObjectKind): CommandSpec {
  return {
    command: 'list',
    describe: `Lists ${kind.noun}s in the pool`,
    builder: listOptions,
    run: async (argv) => {
      if (argv['describe']) {
        stdio.out(describeColumns(kind.columns));
        return;
      }
      const xml = await clientFor(argv).callString(kind.listMethod ?? kind.pool.method, ...kind.poolArgs);
      if (argv['xml']) stdio.out(`${prettyXml(xml)}\n`);
      else if (argv['json'])
        stdio.out(`${JSON.stringify(xmlToOneJson(xml, [kind.pool.element]), null, 2)}\n`);
      else
        stdio.out(
          renderTable(kind.columns, parseStringSync(xml).children(kind.pool.element), tableOptions(argv)),
        );
    },
  };
}

function formatShow(kind: ObjectKind, xml: string): string {
  const doc = parseStringSync(xml);
  let out = `${`${kind.label} ${doc.text('ID')} INFORMATION`.padEnd(80)}\n`;
  for (const [k, v] of kind.showFields(doc)) out += field(k, v);
  const perms = doc.child('PERMISSIONS');
  if (perms) {
    out += `\n${'PERMISSIONS'.padEnd(80)}\n`;
    for (const who of ['OWNER', 'GROUP', 'OTHER']) {
      const mask =
        (perms.text(`${who}_U`) === '1' ? 'u' : '-') +
        (perms.text(`${who}_M`) === '1' ? 'm' : '-') +
        (perms.text(`${who}_A`) === '1' ? 'a' : '-');
      out += field(who, mask);
    }
  }
  out += `\n${`${kind.label} TEMPLATE`.padEnd(80)}\n`;
  out += templateToString(templateAttributes(doc.child('TEMPLATE')));
  if (kind.showExtra) out += kind.showExtra(doc);
  return out;
}

export function showCommand(
  kind: ObjectKind,
  format: (xml: string) => string = (xml) => formatShow(kind, xml),
): CommandSpec {
  return {
    command: 'show <id>',
    describe: `Shows information for the given ${kind.noun}`,
    builder: (y) =>
      y
        .positional('id', { type: 'string', describe: `${kind.noun} ID or name` })
        .option('xml', { alias: 'x', type: 'boolean', describe: 'Show the resource in xml format' })
        .option('json', { alias: 'j', type: 'boolean', describe: 'Show the resource in JSON format' }),
    run: async (argv) => {
      const client = clientFor(argv);
      const id = await resolveId(client, kind.pool, s(argv['id']));
      const xml = await client.callString(`${kind.prefix}.info`, id, false);
      if (argv['xml']) stdio.out(`${prettyXml(xml)}\n`);
      else if (argv['json']) stdio.out(`${JSON.stringify(xmlToOneJson(xml, []), null, 2)}\n`);
      else stdio.out(format(xml));
    },
  };
}

export function ownershipCommands(kind: ObjectRef): CommandSpec[] {
  return [chownCommand(kind), chgrpCommand(kind), chmodCommand(kind)];
}

export function chownCommand(kind: ObjectRef): CommandSpec {
  return {
    command: 'chown <range> <userid> [groupid]',
    describe: `Changes the ${kind.noun} owner and group`,
    builder: (y) =>
      range(kind)(y)
        .positional('userid', { type: 'string', describe: 'User ID or name' })
        .positional('groupid', { type: 'string', describe: 'Group ID or name' }),
    run: async (argv, status) => {
      const client = clientFor(argv);
      const uid = await resolveId(client, POOLS.user, s(argv['userid']));
      const gid =
        argv['groupid'] === undefined ? -1 : await resolveId(client, POOLS.group, s(argv['groupid']));
      const changed = gid === -1 ? (kind.ownerChangedVerb ?? 'Owner/Group changed') : 'Owner/Group changed';
      await forEachId(await resolveIds(client, kind.pool, s(argv['range'])), status, async (id) => {
        await client.call(`${kind.prefix}.chown`, id, uid, gid);
        verbose(argv, kind, id, changed);
      });
    },
  };
}

export function chgrpCommand(kind: ObjectRef): CommandSpec {
  return {
    command: 'chgrp <range> <groupid>',
    describe: `Changes the ${kind.noun} group`,
    builder: (y) => range(kind)(y).positional('groupid', { type: 'string', describe: 'Group ID or name' }),
    run: async (argv, status) => {
      const client = clientFor(argv);
      const gid = await resolveId(client, POOLS.group, s(argv['groupid']));
      await forEachId(await resolveIds(client, kind.pool, s(argv['range'])), status, async (id) => {
        await client.call(`${kind.prefix}.chown`, id, -1, gid);
        verbose(argv, kind, id, 'Group changed');
      });
    },
  };
}

export function chmodCommand(kind: ObjectRef): CommandSpec {
  return {
    command: 'chmod <range> <octet>',
    describe: `Changes the ${kind.noun} permissions (octal 640, or u=rw,g=r: r use, w manage, x admin)`,
    builder: (y) => range(kind)(y).positional('octet', { type: 'string', describe: 'Permissions' }),
    run: async (argv, status) => {
      const bits = parseOctet(s(argv['octet']));
      const client = clientFor(argv);
      await forEachId(await resolveIds(client, kind.pool, s(argv['range'])), status, async (id) => {
        await client.call(`${kind.prefix}.chmod`, id, ...bits);
        verbose(argv, kind, id, 'Permissions changed');
      });
    },
  };
}

export function renameCommand(kind: ObjectRef): CommandSpec {
  return {
    command: 'rename <id> <name>',
    describe: `Renames the ${kind.noun}`,
    builder: (y) =>
      y
        .positional(
          'id',
          kind.idHelp === undefined ? { type: 'string' } : { type: 'string', describe: kind.idHelp },
        )
        .positional('name', { type: 'string' }),
    run: async (argv) => {
      const client = clientFor(argv);
      const id = await resolveId(client, kind.pool, s(argv['id']));
      await client.call(`${kind.prefix}.rename`, id, s(argv['name']));
      verbose(argv, kind, id, 'renamed');
    },
  };
}

export function lockCommands(kind: ObjectRef): CommandSpec[] {
  return [lockCommand(kind), unlockCommand(kind)];
}

export function lockCommand(kind: ObjectRef): CommandSpec {
  return {
    command: 'lock <range>',
    describe: `Locks a ${kind.noun} to prevent actions (--use, the default; --manage; --admin; --all)`,
    builder: (y) =>
      range(kind)(y)
        .option('use', { type: 'boolean', describe: 'Lock use, manage and admin actions (default)' })
        .option('manage', { type: 'boolean', describe: 'Lock manage and admin actions' })
        .option('admin', { type: 'boolean', describe: 'Lock admin actions' })
        .option('all', { type: 'boolean', describe: 'Lock all actions' }),
    run: async (argv, status) => {
      const level = argv['all'] ? 4 : argv['admin'] ? 3 : argv['manage'] ? 2 : 1;
      const client = clientFor(argv);
      await forEachId(await resolveIds(client, kind.pool, s(argv['range'])), status, async (id) => {
        await client.call(`${kind.prefix}.lock`, id, level, false);
        verbose(argv, kind, id, `${kind.noun} locked`);
      });
    },
  };
}

export function unlockCommand(kind: ObjectRef): CommandSpec {
  return {
    command: 'unlock <range>',
    describe: `Unlocks a ${kind.noun}`,
    builder: range(kind),
    run: async (argv, status) => {
      const client = clientFor(argv);
      await forEachId(await resolveIds(client, kind.pool, s(argv['range'])), status, async (id) => {
        await client.call(`${kind.prefix}.unlock`, id);
        verbose(argv, kind, id, `${kind.noun} unlocked`);
      });
    },
  };
}
