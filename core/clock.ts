/** Time comes into the core only through this interface, so schedulers and state test fast. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls fn after ms; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return () => clearTimeout(timer);
  },
});

/** Seconds since the epoch, as OpenNebula stores times. */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}
