/**
 * The frame every CLI shares: global options (-v, --user, --password, --endpoint), `--help` on
 * each command, OpenNebula's exit codes (0 ok, 255 any failure, message on stderr), and
 * "no command / unknown command prints help" as OpenNebula's CLIs do.
 */
import yargs, { type Argv } from 'yargs';
import { VERSION } from '../../core/version.js';
import { CliError } from '../cli-error.js';
import { OneClient } from './client.js';
import { resolveConnection } from './credentials.js';

export interface GlobalArgs {
  readonly verbose?: boolean | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly endpoint?: string | undefined;
}

interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Exit status the command wants; 255 after any failure, as OpenNebula's CLIs. */
class ExitStatus {
  code = 0;
  fail(io: Io, err: unknown): void {
    this.code = 255;
    io.err(`${errorText(err)}\n`);
  }
}

function errorText(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}

export function clientFor(argv: GlobalArgs): OneClient {
  return new OneClient(resolveConnection(argv));
}

export interface CommandSpec {
  /** yargs command string, e.g. 'rename <id> <name>'. */
  readonly command: string;
  readonly describe: string;
  readonly builder?: (y: Argv<GlobalArgs>) => Argv<GlobalArgs>;
  readonly run: (argv: Record<string, unknown> & GlobalArgs, status: ExitStatus) => Promise<void>;
}

/** Runs `name` with argv; resolves to the exit code (never throws). */
export async function runProgram(
  name: string,
  describe: string,
  commands: readonly CommandSpec[],
  args: readonly string[],
  io: Io = stdio,
): Promise<number> {
  const status = new ExitStatus();
  const known = new Set(commands.map((c) => c.command.split(' ')[0] as string));
  const first = args.find((a) => !a.startsWith('-'));
  const wantsMeta = args.some((a) => ['-h', '--help', '-V', '--version'].includes(a));
  let y = yargs([...args])
    .scriptName(name)
    .usage(`${name} <command> [<args>] [<options>]\n\n${describe}`)
    .option('verbose', { alias: 'v', type: 'boolean', describe: 'Verbose mode' })
    .option('user', { type: 'string', describe: 'User name used to connect to onebackupd' })
    .option('password', { type: 'string', describe: 'Password to authenticate with onebackupd' })
    .option('endpoint', {
      type: 'string',
      describe: 'URL of the XML-RPC endpoint (default: $ONE_XMLRPC, else http://localhost:2633/RPC2)',
    })
    .version(VERSION.onebackup)
    .alias('V', 'version')
    .help('help')
    .alias('h', 'help')
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new CliError(translateYargs(msg, `${name} ${first ?? ''}`, args));
    });
  // A known command needs only itself registered: yargs builds (and caches) the help of every
  // registered command on each run, a measurable part of a CLI's start with twenty commands.
  const needed =
    first !== undefined && known.has(first)
      ? commands.filter((c) => c.command.split(' ')[0] === first)
      : commands;
  for (const c of needed) {
    y = y.command(
      c.command,
      c.describe,
      (b) => (c.builder ? c.builder(b as Argv<GlobalArgs>) : b) as Argv<GlobalArgs>,
      async (argv) => {
        await c.run(argv as Record<string, unknown> & GlobalArgs, status);
      },
    );
  }
  let help = '';
  y = y.showHelpOnFail(false);
  if (first === undefined && !wantsMeta) {
    io.out(`${await y.getHelp()}\n`);
    return 0;
  }
  if (first !== undefined && !known.has(first)) {
    // As OpenNebula's command_parser: the usage, and exit -1 (255), so a typo never passes for success.
    io.err(`Command '${args.filter((a) => !a.startsWith('-')).join(' ')}' not found\n`);
    io.out(`${await y.getHelp()}\n`);
    return 255;
  }
  try {
    await y.parseAsync([...args], {}, (_err, _argv, output) => {
      help = output;
    });
    if (help) io.out(`${help}\n`);
  } catch (err) {
    status.fail(io, err);
  }
  return status.code;
}

/** yargs' messages in OpenNebula's words (command_parser.rb). */
function translateYargs(msg: string, command: string, args: readonly string[]): string {
  const unknown = /^Unknown arguments?: (.*)$/.exec(msg);
  if (unknown) {
    const words = (unknown[1] as string).split(', ');
    const options = words
      .map((o) => (o.length === 1 ? `-${o}` : `--${o}`))
      .filter((o) => args.some((a) => a === o || a.startsWith(`${o}=`)));
    if (options.length > 0) return `invalid option: ${options.join(', ')}`;
    return `Wrong number of arguments: ${words.join(' ')} is one too many (see ${command} --help)`;
  }
  const few = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(msg);
  if (few) {
    const n = Number(few[2]);
    return `Command ${command.split(' ')[1]} requires ${n === 1 ? 'one parameter' : `${n} parameters`} to run. (see ${command} --help)`;
  }
  const many = /^Too many non-option arguments: got (\d+), maximum of (\d+)$/.exec(msg);
  if (many) return `Wrong number of arguments: got ${many[1]}, at most ${many[2]} (see ${command} --help)`;
  return msg;
}

/** Runs one action per ID; each failure goes to stderr and the rest still run. */
export async function forEachId(
  ids: readonly number[],
  status: ExitStatus,
  action: (id: number) => Promise<void>,
  io: Io = stdio,
): Promise<void> {
  for (const id of ids) {
    try {
      await action(id);
    } catch (err) {
      status.fail(io, err);
    }
  }
}

export function main(run: (args: readonly string[]) => Promise<number>): void {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${errorText(err)}\n`);
      process.exitCode = 255;
    },
  );
}
