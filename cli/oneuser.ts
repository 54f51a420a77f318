#!/usr/bin/env node
/** oneuser: users and their passwords. */
import { deleteCommand, listCommand, showCommand } from './common/object-commands.js';
import { clientFor, main, runProgram, stdio } from './common/program.js';
import { POOLS, resolveId } from './common/resolve.js';
import { GROUP, USER } from './kinds.js';

main((args) =>
  runProgram(
    'oneuser',
    'Manages users.',
    [
      {
        command: 'create <username> <passwd>',
        describe: 'Creates a new user (in group users unless --group is given)',
        builder: (y) =>
          y
            .positional('username', { type: 'string' })
            .positional('passwd', { type: 'string' })
            .option('group', { type: 'string', describe: 'Primary group (ID or name)' }),
        run: async (argv) => {
          const client = clientFor(argv);
          const groups =
            argv['group'] === undefined ? [] : [await resolveId(client, GROUP.pool, String(argv['group']))];
          const id = await client.callInt(
            'one.user.allocate',
            String(argv['username']),
            String(argv['passwd']),
            'core',
            groups,
          );
          stdio.out(`ID: ${id}\n`);
        },
      },
      {
        command: 'passwd <userid> <passwd>',
        describe: 'Changes the password of a user',
        builder: (y) => y.positional('userid', { type: 'string' }).positional('passwd', { type: 'string' }),
        run: async (argv) => {
          const client = clientFor(argv);
          const id = await resolveId(client, POOLS.user, String(argv['userid']));
          await client.call('one.user.passwd', id, String(argv['passwd']));
          if (argv.verbose) stdio.out(`USER ${id}: Password changed\n`);
        },
      },
      deleteCommand(USER),
      listCommand(USER),
      showCommand(USER),
    ],
    args,
  ),
);
