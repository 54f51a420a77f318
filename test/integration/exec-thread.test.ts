import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ExecError, execFileOffThread } from '../../drivers/hypervisor/exec-thread.js';

describe('execFile from a worker thread', () => {
  it('returns stdout and stderr of a real process', async () => {
    const r = await execFileOffThread('sh', ['-c', 'echo out; echo err >&2'], { maxBuffer: 1024 });
    assert.deepEqual(r, { stdout: 'out\n', stderr: 'err\n' });
  });

  it('rejects as execFile does: exit code and stderr, ENOENT for a missing program', async () => {
    const failed = (await execFileOffThread('sh', ['-c', 'echo broken >&2; exit 3'], {
      maxBuffer: 1024,
    }).then(
      () => assert.fail('exit 3 resolved'),
      (e: unknown) => e,
    )) as ExecError;
    assert.equal(failed.code, 3);
    assert.equal(failed.stderr, 'broken\n');
    const missing = (await execFileOffThread('no-such-program-onebackup', [], { maxBuffer: 1024 }).then(
      () => assert.fail('a missing program resolved'),
      (e: unknown) => e,
    )) as ExecError;
    assert.equal(missing.code, 'ENOENT');
  });

  it('kills the child when the signal aborts', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const run = execFileOffThread('sleep', ['30'], { maxBuffer: 1024, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(run, { name: 'AbortError' });
    assert.ok(Date.now() - t0 < 10_000, 'did not wait for sleep 30');
  });
});
