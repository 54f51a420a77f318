/**
 * Progress of long operations through the real daemon and CLIs (issue 14): `onevm backup --wait`
 * prints plain progress lines (bytes, speed, time left) when stderr is not a terminal; a tagged
 * restore and verify show their bytes and chunks through `one.progress.info` to their caller
 * only, while they run; `oneimage restore` and `onedatastore verify` still print their results.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { XmlRpcValue } from '../../core/api/xmlrpc-value.js';
import { ErrorCode } from '../../core/errors.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { rpc, rpcAs, rpcOk } from '../support/rpc.js';

const MiB = 1024 * 1024;
const DISK = 256 * MiB;
const LINE =
  /^VM 0: backup (\d+) % \([\d.]+ (B|KiB|MiB|GiB) of 256\.0 MiB\)(, [\d.]+ (B|KiB|MiB|GiB)\/s, \d+:\d\d left)?$/;

describe('progress of backups, restores and verify', () => {
  let d: RunningDaemon;
  let dir: string;
  let image = -1;

  /** Polls one.progress.info for the tag while `call` runs; the samples seen. */
  async function sample(
    tag: string,
    call: Promise<XmlRpcValue[]>,
    whileRunning?: () => Promise<void>,
  ): Promise<string[]> {
    const seen: string[] = [];
    let done = false;
    void call.finally(() => {
      done = true;
    });
    while (!done) {
      const [ok, body] = await rpc(d, 'one.progress.info', tag);
      if (ok === true) {
        if (seen.length === 0) await whileRunning?.();
        seen.push(String(body));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const [ok, body] = await call;
    assert.equal(ok, true, String(body));
    return seen;
  }
  const num = (xml: string, el: string) => Number(new RegExp(`<${el}>(\\d+)</${el}>`).exec(xml)?.[1]);

  before(async () => {
    dir = tempDir();
    d = await startDaemon({ stateDir: dir, conf: 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nWORKERS = 1\n' });
    await rpcOk(d, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    const disk = join(dir, 'vm0.raw');
    writeFileSync(disk, randomBytes(DISK));
    await rpcOk(
      d,
      'one.vm.allocate',
      `NAME = "vm-0"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
    );
    await rpcOk(d, 'one.datastore.allocate', `NAME = "b"\nBASE_PATH = "${join(dir, 'ds')}"\n`);
    await rpcOk(d, 'one.user.allocate', 'eve', 'eve-password-1', 'core', []);
  });
  after(async () => {
    await d?.stop();
    cleanup(dir);
  });

  it('onevm backup --wait prints plain progress lines off a terminal', async () => {
    const r = await runCli('onevm', ['backup', '0', '-d', '100', '--wait'], d);
    assert.equal(r.code, 0, r.stderr);
    image = Number(/^VM 0: backup done, image (\d+)\n$/.exec(r.stdout)?.[1]);
    assert.ok(image >= 0, r.stdout);
    assert.doesNotMatch(r.stderr, /\r/, 'no redraws into a pipe');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    assert.ok(lines.length >= 1 && lines.length <= 12, r.stderr);
    const pcts = lines.map((l) => {
      const m = LINE.exec(l);
      assert.ok(m, `a progress line: ${l}`);
      return Number(m[1]);
    });
    assert.deepEqual(
      pcts,
      [...pcts].sort((a, b) => a - b),
      'percentages only go up',
    );
  });

  it('a tagged restore shows its bytes to its caller only, while it runs', async () => {
    const call = rpc(d, 'one.image.restore', image, -1, 'PROGRESS_TAG = "r1"');
    let eveSaw: XmlRpcValue[] | undefined;
    const samples = await sample('r1', call, async () => {
      eveSaw = await rpcAs(d, 'eve:eve-password-1', 'one.progress.info', 'r1');
    });
    assert.ok(samples.length > 0, 'progress seen while the restore ran');
    const last = samples.at(-1) as string;
    assert.match(last, /<KIND>restore<\/KIND>/);
    assert.equal(num(last, 'BYTES_TOTAL'), DISK, 'the allocated bytes of the disk');
    assert.ok(samples.every((x) => num(x, 'BYTES_DONE') <= DISK));
    assert.ok(
      samples.some((x) => num(x, 'BYTES_DONE') > 0),
      samples.join('\n'),
    );
    // Once ended it is gone; another user never sees it.
    const [ok, , code] = await rpc(d, 'one.progress.info', 'r1');
    assert.deepEqual([ok, code], [false, ErrorCode.NO_EXISTS]);
    assert.deepEqual([eveSaw?.[0], eveSaw?.[2]], [false, ErrorCode.NO_EXISTS], 'not hers');
  });

  it('a tagged verify shows its chunks and bytes read', async () => {
    const samples = await sample('v1', rpc(d, 'one.datastore.verify', 100, 'v1'));
    assert.ok(samples.length > 0);
    const last = samples.at(-1) as string;
    assert.match(last, /<KIND>verify<\/KIND>/);
    const total = num(last, 'CHUNKS_TOTAL');
    assert.ok(total > 0 && num(last, 'CHUNKS_DONE') <= total, last);
  });

  it('oneimage restore and onedatastore verify print their results (progress lines, if any, well formed)', async () => {
    const restore = await runCli('oneimage', ['restore', String(image), '--disk-id', '0'], d);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^DISK 0: \//);
    for (const l of restore.stderr.split('\n').filter((x) => x !== ''))
      assert.match(l, new RegExp(`^image ${image}: (restore \\d+ % \\(|queued: )`));
    const verify = await runCli('onedatastore', ['verify', '100'], d);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^OK: \d+ chunks verified\n$/);
    for (const l of verify.stderr.split('\n').filter((x) => x !== ''))
      assert.match(l, /^datastore 100: verify \d+ % \(.* of \d+ chunks\)/);
  });
});
