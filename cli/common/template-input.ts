/** Template text for create/update commands: a file, standard input, or an editor session. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../cli-error.js';

export function readTemplateFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(
      `cannot read template file ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
}

/** Standard input when it is a pipe or a file (not a terminal), else undefined. */
export function readStdinIfPiped(): string | undefined {
  if (process.stdin.isTTY) return undefined;
  try {
    const text = readAllStdin();
    return text.trim() === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/**
 * Standard input to its end. A pipe may be non-blocking (a parent's, such as Node's child
 * processes): one not written yet answers EAGAIN, which means "wait", not "empty" (`slow | onevm
 * create` must not lose the template).
 */
function readAllStdin(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(nap, 0, 0, 10);
        continue;
      }
      if (code === 'EOF') break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Opens $EDITOR (default vi) on initial text; returns what was saved. */
export function editText(initial: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'onebackup-edit-'));
  const file = join(dir, 'template');
  try {
    writeFileSync(file, initial, { mode: 0o600 });
    const editor = process.env['EDITOR'] || '/usr/bin/vi';
    const r = spawnSync(`${editor} ${JSON.stringify(file)}`, { shell: true, stdio: 'inherit' });
    if (r.status !== 0)
      throw new CliError(`editor ${editor} exited with ${r.status ?? r.signal}; nothing changed`);
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
