/**
 * A real Prometheus server (Debian's package; .ci/run installs it) on loopback with a temporary
 * TSDB and a 1 s scrape interval scrapes onebackupd; PromQL over its HTTP API returns each job's
 * VM counts by set, as the job documents say them.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { requireTool } from '../support/metrics-text.js';
import { rpcOk } from '../support/rpc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface VectorResult {
  metric: Record<string, string>;
  value: [number, string];
}

let dir: string;
let d: RunningDaemon;
let prometheus: ChildProcess | undefined;
let promLog = '';
let promUrl = '';

async function query(q: string): Promise<VectorResult[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { status: string; data?: { result: VectorResult[] }; error?: string };
  assert.equal(body.status, 'success', `${q}: ${body.error}`);
  return body.data?.result ?? [];
}

describe('a real Prometheus server scraping onebackupd', () => {
  const jobs: number[] = [];

  before(async () => {
    const binary = requireTool('prometheus');
    dir = tempDir();
    d = await startDaemon({ stateDir: dir, conf: 'TIMEZONE = "UTC"\nLOG_LEVEL = "warn"\nWORKERS = 1\n' });
    await rpcOk(d, 'one.host.allocate', 'NAME="node1"\nTRANSPORT="local"\nVM_MAD="fs"\n');
    await rpcOk(d, 'one.datastore.allocate', 'NAME="ds"\nTYPE="BACKUP_DS"\n');
    mkdirSync(join(dir, 'vms'));
    for (let i = 0; i < 3; i++) {
      const path = join(dir, 'vms', `vm${i}.raw`);
      writeFileSync(path, randomBytes(4 * 1024 * 1024));
      await rpcOk(
        d,
        'one.vm.allocate',
        `NAME="vm${i}"\nHOST="node1"\nSTATE="POWEROFF"\nDISK=[SOURCE="${path}"]\n`,
      );
    }
    for (const vms of ['0,1', '2']) {
      const r = await runCli('onebackupjob', ['create'], d, {
        input: `NAME="job-${vms}"\nBACKUP_VMS="${vms}"\nDATASTORE_ID=100\n`,
      });
      assert.equal(r.code, 0, r.stderr);
      jobs.push(Number(/ID: (\d+)/.exec(r.stdout)?.[1]));
    }
    // Job 0 runs (both VMs end UPDATED); job 1 never runs (its VM stays outside every set).
    assert.equal((await runCli('onebackupjob', ['backup', String(jobs[0])], d)).code, 0);

    const target = new URL(d.url);
    const promDir = join(dir, 'prometheus');
    mkdirSync(promDir);
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: onebackupd',
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: ['${target.host}']`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      binary,
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stderr?.on('data', (b: Buffer) => {
      promLog += b.toString();
    });
    for (let i = 0; ; i++) {
      const ready = await fetch(`${promUrl}/-/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      assert.ok(i < 300, `prometheus did not become ready in 30 s:\n${promLog}`);
      await sleep(100);
    }
  });

  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus?.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await d?.stop();
    cleanup(dir);
  });

  it('PromQL over the HTTP API returns the VM counts of each job by set', async () => {
    const [jobA, jobB] = jobs.map(String) as [string, string];
    let result: VectorResult[] = [];
    for (let i = 0; i < 300; i++) {
      result = await query(`onebackup_job_vms{backup_job="${jobA}",set="updated"} == 2`);
      if (result.length === 1) break;
      await sleep(200);
    }
    assert.equal(
      result.length,
      1,
      `no scrape showed job ${jobA} with 2 updated VMs; prometheus log:\n${promLog}`,
    );
    assert.equal(result[0]?.metric['backup_job'], jobA);
    assert.equal(result[0]?.metric['instance'], new URL(d.url).host);

    // Every set of every job, in one query, against the job documents.
    const sums = await query('sum by (backup_job) (onebackup_job_vms)');
    const byJob = new Map(sums.map((r) => [r.metric['backup_job'], Number(r.value[1])]));
    assert.equal(byJob.get(jobA), 2);
    assert.equal(byJob.get(jobB), 0);
    const show = await runCli('onebackupjob', ['show', jobA, '-x'], d);
    assert.match(show.stdout, /<UPDATED_VMS>\s*<ID>0<\/ID>\s*<ID>1<\/ID>\s*<\/UPDATED_VMS>/);
    const unprotected = await query('onebackup_vms_unprotected');
    assert.equal(unprotected[0]?.value[1], '0');
    const up = await query('up{job="onebackupd"}');
    assert.equal(up[0]?.value[1], '1');
  });
});
