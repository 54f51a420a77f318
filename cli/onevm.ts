#!/usr/bin/env node
import { vmBackupCancelCommand, vmBackupCommand, vmRestoreCommand } from './common/backup-commands.js';
/** onevm: register VMs (name, host, disks) that backup jobs protect. */
import {
  createCommand,
  deleteCommand,
  listCommand,
  lockCommands,
  ownershipCommands,
  renameCommand,
  showCommand,
} from './common/object-commands.js';
import { main, runProgram } from './common/program.js';
import { vmUpdateCommand, vmUpdateConfCommand } from './common/vm-update-commands.js';
import { VM } from './kinds.js';

main((args) =>
  runProgram(
    'onevm',
    'Manages the VMs whose disks onebackup backs up.',
    [
      createCommand(VM),
      deleteCommand(VM),
      listCommand(VM),
      showCommand(VM),
      ...ownershipCommands(VM),
      renameCommand(VM),
      vmUpdateCommand,
      vmUpdateConfCommand,
      ...lockCommands(VM),
      vmBackupCommand,
      vmBackupCancelCommand,
      vmRestoreCommand,
    ],
    args,
  ),
);
