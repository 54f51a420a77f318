#!/usr/bin/env node
/**
 * onebackupd: the daemon's entry point. Reads the configuration, starts the daemon, prints
 * `listening on http://HOST:PORT/RPC2` when ready, and stops cleanly on SIGTERM/SIGINT
 * (a second signal exits at once; every committed state change is already durable).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { systemClock } from '../core/clock.js';
import { loadConfig } from '../core/config.js';
import { Daemon } from '../core/daemon.js';
import { ErrorCode, isOneError, OneError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { lockStateDir } from '../core/state-lock.js';
import { copyState } from '../core/store/copy.js';
import type { Store } from '../core/store/db.js';
import { openStore, type StoreConfig } from '../core/store/open.js';
import { VERSION } from '../core/version.js';
import { DATASTORE_DRIVERS } from '../drivers/datastore/registry.js';
import { inspectDiskFile } from '../drivers/hypervisor/disk-info.js';
import { HYPERVISOR_DRIVERS } from '../drivers/hypervisor/registry.js';
import { hypervisorHosts } from '../drivers/remote/host-drivers.js';

const PACKAGE_CONF = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'conf', 'onebackupd.conf');
const SYSTEM_CONF = '/etc/onebackup/onebackupd.conf';

/** A store named on db-copy's command line, and the state directory whose daemon would use it. */
interface Endpoint {
  readonly db: StoreConfig;
  readonly stateDir: string | undefined;
}

/** A SQLite file (by its header) or an onebackupd.conf (its DB and STATE_DIR). */
function endpoint(path: string, flag: string): Endpoint {
  let head: Buffer;
  try {
    head = readFileSync(path).subarray(0, 16);
  } catch (err) {
    throw new OneError(ErrorCode.ACTION, `${flag} ${path}: cannot read: ${(err as Error).message}`);
  }
  if (head.toString('latin1') === 'SQLite format 3\0')
    return { db: { backend: 'sqlite', path: resolve(path) }, stateDir: dirname(resolve(path)) };
  const config = loadConfig(readFileSync(path, 'utf8'), path);
  return { db: config.db, stateDir: config.db.backend === 'sqlite' ? config.stateDir : undefined };
}

async function dbCopy(args: readonly string[]): Promise<number> {
  const argv = await yargs(args)
    .scriptName('onebackupd db-copy')
    .usage(
      '$0 --from <SQLite file | onebackupd.conf> --to <onebackupd.conf> [--replace]\n\n' +
        "Copies a stopped daemon's whole state (every table: users, hosts, VMs, jobs, runs, images...) " +
        'to the store another configuration names, e.g. from SQLite to PostgreSQL, in one transaction, ' +
        "and checks each table's row count. Refused while a daemon runs on either store. The state " +
        "directory (datastore keys, one_auth) is not copied: point the new configuration's STATE_DIR at it.",
    )
    .option('from', {
      type: 'string',
      demandOption: true,
      describe: 'the SQLite file, or the configuration of the store to copy',
    })
    .option('to', {
      type: 'string',
      demandOption: true,
      describe: 'the configuration whose DB receives the copy',
    })
    .option('replace', {
      type: 'boolean',
      default: false,
      describe: 'delete what the target already holds first (default: refuse a target that holds state)',
    })
    .version(false)
    .alias('h', 'help')
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync();
  const from = endpoint(argv.from, '--from');
  const to = endpoint(argv.to, '--to');
  // A SQLite store's daemon holds its state directory's PID file; a PostgreSQL one, an advisory lock.
  const locks = [...new Set([from.stateDir, to.stateDir].filter((d) => d !== undefined))].map((d) =>
    lockStateDir(d),
  );
  const stores: Store[] = [];
  try {
    const source = await openStore(from.db, { role: 'exclusive' });
    stores.push(source);
    if (from.db.backend === 'sqlite' && to.db.backend === 'sqlite' && from.db.path === to.db.path)
      throw new OneError(ErrorCode.ACTION, `--from and --to name the same database ${source.where}`);
    const target = await openStore(to.db, { role: 'exclusive' });
    stores.push(target);
    if (source.where === target.where)
      throw new OneError(ErrorCode.ACTION, `--from and --to name the same database ${source.where}`);
    const counts = await copyState(source, target, { replace: argv.replace });
    const rows = [
      ['TABLE', 'SOURCE', 'TARGET'],
      ...counts.map((c) => [c.table, String(c.source), String(c.target)]),
    ];
    for (const r of rows)
      process.stdout.write(
        `${(r[0] ?? '').padEnd(18)}${(r[1] ?? '').padStart(8)}${(r[2] ?? '').padStart(8)}\n`,
      );
    const total = counts.reduce((n, c) => n + c.target, 0);
    process.stdout.write(
      `copied ${total} rows of ${counts.length} tables from ${source.where} to ${target.where}; every count matches\n`,
    );
    return 0;
  } finally {
    for (const s of stores.reverse()) await s.close();
    for (const l of locks) l.release();
  }
}

async function main(): Promise<number> {
  if (process.argv[2] === 'db-copy') return dbCopy(process.argv.slice(3));
  const argv = await yargs(hideBin(process.argv))
    .scriptName('onebackupd')
    .usage(
      '$0 [options]\n$0 db-copy --from <SQLite file | conf> --to <conf>   (see $0 db-copy --help)\n\n' +
        'The onebackup daemon: keeps backup jobs and serves the OpenNebula XML-RPC API.',
    )
    .option('config', {
      type: 'string',
      describe: `configuration file (default: $ONEBACKUP_CONF, ${SYSTEM_CONF} if present, else the packaged conf/onebackupd.conf)`,
    })
    .option('listen', {
      type: 'string',
      describe: 'HOST:PORT to listen on, overrides LISTEN_ADDRESS/PORT (port 0 picks a free one)',
    })
    .option('state-dir', {
      type: 'string',
      describe: 'state directory (database, credentials), overrides STATE_DIR',
    })
    .option('check-config', { type: 'boolean', describe: 'check the configuration, print it and exit' })
    .version(VERSION.onebackup)
    .alias('V', 'version')
    .alias('h', 'help')
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync();

  const file =
    argv.config ?? process.env['ONEBACKUP_CONF'] ?? (existsSync(SYSTEM_CONF) ? SYSTEM_CONF : PACKAGE_CONF);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`onebackupd: cannot read configuration ${file}: ${(err as Error).message}\n`);
    return 255;
  }
  const config = loadConfig(text, file, { listen: argv.listen, stateDir: argv['state-dir'] });
  if (argv['check-config']) {
    process.stdout.write(`${file}: OK\n${JSON.stringify(config, null, 2)}\n`);
    return 0;
  }
  const log = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    write: (line) => process.stderr.write(line),
    now: () => systemClock.now(),
  });
  const daemon = new Daemon({
    config,
    clock: systemClock,
    log,
    inspectDisk: inspectDiskFile,
    hypervisors: hypervisorHosts(HYPERVISOR_DRIVERS),
    datastores: DATASTORE_DRIVERS,
  });

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn('second signal: exiting now', { signal });
      process.exit(130);
    }
    stopping = true;
    log.info('stopping', { signal });
    daemon.stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error('stop failed', { error: err instanceof Error ? err.message : String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const url = await daemon.start();
  process.stdout.write(`listening on ${url}\n`);
  process.stdout.write(`credentials: ${daemon.authFile}\n`);
  process.stdout.write(`metrics on ${daemon.metricsUrl}\n`);
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(
      `onebackupd: ${isOneError(err) || !(err instanceof Error) ? String((err as Error).message ?? err) : err.stack}\n`,
    );
    process.exit(255);
  },
);
