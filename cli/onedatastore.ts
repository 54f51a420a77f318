#!/usr/bin/env node
import { datastoreGcCommand, datastoreVerifyCommand } from './common/backup-commands.js';
import {
  datastoreImportCommand,
  datastoreKeyExportCommand,
  datastoreKeyImportCommand,
} from './common/datastore-recovery.js';
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
      datastoreImportCommand,
      datastoreKeyExportCommand,
      datastoreKeyImportCommand,
    ],
    args,
  ),
);
