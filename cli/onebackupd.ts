#!/usr/bin/env node
/**
 * onebackupd: the daemon's entry point. Reads the configuration, starts the daemon, prints
 * `listening on http://HOST:PORT/RPC2` when ready, and stops cleanly on SIGTERM/SIGINT
 * (a second signal exits at once; every committed state change is already durable).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { systemClock } from '../core/clock.js';
import { loadConfig } from '../core/config.js';
import { Daemon } from '../core/daemon.js';
import { isOneError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { VERSION } from '../core/version.js';
import { DATASTORE_DRIVERS } from '../drivers/datastore/registry.js';
import { inspectDiskFile } from '../drivers/hypervisor/disk-info.js';
import { HYPERVISOR_DRIVERS } from '../drivers/hypervisor/registry.js';
import { hypervisorHosts } from '../drivers/remote/host-drivers.js';

const PACKAGE_CONF = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'conf', 'onebackupd.conf');
const SYSTEM_CONF = '/etc/onebackup/onebackupd.conf';

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('onebackupd')
    .usage('$0 [options]\n\nThe onebackup daemon: keeps backup jobs and serves the OpenNebula XML-RPC API.')
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
