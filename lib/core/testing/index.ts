/**
 * The test harness, in the shape of Spark's TestSuiteBase: per-batch inputs in, per-batch outputs
 * out, on a manual clock.
 *
 * @example
 * //        t=1s    t=2s        t=3s  t=4s
 * const out = await runBatches([[['a'], ['a', 'b'], [], ['b']]], (s) => s.countByValue());
 * // [{ timeMs: 1000, records: [['a', 1]] }, { timeMs: 2000, records: [['a', 1], ['b', 1]] }, ...]
 */
import type { DStream } from '../dstream.js';
import type { Duration } from '../duration.js';
import { describe, seconds } from '../duration.js';
import { SparklessError } from '../errors.js';
import { LocalExecutor, type LocalExecutorOptions } from '../executor.js';
import { job } from '../job.js';

export type {
  BatchInput,
  BatchResult,
  LocalExecutorOptions,
  SourceRecord,
  StreamSinkRecord,
  TableSinkEntry,
} from '../executor.js';
export { LocalExecutor } from '../executor.js';
export { MemoryKeyedState, MemoryPaneState, MemoryStore } from '../memory.js';

/** The options of {@link runBatches}. */
export interface RunBatchesOptions extends Pick<LocalExecutorOptions, 'onRecordError' | 'log'> {
  /** How many batches to run. @default the longest input; batches past an input's end are empty */
  readonly numBatches?: number;
  /** Partitions of each input batch, split contiguously as Spark's makeRDD does. @default 1 */
  readonly numPartitions?: number;
  /** @default seconds(1) */
  readonly batchInterval?: Duration;
  /** Partitions of shuffles and state when an operator does not say. @default 4 */
  readonly defaultPartitions?: number;
}

/** The output of one batch at which the observed stream generated an RDD. */
export interface BatchOutput<U> {
  readonly timeMs: number;
  readonly records: U[];
}

/** The batches of one input stream. */
export type Batches<T> = ReadonlyArray<ReadonlyArray<T>>;

/**
 * Literal types of inline inputs widened (`1` to number, `'a'` to string) inside tuples and
 * objects, keeping readonly-ness, so `readonly ['a', 1]` becomes `Pair<string, number>`.
 */
type Widened<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends readonly unknown[]
        ? number extends T['length']
          ? T
          : { [K in keyof T]: Widened<T[K]> }
        : T extends (...args: never[]) => unknown
          ? T
          : T extends object
            ? { [K in keyof T]: Widened<T[K]> }
            : T;

type Streams<I> = {
  [K in keyof I]: I[K] extends ReadonlyArray<ReadonlyArray<infer E>> ? DStream<Widened<E>> : never;
};

/** Splits a batch into `n` contiguous partitions the way Spark's makeRDD slices a collection. */
export function splitContiguous<T>(records: readonly T[], n: number): T[][] {
  return Array.from({ length: n }, (_, i) =>
    records.slice(Math.floor((i * records.length) / n), Math.floor(((i + 1) * records.length) / n)),
  );
}

/**
 * Runs `build` over the given inputs and returns what the observed stream generated, batch by
 * batch. `inputs` has one entry per input stream, each an array of batches; the first batch is at
 * `timeMs` = the batch interval, as in Spark.
 */
// Inline literal inputs (`[[['a', 1]]]`) are read as constants with their literal types widened,
// so that the stream is a DStream<[string, number]>; inputs typed by a type parameter take the
// plain forms below.
export function runBatches<const I extends ReadonlyArray<Batches<unknown>>, U>(
  inputs: I,
  build: (...streams: Streams<I>) => DStream<U>,
  options?: RunBatchesOptions,
): Promise<BatchOutput<U>[]>;
export function runBatches<T, U>(
  inputs: readonly [Batches<T>],
  build: (stream: DStream<T>) => DStream<U>,
  options?: RunBatchesOptions,
): Promise<BatchOutput<U>[]>;
export function runBatches<A, B, U>(
  inputs: readonly [Batches<A>, Batches<B>],
  build: (a: DStream<A>, b: DStream<B>) => DStream<U>,
  options?: RunBatchesOptions,
): Promise<BatchOutput<U>[]>;
export async function runBatches(
  inputs: ReadonlyArray<Batches<unknown>>,
  build: (...streams: never) => DStream<unknown>,
  options: RunBatchesOptions = {},
): Promise<BatchOutput<unknown>[]> {
  if (!Array.isArray(inputs) || inputs.some((i) => !Array.isArray(i))) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `runBatches: inputs must be an array with one array of batches per input stream, got ${describe(inputs)}`,
    );
  }
  const batchInterval = options.batchInterval ?? seconds(1);
  const numPartitions = options.numPartitions ?? 1;
  const numBatches = options.numBatches ?? Math.max(0, ...inputs.map((i) => i.length));
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `runBatches: numPartitions must be a positive whole number, got ${describe(numPartitions)}`,
    );
  }
  if (!Number.isInteger(numBatches) || numBatches < 0) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `runBatches: numBatches must be a whole number >= 0, got ${describe(numBatches)}`,
    );
  }
  const names = inputs.map((_, i) => `input${i}`);
  let observed: DStream<unknown> | undefined;
  const j = job(
    'test',
    {
      batchInterval,
      ...(options.defaultPartitions ? { defaultPartitions: options.defaultPartitions } : {}),
    },
    (ctx) => {
      const streams = names.map((n) => ctx.queue(n));
      observed = (build as (...s: DStream<unknown>[]) => DStream<unknown>)(...streams);
      if (!observed || typeof observed !== 'object' || !('node' in observed)) {
        throw new SparklessError(
          'INVALID_ARGUMENT',
          `runBatches: build must return the DStream to observe, got ${describe(observed)}`,
        );
      }
      observed.graph.add('collect', [observed.node], {
        kind: 'output',
        action: { kind: 'collect', tag: 'observed' },
      });
    },
  );
  const exec = new LocalExecutor(j, {
    ...(options.onRecordError ? { onRecordError: options.onRecordError } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const out: BatchOutput<unknown>[] = [];
  for (let b = 0; b < numBatches; b++) {
    const timeMs = (b + 1) * batchInterval.ms;
    const input = Object.fromEntries(
      names.map((n, i) => [n, splitContiguous(inputs[i]![b] ?? [], numPartitions)]),
    );
    const result = await exec.runBatch(timeMs, input);
    const records = result.collected.get('observed');
    if (records) out.push({ timeMs, records });
  }
  return out;
}
