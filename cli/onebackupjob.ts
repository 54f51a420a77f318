#!/usr/bin/env node
/** onebackupjob: manage backup jobs, as OpenNebula's command of the same name. */
import { startEarlyCall } from './common/client.js';

// `list` alone asks for the whole pool (cli/onebackupjob/views.ts): the call starts before yargs
// and the commands load, which is when the daemon has nothing else to wait for.
if (process.argv.length === 3 && process.argv[2] === 'list') {
  startEarlyCall('one.backupjobpool.info', -2, -1, -1);
}
const { main, runProgram } = await import('./common/program.js');
const { COMMANDS } = await import('./onebackupjob/commands.js');

main((args) =>
  runProgram('onebackupjob', 'Manages OpenNebula-style Backup Jobs on onebackupd.', COMMANDS, args),
);
