/**
 * Failed-login throttle, in memory. Failures are counted per key (a user name, a client address);
 * after a few free failures a key must wait before its next password check, the wait doubling with
 * each further failure up to a cap. A waiting key is refused at once, without running scrypt, so
 * an attacker costs the daemon nothing and other users (and sessions already verified, which skip
 * the password check) are not slowed. A key is forgotten after a quiet period or a success; the
 * table is bounded, dropping its oldest entries first.
 */

export interface ThrottleRule {
  /** Failures in a row before the first wait (the one that reaches it starts the wait). */
  readonly freeFailures: number;
  /** First wait; each further failure doubles it. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface LoginThrottleOptions {
  readonly user: ThrottleRule;
  /** Looser: several users may share an address (a NAT, a proxy, the loopback). */
  readonly address: ThrottleRule;
  /** A key with no failure for this long starts over. */
  readonly forgetAfterMs: number;
  readonly maxEntries: number;
  readonly now: () => number;
}

export const DEFAULT_THROTTLE: Omit<LoginThrottleOptions, 'now'> = Object.freeze({
  user: { freeFailures: 5, baseDelayMs: 1000, maxDelayMs: 60_000 },
  address: { freeFailures: 20, baseDelayMs: 1000, maxDelayMs: 60_000 },
  forgetAfterMs: 15 * 60_000,
  maxEntries: 10_000,
});

interface Entry {
  failures: number;
  /** Epoch ms before which the key is refused. */
  until: number;
  last: number;
}

/** Why a login is refused before its password is checked. */
export interface ThrottleRefusal {
  readonly kind: 'user' | 'address';
  readonly key: string;
  readonly waitMs: number;
}

export class LoginThrottle {
  readonly #entries = new Map<string, Entry>();
  readonly #options: LoginThrottleOptions;

  constructor(options: Partial<LoginThrottleOptions> = {}) {
    this.#options = { ...DEFAULT_THROTTLE, now: Date.now, ...options };
  }

  /** The first of `user`/`address` that must still wait, if any. */
  check(user: string, address: string): ThrottleRefusal | undefined {
    for (const [kind, key] of [
      ['user', user],
      ['address', address],
    ] as const) {
      const waitMs = this.#wait(`${kind}:${key}`);
      if (waitMs > 0) return { kind, key, waitMs };
    }
    return undefined;
  }

  failed(user: string, address: string): void {
    this.#fail(`user:${user}`, this.#options.user);
    if (address !== '') this.#fail(`address:${address}`, this.#options.address);
  }

  /** True when the user name failed lately (its password checks wait behind the others). */
  hasFailed(user: string): boolean {
    return this.#entries.has(`user:${user}`);
  }

  /** A correct password clears the user's count (not the address's: it may be shared). */
  succeeded(user: string): void {
    this.#entries.delete(`user:${user}`);
  }

  #wait(key: string): number {
    const e = this.#entries.get(key);
    if (!e) return 0;
    const now = this.#options.now();
    if (now - e.last > this.#options.forgetAfterMs) {
      this.#entries.delete(key);
      return 0;
    }
    return Math.max(0, e.until - now);
  }

  #fail(key: string, rule: ThrottleRule): void {
    const now = this.#options.now();
    let e = this.#entries.get(key);
    if (!e || now - e.last > this.#options.forgetAfterMs) e = { failures: 0, until: 0, last: now };
    this.#entries.delete(key); // re-inserted last: the Map's order is the eviction order
    e.failures++;
    e.last = now;
    const over = e.failures - rule.freeFailures;
    if (over >= 0) e.until = now + Math.min(rule.maxDelayMs, rule.baseDelayMs * 2 ** Math.min(over, 30));
    this.#entries.set(key, e);
    while (this.#entries.size > this.#options.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
