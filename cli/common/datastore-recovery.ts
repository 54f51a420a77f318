/**
 * onedatastore import, key-export and key-import (disaster recovery, README "Lost the server").
 * The passphrase comes from --passphrase-file, else $ONEBACKUP_KEY_PASSPHRASE, else a prompt on
 * the terminal (asked twice for an export); it is sent to onebackupd, which wraps or unwraps the
 * key, and is never printed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { CliError } from '../cli-error.js';
import { type CommandSpec, clientFor, stdio } from './program.js';
import { POOLS, resolveId } from './resolve.js';
import { readStdinIfPiped, readTemplateFile } from './template-input.js';

const s = (v: unknown) => String(v);
export const PASSPHRASE_ENV = 'ONEBACKUP_KEY_PASSPHRASE';

function ask(question: string): Promise<string> {
  const muted = new Writable({ write: (_c, _e, done) => done() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  process.stderr.write(question);
  return new Promise((resolve) =>
    rl.question('', (answer) => {
      process.stderr.write('\n');
      rl.close();
      resolve(answer);
    }),
  );
}

async function passphrase(argv: Record<string, unknown>, confirm: boolean): Promise<string> {
  const file = argv['passphrase-file'];
  if (file !== undefined) {
    try {
      return readFileSync(s(file), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new CliError(`cannot read --passphrase-file ${s(file)}: ${(err as Error).message}`);
    }
  }
  const env = process.env[PASSPHRASE_ENV];
  if (env !== undefined && env !== '') return env;
  if (!process.stdin.isTTY)
    throw new CliError(`a passphrase is needed: give --passphrase-file FILE or set ${PASSPHRASE_ENV}`);
  const first = await ask('Passphrase: ');
  if (confirm && (await ask('Passphrase again: ')) !== first) throw new CliError('the passphrases differ');
  return first;
}

const passphraseOption = {
  type: 'string',
  describe: `File whose first line is the passphrase (default: $${PASSPHRASE_ENV}, else a prompt)`,
} as const;

export const datastoreImportCommand: CommandSpec = {
  command: 'import [file]',
  describe:
    'Attaches an existing datastore directory (template: NAME, BASE_PATH, ...) and rebuilds its backup images from the manifests there',
  builder: (y) => y.positional('file', { type: 'string', describe: 'Template file (OpenNebula syntax)' }),
  run: async (argv) => {
    const text = argv['file'] ? readTemplateFile(s(argv['file'])) : readStdinIfPiped();
    if (text === undefined) throw new CliError('a template is needed: give a file or pipe one on stdin');
    stdio.out(`${await clientFor(argv).callString('one.datastore.import', text)}\n`);
  },
};

export const datastoreKeyExportCommand: CommandSpec = {
  command: 'key-export <datastoreid>',
  describe: "Writes the datastore's encryption key, wrapped under a passphrase, to --out FILE",
  builder: (y) =>
    y
      .positional('datastoreid', { type: 'string' })
      .option('out', { type: 'string', demandOption: true, describe: 'File to write (must not exist)' })
      .option('passphrase-file', passphraseOption),
  run: async (argv) => {
    const client = clientFor(argv);
    const ds = await resolveId(client, POOLS.datastore, s(argv['datastoreid']));
    const wrapped = await client.callString('one.datastore.keyexport', ds, await passphrase(argv, true));
    try {
      writeFileSync(s(argv['out']), wrapped, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      throw new CliError(`cannot write --out ${s(argv['out'])}: ${(err as Error).message}`);
    }
    if (argv.verbose) stdio.out(`DATASTORE ${ds}: key written to ${s(argv['out'])}\n`);
  },
};

export const datastoreKeyImportCommand: CommandSpec = {
  command: 'key-import <datastoreid> <file>',
  describe: 'Installs an encryption key written by key-export as the datastore key',
  builder: (y) =>
    y
      .positional('datastoreid', { type: 'string' })
      .positional('file', { type: 'string' })
      .option('passphrase-file', passphraseOption),
  run: async (argv) => {
    const client = clientFor(argv);
    const ds = await resolveId(client, POOLS.datastore, s(argv['datastoreid']));
    let wrapped: string;
    try {
      wrapped = readFileSync(s(argv['file']), 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${s(argv['file'])}: ${(err as Error).message}`);
    }
    await client.call('one.datastore.keyimport', ds, wrapped, await passphrase(argv, false));
    if (argv.verbose) stdio.out(`DATASTORE ${ds}: key installed\n`);
  },
};
