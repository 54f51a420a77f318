/**
 * A datastore whose storage does not answer (issue 14, item 2), with the real daemon and CLIs.
 * The hang is real, made without FUSE: the datastore's identity document is replaced by a named
 * pipe (FIFO) with no writer, so open() of it blocks the thread that tries, exactly as a read on
 * a hung NFS mount does; a daemon that opened it in one of its own threads would lose that thread
 * for good. /health says degraded and names it, its metric is 0, backups and verify of it fail at
 * once naming it, the other datastore and the API keep working, SIGTERM stops the daemon and a
 * restart listens without waiting for it; once the file is back, it answers again.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blake3 } from '@napi-rs/blake-hash';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { makeDisk } from '../support/inventory.js';
import { rpcOk } from '../support/rpc.js';

const CONF =
  'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nDATASTORE_TIMEOUT = 1\nMONITORING_INTERVAL_DATASTORE = 1\nSHUTDOWN_GRACE = 2\n';

interface Health {
  status: string;
  datastores_not_answering: { id: number; error: string }[];
}

describe('a datastore that does not answer', () => {
  let d: RunningDaemon;
  let dir: string;
  let identity: string;
  let identityDoc = '';
  const base = (p: string) => d.url.replace(/\/RPC2$/, p);
  const health = async (): Promise<Health> => (await (await fetch(base('/health'))).json()) as Health;
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 20_000;
    while (!(await ok())) {
      assert.ok(Date.now() < deadline, what);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    dir = tempDir();
    d = await startDaemon({ stateDir: dir, conf: CONF });
    await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    const disk = join(dir, 'vm.raw');
    makeDisk(disk, 'raw', '8M');
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME = "vm"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
    );
    mkdirSync(join(dir, 'slow'));
    await rpcOk(d, 'one.datastore.allocate', `NAME = "slow"\nBASE_PATH = "${join(dir, 'slow')}"\n`);
    await rpcOk(d, 'one.datastore.allocate', `NAME = "fine"\nBASE_PATH = "${join(dir, 'fine')}"\n`);
    identity = join(dir, 'slow', 'onebackup-datastore.json');
    identityDoc = readFileSync(identity, 'utf8');
    rmSync(identity);
    execFileSync('mkfifo', [identity]);
  });
  after(async () => {
    await d?.stop('SIGKILL');
    cleanup(dir);
  });

  it('shows in /health (degraded, naming it) and in its metric, within the probe interval', async () => {
    let h: Health | undefined;
    await until('/health names datastore 100', async () => {
      h = await health();
      return h.datastores_not_answering.some((x) => x.id === 100);
    });
    assert.equal(h?.status, 'degraded');
    assert.match(
      h?.datastores_not_answering[0]?.error ?? '',
      /gave no answer within 1 s \(DATASTORE_TIMEOUT\)/,
    );
    assert.ok(!h?.datastores_not_answering.some((x) => x.id === 101), 'the other datastore answers');
    const started = Date.now();
    const metrics = await (await fetch(base('/metrics'))).text();
    assert.ok(Date.now() - started < 5000, 'a scrape does not wait for the datastore');
    assert.match(metrics, /^onebackup_datastore_up\{datastore="100"\} 0$/m);
    assert.match(metrics, /^onebackup_datastore_up\{datastore="101"\} 1$/m);
  });

  it('refuses backups and verify of it at once, while the other datastore and the API work', async () => {
    const started = Date.now();
    const refused = await runCli('onevm', ['backup', '0', '-d', '100', '--wait'], d);
    assert.equal(refused.code, 255, refused.stdout);
    assert.match(refused.stderr, /datastore 100 does not answer/);
    const verify = await runCli('onedatastore', ['verify', '100'], d);
    assert.equal(verify.code, 255);
    assert.match(verify.stderr, /datastore 100 does not answer/);
    assert.ok(Date.now() - started < 15_000, 'no hang');
    const fine = await runCli('onevm', ['backup', '0', '-d', '101', '--wait'], d);
    assert.equal(fine.code, 0, fine.stderr);
    const list = await runCli('onedatastore', ['list'], d);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /slow/);
  });

  it('a datastore that hangs in the middle of a backup fails that backup within DATASTORE_TIMEOUT, naming it; the daemon goes on', async () => {
    const MiB = 1024 * 1024;
    const disk = join(dir, 'data.raw');
    const data = randomBytes(8 * MiB);
    writeFileSync(disk, data);
    const vm = Number(
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME = "data"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      ),
    );
    // The second chunk's file (an unencrypted chunk of a new datastore is named by the BLAKE3 of
    // its bytes) is a FIFO with no writer: opening it blocks, as a read on a hung NFS mount does.
    const id = blake3(data.subarray(4 * MiB)).toString('hex');
    const chunkDir = join(dir, 'fine', 'chunks', id.slice(0, 2));
    mkdirSync(chunkDir, { recursive: true });
    const fifo = join(chunkDir, id);
    execFileSync('mkfifo', [fifo]);
    try {
      const started = Date.now();
      const r = await runCli('onevm', ['backup', String(vm), '-d', '101', '--wait'], d);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(`${r.stdout}${r.stderr}`, /datastore 101 did not answer within 1 s/);
      assert.ok(Date.now() - started < 30_000, 'the backup did not hang');
      const list = await runCli('onedatastore', ['list'], d);
      assert.equal(list.code, 0, list.stderr);
      assert.doesNotMatch(
        (await runCli('onevm', ['show', String(vm), '-x'], d)).stdout,
        /<BACKUP_IDS>\s*<ID>/,
      );
    } finally {
      // A writer releases the thread stuck opening the FIFO; then the file goes.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // no reader left
      }
      rmSync(fifo, { force: true });
    }
    const again = await runCli('onevm', ['backup', String(vm), '-d', '101', '--wait'], d);
    assert.equal(again.code, 0, again.stderr);
  });

  it('stops on SIGTERM and starts again without waiting for it; answers again once the file is back', async () => {
    const stopping = Date.now();
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.ok(Date.now() - stopping < 20_000, 'stopped in bounded time');
    const starting = Date.now();
    d = await startDaemon({ stateDir: dir, conf: CONF });
    assert.ok(Date.now() - starting < 10_000, `listening in ${Date.now() - starting} ms`);
    await until('degraded again after the restart', async () => (await health()).status === 'degraded');
    rmSync(identity);
    writeFileSync(identity, identityDoc);
    await until('ok once the datastore answers', async () => (await health()).status === 'ok');
    assert.match(
      await (await fetch(base('/metrics'))).text(),
      /^onebackup_datastore_up\{datastore="100"\} 1$/m,
    );
    const backup = await runCli('onevm', ['backup', '0', '-d', '100', '--wait'], d);
    assert.equal(backup.code, 0, backup.stderr);
  });
});
