/**
 * /metrics and /health of the real daemon (issue 5): a scrape taken while backups run passes
 * `promtool check metrics`; after the runs, every metric parsed with a Prometheus text parser
 * agrees with the run records (`onebackupjob runs -j`) and the job documents; the per-VM backup
 * log is retrievable and holds no secret; METRICS_LISTEN moves /metrics to its own listener.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  cleanup,
  oneadminSession,
  REPO,
  type RunningDaemon,
  runCli,
  startDaemon,
  tempDir,
} from '../support/daemon.js';
import { type Family, requireTool, sampleValue, scrape } from '../support/metrics-text.js';
import { rpcOk } from '../support/rpc.js';
import { storedBytes } from '../support/state-rows.js';

const MiB = 1024 * 1024;
const CONF =
  'LOG_LEVEL = "info"\nLOG_FORMAT = "json"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 2\nMAX_BACKUPS_HOST = 1\nWORKERS = 1\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Labels a backup metric may have: bounded ones only (never backup, image or chunk IDs). */
const ALLOWED_LABELS = new Set([
  'backup_job',
  'vm',
  'host',
  'datastore',
  'set',
  'reason',
  'mode',
  'scope',
  'le',
  'version',
  'one_vm_id',
  'one_vm_name',
  'direction',
]);

interface Task {
  VM_ID: string;
  STATUS: string;
  START: string;
  END: string;
  BYTES: string;
}
interface Run {
  ID: string;
  END: string;
  RESULT: string;
  TASKS: Task[];
}

let dir: string;
let d: RunningDaemon;
let metricsUrl: string;

async function runs(job: number): Promise<Run[]> {
  const r = await runCli('onebackupjob', ['runs', String(job), '-j'], d);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { RUNS: Run[] }).RUNS;
}

async function waitRunsEnded(jobs: number[]): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const all = await Promise.all(jobs.map((j) => runs(j)));
    if (all.every((r) => r.length > 0 && r.every((x) => x.END !== '0'))) return;
    await sleep(100);
  }
  assert.fail('runs did not end');
}

function writeDisk(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  for (let k = 0; k < mib / 4; k++) writeSync(fd, randomBytes(4 * MiB), 0, 4 * MiB, k * 4 * MiB);
  closeSync(fd);
}

describe('metrics of the real daemon', () => {
  let jobA = -1;
  let jobB = -1;
  let during = '';

  before(async () => {
    dir = tempDir();
    d = await startDaemon({ stateDir: dir, conf: CONF });
    metricsUrl = d.url.replace(/\/RPC2$/, '/metrics');
    for (const h of ['node1', 'node2'])
      await rpcOk(d, 'one.host.allocate', `NAME="${h}"\nTRANSPORT="local"\nVM_MAD="fs"\n`);
    await rpcOk(
      d,
      'one.datastore.allocate',
      'NAME="ds"\nTYPE="BACKUP_DS"\nCOMPRESSION="gzip"\nCOMPRESSION_LEVEL="9"\n',
    );
    mkdirSync(join(dir, 'vms'));
    for (let i = 0; i < 6; i++) {
      const path = join(dir, 'vms', `vm${i}.raw`);
      writeDisk(path, 24);
      const id = Number(
        await rpcOk(
          d,
          'one.vm.allocate',
          `NAME="vm${i}"\nHOST="node${(i % 2) + 1}"\nSTATE="POWEROFF"\nDISK=[SOURCE="${path}"]\n`,
        ),
      );
      assert.equal(id, i);
    }
    // VM 4's disk disappears: its backup fails for good (ENOENT is permanent). VM 5 is in no job.
    rmSync(join(dir, 'vms', 'vm4.raw'));
    const a = await runCli('onebackupjob', ['create'], d, {
      input: 'NAME="A"\nEXECUTION="PARALLEL"\nBACKUP_VMS="0,1,2,3"\nDATASTORE_ID=100\nRPO="24h"\n',
    });
    assert.equal(a.code, 0, a.stderr);
    jobA = Number(/ID: (\d+)/.exec(a.stdout)?.[1]);
    const b = await runCli('onebackupjob', ['create'], d, {
      input: 'NAME="B"\nBACKUP_VMS="4"\nDATASTORE_ID=100\nRPO="1h"\nMAX_RETRIES=0\n',
    });
    assert.equal(b.code, 0, b.stderr);
    jobB = Number(/ID: (\d+)/.exec(b.stdout)?.[1]);
  });

  after(async () => {
    await d?.stop();
    cleanup(dir);
  });

  it('a scrape taken while backups run passes promtool check metrics and respects the slot limits', async () => {
    const promtool = requireTool('promtool');
    assert.equal((await runCli('onebackupjob', ['backup', `${jobA},${jobB}`], d)).code, 0);
    let families: Map<string, Family> | undefined;
    for (let i = 0; i < 400 && !families; i++) {
      const s = await scrape(metricsUrl);
      if ((sampleValue(s.families, 'onebackup_slots_in_use', { scope: 'global' }) ?? 0) >= 1) {
        during = s.text;
        families = s.families;
      } else await sleep(10);
    }
    assert.ok(families, 'no scrape saw a backup running');
    const file = join(dir, 'during.prom');
    writeFileSync(file, during);
    const check = spawnSync(promtool, ['check', 'metrics'], { input: during, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'promtool found problems');
    const global = sampleValue(families, 'onebackup_slots_in_use', { scope: 'global' }) ?? 0;
    assert.ok(global >= 1 && global <= 2, `slots in use ${global}`);
    for (const host of ['0', '1'])
      assert.ok((sampleValue(families, 'onebackup_slots_in_use', { scope: 'host', host }) ?? 0) <= 1);
    assert.equal(sampleValue(families, 'onebackup_slots_max', { scope: 'global' }), 2);
    assert.equal(sampleValue(families, 'onebackup_slots_max', { scope: 'host' }), 1);
    // Every VM of job A is in exactly one set.
    const setsA = ['updated', 'outdated', 'backing_up', 'error'].map(
      (set) =>
        sampleValue(families as Map<string, Family>, 'onebackup_job_vms', {
          backup_job: String(jobA),
          set,
        }) ?? 0,
    );
    assert.equal(
      setsA.reduce((x, y) => x + y, 0),
      4,
    );
  });

  it('after the runs, every metric agrees with the run records', async () => {
    await waitRunsEnded([jobA, jobB]);
    const [runA] = await runs(jobA);
    const [runB] = await runs(jobB);
    assert.equal(runA?.RESULT, 'done');
    assert.equal(runB?.RESULT, 'failed');
    // Outcomes are stored just after the run records: wait until VM 4's failure shows.
    let f = (await scrape(metricsUrl)).families;
    for (
      let i = 0;
      i < 100 && sampleValue(f, 'opennebula_vm_backup_last_status', { one_vm_id: '4' }) === undefined;
      i++
    ) {
      await sleep(50);
      f = (await scrape(metricsUrl)).families;
    }
    const tasks = [...(runA?.TASKS ?? []), ...(runB?.TASKS ?? [])];
    const done = tasks.filter((t) => t.STATUS === 'done');
    const failed = tasks.filter((t) => t.STATUS === 'failed');
    assert.equal(done.length, 4);
    assert.equal(failed.length, 1);

    // Work counters from events, against the tasks' bytes.
    assert.equal(
      sampleValue(f, 'onebackup_bytes_read_total', { datastore: '100' }),
      done.reduce((s, t) => s + Number(t.BYTES), 0),
    );
    const stored = sampleValue(f, 'onebackup_bytes_stored_total', { datastore: '100' }) ?? 0;
    assert.ok(stored > 0);
    assert.equal(
      sampleValue(f, 'onebackup_backup_duration_seconds_count', { backup_job: String(jobA), mode: 'FULL' }),
      4,
    );
    assert.equal(sampleValue(f, 'onebackup_backup_failures_total', { reason: 'permanent' }), failed.length);
    assert.equal(sampleValue(f, 'onebackup_backup_failures_total', { reason: 'retryable' }), 0);
    assert.equal(sampleValue(f, 'onebackup_retries_total'), 0);

    // State from the store, against the job documents.
    assert.equal(sampleValue(f, 'onebackup_job_vms', { backup_job: String(jobA), set: 'updated' }), 4);
    assert.equal(sampleValue(f, 'onebackup_job_vms', { backup_job: String(jobB), set: 'error' }), 1);
    assert.equal(sampleValue(f, 'onebackup_job_vms', { backup_job: String(jobB), set: 'updated' }), 0);
    assert.equal(sampleValue(f, 'onebackup_queue_depth'), 0);
    assert.equal(sampleValue(f, 'onebackup_slots_in_use', { scope: 'global' }), 0);
    assert.equal(sampleValue(f, 'onebackup_vms_unprotected'), 1);
    assert.equal(sampleValue(f, 'onebackup_job_last_run_status', { backup_job: String(jobA) }), 1);
    assert.equal(sampleValue(f, 'onebackup_job_last_run_status', { backup_job: String(jobB) }), 0);
    const lastA =
      sampleValue(f, 'onebackup_job_last_success_timestamp_seconds', { backup_job: String(jobA) }) ?? 0;
    assert.ok(Math.abs(lastA - Number(runA?.END)) <= 1, `${lastA} vs run end ${runA?.END}`);
    assert.equal(
      sampleValue(f, 'onebackup_job_last_success_timestamp_seconds', { backup_job: String(jobB) }),
      undefined,
    );
    for (const t of done) {
      const at =
        sampleValue(f, 'onebackup_vm_last_success_timestamp_seconds', {
          vm: t.VM_ID,
          backup_job: String(jobA),
        }) ?? 0;
      assert.ok(at >= Number(t.START) && at <= Number(t.END) + 1, `VM ${t.VM_ID}: ${at} not in its task`);
      assert.equal(
        sampleValue(f, 'opennebula_vm_backup_last_status', {
          one_vm_id: t.VM_ID,
          one_vm_name: `vm${t.VM_ID}`,
        }),
        1,
      );
      const ts = sampleValue(f, 'opennebula_vm_backup_last_timestamp', { one_vm_id: t.VM_ID }) ?? 0;
      assert.ok(ts >= Number(t.START) && ts <= Number(t.END) + 1);
      assert.equal(
        sampleValue(f, 'onebackup_vm_rpo_seconds', { vm: t.VM_ID, backup_job: String(jobA) }),
        86_400,
      );
      assert.equal(
        sampleValue(f, 'onebackup_vm_rpo_breach_predicted', { vm: t.VM_ID, backup_job: String(jobA) }),
        0,
      );
    }
    assert.equal(
      sampleValue(f, 'opennebula_vm_backup_last_status', { one_vm_id: '4', one_vm_name: 'vm4' }),
      0,
    );
    // VM 4 has no backup at all: its RPO is breached already.
    assert.equal(sampleValue(f, 'onebackup_vm_rpo_seconds', { vm: '4', backup_job: String(jobB) }), 3600);
    assert.equal(
      sampleValue(f, 'onebackup_vm_rpo_breach_predicted', { vm: '4', backup_job: String(jobB) }),
      1,
    );
    assert.equal(
      sampleValue(f, 'onebackup_vm_last_success_timestamp_seconds', { vm: '4', backup_job: String(jobB) }),
      undefined,
    );
    assert.ok((sampleValue(f, 'onebackup_datastore_capacity_bytes', { datastore: '100' }) ?? 0) > 0);
    const used = sampleValue(f, 'onebackup_datastore_used_bytes', { datastore: '100' }) ?? 0;
    assert.ok(used >= stored, `datastore used ${used} < stored ${stored}`);
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string })
      .version;
    assert.equal(sampleValue(f, 'onebackup_build_info', { version }), 1);
    assert.ok(f.has('process_cpu_user_seconds_total'), "prom-client's default metrics");
    const util = sampleValue(f, 'onebackup_worker_pool_utilization') ?? -1;
    assert.ok(util >= 0 && util <= 1);

    // Every family has HELP; backup metrics use bounded labels only.
    for (const fam of f.values()) {
      assert.ok(fam.help.trim().length > 0, `${fam.name} has no HELP`);
      if (!/^(onebackup|opennebula)_/.test(fam.name)) continue;
      for (const m of fam.metrics)
        for (const label of Object.keys(m.labels ?? {}))
          assert.ok(ALLOWED_LABELS.has(label), `${fam.name} has label ${label}`);
    }
    // docs/METRICS.md documents exactly the backup metrics the daemon exposes.
    const docs = readFileSync(join(REPO, 'docs', 'METRICS.md'), 'utf8');
    const documented = new Set([...docs.matchAll(/^\| `((?:onebackup|opennebula)_\w+)`/gm)].map((m) => m[1]));
    documented.add('onebackup_build_info');
    const exposed = new Set(
      [...f.keys()].filter((n) => /^(onebackup|opennebula)_/.test(n) && !/_(bucket|sum|count)$/.test(n)),
    );
    assert.deepEqual([...exposed].sort(), [...documented].sort());
    // promtool is happy after the runs too.
    const after = spawnSync(requireTool('promtool'), ['check', 'metrics'], {
      input: (await scrape(metricsUrl)).text,
      encoding: 'utf8',
    });
    assert.equal(after.status, 0, after.stdout + after.stderr);
  });

  it('onebackupjob runs --log prints the VM task log, without secrets', async () => {
    const ok = await runCli('onebackupjob', ['runs', String(jobA), '--log', '2'], d);
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as { msg: string; vm: number; job?: number });
    assert.ok(events.every((e) => e.vm === 2));
    assert.deepEqual(
      events.filter((e) => e.job === jobA).map((e) => e.msg),
      ['backup started', 'backup done'],
    );
    assert.ok(
      events.some((e) => e.msg === 'backup done' && e.job === undefined),
      "the engine's line with the bytes",
    );
    const bad = await runCli('onebackupjob', ['runs', String(jobB), '--run', '1', '--log', '4'], d);
    assert.equal(bad.code, 0, bad.stderr);
    assert.match(bad.stdout, /"msg":"backup failed"/);
    assert.match(bad.stdout, /ENOENT|no such file/);
    const none = await runCli('onebackupjob', ['runs', String(jobA), '--log', '4'], d);
    assert.equal(none.code, 255);
    assert.match(none.stderr, /no task for VM 4/);
    // The session password appears neither in the daemon's log nor in the stored task logs.
    const password = oneadminSession(d).split(':')[1] as string;
    assert.ok(password.length > 8);
    assert.ok(!d.logs().includes(password));
    const db = await storedBytes(dir);
    assert.ok(!db.includes(Buffer.from(password)));
  });

  it('GET /health says the store is writable and the scheduler loop alive', async () => {
    const res = await fetch(d.url.replace(/\/RPC2$/, '/health'));
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      status: string;
      store: { writable: boolean };
      scheduler: { alive: boolean; heartbeat_age_s: number };
    };
    assert.equal(body.status, 'ok');
    assert.equal(body.store.writable, true);
    assert.equal(body.scheduler.alive, true);
    assert.ok(body.scheduler.heartbeat_age_s <= 30);
  });
});

describe('docs/METRICS.md', () => {
  it('its example alert rules pass promtool check rules', () => {
    const promtool = requireTool('promtool');
    const docs = readFileSync(join(REPO, 'docs', 'METRICS.md'), 'utf8');
    const rules = /```yaml\n(groups:[\s\S]*?)```/.exec(docs)?.[1];
    assert.ok(rules, 'no rules block');
    const dir = tempDir();
    try {
      const file = join(dir, 'rules.yml');
      writeFileSync(file, rules);
      const r = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /SUCCESS: 15 rules found/);
    } finally {
      cleanup(dir);
    }
  });
});

describe('METRICS_LISTEN', () => {
  it('serves /metrics and /health on their own listener, and not /metrics on the API port', async () => {
    const stateDir = tempDir();
    const daemon = await startDaemon({
      stateDir,
      conf: 'TIMEZONE = "UTC"\nLOG_FORMAT = "json"\nMETRICS_LISTEN = "127.0.0.1:0"\n',
    });
    try {
      const api = new URL(daemon.url);
      const onApi = await fetch(new URL('/metrics', api));
      assert.equal(onApi.status, 404);
      await onApi.text();
      // The 'started' event names the metrics URL (onebackupd also prints it on stdout).
      const url = /"metrics":"([^"]+)"/.exec(daemon.logs())?.[1];
      assert.ok(url, `no metrics URL in the log: ${daemon.logs()}`);
      assert.notEqual(new URL(url).port, api.port);
      const { families } = await scrape(url);
      assert.equal(sampleValue(families, 'onebackup_vms_unprotected'), 0);
      const health = await fetch(new URL('/health', url));
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'ok');
      const rpc = await fetch(new URL('/RPC2', url), { method: 'POST', body: '<x/>' });
      assert.equal(rpc.status, 404);
      await rpc.text();
    } finally {
      await daemon.stop();
      cleanup(stateDir);
    }
  });
});
