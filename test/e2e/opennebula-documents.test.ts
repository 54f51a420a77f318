/**
 * OpenNebula's clients on the inventory (issue 13), against the real daemon: an inventory with
 * two hosts, VMs on raw and qcow2 disks, backup images with increments, users, groups and a
 * backup job; every info and pool method answers a document that OpenNebula's schema accepts
 * (required elements, order, numeric values; test/support/xsd-check.ts), also while a backup
 * runs; pool calls page and filter as oned does on the same arguments; faults, cluster, system
 * and login-token calls behave as oned's.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { XmlRpcValue } from '../../core/api/xmlrpc-value.js';
import { ErrorCode } from '../../core/errors.js';
import { parseXmlTree, type XmlElement } from '../../core/xml/tree.js';
import { cleanup, oneadminSession, type RunningDaemon, runCli, startDaemon } from '../support/daemon.js';
import { buildInventory, makeDisk } from '../support/inventory.js';
import { rpc, rpcAs, rpcOk, rpcRaw } from '../support/rpc.js';
import { checkAgainstXsd, XSD_DOCUMENTS } from '../support/xsd-check.js';

let d: RunningDaemon;
const ALICE = 'alice:alice-password-1';
const BOB = 'bob:bob-password-1';
let aliceUid = -1;
let bobUid = -1;
let opsGid = -1;

const kids = (e: XmlElement, name: string): XmlElement[] =>
  e.children.filter((c): c is XmlElement => c.kind === 'element' && c.name === name);
const text = (e: XmlElement | undefined): string =>
  e
    ? e.children.map((c) => (c.kind === 'element' ? text(c) : c.kind === 'comment' ? '' : c.value)).join('')
    : '';
const child = (e: XmlElement, path: string): XmlElement | undefined =>
  path.split('/').reduce<XmlElement | undefined>((at, name) => (at ? kids(at, name)[0] : undefined), e);

/** The IDs of the objects of a pool document, in document order. */
function poolIds(xml: string, element: string): number[] {
  return kids(parseXmlTree(xml), element).map((e) => Number(text(child(e, 'ID'))));
}

async function vmIds(...args: XmlRpcValue[]): Promise<number[]> {
  return poolIds(String(await rpcOk(d, 'one.vmpool.info', ...args)), 'VM');
}

function assertValid(schema: string, xml: string, what: string): void {
  assert.deepEqual(checkAgainstXsd(schema, xml), [], `${what} against OpenNebula's ${schema}.xsd:\n${xml}`);
}

before(async () => {
  d = await startDaemon({ conf: 'LOG_LEVEL = "info"\nTIMEZONE = "UTC"\nWORKERS = 1\n' });
  await buildInventory(d, 2); // node1; VMs 0, 1 (qcow2 + raw, RUNNING); datastores 100, 101
  await rpcOk(d, 'one.host.allocate', 'NAME = "node2"\nTRANSPORT = "local"\nVM_MAD = "fs"\n');
  const dir = join(d.stateDir, 'vms');
  // Random data: the backup of VM 2 takes a while, long enough to be seen in progress.
  writeFileSync(join(dir, 'big.raw'), randomBytes(128 * 1024 * 1024));
  makeDisk(join(dir, 'vm3.qcow2'), 'qcow2', '8M');
  await rpcOk(
    d,
    'one.vm.allocate',
    `NAME = "vm-2"\nHOST = "node2"\nSTATE = "POWEROFF"\nDISK = [ SOURCE = "${dir}/big.raw" ]\n`,
  );
  await rpcOk(
    d,
    'one.vm.allocate',
    `NAME = "vm-3"\nHOST = "node2"\nSTATE = "POWEROFF"\nLABELS = "db"\nDISK = [ SOURCE = "${dir}/vm3.qcow2" ]\n` +
      'BACKUP_CONFIG = [ MODE = "INCREMENT", KEEP_LAST = "3" ]\n',
  );
  for (let i = 0; i < 2; i++) {
    const r = await runCli('onevm', ['backup', '3', '-d', '100', '--wait'], d);
    assert.equal(r.code, 0, r.stderr);
  }
  opsGid = Number(await rpcOk(d, 'one.group.allocate', 'ops'));
  aliceUid = Number(await rpcOk(d, 'one.user.allocate', 'alice', 'alice-password-1', 'core', []));
  bobUid = Number(await rpcOk(d, 'one.user.allocate', 'bob', 'bob-password-1', 'core', [opsGid]));
  await rpcOk(d, 'one.vm.chown', 1, aliceUid, 1);
  await rpcOk(d, 'one.vm.lock', 0, 2, false);
  await rpcOk(d, 'one.backupjob.allocate', 'NAME = "nightly"\nBACKUP_VMS = "0"\nDATASTORE_ID = 101\n');
  await rpcOk(
    d,
    'one.backupjob.schedadd',
    0,
    'SCHED_ACTION = [ REPEAT = "3", DAYS = "1", TIME = "4102444800" ]',
  );
});

after(async () => {
  await d?.stop();
  if (d) cleanup(d.stateDir);
});

describe("every document against OpenNebula's schemas", () => {
  const calls: [string, string, ...XmlRpcValue[]][] = [
    ['vm', 'one.vm.info', 0],
    ['vm', 'one.vm.info', 1],
    ['vm', 'one.vm.info', 3],
    ['vm_pool', 'one.vmpool.info', -2, -1, -1, -1],
    ['vm_pool_extended', 'one.vmpool.infoextended', -2, -1, -1, -1, ''],
    ['host', 'one.host.info', 0],
    ['host', 'one.host.info', 1],
    ['host_pool', 'one.hostpool.info'],
    ['image', 'one.image.info', 0],
    ['image_pool', 'one.imagepool.info', -2, -1, -1],
    ['datastore', 'one.datastore.info', 100],
    ['datastore_pool', 'one.datastorepool.info'],
    ['user', 'one.user.info', 0],
    ['user_pool', 'one.userpool.info'],
    ['group', 'one.group.info', 0],
    ['group_pool', 'one.grouppool.info'],
    ['cluster', 'one.cluster.info', 0],
    ['cluster_pool', 'one.clusterpool.info'],
    ['backupjob', 'one.backupjob.info', 0],
    ['backupjob_pool', 'one.backupjobpool.info', -2, -1, -1],
  ];

  it('covers every document the issue names', () => {
    assert.deepEqual([...new Set(calls.map(([schema]) => schema))].sort(), [...XSD_DOCUMENTS].sort());
  });

  for (const [schema, method, ...args] of calls) {
    it(`${method}(${args.join(', ')}) matches ${schema}.xsd`, async () => {
      assertValid(schema, String(await rpcOk(d, method, ...args)), method);
    });
  }

  it('as a user too: her VM, her user and group, the pools she sees', async () => {
    for (const [schema, method, ...args] of [
      ['vm', 'one.vm.info', 1],
      ['user', 'one.user.info', -1],
      ['group', 'one.group.info', -1],
      ['vm_pool', 'one.vmpool.info', -3, -1, -1, -1],
      ['user_pool', 'one.userpool.info'],
    ] as const) {
      const [ok, body] = await rpcAs(d, ALICE, method, ...args);
      assert.equal(ok, true, String(body));
      assertValid(schema, String(body), `${method} as alice`);
    }
  });

  it('the checker itself refuses a document missing a required element or out of order', () => {
    const good =
      '<CLUSTER><ID>0</ID><NAME>default</NAME><HOSTS></HOSTS><DATASTORES></DATASTORES><VNETS></VNETS><TEMPLATE></TEMPLATE></CLUSTER>';
    assert.deepEqual(checkAgainstXsd('cluster', good), []);
    assert.notDeepEqual(checkAgainstXsd('cluster', good.replace('<VNETS></VNETS>', '')), []);
    assert.notDeepEqual(
      checkAgainstXsd(
        'cluster',
        good.replace('<ID>0</ID><NAME>default</NAME>', '<NAME>default</NAME><ID>0</ID>'),
      ),
      [],
    );
    assert.notDeepEqual(checkAgainstXsd('cluster', good.replace('<ID>0</ID>', '<ID>zero</ID>')), []);
  });

  it('values mean what they mean in OpenNebula', async () => {
    const vm0 = parseXmlTree(String(await rpcOk(d, 'one.vm.info', 0)));
    assert.equal(text(child(vm0, 'STATE')), '3'); // ACTIVE
    assert.equal(text(child(vm0, 'LCM_STATE')), '3'); // RUNNING
    assert.equal(text(child(vm0, 'LOCK/LOCKED')), '2');
    const disks = kids(child(vm0, 'TEMPLATE') as XmlElement, 'DISK');
    assert.deepEqual(
      disks.map((k) => [text(child(k, 'TYPE')), text(child(k, 'FORMAT'))]),
      [
        ['FILE', 'qcow2'],
        ['FILE', 'raw'],
      ],
    );
    assert.equal(text(child(vm0, 'HISTORY_RECORDS/HISTORY/HOSTNAME')), 'node1');
    assert.equal(text(child(vm0, 'HISTORY_RECORDS/HISTORY/VM_MAD')), 'fs');
    const vm3 = parseXmlTree(String(await rpcOk(d, 'one.vm.info', 3)));
    assert.equal(text(child(vm3, 'STATE')), '8'); // POWEROFF
    const node2 = parseXmlTree(String(await rpcOk(d, 'one.host.info', 1)));
    assert.equal(text(child(node2, 'HOST_SHARE/RUNNING_VMS')), '0');
    const node1 = parseXmlTree(String(await rpcOk(d, 'one.host.info', 0)));
    assert.equal(text(child(node1, 'HOST_SHARE/RUNNING_VMS')), '2');
    const image = parseXmlTree(String(await rpcOk(d, 'one.image.info', 0)));
    const incs = kids(child(image, 'BACKUP_INCREMENTS') as XmlElement, 'INCREMENT');
    assert.equal(incs.length, 2);
    assert.equal(text(child(image, 'MODTIME')), text(child(incs[1] as XmlElement, 'DATE')));
    const ds = parseXmlTree(String(await rpcOk(d, 'one.datastore.info', 100)));
    const fs = statfsSync(text(child(ds, 'BASE_PATH')));
    assert.equal(Number(text(child(ds, 'TOTAL_MB'))), Math.floor((fs.blocks * fs.bsize) / 1048576));
    assert.ok(Number(text(child(ds, 'FREE_MB'))) > 0);
    assert.deepEqual(kids(child(ds, 'CLUSTERS') as XmlElement, 'ID').map(text), ['0']);
    const user = parseXmlTree(String(await rpcOk(d, 'one.user.info', bobUid)));
    assert.deepEqual(kids(child(user, 'GROUPS') as XmlElement, 'ID').map(text), [String(opsGid)]);
    assert.equal(text(child(user, 'PASSWORD')), '');
    const group = parseXmlTree(String(await rpcOk(d, 'one.group.info', opsGid)));
    assert.deepEqual(kids(child(group, 'USERS') as XmlElement, 'ID').map(text), [String(bobUid)]);
    const cluster = parseXmlTree(String(await rpcOk(d, 'one.cluster.info', 0)));
    assert.deepEqual(kids(child(cluster, 'HOSTS') as XmlElement, 'ID').map(text), ['0', '1']);
    assert.deepEqual(kids(child(cluster, 'DATASTORES') as XmlElement, 'ID').map(text), ['100', '101']);
  });

  it('while a backup runs: the VM in BACKUP_POWEROFF, the host counting it, both still valid', async () => {
    const listed =
      /^NAME,RVM,VMS,BKUP\nnode2,0,2,1\nnode1,2,2,0\n$|^NAME,RVM,VMS,BKUP\nnode1,2,2,0\nnode2,0,2,1\n$/;
    const idle = async () => {
      const end = Date.now() + 120_000;
      while (Date.now() < end && /<LCM_STATE>70<\/LCM_STATE>/.test(String(await rpcOk(d, 'one.vm.info', 2))))
        await new Promise((resolve) => setTimeout(resolve, 50));
    };
    let seen: { vm: string; host: string; list: string } | undefined;
    // 128 MiB at zstd level 15 takes seconds; at the default level 1 a backup of it is over in a
    // fraction of one, too quick to see reliably from a CLI that takes ~0.3 s to start.
    const slow = String(
      await rpcOk(d, 'one.datastore.allocate', 'NAME = "slow"\nCOMPRESSION_LEVEL = "15"\n'),
    );
    // A backup can end between the documents and `onehost list` (a CLI start later): try again.
    for (let attempt = 0; attempt < 5 && !seen; attempt++) {
      const images = (String(await rpcOk(d, 'one.vm.info', 2)).match(/<BACKUP_IDS>.*<\/BACKUP_IDS>/) ?? [
        '',
      ])[0];
      // New data each attempt: chunks already stored would make the backup too quick to see.
      if (attempt > 0) writeFileSync(join(d.stateDir, 'vms', 'big.raw'), randomBytes(128 * 1024 * 1024));
      const r = await runCli('onevm', ['backup', '2', '-d', slow], d);
      assert.equal(r.code, 0, r.stderr);
      const deadline = Date.now() + 60_000;
      while (!seen && Date.now() < deadline) {
        const vm = String(await rpcOk(d, 'one.vm.info', 2));
        if ((vm.match(/<BACKUP_IDS>.*<\/BACKUP_IDS>/) ?? [''])[0] !== images) break;
        if (/<LCM_STATE>70<\/LCM_STATE>/.test(vm)) {
          const host = String(await rpcOk(d, 'one.host.info', 1));
          const list = (await runCli('onehost', ['list', '--csv', '-l', 'NAME,RVM,VMS,BKUP'], d)).stdout;
          if (/<RUNNING_BACKUPS><!\[CDATA\[1\]\]>/.test(host) && listed.test(list)) seen = { vm, host, list };
        } else await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await idle();
    }
    assert.ok(seen, 'the backup of VM 2 was seen in progress on its VM and host documents');
    assertValid('vm', seen.vm, 'one.vm.info during a backup');
    assertValid('host', seen.host, 'one.host.info during a backup');
    assert.match(seen.list, listed);
    assert.match(String(await rpcOk(d, 'one.host.info', 1)), /<RUNNING_BACKUPS><!\[CDATA\[0\]\]>/);
  });
});

describe('pool calls as oned reads them', () => {
  it('newest first; start/end bound IDs only when start is not -1; end < -1 is a page', async () => {
    assert.deepEqual(await vmIds(-2, -1, -1, -1), [3, 2, 1, 0]);
    assert.deepEqual(await vmIds(-2, 1, 2, -1), [2, 1]);
    assert.deepEqual(await vmIds(-2, 2, -1, -1), [3, 2]);
    assert.deepEqual(await vmIds(-2, -1, 1, -1), [3, 2, 1, 0], 'oned ignores end when start is -1');
    assert.deepEqual(await vmIds(-2, 1, -2, -1), [2, 1], 'a page of 2 from offset 1');
    assert.deepEqual(await vmIds(-2, 3, -2, -1), [0]);
    assert.deepEqual(await vmIds(-2, -1, -3, -1), [3, 2, 1], 'offset -1 reads as 0');
  });

  it("the real CLI's calls, extra arguments included, are answered", async () => {
    // Every image, newest first (the backup-in-progress test above may have taken more than one).
    const all = poolIds(String(await rpcOk(d, 'one.imagepool.info', -2, -1, -1)), 'IMAGE');
    assert.ok(all.length >= 2 && all.at(-1) === 0, `${all}`);
    const images = String(await rpcOk(d, 'one.imagepool.info', -2, 0, -39, -1, ''));
    assert.deepEqual(poolIds(images, 'IMAGE'), all.slice(0, 39));
    assert.deepEqual(
      poolIds(String(await rpcOk(d, 'one.vmpool.info', -2, -1, -1, -1, '')), 'VM'),
      [3, 2, 1, 0],
    );
    assert.deepEqual(
      poolIds(String(await rpcOk(d, 'one.imagepool.info', -2, 1, -1)), 'IMAGE'),
      all.filter((id) => id >= 1),
    );
  });

  it('state filter: -2 and -1 all (no VM is DONE), else that STATE; out of range refused', async () => {
    assert.deepEqual(await vmIds(-2, -1, -1, 8), [3, 2]);
    assert.deepEqual(await vmIds(-2, -1, -1, 3), [1, 0]);
    assert.deepEqual(await vmIds(-2, -1, -1, 6), []);
    assert.deepEqual(await vmIds(-2, 1, -2, 8), [2], 'a page counts the filtered VMs only');
    assert.deepEqual(await rpc(d, 'one.vmpool.info', -2, -1, -1, 12), [
      false,
      '[one.vmpool.info] Incorrect state filter 12',
      ErrorCode.RPC_API,
    ]);
  });

  it('key-value filter: KEY=VALUE pieces joined by &, LIKE %VALUE%, no key searches everything', async () => {
    assert.deepEqual(await vmIds(-2, -1, -1, -1, 'VM.NAME=vm-1'), [1]);
    assert.deepEqual(await vmIds(-2, -1, -1, -1, 'VM.TEMPLATE.DISK.FORMAT=qcow2'), [3, 1, 0]);
    assert.deepEqual(await vmIds(-2, -1, -1, -1, 'VM.TEMPLATE.DISK.FORMAT=qcow2&VM.STATE=8'), [3]);
    assert.deepEqual(await vmIds(-2, -1, -1, -1, 'VM.NAME=v_-%3'), [3]);
    assert.deepEqual(await vmIds(-2, -1, -1, -1, 'node2'), [3, 2]);
    assert.deepEqual(await vmIds(-2, -1, -1, -1, 'VM.USER_TEMPLATE.LABELS=db'), [3]);
    assert.deepEqual(await vmIds(-2, -1, -1, -1, 'VM.NAME=nothing'), []);
  });

  it("filter flags: a user's own (-3), her group (-4), a user ID; below -4 refused", async () => {
    const as = async (session: string, ...args: XmlRpcValue[]) => {
      const [ok, body] = await rpcAs(d, session, 'one.vmpool.info', ...args);
      assert.equal(ok, true, String(body));
      return poolIds(String(body), 'VM');
    };
    assert.deepEqual(await as(ALICE, -3, -1, -1, -1), [1]);
    assert.deepEqual(await as(ALICE, -2, -1, -1, -1), [1]);
    assert.deepEqual(await as(ALICE, 0, -1, -1, -1), [], "oneadmin's VMs are not hers to see");
    assert.deepEqual(await vmIds(aliceUid, -1, -1, -1), [1]);
    assert.deepEqual(await vmIds(-4, -1, -1, -1), [3, 2, 0]);
    const [ok, message, code] = await rpc(d, 'one.vmpool.info', -5, -1, -1, -1);
    assert.equal(ok, false);
    assert.equal(code, ErrorCode.RPC_API);
    assert.match(String(message), /Incorrect filter_flag -5/);
  });
});

describe("oned's XML-RPC layer", () => {
  it('an unknown method is fault -506; a missing or mistyped argument -501 naming it', async () => {
    const session = oneadminSession(d);
    assert.deepEqual(await rpcRaw(d, 'one.vm.nothing', [session, 1]), {
      fault: {
        code: -506,
        message: "Method 'one.vm.nothing' not defined; see the OpenNebula XML-RPC reference",
      },
    });
    const missing = await rpcRaw(d, 'one.vmpool.info', [session, -2, -1, -1]);
    assert.ok('fault' in missing && missing.fault.code === -501, JSON.stringify(missing));
    assert.match(missing.fault.message, /^Not enough parameters: argument 5 \(state, an int\) is missing/);
    const mistyped = await rpcRaw(d, 'one.vm.info', [session, 'seven']);
    assert.ok('fault' in mistyped && mistyped.fault.code === -501, JSON.stringify(mistyped));
    assert.match(
      mistyped.fault.message,
      /^Parameter that is supposed to be integer is not: argument 2 \(id\)/,
    );
    const noSession = await rpcRaw(d, 'one.vm.info', [7, 0]);
    assert.ok('fault' in noSession && noSession.fault.code === -501);
  });

  it('one.system.version and one.system.config answer any user', async () => {
    const [ok, version] = await rpcAs(d, ALICE, 'one.system.version');
    assert.equal(ok, true);
    assert.match(String(version), /^\d+\.\d+\.\d+$/);
    const [okc, config] = await rpcAs(d, ALICE, 'one.system.config');
    assert.equal(okc, true);
    const c = parseXmlTree(String(config));
    assert.equal(c.name, 'OPENNEBULA_CONFIGURATION');
    assert.equal(text(child(c, 'MAX_BACKUPS')), '5');
    assert.equal(text(child(c, 'AUTH_MAD_CONF/MAX_TOKEN_TIME')), '-1');
  });

  it('one.cluster.info knows cluster 0 only', async () => {
    assert.deepEqual(await rpc(d, 'one.cluster.info', 5), [
      false,
      '[one.cluster.info] Error getting cluster [5].',
      ErrorCode.NO_EXISTS,
    ]);
  });
});

describe('login tokens (one.user.login, oneuser token-create)', () => {
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const asAlice = { env: { ONE_AUTH: '' } };
  const aliceArgs = ['--user', 'alice', '--password', 'alice-password-1'];

  it('a token stands for the password; the daemon keeps and shows only its SHA-256', async () => {
    const r = await runCli('oneuser', ['token-create', '--time', '3600', ...aliceArgs], d, asAlice);
    assert.equal(r.code, 0, r.stderr);
    const token = /^Authentication Token is:\nalice:([0-9a-f]{40})\n$/.exec(r.stdout)?.[1];
    assert.ok(token, r.stdout);
    const list = await runCli(
      'onevm',
      ['list', '--csv', '-l', 'ID', '--user', 'alice', '--password', token],
      d,
      asAlice,
    );
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, 'ID\n1\n');
    const doc = String(await rpcOk(d, 'one.user.info', aliceUid));
    assertValid('user', doc, 'a user with a token');
    assert.ok(!doc.includes(token), 'the token text is not in the document');
    assert.match(
      doc,
      new RegExp(
        `<LOGIN_TOKEN><TOKEN>${sha256(token)}</TOKEN><EXPIRATION_TIME>\\d+</EXPIRATION_TIME><EGID>-1</EGID></LOGIN_TOKEN>`,
      ),
    );
    const del = await runCli('oneuser', ['token-delete', 'alice', sha256(token), ...aliceArgs], d, asAlice);
    assert.equal(del.code, 0, del.stderr);
    const [ok, , code] = await rpcAs(d, `alice:${token}`, 'one.user.info', -1);
    assert.equal(ok, false);
    assert.equal(code, ErrorCode.AUTHENTICATION);
  });

  it('a token stops working when it expires', async () => {
    const [ok, token] = await rpcAs(d, ALICE, 'one.user.login', 'alice', '', 1, -1);
    assert.equal(ok, true, String(token));
    assert.equal((await rpcAs(d, `alice:${String(token)}`, 'one.user.info', -1))[0], true);
    let refused = false;
    const deadline = Date.now() + 10_000;
    while (!refused && Date.now() < deadline) {
      const [okNow, , code] = await rpcAs(d, `alice:${String(token)}`, 'one.user.info', -1);
      refused = okNow === false && code === ErrorCode.AUTHENTICATION;
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(refused, 'the expired token was refused');
  });

  it('a user cannot make tokens for another; at most 10 live tokens; valid < -1 is refused', async () => {
    const [ok, body, code] = await rpcAs(d, BOB, 'one.user.login', 'alice', '', 60, -1);
    assert.equal(ok, false, String(body));
    assert.equal(code, ErrorCode.AUTHORIZATION);
    for (let i = 0; i < 10; i++) await rpcAs(d, BOB, 'one.user.login', 'bob', '', 600, -1);
    assert.deepEqual(await rpcAs(d, BOB, 'one.user.login', 'bob', '', 600, -1), [
      false,
      '[one.user.login] Max number of tokens limit reached.',
      ErrorCode.RPC_API,
    ]);
    assert.equal(
      (await rpcAs(d, BOB, 'one.user.login', 'bob', '', -7, -1))[1],
      '[one.user.login] Wrong valid period for token',
    );
    assert.equal(
      (await rpcAs(d, BOB, 'one.user.login', 'bob', '', 0, -1))[0],
      true,
      'valid 0 with no token deletes them all',
    );
    assert.equal((await rpcAs(d, BOB, 'one.user.login', 'bob', '', 600, -1))[0], true);
  });
});
