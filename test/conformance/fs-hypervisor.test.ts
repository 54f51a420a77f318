import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsDriver } from '../../drivers/hypervisor/fs.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { hypervisorSuite } from './hypervisor.js';

hypervisorSuite('fs', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'targets'));
  let n = 0;
  return {
    driver: fsDriver,
    scratchDir: join(dir, 'scratch'),
    targetDir: join(dir, 'targets'),
    async makeDisk(format, size, offset, data) {
      const raw = join(dir, `d${n++}.raw`);
      const fd = openSync(raw, 'w');
      ftruncateSync(fd, size);
      writeSync(fd, data, 0, data.length, offset);
      closeSync(fd);
      let source = raw;
      if (format === 'qcow2') {
        source = join(dir, `d${n++}.qcow2`);
        execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
      }
      return { diskId: 0, source, format, virtualSize: size };
    },
    done: async () => cleanup(dir),
  };
});
