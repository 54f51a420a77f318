/** Template text for create/update commands: a file, standard input, or an editor session. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    const text = readFileSync(0, 'utf8');
    return text.trim() === '' ? undefined : text;
  } catch {
    return undefined;
  }
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
