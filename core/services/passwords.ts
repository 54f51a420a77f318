/**
 * Password hashing with scrypt. scrypt runs in libuv's thread pool (node's async crypto.scrypt),
 * never on the event loop; at most SCRYPT_CONCURRENCY hashes run at once (each takes 16 MiB and a
 * pool thread for ~50 ms), so a burst of logins neither starves the file I/O that shares the pool
 * nor grows memory with the number of clients. Later hashes wait their turn in order, those of a
 * suspect login (a user with failures or another check under way) after all the others, so an
 * attack on one account does not hold up the first login of another.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;
const MAXMEM = 64 * 1024 * 1024;
/** scrypt computations running at once (libuv's pool has 4 threads by default). */
export const SCRYPT_CONCURRENCY = 2;

/** What UserService hashes and checks passwords with (tests wrap it to count calls). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** `suspect`: wait behind every check that is not. */
  verify(password: string, stored: string, suspect?: boolean): Promise<boolean>;
}

let running = 0;
const waiting: (() => void)[] = [];
const waitingSuspect: (() => void)[] = [];

async function limited<T>(work: () => Promise<T>, suspect = false): Promise<T> {
  if (running >= SCRYPT_CONCURRENCY) {
    await new Promise<void>((resolve) => (suspect ? waitingSuspect : waiting).push(resolve));
  } else running++;
  try {
    return await work();
  } finally {
    const next = waiting.shift() ?? waitingSuspect.shift();
    // The slot passes straight to the next waiter, so `running` counts it already.
    if (next) next();
    else running--;
  }
}

/** `scrypt$N$r$p$<salt b64>$<hash b64>`: the parameters travel with the hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await limited(() => scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: MAXMEM }));
  return ['scrypt', N, R, P, salt.toString('base64'), hash.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string, suspect = false): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await limited(
    () =>
      scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
        N: Number(n),
        r: Number(r),
        p: Number(p),
        maxmem: MAXMEM,
      }),
    suspect,
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export const scryptHasher: PasswordHasher = Object.freeze({ hash: hashPassword, verify: verifyPassword });

/** A password for oneadmin at first start: 32 hex characters from the OS random source. */
export function generatePassword(): string {
  return randomBytes(16).toString('hex');
}
