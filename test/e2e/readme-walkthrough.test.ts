/**
 * README's walk-through, run as written (issue 14, item 6): its two `sh` blocks, in order, with
 * the real CLIs on PATH against a real daemon, and `conf/examples/` as they are — only `/var/lib`
 * is moved under a temporary root, so the test needs no machine-wide paths.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, cliBin, REPO, type RunningDaemon, startDaemon, tempDir } from '../support/daemon.js';
import { rpcOk } from '../support/rpc.js';

const CLIS = ['onebackupjob', 'onevm', 'onehost', 'onedatastore', 'oneimage', 'oneuser', 'onegroup'];

/** The `sh` blocks that follow the walk-through's heading paragraph, in order. */
function walkthroughBlocks(): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const from = readme.indexOf('A walk-through with the templates in `conf/examples/`');
  assert.ok(from >= 0, 'README has the walk-through');
  const blocks = [...readme.slice(from).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return blocks.slice(0, 2);
}

describe('README walk-through', () => {
  let d: RunningDaemon;
  let root: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    root = tempDir('onebackup-readme-');
    mkdirSync(join(root, 'state'), { mode: 0o700 });
    d = await startDaemon({ stateDir: join(root, 'state') });
    const bin = cliBin(root, CLIS);
    // conf/examples as they are, with /var/lib under the temporary root.
    cpSync(join(REPO, 'conf', 'examples'), join(root, 'conf', 'examples'), { recursive: true });
    for (const f of readdirSync(join(root, 'conf', 'examples'))) {
      const p = join(root, 'conf', 'examples', f);
      writeFileSync(p, readFileSync(p, 'utf8').replaceAll('/var/lib/', `${root}/var/lib/`));
    }
    env = {
      PATH: `${bin}:${process.env['PATH']}`,
      HOME: d.stateDir,
      TZ: 'UTC',
      ONE_XMLRPC: d.url,
      ONE_AUTH: d.authFile,
    };
  });
  after(async () => {
    await d?.stop();
    cleanup(root);
  });

  const run = (block: string) => {
    const r = spawnSync(
      'bash',
      ['-e', '-o', 'pipefail', '-c', block.replaceAll('/var/lib/', `${root}/var/lib/`)],
      {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('runs both blocks as written, with the outputs their comments say', async () => {
    const [first, second] = walkthroughBlocks();
    assert.ok(first && second, 'two sh blocks');
    const a = run(first);
    assert.equal(a.code, 0, `${a.stdout}\n${a.stderr}`);
    for (const id of ['ID: 0', 'ID: 1', 'ID: 100'])
      assert.ok(a.stdout.includes(id), `${id} in:\n${a.stdout}`);
    assert.match(a.stdout, /nightly-web/);
    // vm-web.tmpl registers web-1 RUNNING; the block's onevm update powered it off (POWEROFF is 8).
    assert.match(String(await rpcOk(d, 'one.vm.info', 0)), /<STATE>8<\/STATE>/);
    // A reader moves on once the job's run has ended; the walk-through's next block assumes it.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const xml = String(await rpcOk(d, 'one.backupjob.info', 0));
      if (!/<(OUTDATED_VMS|BACKING_UP_VMS)><ID>/.test(xml)) break;
      assert.ok(Date.now() < deadline, 'the job run ended');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(String(await rpcOk(d, 'one.backupjob.info', 0)), /<UPDATED_VMS><ID>0<\/ID>/);
    const b = run(second);
    assert.equal(b.code, 0, `${b.stdout}\n${b.stderr}`);
    assert.match(b.stdout, /VM 1: backup done, image \d+\n/);
    assert.match(b.stdout, /VM: 2\nDISK \d+: /);
    assert.match(b.stdout, /OK: \d+ chunks verified/);
    assert.match(b.stdout, /chunks kept: \d+/);
  });
});
