/**
 * onebackupjob end to end: the real daemon (child process, real SQLite file), the real CLI
 * binaries, real disk images. Covers the example templates, every rejection rule, the VM set
 * transitions, schedules, locks and the permission rules.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, REPO, type RunningDaemon, runCli, startDaemon } from '../support/daemon.js';
import { buildInventory } from '../support/inventory.js';
import { rpcAs } from '../support/rpc.js';

const oneadmin = () => readFileSync(d.authFile, 'utf8').trim();

let d: RunningDaemon;
const job = (args: string[], input?: string, env?: NodeJS.ProcessEnv) =>
  runCli('onebackupjob', args, d, { ...(input === undefined ? {} : { input }), ...(env ? { env } : {}) });
const example = (name: string) => join(REPO, 'conf', 'examples', name);

async function createJob(text: string, env?: NodeJS.ProcessEnv): Promise<number> {
  const r = await job(['create'], text, env);
  assert.equal(r.code, 0, r.stderr);
  const m = /^ID: (\d+)\n$/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return Number(m[1]);
}

async function jobCount(): Promise<number> {
  const r = await job(['list', '--csv', '--no-header']);
  return r.stdout.split('\n').filter((l) => l !== '').length;
}

function templateContents(show: string): string {
  return show.split(/TEMPLATE CONTENTS +\n/)[1] ?? '';
}

before(async () => {
  d = await startDaemon();
  await buildInventory(d, 44);
});

after(async () => {
  await d.stop();
  cleanup(d.stateDir);
});

describe('the example templates', () => {
  it('backupjob-minimal: defaults written, BACKUP_VMS order kept', async () => {
    const id = await createJob(readFileSync(example('backupjob-minimal.tmpl'), 'utf8'));
    const show = await job(['show', String(id)]);
    assert.equal(show.code, 0);
    assert.equal(
      templateContents(show.stdout),
      'BACKUP_VMS="12,7,30"\nBACKUP_VOLATILE="NO"\nDATASTORE_ID="100"\nEXECUTION="SEQUENTIAL"\n' +
        'FS_FREEZE="NONE"\nKEEP_LAST="0"\nMODE="FULL"\n',
    );
    assert.match(show.stdout, /\nNAME {11}: nightly-web {9}\n/);
  });

  it('backupjob-incremental: PRIORITY 40 and two schedules', async () => {
    const r = await job(['create', example('backupjob-incremental.tmpl')]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim().split(' ')[1] as string;
    const x = (await job(['show', id, '-x'])).stdout;
    assert.match(x, /<PRIORITY>40<\/PRIORITY>/);
    assert.match(x, /<MODE><!\[CDATA\[INCREMENT\]\]><\/MODE>/);
    assert.match(x, /<INCREMENT_MODE><!\[CDATA\[CBT\]\]><\/INCREMENT_MODE>/);
    assert.match(x, /<KEEP_LAST><!\[CDATA\[7\]\]><\/KEEP_LAST>/);
    const show = (await job(['show', id])).stdout;
    assert.match(show, / Weekly 1,4 +None /);
    // TIME is in the past: the schedule has already made its one catch-up run (9 left of 10).
    assert.match(show, / Each 12 hours After (10|9) times /);
  });

  it('backupjob-lowercase: keys and enumerated values upper-cased', async () => {
    const id = await createJob(readFileSync(example('backupjob-lowercase.tmpl'), 'utf8'));
    const t = templateContents((await job(['show', String(id)])).stdout);
    for (const line of [
      'MODE="INCREMENT"',
      'EXECUTION="PARALLEL"',
      'FS_FREEZE="SUSPEND"',
      'INCREMENT_MODE="SNAPSHOT"',
      'BACKUP_VOLATILE="YES"',
      'KEEP_LAST="3"',
      'BACKUP_VMS="40,41,42,43"',
    ]) {
      assert.ok(t.includes(`${line}\n`), `${line} in\n${t}`);
    }
  });

  it('backupjob-strings: quoted values survive show and update unchanged', async () => {
    const id = await createJob(readFileSync(example('backupjob-strings.tmpl'), 'utf8'));
    const before1 = templateContents((await job(['show', String(id)])).stdout);
    assert.ok(
      before1.includes('DESCRIPTION="Owner: \\"finance\\" team # not a comment, k=v, [x]"\n'),
      before1,
    );
    assert.ok(before1.includes('NOTES="line one\nline two"\n'));
    assert.ok(before1.includes('WINPATH="C:\\backups\\finance"\n'));
    const file = join(d.stateDir, 'strings-update.tmpl');
    writeFileSync(file, before1);
    const upd = await job(['update', String(id), file]);
    assert.equal(upd.code, 0, upd.stderr);
    assert.equal(templateContents((await job(['show', String(id)])).stdout), before1);
  });
});

describe('rejections: exit 255, line, attribute and allowed values, nothing created', () => {
  const cases: [string, string, RegExp][] = [
    [
      'MODE',
      'NAME="r1"\nMODE = "DIFF"\n',
      /line 2, col 8 \(MODE\): MODE="DIFF" is not one of FULL, INCREMENT/,
    ],
    [
      'INCREMENT_MODE',
      'NAME="r2"\nINCREMENT_MODE="X"\n',
      /\(INCREMENT_MODE\): INCREMENT_MODE="X" is not one of CBT, SNAPSHOT/,
    ],
    [
      'FS_FREEZE',
      'NAME="r3"\nFS_FREEZE="COLD"\n',
      /\(FS_FREEZE\): FS_FREEZE="COLD" is not one of NONE, AGENT, SUSPEND/,
    ],
    [
      'EXECUTION',
      'NAME="r4"\nEXECUTION="PARALEL"\n',
      /line 2, col 11 \(EXECUTION\): EXECUTION="PARALEL" is not one of SEQUENTIAL, PARALLEL/,
    ],
    [
      'BACKUP_VOLATILE',
      'NAME="r5"\nBACKUP_VOLATILE="maybe"\n',
      /\(BACKUP_VOLATILE\): BACKUP_VOLATILE="maybe" is not one of YES, NO/,
    ],
    [
      'KEEP_LAST text',
      'NAME="r6"\nKEEP_LAST="abc"\n',
      /\(KEEP_LAST\): KEEP_LAST="abc" is not a whole number >= 0/,
    ],
    [
      'KEEP_LAST negative',
      'NAME="r7"\nKEEP_LAST=-2\n',
      /\(KEEP_LAST\): KEEP_LAST="-2" is not a whole number/,
    ],
    ['KEEP_LAST fraction', 'NAME="r8"\nKEEP_LAST="3.7"\n', /KEEP_LAST="3.7" is not a whole number/],
    [
      'BACKUP_VMS piece',
      'NAME="r9"\nBACKUP_VMS="1,x"\n',
      /\(BACKUP_VMS\): "x" in BACKUP_VMS="1,x" is not a VM ID/,
    ],
    ['VM twice', 'NAME="r10"\nBACKUP_VMS="1,2,1"\n', /\(BACKUP_VMS\): VM 1 is listed twice/],
    ['DISK_IDS', 'NAME="r11"\nDISK_IDS="0,x"\n', /\(DISK_IDS\): Invalid DISK_IDS value: 0,x/],
    [
      'singleton twice',
      'NAME="r12"\nMODE="FULL"\nMODE="INCREMENT"\n',
      /line 3, col 1 \(MODE\): MODE is given twice \(lines 2 and 3\)/,
    ],
    [
      'parse error',
      'NAME="r13"\nBACKUP_VMS = 1,2,3\n',
      /line 2, col 15 \(BACKUP_VMS\): unquoted value ends at ','; quote lists: BACKUP_VMS = "1,2,3"/,
    ],
    [
      'unterminated quote',
      'NAME="r14"\nDESCRIPTION = "oops\n',
      /line 2, col 15 \(DESCRIPTION\): unterminated quote/,
    ],
    ['no datastore', 'NAME="r15"\nDATASTORE_ID=7\n', /\(DATASTORE_ID\): datastore 7 does not exist/],
    ['no VM', 'NAME="r16"\nBACKUP_VMS="999"\n', /\(BACKUP_VMS\): VM 999 does not exist/],
    [
      'priority range',
      'NAME="r17"\nPRIORITY=150\n',
      /\(PRIORITY\): PRIORITY="150" is not an integer in 0-99/,
    ],
    ['name char', 'NAME="a/b"\n', /\(NAME\): Invalid NAME, char '\/' is not allowed/],
    ['no name', 'KEEP_LAST=1\n', /\(NAME\): NAME is missing/],
    [
      'relative TIME',
      'NAME="r18"\nSCHED_ACTION=[TIME="+3600"]\n',
      /\(SCHED_ACTION\/TIME\): Unable to parse the time value or value is empty: \+3600/,
    ],
    [
      'weekly days',
      'NAME="r19"\nSCHED_ACTION=[TIME="1767236400",REPEAT="0",DAYS="7"]\n',
      /\(SCHED_ACTION\/DAYS\): Days in a week have to be in \[0,6\] range/,
    ],
    [
      'hourly 168',
      'NAME="r20"\nSCHED_ACTION=[TIME="1767236400",REPEAT="3",DAYS="168"]\n',
      /Hours have to be in \[1,167\] range/,
    ],
    [
      'END_VALUE missing',
      'NAME="r21"\nSCHED_ACTION=[TIME="1767236400",REPEAT="3",DAYS="6",END_TYPE="1"]\n',
      /\(SCHED_ACTION\/END_VALUE\): END_TYPE 1 needs END_VALUE/,
    ],
    [
      'REPEAT text',
      'NAME="r22"\nSCHED_ACTION=[TIME="1767236400",REPEAT="weekly",DAYS="1"]\n',
      /Wrong REPEAT value: weekly/,
    ],
  ];
  for (const [what, text, message] of cases) {
    it(what, async () => {
      const count = await jobCount();
      const r = await job(['create'], text);
      assert.equal(r.code, 255, r.stdout);
      assert.match(r.stderr, message);
      assert.equal(await jobCount(), count);
    });
  }

  it('a VM listed three times is reported once, with how many times', async () => {
    const r = await job(['create'], 'NAME="thrice"\nBACKUP_VMS="1,1,2,1,2"\n');
    assert.equal(r.code, 255);
    assert.equal(
      r.stderr,
      '[one.backupjob.allocate] template line 2, col 12 (BACKUP_VMS): VM 1 is listed 3 times in BACKUP_VMS="1,1,2,1,2"; list each once\n' +
        'template line 2, col 12 (BACKUP_VMS): VM 2 is listed twice in BACKUP_VMS="1,1,2,1,2"; list each once\n',
    );
  });

  it('reports several problems of one file at once, in line order', async () => {
    const r = await job(['create'], 'NAME="multi"\nEXECUTION="PARALEL"\nKEEP_LAST=-2\nDATASTORE_ID=7\n');
    assert.equal(r.code, 255);
    assert.equal(
      r.stderr,
      '[one.backupjob.allocate] template line 2, col 11 (EXECUTION): EXECUTION="PARALEL" is not one of SEQUENTIAL, PARALLEL\n' +
        'template line 3, col 11 (KEEP_LAST): KEEP_LAST="-2" is not a whole number >= 0 (0 keeps every backup)\n' +
        'template line 4, col 14 (DATASTORE_ID): datastore 7 does not exist; see onedatastore list\n',
    );
  });

  it('a VM already in a job cannot join another, and a name is unique per owner', async () => {
    const a = await job(['create'], 'NAME="taken"\nBACKUP_VMS="1"\n');
    assert.equal(a.code, 0, a.stderr);
    const b = await job(['create'], 'NAME="other"\nBACKUP_VMS="2,1"\n');
    assert.equal(b.code, 255);
    assert.match(b.stderr, /Unable to add VM 1 to Backup Job \(new\)\. It's already in Backup Job \d+/);
    const c = await job(['create'], 'NAME="taken"\n');
    assert.equal(c.code, 255);
    assert.match(c.stderr, /NAME is already taken by BACKUP JOB \d+\./);
  });
});

describe('VM sets, update, schedules and locks', () => {
  let id: number;
  before(async () => {
    id = await createJob('NAME="sets"\nBACKUP_VMS="3,4"\nDATASTORE_ID=100\nKEEP_LAST=5\n');
  });

  it('backup puts every VM in OUTDATED (held by pause); a second backup is refused', async () => {
    // Paused, the job's VMs wait in OUTDATED instead of being dispatched at once.
    assert.equal((await job(['pause', String(id)])).code, 0);
    const r = await job(['backup', String(id), '-v']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `BACKUPJOB ${id}: Starting Backups\n`);
    const show = (await job(['show', String(id)])).stdout;
    assert.match(show, /\nOUTDATED {7}: 3,4 {17}\n/);
    assert.doesNotMatch(show, /\nTIME {11}: - /);
    // The run in progress, per VM, with its place in the queue and why it waits.
    assert.match(show, /\nCURRENT RUN 1 \(manual, started [\d/: ]+, PAUSED\)/);
    assert.match(show, /\n {2}3 +node1 +onhold +0 +0% .* #\d+ paused\n/, 'the HOST column names the host');
    const runs = JSON.parse((await job(['runs', String(id), '-j'])).stdout) as {
      RUNS: { ID: string; TRIGGER: string; END: string; TASKS: { VM_ID: string; STATUS: string }[] }[];
    };
    assert.equal(runs.RUNS[0]?.TRIGGER, 'manual');
    assert.equal(runs.RUNS[0]?.END, '0');
    assert.deepEqual(
      runs.RUNS[0]?.TASKS.map((t) => [t.VM_ID, t.STATUS]),
      [
        ['3', 'onhold'],
        ['4', 'onhold'],
      ],
    );
    const again = await job(['backup', String(id)]);
    assert.equal(again.code, 255);
    assert.equal(
      again.stderr,
      '[one.backupjob.backup] Unable to execute Backup Job, pending backups in progress\n',
    );
  });

  it('cancel empties OUTDATED; retry with nothing in ERROR changes nothing', async () => {
    assert.equal((await job(['cancel', String(id), '-v'])).stdout, `BACKUPJOB ${id}: Backups canceled\n`);
    const show = (await job(['show', String(id)])).stdout;
    assert.match(show, /\nOUTDATED {7}: {21}\n/);
    assert.equal((await job(['retry', String(id)])).code, 0);
  });

  it('update replaces the template (left-out attributes fall back to defaults); -a merges', async () => {
    const file = join(d.stateDir, 'merge.tmpl');
    writeFileSync(file, 'EXECUTION="PARALLEL"\n');
    assert.equal((await job(['update', String(id), '-a', file])).code, 0);
    let t = templateContents((await job(['show', String(id)])).stdout);
    assert.ok(t.includes('EXECUTION="PARALLEL"\n') && t.includes('KEEP_LAST="5"\n'), t);
    // As OpenNebula's Template::merge: a vector merged in replaces the old one, an empty one deletes it.
    writeFileSync(file, 'LABELS=[ SITE="a" ]\n');
    assert.equal((await job(['update', String(id), '-a', file])).code, 0);
    assert.match(templateContents((await job(['show', String(id)])).stdout), /LABELS=\[\n\s+SITE="a" \]/);
    writeFileSync(file, 'LABELS=[ ]\n');
    assert.equal((await job(['update', String(id), '-a', file])).code, 0);
    t = templateContents((await job(['show', String(id)])).stdout);
    assert.ok(!t.includes('LABELS') && t.includes('EXECUTION="PARALLEL"\n'), t);
    writeFileSync(file, 'BACKUP_VMS="3"\nDATASTORE_ID=100\n');
    assert.equal((await job(['update', String(id), file])).code, 0);
    t = templateContents((await job(['show', String(id)])).stdout);
    assert.ok(t.includes('KEEP_LAST="0"\n') && t.includes('EXECUTION="SEQUENTIAL"\n'), t);
    // VM 4 left the job, so another job may take it.
    const other = await job(['create'], 'NAME="takes-4"\nBACKUP_VMS="4"\n');
    assert.equal(other.code, 0, other.stderr);
  });

  it('a bad update changes nothing', async () => {
    const beforeShow = (await job(['show', String(id), '-x'])).stdout;
    const file = join(d.stateDir, 'bad.tmpl');
    writeFileSync(file, 'MODE="FULLEST"\n');
    const r = await job(['update', String(id), file]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /^\[one\.backupjob\.update\] template line 1, col 6 \(MODE\)/);
    assert.equal((await job(['show', String(id), '-x'])).stdout, beforeShow);
  });

  it('backup --schedule adds a schedule; sched-update changes only what it names; sched-delete removes it', async () => {
    const r = await job([
      'backup',
      String(id),
      '--schedule',
      '2027-03-01T02:00',
      '--weekly',
      '1,4',
      '--end',
      '12',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `BACKUPJOB ${id}: backup scheduled at 2027-03-01 02:00:00 +0000\n`);
    let x = (await job(['show', String(id), '-x'])).stdout;
    const saId = /<SCHED_ACTION>\n\s+<ID>(\d+)<\/ID>/.exec(x)?.[1] as string;
    assert.match(
      x,
      /<TIME>1803866400<\/TIME>\n\s+<REPEAT>0<\/REPEAT>\n\s+<DAYS>1,4<\/DAYS>\n\s+<END_TYPE>1<\/END_TYPE>\n\s+<END_VALUE>12<\/END_VALUE>/,
    );
    const upd = await job(['sched-update', String(id), saId], 'DAYS="2"\n');
    assert.equal(upd.code, 0, upd.stderr);
    x = (await job(['show', String(id), '-x'])).stdout;
    assert.match(x, /<TIME>1803866400<\/TIME>\n\s+<REPEAT>0<\/REPEAT>\n\s+<DAYS>2<\/DAYS>/);
    const bad = await job(['sched-update', String(id), saId], 'DAYS="9"\n');
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /Error updating: .*Days in a week have to be in \[0,6\] range/);
    assert.equal((await job(['sched-delete', String(id), saId])).code, 0);
    const gone = await job(['sched-delete', String(id), saId]);
    assert.equal(gone.code, 255);
    assert.equal(gone.stderr, `[one.backupjob.scheddelete] Error getting scheduled action [${saId}].\n`);
    const rel = await job(['backup', String(id), '--schedule', '+3600']);
    assert.equal(rel.code, 255);
    assert.match(rel.stderr, /absolute time/);
  });

  it('lock blocks changes but not show; unlock lifts it', async () => {
    assert.equal((await job(['lock', String(id)])).code, 0);
    const show = await job(['show', String(id)]);
    assert.match(show.stdout, /\nLOCK {11}: Use {17}\n/);
    const r = await job(['rename', String(id), 'renamed']);
    assert.equal(r.code, 255);
    assert.equal(r.stderr, `[one.backupjob.rename] User [0] : BACKUPJOB is locked. [${id}].\n`);
    assert.equal((await job(['unlock', String(id)])).code, 0);
    assert.equal((await job(['rename', String(id), 'renamed', '-v'])).stdout, `BACKUPJOB ${id}: renamed\n`);
    assert.equal((await job(['show', 'renamed'])).code, 0);
  });

  it('ranges and names select several jobs; unknown names fail with exit 255', async () => {
    const r = await job(['priority', `${id},${id}..${id}`, '20', '-v']);
    assert.equal(r.stdout, `BACKUPJOB ${id}: Priority changed\nBACKUPJOB ${id}: Priority changed\n`);
    const missing = await job(['show', 'no-such-job']);
    assert.equal(missing.code, 255);
    assert.equal(missing.stderr, 'BACKUPJOB named no-such-job not found.\n');
    const none = await job(['show', '9999']);
    assert.equal(none.code, 255);
    assert.equal(none.stderr, '[one.backupjob.info] Error getting backup job [9999].\n');
  });

  it('priority is 0-99 for oneadmin', async () => {
    assert.equal((await job(['priority', String(id), '99'])).code, 0);
    const r = await job(['priority', String(id), '100']);
    assert.equal(r.code, 255);
    assert.equal(r.stderr, '[one.backupjob.priority] Wrong priority value\n');
  });
});

describe('API rejections of SPEC.md 2.7 and the CLI create options', () => {
  it('schedadd without a vector, schedupdate of a missing schedule, a bad update type', async () => {
    const id = await createJob('NAME="api-errors"\n');
    assert.deepEqual(await rpcAs(d, oneadmin(), 'one.backupjob.schedadd', id, 'TIME=1'), [
      false,
      '[one.backupjob.schedadd] No SCHED_ACTION attribute in template',
      0x0800,
    ]);
    assert.deepEqual(
      await rpcAs(d, oneadmin(), 'one.backupjob.schedupdate', id, 77, 'SCHED_ACTION=[DAYS="1"]'),
      [false, "[one.backupjob.schedupdate] SCHED_ACTION with id = 77 doesn't exist", 0x0400],
    );
    assert.deepEqual(await rpcAs(d, oneadmin(), 'one.backupjob.update', id, 'KEEP_LAST=1', 2), [
      false,
      '[one.backupjob.update] Wrong update type',
      0x0800,
    ]);
    assert.deepEqual(await rpcAs(d, oneadmin(), 'one.backupjob.info', 4242, false), [
      false,
      '[one.backupjob.info] Error getting backup job [4242].',
      0x0400,
    ]);
  });

  it('create from options, with a schedule', async () => {
    const r = await job([
      'create',
      '--name',
      'from-options',
      '--vms',
      '26,27',
      '--keep',
      '3',
      '--mode',
      'increment',
      '--datastore',
      '100',
      '--schedule',
      '2027-01-04T01:00',
      '--weekly',
      '1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const m = /^ID: (\d+)\nBACKUPJOB \1: backup scheduled at 2027-01-04 01:00:00 \+0000\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const t = templateContents((await job(['show', m[1] as string])).stdout);
    assert.ok(
      t.includes('BACKUP_VMS="26,27"\n') && t.includes('MODE="INCREMENT"\n') && t.includes('KEEP_LAST="3"\n'),
      t,
    );
  });

  it('update without a file opens $EDITOR on the current template', async () => {
    const id = await createJob('NAME="edited"\nKEEP_LAST=2\n');
    const editor = `sed -i -e 's/KEEP_LAST="2"/KEEP_LAST="6"/'`;
    const r = await job(['update', String(id)], undefined, { EDITOR: editor });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(templateContents((await job(['show', String(id)])).stdout).includes('KEEP_LAST="6"\n'));
  });
});

describe('users see and change only what their permissions allow', () => {
  const alice = { ONE_AUTH: '' };
  let aliceEnv: NodeJS.ProcessEnv;
  let adminJob: number;
  before(async () => {
    const r = await runCli('oneuser', ['create', 'alice', 'wonderland'], d);
    assert.equal(r.code, 0, r.stderr);
    const authFile = join(d.stateDir, 'alice_auth');
    writeFileSync(authFile, 'alice:wonderland\n', { mode: 0o600 });
    aliceEnv = { ...alice, ONE_AUTH: authFile };
    adminJob = await createJob('NAME="admins"\nBACKUP_VMS="20"\nDATASTORE_ID=100\n');
  });

  it('an unauthenticated call gets AUTHENTICATION (0x0100)', async () => {
    const [ok, msg, code] = await rpcAs(d, 'alice:wrong', 'one.backupjob.info', adminJob, false);
    assert.deepEqual([ok, code], [false, 0x0100]);
    assert.equal(msg, "[one.backupjob.info] User couldn't be authenticated, aborting call.");
    const r = await job(['list', '--user', 'alice', '--password', 'nope']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /couldn't be authenticated/);
  });

  it("cannot read or change oneadmin's job without permission bits", async () => {
    const list = await job(['list'], undefined, aliceEnv);
    assert.equal(list.stdout.split('\n').filter((l) => l.trim() !== '').length, 1, list.stdout);
    const show = await job(['show', String(adminJob)], undefined, aliceEnv);
    assert.equal(show.code, 255);
    assert.equal(
      show.stderr,
      `[one.backupjob.info] User [2] : Not authorized to perform USE BACKUPJOB [${adminJob}].\n`,
    );
    const del = await job(['delete', String(adminJob)], undefined, aliceEnv);
    assert.equal(del.code, 255);
    assert.match(del.stderr, /Not authorized to perform MANAGE BACKUPJOB/);
    assert.equal((await job(['chmod', String(adminJob), '604'])).code, 0);
    assert.equal((await job(['show', String(adminJob)], undefined, aliceEnv)).code, 0);
    const still = await job(['backup', String(adminJob)], undefined, aliceEnv);
    assert.match(still.stderr, /Not authorized to perform MANAGE BACKUPJOB/);
  });

  it('cannot set PRIORITY above 49, at create or later', async () => {
    const r = await job(['create'], 'NAME="mine"\nPRIORITY=60\n', aliceEnv);
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      /line 2, col 10 \(PRIORITY\): PRIORITY 60 is for admins \(50-99\); users may set 0-49/,
    );
    const id = await createJob('NAME="mine"\nPRIORITY=49\n', aliceEnv);
    const up = await job(['priority', String(id), '50'], undefined, aliceEnv);
    assert.equal(up.code, 255);
    assert.equal(
      up.stderr,
      `[one.backupjob.priority] User [2] : Not authorized to perform ADMIN BACKUPJOB [${id}].\n`,
    );
    assert.equal((await job(['priority', String(id), '10'], undefined, aliceEnv)).code, 0);
  });

  it('cannot back up a VM she may not MANAGE nor target a datastore she may not USE', async () => {
    const vm = await job(['create'], 'NAME="steal"\nBACKUP_VMS="25"\n', aliceEnv);
    assert.equal(vm.code, 255);
    assert.match(vm.stderr, /\(BACKUP_VMS\): user alice may not MANAGE VM 25 \(vm-25\)/);
    const ds = await job(['create'], 'NAME="steal2"\nDATASTORE_ID=101\n', aliceEnv);
    assert.equal(ds.code, 255);
    assert.match(ds.stderr, /\(DATASTORE_ID\): user alice may not USE datastore 101 \(offsite\)/);
    assert.equal((await runCli('onevm', ['chown', '24', 'alice'], d)).code, 0);
    assert.equal((await runCli('onedatastore', ['chmod', '101', '604'], d)).code, 0);
    const ok = await job(['create'], 'NAME="allowed"\nBACKUP_VMS="24"\nDATASTORE_ID=101\n', aliceEnv);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('cannot register VMs, hosts or datastores', async () => {
    const r = await runCli('onehost', ['create'], d, {
      env: aliceEnv,
      input: 'NAME="h2"\nTRANSPORT="local"\n',
    });
    assert.equal(r.code, 255);
    assert.equal(r.stderr, '[one.host.allocate] User [2] : Not authorized to perform CREATE HOST.\n');
  });
});
