import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifiedDriver } from '../../../core/engine/classified-driver.js';
import { isPermanentFailure, markPermanent, PermanentDriverError } from '../../../core/permanent-failure.js';
import { classifyFailure } from '../../../core/scheduler/failure.js';

const errno = (code: string) => Object.assign(new Error(`boom ${code}`), { code });

class Fake {
  readonly name = 'fake';
  isPermanent(err: unknown): boolean {
    return (err as { code?: string }).code === 'EROFS';
  }
  async put(code: string): Promise<string> {
    throw errno(code);
  }
  check(code: string): string {
    throw errno(code);
  }
  async *list(code: string): AsyncIterable<number> {
    yield 1;
    throw errno(code);
  }
  async ok(): Promise<string> {
    return this.name;
  }
}

describe('classified driver', () => {
  const driver = classifiedDriver(new Fake());

  it('marks what the driver calls permanent, from promises, throws and iterations, and nothing else', async () => {
    for (const [code, kind] of [
      ['EROFS', 'permanent'],
      ['EIO', 'retryable'],
    ] as const) {
      const thrown = await driver.put(code).catch((e: unknown) => e);
      assert.equal(classifyFailure(thrown, false), kind);
      assert.equal((thrown as Error).message, `boom ${code}`);
      assert.throws(
        () => driver.check(code),
        (e: unknown) => classifyFailure(e, false) === kind,
      );
      const seen: number[] = [];
      const iterated = await (async () => {
        for await (const n of driver.list(code)) seen.push(n);
      })().catch((e: unknown) => e);
      assert.deepEqual(seen, [1]);
      assert.equal(classifyFailure(iterated, false), kind);
    }
    assert.equal(await driver.ok(), 'fake');
    assert.equal(driver.isPermanent(errno('EROFS')), true);
  });

  it('a mark survives wrapping as a cause; values that cannot carry it are wrapped', () => {
    const marked = markPermanent(errno('ENOSPC'));
    assert.equal(isPermanentFailure(new Error('backup failed', { cause: marked })), true);
    const frozen = markPermanent(Object.freeze(new Error('frozen')));
    assert.ok(frozen instanceof PermanentDriverError);
    assert.equal((frozen as Error).message, 'frozen');
    assert.equal(isPermanentFailure(markPermanent('text')), true);
    assert.equal(isPermanentFailure(errno('ENOSPC')), false);
    assert.equal(classifyFailure(errno('ENOSPC'), false), 'retryable');
  });
});
