/**
 * The lifecycle half of the datastore driver conformance suite: configuration parsed once by
 * the factory, close(), opened once per datastore by the daemon's cache, and the driver's own
 * permanent/retryable classification as the scheduler sees it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { OpenDatastores } from '../../core/engine/open-datastores.js';
import { isOneError } from '../../core/errors.js';
import { classifyFailure } from '../../core/scheduler/failure.js';
import type { DatastoreAttributes, DatastoreDriverFactory } from '../../drivers/datastore/types.js';

const idOf = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface DatastoreLifecycleFixture<C> {
  readonly factory: DatastoreDriverFactory<C>;
  /** The attributes of a usable, empty datastore. */
  readonly ds: DatastoreAttributes;
  /** Damages the datastore so that writes fail in a way no retry fixes. */
  breakForGood(): Promise<void>;
  done(): Promise<void>;
}

/** A factory that counts its opens and the drivers it closed. */
function counting<C>(factory: DatastoreDriverFactory<C>) {
  const counts = { opened: 0, closed: 0 };
  const wrapped: DatastoreDriverFactory<C> = {
    name: factory.name,
    requiredAttributes: factory.requiredAttributes,
    parseConfig: (ds) => factory.parseConfig(ds),
    redact: (c) => factory.redact(c),
    location: (c) => factory.location(c),
    async open(config) {
      counts.opened++;
      const driver = await factory.open(config);
      const close = driver.close.bind(driver);
      return Object.assign(driver, {
        close: async () => {
          counts.closed++;
          await close();
        },
      });
    },
  };
  return { counts, factory: wrapped };
}

export function datastoreLifecycleSuite<C>(
  name: string,
  make: () => Promise<DatastoreLifecycleFixture<C>>,
): void {
  describe(`datastore driver conformance: ${name}: lifecycle`, () => {
    it('parseConfig refuses a datastore without a required attribute, naming the datastore and the attribute', async () => {
      const f = await make();
      try {
        f.factory.redact(f.factory.parseConfig(f.ds));
        for (const required of f.factory.requiredAttributes) {
          const attributes = new Map(f.ds.attributes);
          attributes.delete(required);
          assert.throws(
            () => f.factory.parseConfig({ id: f.ds.id, attributes }),
            (err: unknown) =>
              isOneError(err) &&
              err.message.includes(`datastore ${f.ds.id}`) &&
              err.message.includes(required),
          );
        }
      } finally {
        await f.done();
      }
    });

    it('close() is idempotent; a closed driver refuses calls; what it stored stays for the next open', async () => {
      const f = await make();
      try {
        const config = f.factory.parseConfig(f.ds);
        const driver = await f.factory.open(config);
        const bytes = randomBytes(100);
        await driver.putChunk(idOf(bytes), bytes);
        await driver.putManifest('vm/1.json', Buffer.from('{}'));
        await driver.close();
        await driver.close();
        await assert.rejects(driver.hasChunk(idOf(bytes)));
        await assert.rejects(driver.getManifest('vm/1.json'));
        const again = await f.factory.open(config);
        try {
          assert.deepEqual(await again.getChunk(idOf(bytes)), bytes);
        } finally {
          await again.close();
        }
      } finally {
        await f.done();
      }
    });

    it('the daemon opens a datastore once, shares it, closes it on delete and at shutdown', async () => {
      const f = await make();
      const { counts, factory } = counting(f.factory);
      const open = new OpenDatastores(new Map([[factory.name, factory as DatastoreDriverFactory]]));
      try {
        const ds = { ...f.ds, dsMad: factory.name };
        const [a, b] = await Promise.all([open.get(ds), open.get(ds)]);
        const c = await open.get(ds);
        assert.equal(counts.opened, 1);
        assert.equal(a, b);
        assert.equal(a, c);
        await open.close(ds.id);
        assert.equal(counts.closed, 1);
        await assert.rejects(a.stat());
        const d = await open.get(ds);
        assert.notEqual(d, a);
        assert.equal(counts.opened, 2);
        await open.closeAll();
        assert.equal(counts.closed, 2);
        assert.equal(open.size, 0);
        await open.close(ds.id);
        assert.equal(counts.closed, 2);
      } finally {
        await open.closeAll();
        await f.done();
      }
    });

    it('a datastore whose configuration is refused is not kept open', async () => {
      const f = await make();
      const { counts, factory } = counting(f.factory);
      const open = new OpenDatastores(new Map([[factory.name, factory as DatastoreDriverFactory]]));
      try {
        const required = f.factory.requiredAttributes[0];
        if (required === undefined) return;
        const attributes = new Map(f.ds.attributes);
        attributes.delete(required);
        const bad = { id: f.ds.id, attributes, dsMad: factory.name };
        await assert.rejects(open.get(bad), (err: unknown) => classifyFailure(err, false) === 'permanent');
        assert.equal(open.size, 0);
        assert.equal(counts.opened, 0);
        await open.get({ ...f.ds, dsMad: factory.name });
        assert.equal(counts.opened, 1);
      } finally {
        await open.closeAll();
        await f.done();
      }
    });

    it('classifies its own failures: the scheduler sees a broken datastore as permanent, other failures as retryable', async () => {
      const f = await make();
      const open = new OpenDatastores(new Map([[f.factory.name, f.factory as DatastoreDriverFactory]]));
      try {
        const driver = await open.get({ ...f.ds, dsMad: f.factory.name });
        const ac = new AbortController();
        ac.abort();
        const bytes = randomBytes(10);
        const aborted = await driver.putChunk(idOf(bytes), bytes, { signal: ac.signal }).then(
          () => assert.fail('an aborted put resolved'),
          (err: unknown) => err,
        );
        assert.equal(driver.isPermanent(aborted), false);
        assert.equal(classifyFailure(aborted, false), 'retryable');
        assert.equal(driver.isPermanent(new Error('connection reset by peer')), false);
        await f.breakForGood();
        const broken = await driver.putChunk(idOf(bytes), bytes).then(
          () => assert.fail('a put into a broken datastore resolved'),
          (err: unknown) => err,
        );
        assert.equal(driver.isPermanent(broken), true, String(broken));
        assert.equal(driver.isNotFound(broken), false);
        assert.equal(classifyFailure(broken, false), 'permanent');
        assert.equal(classifyFailure(broken, true), 'aborted');
      } finally {
        await open.closeAll();
        await f.done();
      }
    });
  });
}
