/**
 * Faults done to a datastore's files behind the daemon's back, as a failing disk or a careless
 * admin would: chunks and manifests corrupted or deleted, an encryption key deleted, and the
 * filesystem filled. Each returns a line saying what it did (or undefined when there was nothing
 * to hit).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pick } from './disks.js';

/** Every chunk file of a datastore directory. */
export function chunkFiles(base: string): string[] {
  const dir = join(base, 'chunks');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const sub of readdirSync(dir))
    for (const name of readdirSync(join(dir, sub))) if (!name.startsWith('.')) out.push(join(dir, sub, name));
  return out;
}

/** Every manifest of a datastore directory. */
export function manifestFiles(base: string): string[] {
  const dir = join(base, 'backups');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const vm of readdirSync(dir))
    for (const name of readdirSync(join(dir, vm))) if (name.endsWith('.json')) out.push(join(dir, vm, name));
  return out;
}

/** Leftover writes in progress (`.tmp-*`) anywhere under a directory. */
export function tmpFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name.startsWith('.tmp-')) out.push(path);
    else if (statSync(path).isDirectory()) out.push(...tmpFiles(path));
  }
  return out;
}

/** The chunk files the given manifests name. */
export function chunksOf(base: string, manifests: readonly string[]): string[] {
  const ids = new Set<string>();
  for (const m of manifests)
    for (const disk of (JSON.parse(readFileSync(m, 'utf8')) as Json).disks ?? [])
      for (const id of disk.chunks ?? []) if (id !== null) ids.add(id);
  return [...ids].map((id) => join(base, 'chunks', id.slice(0, 2), id));
}

function flipByte(path: string, random: () => number): number {
  const bytes = readFileSync(path);
  const at = Math.floor(random() * bytes.length);
  bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(random() * 8));
  writeFileSync(path, bytes);
  return at;
}

export function corruptChunk(
  base: string,
  random: () => number,
  among: readonly string[] = chunkFiles(base),
): string | undefined {
  const files = among;
  if (files.length === 0) return undefined;
  const path = pick(random, files);
  const at = flipByte(path, random);
  return `flipped a bit at byte ${at} of ${relative(base, path)}`;
}

export function deleteChunk(
  base: string,
  random: () => number,
  among: readonly string[] = chunkFiles(base),
): string | undefined {
  const files = among;
  if (files.length === 0) return undefined;
  const path = pick(random, files);
  rmSync(path);
  return `deleted ${relative(base, path)}`;
}

/** Deletes one of `among` (default: every manifest that still parses). */
export function deleteManifest(
  base: string,
  random: () => number,
  among: readonly string[] = manifestFiles(base),
): string | undefined {
  const files = among.filter(parses);
  if (files.length === 0) return undefined;
  const path = pick(random, files);
  rmSync(path);
  return `deleted ${relative(base, path)}`;
}

function parses(path: string): boolean {
  try {
    JSON.parse(readFileSync(path, 'utf8'));
    return true;
  } catch {
    return false;
  }
}

type Json = { disks?: { virtualSize?: number; chunks?: (string | null)[] }[] };

/**
 * Tampers with a manifest one of four ways: a flipped bit anywhere, the file cut short, two of a
 * disk's chunk IDs swapped, or a disk's virtualSize changed (each keeps the JSON valid where it can).
 */
export type ManifestDamage = 'flip' | 'truncate' | 'swap' | 'size';

export function corruptManifest(
  base: string,
  random: () => number,
  damage?: ManifestDamage,
  among: readonly string[] = manifestFiles(base),
): string | undefined {
  const how = damage ?? pick(random, ['flip', 'truncate', 'swap', 'size'] as const);
  // One that still parses: a flipped or swapped manifest may still parse, so callers that count
  // newly broken backups pass the manifests no fault has touched yet.
  const files = among.filter(parses);
  if (files.length === 0) return undefined;
  const path = pick(random, files);
  const name = relative(base, path);
  if (how === 'flip') return `flipped a bit at byte ${flipByte(path, random)} of ${name}`;
  const text = readFileSync(path, 'utf8');
  if (how === 'truncate') {
    // Always before the closing brace: a cut trailing newline would leave the manifest whole.
    const keep = Math.floor(random() * text.trimEnd().length);
    writeFileSync(path, text.slice(0, keep));
    return `cut ${name} to ${keep} of ${text.length} bytes`;
  }
  const doc = JSON.parse(text) as Json;
  const disk = doc.disks?.[Math.floor(random() * (doc.disks?.length ?? 0))];
  if (!disk?.chunks) return `${name} has no disk to tamper with`;
  if (how === 'swap') {
    const ids = disk.chunks.map((c, i) => [c, i] as const).filter(([c]) => c !== null);
    const [a, b] = [ids[0], ids.at(-1)];
    if (!a || !b || a[0] === b[0]) {
      disk.chunks.push(disk.chunks[0] ?? null);
    } else {
      disk.chunks[a[1]] = b[0];
      disk.chunks[b[1]] = a[0];
    }
    writeFileSync(path, JSON.stringify(doc, null, 2));
    return `swapped chunk IDs (or added one) in ${name}`;
  }
  disk.virtualSize = (disk.virtualSize ?? 0) + 65536;
  writeFileSync(path, JSON.stringify(doc, null, 2));
  return `grew a disk's virtualSize by 64 KiB in ${name}`;
}
