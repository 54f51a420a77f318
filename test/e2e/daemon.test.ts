import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { decodeMethodResponse, encodeMethodCall } from '../../core/api/xmlrpc.js';
import type { XmlRpcValue } from '../../core/api/xmlrpc-value.js';
import { cleanup, oneadminSession, type RunningDaemon, startDaemon } from '../support/daemon.js';

async function rpc(d: RunningDaemon, method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue[]> {
  const res = await fetch(d.url, {
    method: 'POST',
    body: encodeMethodCall(method, params),
    headers: { 'content-type': 'text/xml' },
  });
  const decoded = decodeMethodResponse(await res.text());
  if ('fault' in decoded) throw new Error(`fault ${decoded.fault.code}: ${decoded.fault.message}`);
  return decoded.value as XmlRpcValue[];
}

describe('onebackupd as a child process', () => {
  let d: RunningDaemon;
  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d.stop();
    cleanup(d.stateDir);
  });

  it('writes oneadmin credentials with mode 0600', () => {
    assert.equal(statSync(d.authFile).mode & 0o777, 0o600);
    assert.match(oneadminSession(d), /^oneadmin:[0-9a-f]{32}$/);
  });

  it('answers one.system.version to oneadmin', async () => {
    const [ok, version, code] = await rpc(d, 'one.system.version', oneadminSession(d));
    assert.equal(ok, true);
    assert.equal(typeof version, 'string');
    assert.equal(code, 0);
  });

  it('rejects a wrong password with AUTHENTICATION (0x0100)', async () => {
    const [ok, message, code] = await rpc(d, 'one.backupjobpool.info', 'oneadmin:wrong', -2, -1, -1);
    assert.equal(ok, false);
    assert.equal(code, 0x0100);
    assert.equal(message, "[one.backupjobpool.info] User couldn't be authenticated, aborting call.");
  });

  it('answers an unknown method with RPC_API', async () => {
    const [ok, message, code] = await rpc(d, 'one.nothing.here', oneadminSession(d));
    assert.equal(ok, false);
    assert.equal(code, 0x1000);
    assert.match(String(message), /one\.nothing\.here does not exist/);
  });

  it('answers wrong argument types with RPC_API naming the argument', async () => {
    const [ok, message, code] = await rpc(d, 'one.backupjob.info', oneadminSession(d), 'seven');
    assert.equal(ok, false);
    assert.equal(code, 0x1000);
    assert.equal(
      message,
      '[one.backupjob.info] one.backupjob.info: argument 2 (id) must be an int, got the string "seven"',
    );
  });

  it('answers malformed XML and oversized bodies with a fault, and keeps serving', async () => {
    const bad = await fetch(d.url, { method: 'POST', body: '<methodCall><methodName>x' });
    const badDecoded = decodeMethodResponse(await bad.text());
    assert.ok('fault' in badDecoded);
    const big = await fetch(d.url, { method: 'POST', body: 'x'.repeat(17 * 1024 * 1024) }).catch(
      (e: unknown) => e,
    );
    if (big instanceof Response) {
      const decoded = decodeMethodResponse(await big.text());
      assert.ok('fault' in decoded && /MAX_REQUEST_BYTES/.test(decoded.fault.message));
    }
    const [ok] = await rpc(d, 'one.system.version', oneadminSession(d));
    assert.equal(ok, true);
  });

  it('stops cleanly on SIGTERM with exit status 0', async () => {
    const other = await startDaemon();
    try {
      assert.equal(await other.stop('SIGTERM'), 0);
      assert.match(other.logs(), /stopped/);
    } finally {
      cleanup(other.stateDir);
    }
  });
});
