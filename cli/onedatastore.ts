#!/usr/bin/env node
import { datastoreGcCommand, datastoreVerifyCommand } from './common/backup-commands.js';
/** onedatastore: backup datastores (where backups are stored, compression, encryption). */
import {
  createCommand,
  deleteCommand,
  listCommand,
  ownershipCommands,
  renameCommand,
  showCommand,
} from './common/object-commands.js';
import { main, runProgram } from './common/program.js';
import { DATASTORE } from './kinds.js';

main((args) =>
  runProgram(
    'onedatastore',
    'Manages backup datastores.',
    [
      createCommand(DATASTORE),
      deleteCommand(DATASTORE),
      listCommand(DATASTORE),
      showCommand(DATASTORE),
      ...ownershipCommands(DATASTORE),
      renameCommand(DATASTORE),
      datastoreGcCommand,
      datastoreVerifyCommand,
    ],
    args,
  ),
);
