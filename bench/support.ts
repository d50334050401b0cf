// What the benchmarks share: percentiles, waiting, the machine's description, and writing results to
// bench/results/ and to their marked section of docs/performance.md.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../test/support/wait.js';

const root = join(import.meta.dirname, '..');

/** percentile reads the p-th percentile of an ascending list (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

/** latencySummary is p50, p90, p99, max and mean of samples in ms, to a tenth. */
export function latencySummary(samples: readonly number[]): { p50: number; p90: number; p99: number; max: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const r = (x: number): number => +x.toFixed(1);
  return {
    p50: r(percentile(sorted, 50)), p90: r(percentile(sorted, 90)), p99: r(percentile(sorted, 99)),
    max: r(sorted[sorted.length - 1]!), mean: r(samples.reduce((a, b) => a + b, 0) / samples.length),
  };
}

/** until polls every 2 ms (benchmarks time what they wait for) with a deadline (default 30 s). */
export function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  return waitUntil(what, fn, { timeoutMs, intervalMs: 2 });
}

/** machine describes this machine for the results. */
export function machine(): string {
  return `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown'}`;
}

/** writeResults writes bench/results/NAME.json. */
export function writeResults(name: string, result: unknown): void {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, `bench/results/${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

/**
 * writeDocSection replaces the text between `<!-- NAME:begin ... -->` and `<!-- NAME:end -->` in
 * docs/performance.md; where the markers are missing, it appends a section titled `heading`.
 */
export function writeDocSection(name: string, lines: readonly string[], heading?: string): void {
  const doc = join(root, 'docs/performance.md');
  const text = readFileSync(doc, 'utf8');
  const table = [`<!-- ${name}:begin (written by bench/${name}.ts) -->`, ...lines, `<!-- ${name}:end -->`].join('\n');
  const marker = new RegExp(`<!-- ${name}:begin[\\s\\S]*?<!-- ${name}:end -->`);
  if (marker.test(text)) writeFileSync(doc, text.replace(marker, table));
  else if (heading) writeFileSync(doc, `${text.trimEnd()}\n\n${heading}\n\n${table}\n`);
  else throw new Error(`docs/performance.md has no ${name} markers`);
}
