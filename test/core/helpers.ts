/**
 * Assertions for per-batch operator tables, in the manner of Spark's TestSuiteBase.verifyOutput.
 */
import type { BatchOutput } from 'sparkless/testing';
import { expect } from 'vitest';

/** How {@link expectBatches} compares. */
export interface ExpectBatchesOptions {
  /**
   * `true`: each batch's records must equal the expected ones in order (Spark's `useSet = false`).
   * `false`: each batch is compared as a multiset, ignoring order but keeping duplicates (Spark's
   * `useSet = true` compares sets; a multiset is stricter and every Spark table we port agrees
   * with it).
   */
  readonly ordered: boolean;
  /**
   * The time of the first expected batch, and the step between expected batches, in ms: batch i
   * (0-based) is expected at `(i + 1) * everyMs`. Use the slide for windowed streams.
   * @default 1000 (Spark's test batch duration)
   */
  readonly everyMs?: number;
  /** Explicit batch times, one per expected batch; overrides `everyMs`. */
  readonly timesMs?: readonly number[];
  /**
   * Applied to every actual and expected record before comparing, e.g. to compare grouped values
   * as a multiset where Spark compares them as a set.
   */
  readonly normalize?: (record: never) => unknown;
}

/** A canonical text of a value: JSON with object keys sorted, `undefined` and -0 kept distinct. */
export function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') {
    if (Object.is(value, -0)) return '-0';
    return Number.isFinite(value) ? JSON.stringify(value) : String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The records in a canonical order, so that two multisets compare equal as arrays. */
export function multiset<T>(records: readonly T[]): T[] {
  return records
    .map((r) => [canonical(r), r] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, r]) => r);
}

/**
 * Asserts that the stream generated exactly `expected.length` batches, at the expected times, and
 * that each batch holds the expected records (in order, or as a multiset).
 */
export function expectBatches<U>(
  actual: ReadonlyArray<BatchOutput<U>>,
  expected: ReadonlyArray<ReadonlyArray<unknown>>,
  options: ExpectBatchesOptions,
): void {
  const everyMs = options.everyMs ?? 1000;
  const times = options.timesMs ?? expected.map((_, i) => (i + 1) * everyMs);
  if (times.length !== expected.length) {
    throw new Error(
      `expectBatches: timesMs has ${times.length} entries for ${expected.length} expected batches`,
    );
  }
  const norm = (records: ReadonlyArray<unknown>): unknown[] => {
    const n = options.normalize as ((r: unknown) => unknown) | undefined;
    const mapped = n ? records.map(n) : [...records];
    return options.ordered ? mapped : multiset(mapped);
  };
  const got = actual.map((b) => ({ timeMs: b.timeMs, records: norm(b.records) }));
  const want = expected.map((records, i) => ({ timeMs: times[i], records: norm(records) }));
  expect(
    got.map((b) => b.timeMs),
    'the batch times at which the stream generated output',
  ).toEqual(want.map((b) => b.timeMs));
  expect(
    got,
    options.ordered ? 'per-batch records, in order' : 'per-batch records, as multisets',
  ).toStrictEqual(want);
}

/** Sorts the values of a [key, values] pair, for comparing grouped values as a multiset. */
export function sortValues<K, V>([key, values]: readonly [K, readonly V[]]): [K, V[]] {
  return [key, multiset(values)];
}

/** The whole numbers from `from` to `to`: `range(1, 4)` is `[1, 2, 3, 4]` (Scala's `1 to 4`). */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
