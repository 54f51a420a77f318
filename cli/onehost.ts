#!/usr/bin/env node
/** onehost: the hosts VMs run on, and the hypervisor driver that reaches their disks. */
import {
  createCommand,
  deleteCommand,
  listCommand,
  renameCommand,
  showCommand,
} from './common/object-commands.js';
import { type CommandSpec, clientFor, main, runProgram, stdio } from './common/program.js';
import { resolveId } from './common/resolve.js';
import { HOST } from './kinds.js';

/** onehost sync: a kvm host's libvirt domains become (or update) VMs, with their disks and states. */
const syncCommand: CommandSpec = {
  command: 'sync <host>',
  describe:
    "Imports the host's VMs from its hypervisor (kvm: libvirt domains, DEPLOY_ID = the domain name) with their disks and states; updates known ones; marks gone ones POWEROFF with an ERROR. The daemon also does this every MONITORING_INTERVAL_HOST seconds",
  builder: (y) => y.positional('host', { type: 'string', describe: 'Host ID or name' }),
  run: async (argv) => {
    const client = clientFor(argv);
    const id = await resolveId(client, HOST.pool, String(argv['host']));
    stdio.out(`HOST ${id}: ${await client.callString('one.host.sync', id)}\n`);
  },
};

main((args) =>
  runProgram(
    'onehost',
    'Manages the hosts VMs run on.',
    [
      createCommand(HOST),
      deleteCommand(HOST),
      listCommand(HOST),
      showCommand(HOST),
      renameCommand(HOST),
      syncCommand,
    ],
    args,
  ),
);
