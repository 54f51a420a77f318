/**
 * The import-layer check (`npm run check:layers`, .dependency-cruiser.cjs) run for real, as a
 * child process, on small trees made here: it passes a tree that keeps to the rooms and fails
 * one with a cycle between directories or a driver that imports the engine, naming the rule.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanup, tempDir } from '../support/daemon.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

function tree(dir: string, files: Readonly<Record<string, string>>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

function check(dir: string): { status: number | null; output: string } {
  const r = spawnSync(
    process.execPath,
    [DEPCRUISE, '--config', CONFIG, '--output-type', 'err-long', 'core', 'drivers'],
    { cwd: dir, encoding: 'utf8', timeout: 60_000 },
  );
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Pure languages may import each other: only a cycle between them breaks a rule. */
const LANGUAGES = {
  'core/model.ts': 'export type Id = number;\n',
  'core/template/parse.ts':
    "import { tag } from '../xml/tag.js';\nexport const parse = (s: string) => tag(s);\n",
  'core/xml/tag.ts': "export const tag = (s: string) => '<' + s + '>';\n",
  'drivers/direct-io.ts': 'export const ALIGN = 4096;\n',
};

describe('import layers (dependency-cruiser)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) cleanup(d);
  });
  const make = (files: Readonly<Record<string, string>>) => {
    const dir = tempDir('onebackup-layers-');
    dirs.push(dir);
    tree(dir, files);
    return dir;
  };

  it('passes a tree that keeps to the rooms', () => {
    const r = check(make(LANGUAGES));
    assert.equal(r.status, 0, r.output);
  });

  it('fails a cycle between two directories, even without a cycle between modules', () => {
    const r = check(
      make({
        ...LANGUAGES,
        'core/xml/escape.ts': "import type { Id } from '../template/id.js';\nexport const n: Id = 1;\n",
        'core/template/id.ts':
          "import type { Id as ModelId } from '../model.js';\nexport type Id = ModelId;\n",
      }),
    );
    assert.notEqual(r.status, 0, r.output);
    assert.match(r.output, /error no-circular-directories: core\/(template|xml) →/);
    assert.match(r.output, /No import cycles between\s+directories/);
    assert.doesNotMatch(r.output, /error no-circular:/);
  });

  it("fails a driver that imports the engine, in the rule's own words", () => {
    const r = check(
      make({
        ...LANGUAGES,
        'core/engine/codec.ts': 'export interface Keys { readonly mac: Uint8Array }\n',
        'drivers/datastore/keys.ts':
          "import type { Keys } from '../../core/engine/codec.js';\nexport type K = Keys;\n",
      }),
    );
    assert.notEqual(r.status, 0, r.output);
    assert.match(
      r.output,
      /error drivers-know-only-their-contract: drivers\/datastore\/keys\.ts → core\/engine\/codec\.ts/,
    );
    assert.match(r.output, /a driver knows only its\s+contract/);
  });
});
