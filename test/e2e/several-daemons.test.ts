/**
 * Several onebackupd on one PostgreSQL (issue 15, items 3-4), with real processes and a real
 * cluster: three daemons share the jobs of one store and one datastore; MAX_BACKUPS and
 * MAX_BACKUPS_HOST hold over all of them (from the run records and from every daemon's log);
 * the busy daemon and the leader are killed with SIGKILL mid-run and the third finishes the work,
 * nothing runs on two daemons at once, and every backup restores bit for bit. A daemon whose
 * network to PostgreSQL is cut stops dispatching and says so (/health), the others carry on, and
 * it works again once the network is back. Scheduled actions fire once.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { restoreDisk0, sha256File } from '../support/backups.js';
import { cleanup, type RunningDaemon, runCli, startDaemon, tempDir } from '../support/daemon.js';
import { createDatabase, dbBlock, pgClient, type RunningPg, startPostgres } from '../support/postgres.js';
import { rpcOk } from '../support/rpc.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const LEASE_S = 10;
const BASE =
  'LOG_LEVEL = "info"\nLOG_FORMAT = "json"\nTIMEZONE = "UTC"\nMAX_BACKUPS = 2\nMAX_BACKUPS_HOST = 1\n' +
  'WORKERS = 1\nMONITORING_INTERVAL_HOST = 0\n';
const HOSTS = 3;
const VMS = 9;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await check().catch(() => undefined);
    if (got !== undefined) return got;
    assert.ok(Date.now() < deadline, `timed out waiting for: ${what}`);
    await sleep(100);
  }
}

interface Health {
  status: string;
  daemons?: {
    self: string;
    leading: boolean;
    dispatching: boolean;
    reason?: string;
    leader: string | null;
    alive: number;
  };
}

async function health(d: RunningDaemon): Promise<{ code: number; body: Health }> {
  const r = await fetch(d.url.replace(/\/RPC2$/, '/health'), { signal: AbortSignal.timeout(15_000) });
  return { code: r.status, body: (await r.json()) as Health };
}

describe('several daemons on one PostgreSQL', () => {
  let pg: RunningPg;
  const daemons: RunningDaemon[] = [];
  const dirs: string[] = [];
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
    for (const dir of dirs) cleanup(dir);
    await pg?.stop();
  });

  /** Rows of the store, read directly (the test's own view, not a daemon's). */
  async function query<R>(database: string, text: string): Promise<R[]> {
    const client = pgClient(pg, database);
    await client.connect();
    try {
      return (await client.query(text)).rows as R[];
    } finally {
      await client.end();
    }
  }

  /** A daemon on the database (through `port` when given); it signs in with the first daemon's oneadmin. */
  async function join3(database: string, first?: RunningDaemon, port?: number): Promise<RunningDaemon> {
    const d = await startDaemon({
      conf: `${BASE}${dbBlock(pg, database, 4, { lease: LEASE_S, ...(port ? { port } : {}) })}`,
    });
    daemons.push(d);
    dirs.push(d.stateDir);
    if (first) copyFileSync(first.authFile, d.authFile);
    return d;
  }

  /** Hosts node1-3 (local), VMs with 24 MiB random disks (3 per host), an encrypted datastore on every daemon. */
  async function inventory(a: RunningDaemon, others: readonly RunningDaemon[]): Promise<Map<number, string>> {
    const vmDir = tempDir('onebackup-vms-');
    dirs.push(vmDir);
    const sources = new Map<number, string>();
    for (let h = 1; h <= HOSTS; h++)
      await rpcOk(a, 'one.host.allocate', `NAME = "node${h}"\nTRANSPORT = "local"\nVM_MAD = "fs"\n`);
    for (let i = 0; i < VMS; i++) {
      const disk = join(vmDir, `vm${i}.raw`);
      execFileSync('dd', ['if=/dev/urandom', `of=${disk}`, 'bs=1M', 'count=24', 'status=none']);
      sources.set(i, disk);
      await rpcOk(
        a,
        'one.vm.allocate',
        `NAME = "vm-${i}"\nHOST = "node${(i % HOSTS) + 1}"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      );
    }
    const base = join(vmDir, 'datastore');
    mkdirSync(base);
    await rpcOk(
      a,
      'one.datastore.allocate',
      `NAME = "shared"\nTYPE = "BACKUP_DS"\nDS_MAD = "local"\nBASE_PATH = "${base}"\nENCRYPTION = "YES"\n`,
    );
    // Every daemon holds the datastore's key: exported on one, imported on the others.
    const key = join(vmDir, 'key');
    const pass = join(vmDir, 'pass');
    writeFileSync(pass, 'a passphrase for the test\n');
    const exported = await runCli(
      'onedatastore',
      ['key-export', '100', '--out', key, '--passphrase-file', pass],
      a,
    );
    assert.equal(exported.code, 0, exported.stderr);
    for (const d of others) {
      const imported = await runCli('onedatastore', ['key-import', '100', key, '--passphrase-file', pass], d);
      assert.equal(imported.code, 0, imported.stderr);
    }
    return sources;
  }

  async function createJob(d: RunningDaemon, name: string, extra = ''): Promise<number> {
    const vms = Array.from({ length: VMS }, (_, i) => i).join(',');
    const r = await runCli('onebackupjob', ['create'], d, {
      input: `NAME = "${name}"\nBACKUP_VMS = "${vms}"\nDATASTORE_ID = 100\nEXECUTION = "PARALLEL"\n${extra}`,
    });
    assert.equal(r.code, 0, r.stderr);
    return Number(r.stdout.trim().split(' ')[1]);
  }

  /** The job's sets as a daemon shows them (its XML document). */
  async function sets(d: RunningDaemon, job: number): Promise<{ UPDATED: number[]; ERROR: number[] }> {
    const xml = (await runCli('onebackupjob', ['show', String(job), '-x'], d)).stdout;
    const ids = (set: string) => {
      const block = new RegExp(`<${set}>([\\s\\S]*?)</${set}>`).exec(xml)?.[1] ?? '';
      return [...block.matchAll(/<ID>(\d+)<\/ID>/g)].map((m) => Number(m[1]));
    };
    return { UPDATED: ids('UPDATED_VMS'), ERROR: ids('ERROR_VMS') };
  }

  /** Each VM's newest image restores to its source disk, byte for byte (read through `d`). */
  async function restoresBitExact(d: RunningDaemon, database: string, sources: Map<number, string>) {
    const images = await query<{ id: number; vm_id: number }>(
      database,
      'select id, vm_id from images order by id desc',
    );
    for (const [vm, disk] of sources) {
      const image = images.find((i) => Number(i.vm_id) === vm);
      assert.ok(image, `VM ${vm} has a backup image`);
      const r = await restoreDisk0(d, String(image.id));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.sha, sha256File(disk), `VM ${vm}: restore is bit-exact`);
    }
  }

  /** The most backups at once over the run records (each task's last attempt), globally and per host. */
  function recordConcurrency(tasks: readonly { start_ms: number; end_ms: number; host_id: number }[]) {
    const events = tasks.flatMap((t) => [
      { at: Number(t.start_ms), d: 1, host: Number(t.host_id) },
      { at: Number(t.end_ms), d: -1, host: Number(t.host_id) },
    ]);
    events.sort((x, y) => x.at - y.at || x.d - y.d);
    let global = 0;
    let maxGlobal = 0;
    const perHost = new Map<number, number>();
    let maxHost = 0;
    for (const e of events) {
      global += e.d;
      perHost.set(e.host, (perHost.get(e.host) ?? 0) + e.d);
      maxGlobal = Math.max(maxGlobal, global);
      maxHost = Math.max(maxHost, perHost.get(e.host) ?? 0);
    }
    return { maxGlobal, maxHost };
  }

  /** Each backup's run on each daemon, from its log: started until it ended (or the daemon was killed). */
  function runsInLogs(list: readonly RunningDaemon[], killedAt: Map<RunningDaemon, string>) {
    const runs: { vm: number; from: string; to: string; daemon: number }[] = [];
    list.forEach((d, n) => {
      const open = new Map<number, string>();
      for (const line of d.logs().split('\n')) {
        if (!line.startsWith('{')) continue;
        const e = JSON.parse(line) as { msg: string; vm?: number; job?: number; time: string };
        if (e.msg === 'stopped dispatching: cannot reach the state database') {
          // The fence aborts every backup of the daemon; one waiting for its commit can only fail
          // there (its claim is checked in that transaction, and the others requeued it).
          for (const [vm, from] of open) runs.push({ vm, from, to: e.time, daemon: n });
          open.clear();
        }
        if (e.vm === undefined) continue;
        if (e.msg === 'backup started' && e.job !== undefined) open.set(e.vm, e.time);
        else if (e.msg === 'backup done' || e.msg === 'backup ended without a record') {
          const from = open.get(e.vm);
          if (from) runs.push({ vm: e.vm, from, to: e.time, daemon: n });
          open.delete(e.vm);
        }
      }
      // A killed daemon's backups ran until the kill.
      for (const [vm, from] of open) runs.push({ vm, from, to: killedAt.get(d) ?? '9999', daemon: n });
    });
    return runs;
  }

  /** The most backups at once over every daemon's log, globally and per host. */
  function logConcurrency(runs: ReturnType<typeof runsInLogs>) {
    return recordConcurrency(
      runs.map((r) => ({ start_ms: Date.parse(r.from), end_ms: Date.parse(r.to), host_id: r.vm % HOSTS })),
    );
  }

  /** Per VM, whether two daemons ever ran its backup at once (from their logs). */
  function overlappingRuns(runs: ReturnType<typeof runsInLogs>): string[] {
    const out: string[] = [];
    for (const x of runs)
      for (const y of runs)
        if (x.vm === y.vm && x.daemon < y.daemon && x.from < y.to && y.from < x.to)
          out.push(
            `VM ${x.vm}: daemon ${x.daemon} ${x.from}-${x.to} and daemon ${y.daemon} ${y.from}-${y.to}`,
          );
    return out;
  }

  it('share the work within the limits; the busy daemon and the leader killed, the third finishes; restores bit-exact', async () => {
    const database = await createDatabase(pg, 'three');
    const a = await join3(database);
    const b = await join3(database, a);
    const c = await join3(database, a);
    const sources = await inventory(a, [b, c]);
    const leaderOf = async () => (await health(c)).body.daemons?.leader ?? undefined;
    assert.match((await until('a leader', leaderOf)) ?? '', new RegExp(`^onebackupd ${a.child.pid} on `));
    const h = await health(b);
    assert.equal(h.code, 200);
    assert.equal(h.body.daemons?.alive, 3);
    assert.equal(h.body.daemons?.leading, false);

    // The API answers on every daemon with the same view: created on B, started through C.
    const job = await createJob(b, 'three-daemons');
    const started = await runCli('onebackupjob', ['backup', String(job)], c);
    assert.equal(started.code, 0, started.stderr);

    // Kill -9 the busy daemon B while it holds a backup, then the leader A while it holds one.
    const killedAt = new Map<RunningDaemon, string>();
    const claimsOf = async (d: RunningDaemon) =>
      (
        await query<{ n: string }>(
          database,
          `select count(*) as n from backup_claims c join daemons d on d.id = c.daemon_id where d.name like 'onebackupd ${d.child.pid} on %'`,
        )
      )[0]?.n;
    for (const victim of [b, a]) {
      await until(`a backup running on daemon ${victim.child.pid}`, async () =>
        Number(await claimsOf(victim)) > 0 ? true : undefined,
      );
      await victim.stop('SIGKILL');
      killedAt.set(victim, new Date().toISOString());
    }

    // C takes the lead, requeues what A and B held once their lease ran out, and finishes.
    const done = await until(
      'every VM UPDATED through the last daemon',
      async () => {
        const s = await sets(c, job);
        return s.UPDATED.length === VMS ? s : undefined;
      },
      240_000,
    );
    assert.deepEqual(done.ERROR, []);
    const after = await health(c);
    assert.equal(after.code, 200, JSON.stringify(after.body));
    assert.equal(after.body.daemons?.leading, true);
    assert.equal(after.body.daemons?.alive, 1, 'the killed daemons are gone from the store');
    assert.match(c.logs(), /requeued the backups of a daemon that stopped answering/);

    // The run records name the daemon of each task, and the limits held over all of them.
    const tasks = await query<{
      vm_id: number;
      start_ms: number;
      end_ms: number;
      host_id: number;
      daemon: string;
      status: string;
    }>(
      database,
      `select vm_id, start_ms, end_ms, host_id, daemon, status from run_tasks where job_id = ${job}`,
    );
    assert.equal(tasks.length, VMS);
    for (const t of tasks) {
      assert.equal(t.status, 'done');
      assert.match(t.daemon, /^onebackupd \d+ on /);
    }
    assert.ok(
      tasks.some((t) => t.daemon.startsWith(`onebackupd ${c.child.pid} `)),
      'the surviving daemon ran some of the work',
    );
    const shown = await runCli('onebackupjob', ['runs', String(job), '-j'], c);
    assert.match(
      shown.stdout,
      new RegExp(`"DAEMON": ?"onebackupd ${c.child.pid} on `),
      'runs -j names the daemon',
    );
    const records = recordConcurrency(tasks);
    assert.ok(records.maxGlobal <= 2, `MAX_BACKUPS = 2 over all daemons (run records: ${records.maxGlobal})`);
    assert.ok(
      records.maxHost <= 1,
      `MAX_BACKUPS_HOST = 1 over all daemons (run records: ${records.maxHost})`,
    );
    const runs = runsInLogs([a, b, c], killedAt);
    const logs = logConcurrency(runs);
    assert.ok(logs.maxGlobal <= 2, `MAX_BACKUPS over every daemon's log: ${logs.maxGlobal}`);
    assert.ok(logs.maxHost <= 1, `MAX_BACKUPS_HOST over every daemon's log: ${logs.maxHost}`);
    assert.deepEqual(overlappingRuns(runs), [], 'no VM backed up on two daemons at once');
    await restoresBitExact(c, database, sources);
  });

  it('a daemon cut from PostgreSQL stops dispatching and says so; the others carry on; it rejoins', async () => {
    const database = await createDatabase(pg, 'cut');
    const proxy: TcpProxy = await startTcpProxy({ host: pg.host, port: pg.port });
    try {
      const a = await join3(database);
      const b = await join3(database, a);
      const cut = await join3(database, a, proxy.port);
      const sources = await inventory(a, [b, cut]);
      const job = await createJob(a, 'cut');
      assert.equal((await runCli('onebackupjob', ['backup', String(job)], a)).code, 0);
      await until('a backup running on the daemon to cut', async () => {
        const rows = await query<{ n: string }>(
          database,
          `select count(*) as n from backup_claims c join daemons d on d.id = c.daemon_id where d.name like 'onebackupd ${cut.child.pid} on %'`,
        );
        return Number(rows[0]?.n) > 0 ? true : undefined;
      });
      proxy.cut();
      const fenced = await until(
        'the cut daemon says it does not dispatch',
        async () => {
          const r = await health(cut);
          return r.body.daemons?.dispatching === false ? r : undefined;
        },
        30_000,
      );
      assert.equal(fenced.code, 503);
      assert.match(fenced.body.daemons?.reason ?? '', /state database/);
      assert.match(cut.logs(), /stopped dispatching: cannot reach the state database/);
      // The others carry on: the cut daemon's backups are requeued after the lease and done.
      const done = await until(
        'every VM UPDATED by the others',
        async () => {
          const s = await sets(a, job);
          return s.UPDATED.length === VMS ? s : undefined;
        },
        240_000,
      );
      assert.deepEqual(done.ERROR, []);
      const runs = runsInLogs([a, b, cut], new Map());
      assert.deepEqual(overlappingRuns(runs), [], 'no VM backed up on two daemons at once');
      const logs = logConcurrency(runs);
      assert.ok(
        logs.maxGlobal <= 2 && logs.maxHost <= 1,
        `limits over every daemon's log: ${JSON.stringify(logs)}`,
      );
      // The network back: it dispatches again and shows the same state.
      proxy.heal();
      await until(
        'the cut daemon is back',
        async () => {
          const r = await health(cut);
          return r.code === 200 && r.body.daemons?.dispatching === true ? r : undefined;
        },
        60_000,
      );
      assert.deepEqual((await sets(cut, job)).UPDATED.length, VMS);
      assert.equal((await health(a)).body.daemons?.alive, 3);
      await restoresBitExact(b, database, sources);
    } finally {
      await proxy.close();
    }
  });

  it('a scheduled action fires once, on the leader, with three daemons', async () => {
    const database = await createDatabase(pg, 'sched');
    const a = await join3(database);
    const b = await join3(database, a);
    const c = await join3(database, a);
    await inventory(a, [b, c]);
    const job = await createJob(b, 'scheduled');
    const at = `${new Date(Date.now() + 5000).toISOString().slice(0, 19)}Z`;
    const added = await runCli('onebackupjob', ['backup', String(job), '--schedule', at], c);
    assert.equal(added.code, 0, added.stderr);
    await until(
      'the scheduled run ended',
      async () => {
        const s = await sets(a, job);
        return s.UPDATED.length === VMS ? s : undefined;
      },
      120_000,
    );
    await sleep(3000);
    const runs = await query<{ run_id: number; trigger: string }>(
      database,
      `select run_id, trigger from job_runs where job_id = ${job}`,
    );
    assert.deepEqual(
      runs.map((r) => r.trigger),
      ['schedule'],
      'one run, fired by the schedule',
    );
    const messages = await query<{ message: string }>(
      database,
      `select message from sched_actions where parent_id = ${job}`,
    );
    assert.deepEqual(
      messages.map((m) => m.message),
      [''],
      'no daemon found the schedule busy',
    );
    const fired = [a, b, c].filter((d) => /"msg":"schedule due"/.test(d.logs()));
    assert.equal(fired.length, 1, 'one daemon fired it');
  });

  it('host monitoring is one view: a daemon that does not monitor shows what another found', async () => {
    const database = await createDatabase(pg, 'hosts');
    const monitoring = await startDaemon({
      conf: `${BASE.replace('MONITORING_INTERVAL_HOST = 0', 'MONITORING_INTERVAL_HOST = 1')}${dbBlock(pg, database, 4, { lease: LEASE_S })}`,
    });
    daemons.push(monitoring);
    dirs.push(monitoring.stateDir);
    const quiet = await join3(database, monitoring);
    await rpcOk(monitoring, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    const list = await until('the quiet daemon lists node1 as on', async () => {
      const r = await runCli('onehost', ['list'], quiet);
      return /\bnode1\b.*\bon\s*$/m.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(list, /node1/);
    const show = await runCli('onehost', ['show', 'node1'], quiet);
    assert.match(show.stdout, /STATE\s*:\s*MONITORED/);
    assert.match(show.stdout, /FREE DISK\s*:\s*[\d.]+[MGT] of [\d.]+[MGT]/);
  });

  it("a pool answer shows another daemon's commit at once (kept elements are checked against the rows read)", async () => {
    const database = await createDatabase(pg, 'pools');
    const a = await join3(database);
    const b = await join3(database, a);
    await rpcOk(a, 'one.host.allocate', 'NAME = "node1"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
    const disk = join(tempDir('onebackup-vms-'), 'vm.raw');
    dirs.push(dirname(disk));
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, '4M']);
    const vm = Number(
      await rpcOk(
        a,
        'one.vm.allocate',
        `NAME = "vm-x"\nHOST = "node1"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${disk}" ]\n`,
      ),
    );
    const pools = async (d: RunningDaemon) =>
      `${String(await rpcOk(d, 'one.vmpool.info', -2, -1, -1, -1))}${String(await rpcOk(d, 'one.hostpool.info'))}`;
    const kept = await pools(b);
    assert.equal(await pools(b), kept);
    assert.match(kept, /<NAME>vm-x<\/NAME>/);
    await rpcOk(a, 'one.vm.rename', vm, 'vm-y');
    await rpcOk(a, 'one.host.rename', 0, 'node-one');
    const next = await pools(b);
    assert.match(next, /<NAME>vm-y<\/NAME>/);
    assert.match(next, /<HOSTNAME>node-one<\/HOSTNAME>/);
    assert.match(next, /<HOST><ID>0<\/ID><NAME>node-one<\/NAME>/);
    assert.equal(next, await pools(a), 'both daemons answer the same');
  });

  it('a GC is refused while another daemon writes to the datastore, and runs once it does not', async () => {
    const database = await createDatabase(pg, 'gc');
    const a = await join3(database);
    const b = await join3(database, a);
    await inventory(a, [b]);
    // Another daemon's backup writing to datastore 100 holds its lock shared (pg-coordination.ts).
    const writer = pgClient(pg, database);
    await writer.connect();
    try {
      await writer.query('select pg_advisory_lock_shared($1::int, $2::int)', [0x6f6e6473, 100]);
      const refused = await runCli('onedatastore', ['gc', '100'], b);
      assert.equal(refused.code, 255, refused.stdout);
      assert.match(
        refused.stderr,
        /datastore 100: backups on another onebackupd are writing to it; run gc when they finish/,
      );
      await writer.query('select pg_advisory_unlock_shared($1::int, $2::int)', [0x6f6e6473, 100]);
      const ran = await runCli('onedatastore', ['gc', '100'], b);
      assert.equal(ran.code, 0, ran.stderr);
    } finally {
      await writer.end();
    }
  });
});
