/**
 * The `rsync` datastore driver against a real OpenSSH server (test/support/sshd.ts): the same
 * conformance suite as `local`, the same files on the server, host keys checked, and its failures
 * classified.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseTemplate } from '../../core/template/parser.js';
import { rsyncDatastore } from '../../drivers/datastore/rsync.js';
import type { DatastoreAttributes } from '../../drivers/datastore/types.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { datastoreSuite } from './datastore.js';
import { datastoreLifecycleSuite } from './datastore-lifecycle.js';

const idOf = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const root = tempDir('onebackup-rsync-');
let sshd: TestSshd;
let n = 0;

function attributes(base: string, extra: Record<string, string> = {}): DatastoreAttributes {
  return {
    id: 100,
    attributes: new Map(
      Object.entries({
        RSYNC_HOST: sshd.host,
        RSYNC_USER: sshd.user,
        SSH_PORT: String(sshd.port),
        SSH_KEY: sshd.clientKey,
        SSH_KNOWN_HOSTS: sshd.knownHosts,
        BASE_PATH: base,
        ...extra,
      }),
    ),
  };
}

const openAt = (base: string) => rsyncDatastore.open(rsyncDatastore.parseConfig(attributes(base)));

before(async () => {
  sshd = await startSshd(root);
});
after(async () => {
  await sshd.stop();
  cleanup(root);
});

datastoreSuite('rsync', async () => {
  const base = join(root, `ds-${n++}`);
  return { driver: await openAt(base), done: async () => rmSync(base, { recursive: true, force: true }) };
});

datastoreLifecycleSuite('rsync', async () => {
  const base = join(root, `ds-${n++}`, 'nested');
  return {
    factory: rsyncDatastore,
    ds: attributes(base),
    // A file where the chunk directory should be: ENOTDIR, whoever the SSH user is.
    async breakForGood() {
      rmSync(join(base, 'chunks'), { recursive: true, force: true });
      writeFileSync(join(base, 'chunks'), 'not a directory');
    },
    done: async () => rmSync(join(base, '..'), { recursive: true, force: true }),
  };
});

describe('rsync datastore over a real sshd', () => {
  it('writes the local on-disk layout on the server, and nothing half-written', async () => {
    const base = join(root, `ds-${n++}`);
    const d = await openAt(base);
    try {
      const bytes = randomBytes(5 * 1024 * 1024 + 17);
      const id = idOf(bytes);
      assert.equal(await d.putChunk(id, bytes), true);
      await d.putManifest('7/1-abc.json', Buffer.from('{"x":1}'));
      await d.writeIdentity(Buffer.from('{"uuid":"u"}'));
      assert.deepEqual(readFileSync(join(base, 'chunks', id.slice(0, 2), id)), bytes);
      assert.equal(readFileSync(join(base, 'backups', '7', '1-abc.json'), 'utf8'), '{"x":1}');
      assert.equal(readFileSync(join(base, 'onebackup-datastore.json'), 'utf8'), '{"uuid":"u"}');
      const into = Buffer.alloc(6 * 1024 * 1024);
      assert.equal(await d.getChunkInto(id, into), bytes.length);
      assert.deepEqual(into.subarray(0, bytes.length), bytes);
      await assert.rejects(d.getChunkInto(id, Buffer.alloc(1024)), /larger than 1024 bytes/);
      assert.ok((await d.stat()).usedBytes >= bytes.length);
      // A crash's leftovers are invisible to listings and removed by cleanup().
      mkdirSync(join(base, 'backups', '7'), { recursive: true });
      writeFileSync(join(base, 'backups', '7', '.tmp-dead'), 'half');
      writeFileSync(join(base, 'chunks', id.slice(0, 2), '.tmp-dead'), 'half');
      assert.deepEqual(await d.listManifests(''), ['7/1-abc.json']);
      assert.equal(await d.cleanup(), 2);
      assert.equal(existsSync(join(base, 'backups', '7', '.tmp-dead')), false);
      assert.equal(await d.quarantineChunk(id), true);
      assert.equal(await d.hasChunk(id), false);
      assert.equal(await d.quarantineChunk(id), false);
    } finally {
      await d.close();
    }
  });

  it('answers thousands of hasChunk calls over one connection, pipelined', async () => {
    const base = join(root, `ds-${n++}`);
    const d = await openAt(base);
    try {
      const present = Array.from({ length: 50 }, () => randomBytes(64));
      for (const b of present) await d.putChunk(idOf(b), b);
      const ids = [...present.map(idOf), ...Array.from({ length: 3000 }, () => idOf(randomBytes(8)))];
      const sessionsBefore = (sshd.log().match(/Accepted publickey/g) ?? []).length;
      const answers = await Promise.all(ids.map((id) => d.hasChunk(id)));
      assert.equal(answers.filter(Boolean).length, 50);
      assert.deepEqual(
        answers.slice(0, 50),
        present.map(() => true),
      );
      assert.equal(
        (sshd.log().match(/Accepted publickey/g) ?? []).length,
        sessionsBefore,
        'no new SSH login',
      );
    } finally {
      await d.close();
    }
  });

  it('refuses a host key it does not know or that changed, naming the host and the fix', async () => {
    const wrong = join(root, 'wrong_known_hosts');
    writeFileSync(
      wrong,
      `[${sshd.host}]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVvbmViYWNrdXAtdGVzdC13cm9uZy1rZXktMDAwMDAw\n`,
    );
    const changed = rsyncDatastore.parseConfig(attributes(join(root, 'never'), { SSH_KNOWN_HOSTS: wrong }));
    await assert.rejects(rsyncDatastore.open(changed), (err: Error) => {
      assert.match(
        err.message,
        /^datastore 100 \(rsync\): the host key of .*127\.0\.0\.1 port \d+ does not match/,
      );
      assert.match(err.message, new RegExp(`ssh-keygen -R '\\[127\\.0\\.0\\.1\\]:${sshd.port}' -f ${wrong}`));
      assert.equal((err as { permanent?: boolean }).permanent, true);
      return true;
    });
    const empty = join(root, 'empty_known_hosts');
    writeFileSync(empty, '');
    const unknown = rsyncDatastore.parseConfig(attributes(join(root, 'never'), { SSH_KNOWN_HOSTS: empty }));
    await assert.rejects(rsyncDatastore.open(unknown), (err: Error) => {
      assert.match(err.message, /host key of .*127\.0\.0\.1 port \d+ is not known/);
      assert.match(err.message, new RegExp(`ssh-keyscan -p ${sshd.port} 127\\.0\\.0\\.1 >> ${empty}`));
      return true;
    });
    // Never accepted in silence: the files are as the test wrote them.
    assert.equal(readFileSync(empty, 'utf8'), '');
    assert.equal(existsSync(join(root, 'never')), false);
  });

  it('a lost connection fails calls as retryable; the next call reconnects', async () => {
    const base = join(root, `ds-${n++}`);
    const d = await openAt(base);
    try {
      const a = randomBytes(1000);
      await d.putChunk(idOf(a), a);
      await sshd.stop();
      const err = await d.hasChunk(idOf(a)).then(
        () => assert.fail('a call on a dead connection resolved'),
        (e: unknown) => e as Error,
      );
      assert.match(err.message, /datastore 100 \(rsync\): (the connection to .* was lost|cannot reach)/);
      assert.equal(d.isPermanent(err), false);
      await sshd.start();
      assert.equal(await d.hasChunk(idOf(a)), true);
    } finally {
      await d.close();
      if (!sshd.running()) await sshd.start();
    }
  });

  it('parseConfig checks every attribute and never repeats key material', () => {
    const bad = (extra: Record<string, string>) => () =>
      rsyncDatastore.parseConfig(attributes('/srv/b', extra));
    assert.throws(bad({ BASE_PATH: 'srv/b' }), /BASE_PATH="srv\/b" must be an absolute path/);
    assert.throws(bad({ SSH_PORT: '70000' }), /SSH_PORT="70000" is not a TCP port/);
    assert.throws(
      bad({ RSYNC_HOST: '-oProxyCommand=x' }),
      /RSYNC_HOST="-oProxyCommand=x" is not a host name/,
    );
    assert.throws(bad({ RSYNC_USER: 'a b' }), /RSYNC_USER="a b" is not a user name/);
    assert.throws(bad({ SSH_PASSWORD: 'x' }), /passwords are not accepted/);
    assert.throws(bad({ SSH_KEY: 'keys/id' }), /SSH_KEY="keys\/id" must be an absolute path/);
    const key =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----';
    assert.throws(bad({ SSH_KEY: key }), (err: Error) => {
      assert.match(err.message, /SSH_KEY holds key material/);
      assert.equal(err.message.includes('b3BlbnNzaC1rZXktdjE'), false);
      return true;
    });
    const c = rsyncDatastore.parseConfig(attributes('/srv/b//x/'));
    assert.equal(c.basePath, '/srv/b/x');
  });

  it('conf/examples/datastore-rsync.tmpl is a valid rsync datastore', () => {
    const text = readFileSync(
      new URL('../../../conf/examples/datastore-rsync.tmpl', import.meta.url),
      'utf8',
    );
    const map = new Map<string, string>();
    for (const a of parseTemplate(text).attributes) if (a.kind === 'single') map.set(a.name, a.value);
    assert.equal(map.get('DS_MAD'), 'rsync');
    const c = rsyncDatastore.parseConfig({ id: 100, attributes: map });
    assert.deepEqual(
      { ...c.target },
      {
        host: 'backup1.example.com',
        port: 22,
        user: 'onebackup',
        key: '/var/lib/onebackup/.ssh/id_ed25519',
        knownHosts: '/var/lib/onebackup/.ssh/known_hosts',
      },
    );
  });
});
