/** Builds a real inventory for end-to-end tests: a host, VMs with real disk images, datastores. */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningDaemon } from './daemon.js';
import { rpcOk } from './rpc.js';

export function makeDisk(path: string, format: 'raw' | 'qcow2', size = '16M'): void {
  execFileSync('qemu-img', ['create', '-q', '-f', format, path, size]);
}

/** Host node1, VMs 0..count-1 (each with a qcow2 and a raw disk), datastores 100 and 101. */
export async function buildInventory(d: RunningDaemon, vmCount: number): Promise<void> {
  await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
  const dir = join(d.stateDir, 'vms');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < vmCount; i++) {
    makeDisk(join(dir, `vm${i}-disk0.qcow2`), 'qcow2');
    makeDisk(join(dir, `vm${i}-disk1.raw`), 'raw', '4M');
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME = "vm-${i}"\nHOST = "node1"\nDISK = [ SOURCE = "${dir}/vm${i}-disk0.qcow2", FORMAT = "qcow2" ]\n` +
        `DISK = [ SOURCE = "${dir}/vm${i}-disk1.raw" ]\n`,
    );
  }
  for (const name of ['backups', 'offsite']) {
    await rpcOk(d, 'one.datastore.allocate', `NAME = "${name}"\nTYPE = "BACKUP_DS"\nDS_MAD = "local"\n`);
  }
}
