/**
 * Scrapes and parses Prometheus text with a real parser (parse-prometheus-text-format), and
 * finds the Prometheus tools the metrics tests need (Debian's `prometheus` package: .ci/run
 * installs it; locally a missing binary fails the test with the command to install it).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value?: string;
  readonly count?: string;
  readonly sum?: string;
  readonly buckets?: Readonly<Record<string, string>>;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  readonly metrics: readonly Sample[];
}

const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

/**
 * Parsed families by name. The parser folds a histogram that has labels into one sample (a
 * limitation of parse-prometheus-text-format 1.1.1), so each histogram's `_bucket`, `_sum` and
 * `_count` series are also given as families of their own, read with the histogram untyped.
 */
export function parseMetrics(text: string): Map<string, Family> {
  const families = new Map(parse(text).map((f) => [f.name, f]));
  const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
  for (const f of parse(untyped)) {
    const base = f.name.replace(/_(bucket|sum|count)$/, '');
    const histogram = families.get(base);
    if (f.name !== base && histogram?.type === 'HISTOGRAM')
      families.set(f.name, { ...f, help: histogram.help });
  }
  return families;
}

export async function scrape(url: string): Promise<{ text: string; families: Map<string, Family> }> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  const text = await res.text();
  return { text, families: parseMetrics(text) };
}

/** The value of the one sample of `name` whose labels include `labels`; undefined if none. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const family = families.get(name);
  const matches = (family?.metrics ?? []).filter((m) =>
    Object.entries(labels).every(([k, v]) => (m.labels?.[k] ?? '') === v),
  );
  if (matches.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${matches.length} samples`);
  const m = matches[0];
  if (!m) return undefined;
  return Number(m.value ?? m.count);
}

/** Path of a Prometheus tool; throws saying how to install it when missing. */
export function requireTool(name: 'promtool' | 'prometheus'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error(
      `${name} is not installed: install Debian's prometheus package (apt-get install prometheus); .ci/run installs it`,
    );
  }
  return path;
}
