#!/usr/bin/env node
/** oneuser: users, their passwords and login tokens. */
import { CliError } from './cli-error.js';
import type { OneClient } from './common/client.js';
import { deleteCommand, listCommand, showCommand } from './common/object-commands.js';
import { clientFor, main, runProgram, stdio } from './common/program.js';
import { POOLS, resolveId } from './common/resolve.js';
import { GROUP, USER } from './kinds.js';

/** The user name of the session the client calls with. */
const callerName = (client: OneClient): string => client.connection.session.split(':')[0] ?? '';

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
      {
        command: 'token-create [username]',
        describe:
          'Creates a login token, usable as the password until it expires (default: yours, for 10 hours)',
        builder: (y) =>
          y
            .positional('username', { type: 'string', describe: 'User (default: the caller)' })
            .option('time', { type: 'number', describe: 'Seconds the token is valid; -1: until deleted' }),
        run: async (argv) => {
          const client = clientFor(argv);
          const user = argv['username'] === undefined ? callerName(client) : String(argv['username']);
          const time = argv['time'] === undefined ? 36_000 : Number(argv['time']);
          if (!Number.isInteger(time) || time === 0 || time < -1)
            throw new CliError(`--time ${String(argv['time'])}: give the seconds the token is valid, or -1`);
          const token = await client.callString('one.user.login', user, '', time, -1);
          stdio.out(`Authentication Token is:\n${user}:${token}\n`);
        },
      },
      {
        command: 'token-delete <username> [token]',
        describe: 'Deletes a login token (as shown by oneuser show -x, or its text); all of them without one',
        builder: (y) => y.positional('username', { type: 'string' }).positional('token', { type: 'string' }),
        run: async (argv) => {
          const client = clientFor(argv);
          await client.call('one.user.login', String(argv['username']), String(argv['token'] ?? ''), 0, -1);
          if (argv.verbose) stdio.out(`USER ${String(argv['username'])}: token deleted\n`);
        },
      },
      deleteCommand(USER),
      listCommand(USER),
      showCommand(USER),
    ],
    args,
  ),
);
