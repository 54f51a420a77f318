/**
 * `npm run demo` (issue 5) as a user runs it after the build: it ends with a verified restore
 * within two minutes, prints a job, a VM's backup log and metrics, and leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../support/daemon.js';
import { parseMetrics } from '../support/metrics-text.js';

describe('npm run demo', () => {
  it('runs end to end in under two minutes, ends with a verified restore and cleans up', async () => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(REPO, 'scripts', 'demo.mjs')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const seconds = (Date.now() - started) / 1000;
    assert.equal(code, 0, `demo failed:\n${out}\n${err}`);
    assert.ok(seconds < 120, `the demo took ${seconds} s`);
    assert.match(out, /== verified restore: identical/);
    const [, want, got] = /original sha256 (\w{64})\nrestored sha256 (\w{64})/.exec(out) ?? [];
    assert.ok(want && want === got);
    assert.match(out, /VIRTUAL MACHINE BACKUP STATUS/);
    assert.match(out, /msg="backup started" job=0 vm=0/);
    // The metrics sample is valid exposition text with the jobs' VMs.
    const sample = out.slice(out.indexOf('== a sample of'), out.indexOf('samples in all'));
    const lines = sample.split('\n').filter((l) => /^[a-z_]+(\{|\s)/.test(l));
    const families = parseMetrics(`${lines.join('\n')}\n`);
    const updated = families
      .get('onebackup_job_vms')
      ?.metrics.filter((m) => m.labels['set'] === 'updated')
      .reduce((s, m) => s + Number(m.value), 0);
    assert.equal(updated, 3);
    const dir = /state in (\S+)/.exec(out)?.[1] as string;
    assert.ok(dir.includes('onebackup-demo-'));
    assert.equal(existsSync(dir), false, `${dir} was left behind`);
  });
});
