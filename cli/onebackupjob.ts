#!/usr/bin/env node
import { main, runProgram } from './common/program.js';
/** onebackupjob: manage backup jobs, as OpenNebula's command of the same name. */
import { COMMANDS } from './onebackupjob/commands.js';

main((args) =>
  runProgram('onebackupjob', 'Manages OpenNebula-style Backup Jobs on onebackupd.', COMMANDS, args),
);
