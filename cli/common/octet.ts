/**
 * chmod arguments as OpenNebula's CLI takes them: octal `640`, or `u=rw,g=r,o=` where r, w, x
 * stand for the use, manage and admin bits (4, 2, 1). Returns the API's nine 0/1 values.
 */
import { CliError } from '../cli-error.js';

export function parseOctet(arg: string): number[] {
  let octal: string;
  if (/^[0-7]{1,3}$/.test(arg)) octal = arg.padStart(3, '0');
  else if (/^([ugo]=[rwx]*)(,[ugo]=[rwx]*)*$/.test(arg)) {
    const digits = [0, 0, 0];
    for (const part of arg.split(',')) {
      const [who, rights = ''] = part.split('=') as [string, string?];
      const value =
        (rights.includes('r') ? 4 : 0) + (rights.includes('w') ? 2 : 0) + (rights.includes('x') ? 1 : 0);
      digits[who === 'u' ? 0 : who === 'g' ? 1 : 2] = value;
    }
    octal = digits.join('');
  } else {
    throw new CliError(
      `Error in permissions format: "${arg}"; use octal (600, 640) or u=rw,g=r,o= (r use, w manage, x admin)`,
    );
  }
  if (octal === '000') throw new CliError('Error in permissions format');
  return [...octal].flatMap((d) => {
    const n = Number(d);
    return [(n >> 2) & 1, (n >> 1) & 1, n & 1];
  });
}
