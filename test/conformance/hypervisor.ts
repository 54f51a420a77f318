/** The conformance suite every hypervisor driver passes, on real disk images it is given. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { classifiedDriver } from '../../core/engine/classified-driver.js';
import { classifyFailure } from '../../core/scheduler/failure.js';
import type { DiskSpec, HypervisorDriver } from '../../drivers/hypervisor/types.js';

export interface HypervisorFixture {
  readonly driver: HypervisorDriver;
  /** Makes a disk of `format` whose guest bytes at `offset` are `data` (zeros elsewhere). */
  makeDisk(format: 'raw' | 'qcow2', size: number, offset: number, data: Uint8Array): Promise<DiskSpec>;
  readonly scratchDir: string;
  readonly targetDir: string;
  done(): Promise<void>;
}

export function hypervisorSuite(name: string, make: () => Promise<HypervisorFixture>): void {
  describe(`hypervisor driver conformance: ${name}`, () => {
    for (const format of ['raw', 'qcow2'] as const) {
      it(`${format}: point in time, extents cover the data, reads return guest bytes, release cleans up`, async () => {
        const f = await make();
        try {
          const data = randomBytes(65536);
          const offset = 5 * 1024 * 1024;
          const disk = await f.makeDisk(format, 16 * 1024 * 1024, offset, data);
          const facts = await f.driver.inspect(disk.source, format);
          assert.deepEqual(facts, { format, virtualSize: 16 * 1024 * 1024 });
          const pit = await f.driver.prepare(
            { id: 1, state: 'POWEROFF', disks: [disk] },
            { freeze: 'NONE', scratchDir: f.scratchDir },
          );
          const extents = await f.driver.extents(pit, disk.diskId);
          assert.ok(
            extents.some((e) => e.offset <= offset && e.offset + e.length >= offset + data.length),
            JSON.stringify(extents),
          );
          assert.ok(extents.reduce((s, e) => s + e.length, 0) < 16 * 1024 * 1024);
          const buf = new Uint8Array(data.length + 100);
          await f.driver.read(pit, disk.diskId, offset, buf);
          assert.deepEqual(Buffer.from(buf.subarray(0, data.length)), data);
          const tail = new Uint8Array(10);
          await f.driver.read(pit, disk.diskId, 16 * 1024 * 1024 - 5, tail);
          assert.deepEqual([...tail], new Array(10).fill(0));
          await f.driver.release(pit);
        } finally {
          await f.done();
        }
      });

      it(`${format}: createDisk writes a sparse disk in the format; abort leaves nothing`, async () => {
        const f = await make();
        try {
          const target = `${f.targetDir}/new.${format}`;
          const w = await f.driver.createDisk(target, format, 8 * 1024 * 1024);
          const data = randomBytes(4096);
          await w.write(4 * 1024 * 1024, data);
          await w.commit();
          const facts = await f.driver.inspect(target, format);
          assert.deepEqual(facts, { format, virtualSize: 8 * 1024 * 1024 });
          const pit = await f.driver.prepare(
            {
              id: 2,
              state: 'POWEROFF',
              disks: [{ diskId: 0, source: target, format, virtualSize: facts.virtualSize }],
            },
            { freeze: 'NONE', scratchDir: f.scratchDir },
          );
          const buf = new Uint8Array(4096);
          await f.driver.read(pit, 0, 4 * 1024 * 1024, buf);
          assert.deepEqual(Buffer.from(buf), data);
          await f.driver.release(pit);
          const aborted = await f.driver.createDisk(`${f.targetDir}/gone.${format}`, format, 1024 * 1024);
          await aborted.write(0, data);
          await aborted.abort();
          await assert.rejects(f.driver.inspect(`${f.targetDir}/gone.${format}`, format), /no such file/);
        } finally {
          await f.done();
        }
      });
    }

    it('classifies its own failures: a VM whose disk is gone fails for good, other failures are retried', async () => {
      const f = await make();
      try {
        const driver = classifiedDriver(f.driver);
        const gone = join(f.targetDir, 'no-such-disk.raw');
        const err = await driver
          .prepare(
            { id: 4, state: 'POWEROFF', disks: [{ diskId: 0, source: gone, format: 'raw', virtualSize: 1 }] },
            { freeze: 'NONE', scratchDir: f.scratchDir },
          )
          .then(
            () => assert.fail('prepare of a missing disk resolved'),
            (e: unknown) => e,
          );
        assert.equal(f.driver.isPermanent(err), true, String(err));
        assert.equal(classifyFailure(err, false), 'permanent');
        const hiccup = Object.assign(new Error('qemu-nbd exited'), { code: 'EPIPE' });
        assert.equal(f.driver.isPermanent(hiccup), false);
        assert.equal(classifyFailure(hiccup, false), 'retryable');
      } finally {
        await f.done();
      }
    });

    it('refuses a freeze mode it does not have, naming it', async () => {
      const f = await make();
      try {
        const unsupported = (['AGENT', 'SUSPEND'] as const).filter(
          (m) => !f.driver.capabilities.freeze.includes(m),
        );
        for (const mode of unsupported) {
          await assert.rejects(
            f.driver.prepare(
              { id: 3, state: 'POWEROFF', disks: [] },
              { freeze: mode, scratchDir: f.scratchDir },
            ),
            new RegExp(`FS_FREEZE=${mode}`),
          );
        }
      } finally {
        await f.done();
      }
    });
  });
}
