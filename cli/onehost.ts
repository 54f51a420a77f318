#!/usr/bin/env node
/** onehost: the hosts VMs run on, and the hypervisor driver that reaches their disks. */
import {
  createCommand,
  deleteCommand,
  listCommand,
  renameCommand,
  showCommand,
} from './common/object-commands.js';
import { main, runProgram } from './common/program.js';
import { HOST } from './kinds.js';

main((args) =>
  runProgram(
    'onehost',
    'Manages the hosts VMs run on.',
    [createCommand(HOST), deleteCommand(HOST), listCommand(HOST), showCommand(HOST), renameCommand(HOST)],
    args,
  ),
);
