/**
 * Puts a driver's own error classification on every error it raises: the returned driver behaves
 * as `driver`, but an error (a thrown one, a rejected promise, a failing async iteration) that
 * `driver.isPermanent(err)` calls permanent is marked so (core/permanent-failure.ts) before it
 * reaches the engine's caller. The scheduler reads the mark; nothing else changes about the error.
 * Objects a call resolves to (a DiskWriter, a PointInTime) are not wrapped.
 */
import { markPermanent } from '../permanent-failure.js';

interface Classifier {
  isPermanent(err: unknown): boolean;
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as PromiseLike<unknown> | null | undefined)?.then === 'function';
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof (v as AsyncIterable<unknown> | null | undefined)?.[Symbol.asyncIterator] === 'function';
}

async function* classifiedIteration<T>(
  source: AsyncIterable<T>,
  classify: (err: unknown) => unknown,
): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    throw classify(err);
  }
}

export function classifiedDriver<D extends Classifier>(driver: D): D {
  const classify = (err: unknown): unknown => (driver.isPermanent(err) ? markPermanent(err) : err);
  return new Proxy(driver, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || prop === 'isPermanent' || prop === 'isNotFound') return value;
      return (...args: unknown[]): unknown => {
        let result: unknown;
        try {
          result = Reflect.apply(value, target, args);
        } catch (err) {
          throw classify(err);
        }
        if (isPromiseLike(result))
          return Promise.resolve(result).catch((err: unknown) => {
            throw classify(err);
          });
        if (isAsyncIterable(result)) return classifiedIteration(result, classify);
        return result;
      };
    },
  });
}
