/**
 * A generic XML-RPC client, Python's xmlrpc.client (as pyone uses), calls every method of the
 * API against the real daemon: each answers OpenNebula's [ok, body, code] array, never a fault.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { METHODS } from '../../core/api/methods.js';
import { cleanup, oneadminSession, type RunningDaemon, startDaemon } from '../support/daemon.js';
import { buildInventory } from '../support/inventory.js';

const PY = `
import json, sys, xmlrpc.client
req = json.load(sys.stdin)
server = xmlrpc.client.ServerProxy(req["url"], allow_none=False)
out = []
for call in req["calls"]:
    try:
        r = getattr(server, call["method"])(req["session"], *call["params"])
        out.append({"method": call["method"], "response": r})
    except xmlrpc.client.Fault as f:
        out.append({"method": call["method"], "fault": f.faultString})
print(json.dumps(out))
`;

type Call = { method: string; params: unknown[] };

function runPython(
  url: string,
  session: string,
  calls: Call[],
): { method: string; response?: unknown[]; fault?: string }[] {
  const r = spawnSync('python3', ['-c', PY], {
    input: JSON.stringify({ url, session, calls }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { method: string; response?: unknown[]; fault?: string }[];
}

describe("Python's xmlrpc.client calls every method", () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startDaemon();
    await buildInventory(d, 2);
  });
  after(async () => {
    await d.stop();
    cleanup(d.stateDir);
  });

  it('a full backup-job life cycle succeeds', () => {
    const calls: Call[] = [
      { method: 'one.system.version', params: [] },
      { method: 'one.backupjob.allocate', params: ['NAME="py"\nBACKUP_VMS="0,1"\nDATASTORE_ID=100\n'] },
      { method: 'one.backupjob.info', params: [0, false] },
      { method: 'one.backupjob.update', params: [0, 'KEEP_LAST=3', 1] },
      { method: 'one.backupjob.rename', params: [0, 'py2'] },
      { method: 'one.backupjob.chmod', params: [0, 1, 1, 0, 1, 0, 0, 0, 0, 0] },
      { method: 'one.backupjob.chown', params: [0, -1, 1] },
      { method: 'one.backupjob.lock', params: [0, 1, false] },
      { method: 'one.backupjob.unlock', params: [0] },
      { method: 'one.backupjob.priority', params: [0, 20] },
      {
        method: 'one.backupjob.schedadd',
        // In the future: a past TIME would fire its catch-up run at once.
        params: [0, 'SCHED_ACTION=[REPEAT="3",DAYS="1",TIME="4102444800"]'],
      },
      { method: 'one.backupjob.schedupdate', params: [0, 0, 'SCHED_ACTION=[DAYS="5"]'] },
      { method: 'one.backupjob.scheddelete', params: [0, 0] },
      { method: 'one.backupjob.pause', params: [0] },
      { method: 'one.backupjob.backup', params: [0] },
      { method: 'one.backupjob.exclude', params: [0, 1] },
      { method: 'one.backupjob.runs', params: [0, -1] },
      { method: 'one.backupjob.resume', params: [0] },
      { method: 'one.backupjob.cancel', params: [0] },
      { method: 'one.backupjob.retry', params: [0] },
      { method: 'one.backupjobpool.info', params: [-2, -1, -1] },
      { method: 'one.backupjob.delete', params: [0] },
      { method: 'one.vm.info', params: [0, false] },
      { method: 'one.vmpool.info', params: [-2, -1, -1, -1] },
      { method: 'one.vm.rename', params: [1, 'renamed'] },
      { method: 'one.host.info', params: [0, false] },
      { method: 'one.hostpool.info', params: [] },
      { method: 'one.datastore.info', params: [100, false] },
      { method: 'one.datastorepool.info', params: [] },
      { method: 'one.imagepool.info', params: [-2, -1, -1] },
      { method: 'one.user.allocate', params: ['bob', 'secret', 'core', []] },
      { method: 'one.user.info', params: [2, false] },
      { method: 'one.user.passwd', params: [2, 'secret2'] },
      { method: 'one.userpool.info', params: [] },
      { method: 'one.user.delete', params: [2] },
      { method: 'one.group.allocate', params: ['ops'] },
      { method: 'one.group.info', params: [100, false] },
      { method: 'one.grouppool.info', params: [] },
      { method: 'one.vm.delete', params: [1] },
      { method: 'one.host.allocate', params: ['node2', 'kvm', 'fs', -1] },
      { method: 'one.host.delete', params: [1] },
      { method: 'one.datastore.allocate', params: ['NAME="ds3"\nTYPE="BACKUP_DS"', -1] },
      { method: 'one.datastore.delete', params: [102] },
    ];
    const results = runPython(d.url, oneadminSession(d), calls);
    for (const r of results) {
      assert.equal(r.fault, undefined, `${r.method}: ${r.fault}`);
      assert.equal(r.response?.[0], true, `${r.method}: ${JSON.stringify(r.response)}`);
      assert.equal(r.response?.[2], 0);
    }
    const info = results.find((r) => r.method === 'one.backupjob.info')?.response?.[1];
    assert.match(String(info), /^<BACKUPJOB><ID>0<\/ID><UID>0<\/UID><GID>0<\/GID><UNAME>oneadmin<\/UNAME>/);
  });

  it('every method in the table answers [ok, body, code] to well-typed arguments', () => {
    const value = (type: string) =>
      type === 'int' ? 0 : type === 'string' ? 'x' : type === 'bool' ? false : [];
    const calls = Object.entries(METHODS).map(([method, def]) => ({
      method,
      params: def.params.map((p) => value(p.type)),
    }));
    const results = runPython(d.url, oneadminSession(d), calls);
    assert.equal(results.length, Object.keys(METHODS).length);
    for (const r of results) {
      assert.equal(r.fault, undefined, `${r.method}: ${r.fault}`);
      assert.equal(r.response?.length, 3, r.method);
      assert.equal(typeof r.response?.[0], 'boolean', r.method);
      assert.equal(typeof r.response?.[2], 'number', r.method);
      if (r.response?.[0] === false)
        assert.match(String(r.response[1]), new RegExp(`^\\[${r.method.replaceAll('.', '\\.')}\\] `));
    }
  });
});
