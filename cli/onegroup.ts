#!/usr/bin/env node
/** onegroup: groups of users. */
import { listCommand, showCommand } from './common/object-commands.js';
import { clientFor, main, runProgram, stdio } from './common/program.js';
import { GROUP } from './kinds.js';

main((args) =>
  runProgram(
    'onegroup',
    'Manages groups.',
    [
      {
        command: 'create <name>',
        describe: 'Creates a new group',
        builder: (y) => y.positional('name', { type: 'string' }),
        run: async (argv) => {
          const id = await clientFor(argv).callInt('one.group.allocate', String(argv['name']));
          stdio.out(`ID: ${id}\n`);
        },
      },
      listCommand(GROUP),
      showCommand(GROUP),
    ],
    args,
  ),
);
