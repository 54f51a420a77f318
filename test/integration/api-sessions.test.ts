/**
 * Sessions and failed logins on a real state database: a verified session costs no scrypt after
 * its first call, a password change (through the service or straight in the database) or a
 * deletion invalidates it at once, and failed logins are throttled per user and per address
 * without slowing another user or a session already verified.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { ErrorCode, OneError } from '../../core/errors.js';
import { ONEADMIN_GID, ONEADMIN_UID } from '../../core/model.js';
import type { Requester } from '../../core/permissions.js';
import type { ServiceDeps } from '../../core/services/context.js';
import { LoginThrottle } from '../../core/services/login-throttle.js';
import { type PasswordHasher, scryptHasher } from '../../core/services/passwords.js';
import { UserService } from '../../core/services/users.js';
import type { Store } from '../../core/store/db.js';
import { cleanup, tempDir } from '../support/daemon.js';
import { ManualClock } from '../support/manual-clock.js';
import { testServiceDeps } from '../support/service-deps.js';
import { openTestStore } from '../support/store.js';

const admin: Requester = {
  uid: ONEADMIN_UID,
  gid: ONEADMIN_GID,
  uname: 'oneadmin',
  gname: 'oneadmin',
  isAdmin: true,
};

/** The real scrypt hasher, counting password checks. */
function countingHasher(): PasswordHasher & { verified: number } {
  const h = {
    verified: 0,
    hash: (password: string) => scryptHasher.hash(password),
    verify: (password: string, stored: string) => {
      h.verified++;
      return scryptHasher.verify(password, stored);
    },
  };
  return h;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function world(): Promise<{ store: Store; clock: ManualClock; deps: ServiceDeps; password: string }> {
  const dir = tempDir();
  const store = await openTestStore(join(dir, 'state.db'));
  closers.push(
    async () => cleanup(dir),
    () => store.close(),
  );
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  const deps: ServiceDeps = testServiceDeps(store, clock, dir);
  const password = await new UserService(deps).bootstrap();
  assert.ok(password);
  return { store, clock, deps, password };
}

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OneError);
    assert.equal(err.code, ErrorCode.AUTHENTICATION);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('session cache', () => {
  it('runs scrypt once per session, and again after a password change or a deletion', async () => {
    const { deps, password } = await world();
    const hasher = countingHasher();
    const users = new UserService(deps, { hasher });
    for (let i = 0; i < 20; i++) assert.equal((await users.authenticate(`oneadmin:${password}`)).uid, 0);
    assert.equal(hasher.verified, 1);

    const bob = await users.allocate(admin, 'bob', 'first', []);
    await users.authenticate('bob:first');
    await users.authenticate('bob:first');
    assert.equal(hasher.verified, 2);
    await users.passwd(admin, bob, 'second');
    await refused(users.authenticate('bob:first'), /couldn't be authenticated/);
    await users.authenticate('bob:second');
    await users.authenticate('bob:second');
    assert.equal(hasher.verified, 4);

    // A change this service instance never saw (another process, a restore of the database).
    const elsewhere = new UserService(deps);
    await elsewhere.passwd(admin, bob, 'third');
    await refused(users.authenticate('bob:second'), /couldn't be authenticated/);
    await users.authenticate('bob:third');

    await users.delete(admin, bob);
    await refused(users.authenticate('bob:third'), /couldn't be authenticated/);
  });
});

describe('failed logins', () => {
  it('refuse the attacker without a password check after 5 failures, not another user or a verified session', async () => {
    const { deps, clock, password } = await world();
    const hasher = countingHasher();
    const users = new UserService(deps, { hasher, throttle: new LoginThrottle({ now: () => clock.now() }) });
    await users.allocate(admin, 'bob', 'bobpw', []);
    await users.authenticate(`oneadmin:${password}`, '10.0.0.1');
    const before = hasher.verified;
    for (let i = 0; i < 5; i++)
      await refused(users.authenticate('oneadmin:guess', '10.0.0.66'), /authenticated/);
    assert.equal(hasher.verified, before + 5);
    // The sixth try is refused at once, saying why, and costs no scrypt; the wait grows.
    await refused(
      users.authenticate('oneadmin:guess', '10.0.0.66'),
      /Too many failed logins for user oneadmin; try again in 1 s/,
    );
    await refused(users.authenticate(`oneadmin:${password}x`, '10.0.0.7'), /for user oneadmin/);
    assert.equal(hasher.verified, before + 5);
    clock.advance(1000);
    await refused(users.authenticate('oneadmin:guess', '10.0.0.66'), /couldn't be authenticated/);
    await refused(users.authenticate('oneadmin:guess', '10.0.0.66'), /try again in 2 s/);

    // The verified session of oneadmin and another user's first login go through meanwhile.
    assert.equal((await users.authenticate(`oneadmin:${password}`, '10.0.0.1')).uid, 0);
    assert.equal((await users.authenticate('bob:bobpw', '10.0.0.66')).uname, 'bob');

    // One address guessing many names is throttled by address after 20 failures.
    for (let i = 0; i < 20; i++) await refused(users.authenticate(`u${i}:x`, '10.0.0.99'), /authenticated/);
    await users.allocate(admin, 'carol', 'carolpw', []);
    await refused(users.authenticate('carol:carolpw', '10.0.0.99'), /from address 10\.0\.0\.99; try again/);
    assert.equal((await users.authenticate('carol:carolpw', '10.0.0.5')).uname, 'carol');
    // A session verified before is not throttled, whatever its address.
    assert.equal((await users.authenticate('bob:bobpw', '10.0.0.99')).uname, 'bob');
  });

  it('a password check of a user with no failures does not queue behind an attack on another', async () => {
    const { deps, password } = await world();
    const users = new UserService(deps);
    await users.allocate(admin, 'bob', 'bobpw', []);
    // 30 wrong passwords for bob in flight at once (each a real scrypt), then oneadmin's first login.
    let attackDone = 0;
    const attack = Array.from({ length: 30 }, (_, i) =>
      users.authenticate(`bob:wrong${i}`, `10.1.0.${i}`).then(
        () => assert.fail('a wrong password was accepted'),
        () => {
          attackDone++;
        },
      ),
    );
    await users.authenticate(`oneadmin:${password}`, '10.0.0.1');
    const doneBeforeLegit = attackDone;
    await Promise.all(attack);
    assert.equal(attackDone, 30);
    assert.ok(doneBeforeLegit < 10, `${doneBeforeLegit} of 30 attacker checks ran before the legitimate one`);
  });
});

describe('login tokens', () => {
  it('live at least the seconds asked for, however late in a second they are made', async () => {
    const { deps, clock, password } = await world();
    const users = new UserService(deps);
    clock.advance(999);
    const token = await users.login(admin, 'oneadmin', '', 1, -1);
    clock.advance(900);
    assert.equal((await users.authenticate(`oneadmin:${token}`)).uid, ONEADMIN_UID);
    clock.advance(200);
    await refused(users.authenticate(`oneadmin:${token}`), /.*/);
    assert.equal((await users.authenticate(`oneadmin:${password}`)).uid, ONEADMIN_UID);
  });
});
