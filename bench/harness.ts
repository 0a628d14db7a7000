/**
 * What every benchmark suite shares: the suite shape the runner expects, seeded data generators,
 * timing and statistics, and table formatting.
 *
 * Benchmarks measure what they compare side by side in one process and report ratios against
 * targets; they print PASS or FAIL for a target but never fail a build on one. A suite throws only
 * when its two sides disagree on the result, since then the numbers mean nothing.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A measured value against its target. */
export interface Check {
  readonly name: string;
  readonly value: number;
  /** The target as people read it, e.g. `>= 0.5`. */
  readonly target: string;
  readonly pass: boolean;
}

/** A table of already formatted cells; the first row is the header. */
export type Table = readonly (readonly string[])[];

/** What a suite hands back to the runner. */
export interface SuiteResult {
  /** Detail tables, by title. */
  readonly tables: ReadonlyArray<{ readonly title: string; readonly rows: Table }>;
  readonly checks: readonly Check[];
  /** Everything measured, as plain data, for bench/results/<group>.json. */
  readonly data: Record<string, unknown>;
}

/** One benchmark. Its id, `group/name`, is what the runner's filter matches. */
export interface Suite {
  readonly group: string;
  readonly name: string;
  readonly title: string;
  run(log: (line: string) => void): Promise<SuiteResult>;
}

/** Builds a check whose value must be at least `min`. */
export function atLeast(name: string, value: number, min: number): Check {
  return { name, value, target: `>= ${min}`, pass: value >= min };
}

/** Builds a check whose value must be at most `max`. */
export function atMost(name: string, value: number, max: number): Check {
  return { name, value, target: `<= ${max}`, pass: value <= max };
}

// ---- data ------------------------------------------------------------------------------------

// The seeded generators the examples use, so that benchmarks and the demo share one source.
export { random, zipf } from '../examples/generators.js';

// ---- timing ----------------------------------------------------------------------------------

let gcFn: (() => void) | undefined;

/**
 * Runs a full garbage collection, so that a timed run does not pay for the garbage of the run
 * before it. Exposes `gc` at run time, since the bench script runs node without --expose-gc.
 */
export function collectGarbage(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

/** Milliseconds since an arbitrary origin, with sub-millisecond resolution. */
export const now = (): number => performance.now();

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The p-th percentile (0..100), nearest rank. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

// ---- formatting ------------------------------------------------------------------------------

/** A number with `digits` significant decimals and thousands separators. */
export function fmt(x: number, digits = 2): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A rate per second in a compact form (`1.23M/s`). */
export function fmtRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k/s`;
  return `${perSecond.toFixed(0)}/s`;
}

/** Milliseconds with a precision that suits their size. */
export function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(3)} ms`;
}

/** Lays a table out in aligned columns: text left, cells that start with a number right. */
export function formatTable(rows: Table, indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  const numeric = (c: string) => /^[-+]?\d/.test(c);
  const line = (r: readonly string[]) =>
    indent +
    r
      .map((c, i) => (numeric(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const [head, ...body] = rows;
  if (!head) return '';
  return [line(head), indent + widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join(
    '\n',
  );
}
