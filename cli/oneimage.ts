#!/usr/bin/env node
import { imageRestoreCommand, imageVerifyCommand } from './common/backup-commands.js';
/** oneimage: the backup images made by backups. */
import {
  deleteCommand,
  listCommand,
  lockCommands,
  ownershipCommands,
  renameCommand,
  showCommand,
} from './common/object-commands.js';
import { main, runProgram } from './common/program.js';
import { IMAGE } from './kinds.js';

main((args) =>
  runProgram(
    'oneimage',
    'Manages backup images.',
    [
      deleteCommand(IMAGE),
      listCommand(IMAGE),
      showCommand(IMAGE),
      ...ownershipCommands(IMAGE),
      renameCommand(IMAGE),
      ...lockCommands(IMAGE),
      imageRestoreCommand,
      imageVerifyCommand,
    ],
    args,
  ),
);
