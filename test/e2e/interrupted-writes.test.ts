/**
 * A daemon killed (SIGKILL) while a backup writes chunks leaves chunks no manifest names. A mark
 * in the state directory (`unfinished-writes/<datastore>`) outlives it; the next start collects
 * that datastore before backups write there again, so nothing is left filling the disk.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { chunkFiles, manifestFiles } from '../support/datastore-faults.js';
import { rpcOk } from '../support/rpc.js';

const CONF = 'LOG_LEVEL = "info"\nLOG_FORMAT = "json"\nTIMEZONE = "UTC"\nSHUTDOWN_GRACE = 0\nWORKERS = 1\n';
const MiB = 1024 * 1024;

async function eventually(
  what: string,
  cond: () => boolean | Promise<boolean>,
  logs: () => string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}\n${logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('a backup killed with the daemon', () => {
  const work = tempDir('onebackup-interrupted-');
  const stateDir = tempDir('onebackup-interrupted-state-');
  let d: RunningDaemon | undefined;
  after(async () => {
    await d?.stop();
    cleanup(stateDir);
    cleanup(work);
  });

  it('leaves a mark; the next start collects the chunks it wrote before backups write there again', async () => {
    d = await startDaemon({ stateDir, conf: CONF });
    const base = join(work, 'ds');
    await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\n');
    const disk = join(work, 'big.raw');
    writeFileSync(disk, randomBytes(320 * MiB));
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME="big"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${disk}"]\n`,
    );
    assert.equal(await rpcOk(d, 'one.datastore.allocate', `NAME="ds"\nBASE_PATH="${base}"\n`), 100);
    const running = d;
    const started = await runCli('onevm', ['backup', '0', '-d', '100'], running);
    assert.equal(started.code, 0, started.stderr);
    await eventually('chunks written', () => chunkFiles(base).length >= 4, running.logs);
    assert.equal(await running.stop('SIGKILL'), null);
    d = undefined;
    const mark = join(stateDir, 'unfinished-writes', '100');
    assert.ok(existsSync(mark), 'the datastore is marked');
    assert.equal(manifestFiles(base).length, 0, 'the killed backup recorded nothing');
    const left = chunkFiles(base).length;
    assert.ok(left >= 4);

    d = await startDaemon({ stateDir, conf: CONF });
    const again = d;
    await eventually(
      'the collection',
      () => again.logs().includes('collected what interrupted backups left'),
      again.logs,
    );
    const line = again
      .logs()
      .split('\n')
      .find((l) => l.includes('collected what interrupted backups left')) as string;
    assert.ok((JSON.parse(line) as { chunksRemoved: number }).chunksRemoved >= left, line);
    // Whatever ran since (a requeued backup) finished or wrote only chunks a manifest names.
    await eventually(
      'no backup running',
      async () => !(await runCli('onevm', ['show', '0', '-x'], again)).stdout.includes('<BACKUP_PROGRESS>'),
      again.logs,
    );
    const gc = await runCli('onedatastore', ['gc', '100'], again);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /chunks removed: 0,/);
    assert.ok(!existsSync(mark), 'the mark is gone once nothing is left');
  });
});
