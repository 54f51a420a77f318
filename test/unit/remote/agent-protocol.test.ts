/**
 * The host agent's protocol pieces that need no SSH: frames split anywhere in the stream come out
 * whole; a corrupt stream is refused; which hosts are this machine and which attribute problems
 * are found; and the agent itself, served over in-process streams with the real fs driver on a
 * real disk file: prepare, extents, read, release, and an error carrying its classification.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { fsDriver } from '../../../drivers/hypervisor/fs.js';
import { serveAgent } from '../../../drivers/remote/agent.js';
import { encodeFrame, type Frame, FrameReader } from '../../../drivers/remote/frames.js';
import { checkHostAccess, isLocalHost } from '../../../drivers/remote/host-drivers.js';

describe('agent frames', () => {
  it('come out whole however the stream is split', () => {
    const body = randomBytes(300_000);
    const bytes = Buffer.concat([
      ...encodeFrame({ t: 'call', id: 1, method: 'read' }),
      ...encodeFrame({ t: 'ok', id: 1 }, body),
      ...encodeFrame({ t: 'ok', id: 2, result: [1, 2] }),
    ]);
    for (const step of [1, 7, 8, 9, 4096, bytes.length]) {
      const reader = new FrameReader();
      const frames: Frame[] = [];
      for (let at = 0; at < bytes.length; at += step)
        frames.push(...reader.push(bytes.subarray(at, at + step)));
      assert.equal(frames.length, 3, `split every ${step} bytes`);
      assert.deepEqual(frames[0]?.header, { t: 'call', id: 1, method: 'read' });
      assert.equal(frames[0]?.body, undefined);
      assert.ok(frames[1]?.body?.equals(body), `the body whole, split every ${step} bytes`);
      assert.deepEqual(frames[2]?.header.result, [1, 2]);
    }
  });

  it('refuse a stream that is not frames', () => {
    const reader = new FrameReader();
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(0xffffffff, 0);
    assert.throws(() => reader.push(bad), /corrupt agent stream/);
    const notObject = Buffer.concat(encodeFrame({ t: 'x' }));
    notObject.write('[1]    ', 8);
    notObject.writeUInt32BE(3, 0);
    assert.throws(() => new FrameReader().push(notObject.subarray(0, 11)), /not an object/);
  });
});

describe('host access', () => {
  it('localhost and TRANSPORT = "local" are this machine; any other NAME is an SSH address', () => {
    assert.equal(isLocalHost({ name: 'localhost', attributes: {} }), true);
    assert.equal(isLocalHost({ name: 'node1', attributes: { TRANSPORT: 'local' } }), true);
    assert.equal(isLocalHost({ name: 'node1', attributes: { TRANSPORT: 'LOCAL' } }), true);
    assert.equal(isLocalHost({ name: 'node1', attributes: {} }), false);
    assert.equal(isLocalHost({ name: 'localhost', attributes: { TRANSPORT: 'ssh' } }), false);
    assert.equal(isLocalHost(undefined), true);
  });

  it('names each bad attribute with the fix, and never repeats key material', () => {
    const problems = checkHostAccess({
      name: 'bad name',
      attributes: { SSH_PORT: '0', SSH_USER: 'a b', SSH_KEY: 'relative/key', TRANSPORT: 'rsh' },
    });
    const by = new Map(problems.map((p) => [p.attribute, p.message]));
    assert.match(by.get('TRANSPORT') ?? '', /"ssh" .* or "local"/);
    assert.match(by.get('NAME') ?? '', /SSH address .* TRANSPORT = "local"/);
    assert.match(by.get('SSH_PORT') ?? '', /not a TCP port/);
    assert.match(by.get('SSH_USER') ?? '', /not a user name/);
    assert.match(by.get('SSH_KEY') ?? '', /absolute path/);
    const key = checkHostAccess({
      name: 'h1',
      attributes: { SSH_KEY: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc' },
    });
    assert.equal(key.length, 1);
    assert.doesNotMatch(key[0]?.message ?? '', /BEGIN|abc/);
    assert.deepEqual(checkHostAccess({ name: 'kvm-2.example.com', attributes: { SSH_PORT: '2222' } }), []);
    assert.deepEqual(checkHostAccess({ name: 'my host', attributes: { TRANSPORT: 'local' } }), []);
  });
});

describe('the agent over in-process streams', () => {
  it('serves the fs driver: a point in time, its extents and bytes; errors keep their classification', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onebackup-agent-'));
    const toAgent = new PassThrough();
    const fromAgent = new PassThrough();
    const served = serveAgent(toAgent, fromAgent, {
      drivers: new Map([['fs', fsDriver]]),
      version: 'test',
      scratchRoot: join(dir, 'scratch'),
    });
    const reader = new FrameReader();
    const waiting = new Map<number, (f: Frame) => void>();
    let hello: Frame | undefined;
    fromAgent.on('data', (d: Buffer) => {
      for (const f of reader.push(d)) {
        if (f.header.t === 'hello') hello = f;
        else waiting.get(Number(f.header.id))?.(f);
      }
    });
    let id = 0;
    const call = (method: string, args: unknown[]) =>
      new Promise<Frame>((resolve) => {
        id++;
        waiting.set(id, resolve);
        for (const p of encodeFrame({ t: 'call', id, driver: 'fs', method, args })) toAgent.write(p);
      });
    try {
      const disk = join(dir, 'disk.raw');
      const data = randomBytes(1024 * 1024);
      writeFileSync(disk, data);
      const vm = {
        id: 7,
        state: 'POWEROFF',
        disks: [{ diskId: 0, source: disk, format: 'raw', virtualSize: data.length }],
      };
      const prepared = await call('prepare', [vm, { freeze: 'NONE', scratchDir: '/daemon/scratch' }]);
      assert.equal(prepared.header.t, 'ok', JSON.stringify(prepared.header));
      const pit = prepared.header.result as { handle: number; vmId: number };
      assert.equal(pit.vmId, 7);
      const extents = await call('extents', [pit.handle, 0]);
      assert.deepEqual(extents.header.result, [{ offset: 0, length: data.length }]);
      const read = await call('read', [pit.handle, 0, 4096, 8192]);
      assert.ok(read.body?.equals(data.subarray(4096, 4096 + 8192)));
      assert.equal((await call('release', [pit.handle, { succeeded: true }])).header.t, 'ok');
      const gone = await call('read', [pit.handle, 0, 0, 10]);
      assert.equal(gone.header.t, 'err');
      assert.match(String((gone.header.error as { message: string }).message), /not open on this host/);
      const missing = await call('inspect', [join(dir, 'nope.raw'), 'raw']);
      assert.equal(missing.header.t, 'err');
      assert.equal(
        (missing.header.error as { permanent: boolean }).permanent,
        true,
        'a missing disk is permanent',
      );
      assert.equal(hello?.header.version, 'test');
    } finally {
      toAgent.end();
      await served;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
