/**
 * onevm update / updateconf: thin over one.vm.update and one.vm.updateconf (type 0 replaces,
 * 1 merges with -a). The template comes from a file, else standard input when piped, else
 * $EDITOR on the VM's current attributes (as OpenNebula's onevm).
 */
import type { PlainAttribute } from '../../core/template/attributes.js';
import { templateToString } from '../../core/template/serialize.js';
import { CliError } from '../cli-error.js';
import { parseStringSync, type XmlElement } from '../format/xml-read.js';
import type { OneClient } from './client.js';
import { type CommandSpec, clientFor, stdio } from './program.js';
import { POOLS, resolveId } from './resolve.js';
import { editText, readStdinIfPiped, readTemplateFile } from './template-input.js';

const s = (v: unknown) => String(v);

/** The settings of BACKUP_CONFIG a user gives (not the chain pointers the daemon keeps). */
const BACKUP_SETTINGS = ['MODE', 'KEEP_LAST', 'FS_FREEZE', 'INCREMENT_MODE'];

function attributesOf(parent: XmlElement | undefined): PlainAttribute[] {
  return (parent?.children() ?? []).map((c): PlainAttribute => {
    const subs = c.children();
    if (subs.length === 0) return { kind: 'single', name: c.name, value: c.text() };
    return { kind: 'vector', name: c.name, values: new Map(subs.map((x) => [x.name, x.text()])) };
  });
}

/** What the editor opens with: the attributes `update` (or `updateconf`) replaces. */
async function currentText(client: OneClient, vm: number, conf: boolean): Promise<string> {
  const doc = parseStringSync(await client.callString('one.vm.info', vm, false));
  if (!conf) return templateToString(attributesOf(doc.child('USER_TEMPLATE')));
  const config = doc.child('BACKUPS')?.child('BACKUP_CONFIG');
  const values = new Map(
    attributesOf(config)
      .filter((a) => a.kind === 'single' && BACKUP_SETTINGS.includes(a.name))
      .map((a) => [a.name, a.kind === 'single' ? a.value : '']),
  );
  return templateToString([{ kind: 'vector', name: 'BACKUP_CONFIG', values }]);
}

function updateCommand(conf: boolean): CommandSpec {
  const name = conf ? 'updateconf' : 'update';
  return {
    command: `${name} <vmid> [file]`,
    describe: conf
      ? "Updates the VM's BACKUP_CONFIG (MODE, KEEP_LAST, FS_FREEZE, INCREMENT_MODE); settings left out go back to their defaults unless -a"
      : "Updates the VM's user template (replaces it; -a merges); STATE = RUNNING/POWEROFF on fs hosts. Without a file reads a piped stdin or opens $EDITOR",
    builder: (y) =>
      y
        .positional('vmid', { type: 'string', describe: 'VM ID or name' })
        .positional('file', { type: 'string', describe: 'Template file' })
        .option('append', {
          alias: 'a',
          type: 'boolean',
          describe: conf ? 'Change only the settings given' : 'Merge the new attributes into the template',
        }),
    run: async (argv) => {
      const client = clientFor(argv);
      const vm = await resolveId(client, POOLS.vm, s(argv['vmid']));
      let text: string | undefined;
      if (argv['file']) text = readTemplateFile(s(argv['file']));
      else if (process.stdin.isTTY)
        text = editText(argv['append'] ? '' : await currentText(client, vm, conf));
      else text = readStdinIfPiped();
      if (text === undefined)
        throw new CliError(
          `onevm ${name}: no template: give a file, pipe one on standard input, or run it on a terminal to edit it`,
        );
      await client.call(`one.vm.${name}`, vm, text, argv['append'] ? 1 : 0);
      if (argv.verbose) stdio.out(`VM ${vm}: ${conf ? 'configuration' : 'template'} updated\n`);
    },
  };
}

export const vmUpdateCommand = updateCommand(false);
export const vmUpdateConfCommand = updateCommand(true);
