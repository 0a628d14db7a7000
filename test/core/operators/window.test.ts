/**
 * Conformance of the windowed operators with Spark Streaming, table by table.
 *
 * The tables come from Spark's own tests (each cites its file and test name), never from what our
 * executor prints. WindowOperationsSuite runs 1000 ms batches with 2 input partitions, compares
 * each output as a set (here a multiset), and runs
 * `numBatches = expectedOutput.size * (slide / batchDuration)` batches; a windowed stream emits
 * only at multiples of its slide, so output i is at `(i + 1) * slide`. A window at time T holds
 * the batches in (T - window, T] (WindowedDStream.compute); batches past the input are empty.
 */
import { type DStream, milliseconds, pair, SparklessError, seconds } from 'sparkless';
import { type BatchOutput, runBatches } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';
import { expectBatches, range, sortValues } from '../helpers.js';

const BATCH_MS = 1000;
const sum = (a: number, b: number) => a + b;
const difference = (a: number, b: number) => a - b;

/**
 * WindowOperationsSuite's testOperation(input, operation, expectedOutput, numBatches, true): runs
 * `expected.length * slide / batch` batches over 2 input partitions and compares per batch as
 * multisets at the slide's times.
 */
async function testWindowOperation<T, U>(
  input: ReadonlyArray<ReadonlyArray<T>>,
  operation: (s: DStream<T>) => DStream<U>,
  expected: ReadonlyArray<ReadonlyArray<unknown>>,
  slideMs: number,
  normalize?: (record: never) => unknown,
): Promise<BatchOutput<U>[]> {
  const numBatches = expected.length * (slideMs / BATCH_MS);
  const out = await runBatches([input], operation, { numPartitions: 2, numBatches });
  expectBatches(out, expected, {
    ordered: false,
    everyMs: slideMs,
    ...(normalize ? { normalize } : {}),
  });
  return out;
}

type SN = [string, number];

// Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala, the
// helper tables largerSlideInput, largerSlideReduceOutput, bigInput, bigGroupByOutput,
// bigReduceOutput and bigReduceInvOutput
// biome-ignore format: a per-batch table
const largerSlideInput = [
  [['a', 1]],  // t=1s
  [['a', 2]],  // t=2s  1st window from here
  [['a', 3]],  // t=3s
  [['a', 4]],  // t=4s  2nd window from here
  [['a', 5]],  // t=5s
  [['a', 6]],  // t=6s  3rd window from here
  [],          // t=7s
  [],          // t=8s  4th window from here
] satisfies SN[][];
// biome-ignore format: a per-batch table
const largerSlideReduceOutput = [
  [['a', 3]],   // t=2s
  [['a', 10]],  // t=4s
  [['a', 18]],  // t=6s
  [['a', 11]],  // t=8s
] satisfies SN[][];
// biome-ignore format: a per-batch table
const big = {
  input: [
    [['a', 1]],                      // t=1s
    [['a', 1], ['b', 1]],            // t=2s
    [['a', 1], ['b', 1], ['c', 1]],  // t=3s
    [['a', 1], ['b', 1]],            // t=4s
    [['a', 1]],                      // t=5s
    [],                              // t=6s
    [['a', 1]],                      // t=7s
    [['a', 1], ['b', 1]],            // t=8s
    [['a', 1], ['b', 1], ['c', 1]],  // t=9s
    [['a', 1], ['b', 1]],            // t=10s
    [['a', 1]],                      // t=11s
    [],                              // t=12s
  ] satisfies SN[][],
  groupByOutput: [
    [['a', [1]]],                                // t=1s
    [['a', [1, 1]], ['b', [1]]],                 // t=2s
    [['a', [1, 1]], ['b', [1, 1]], ['c', [1]]],  // t=3s
    [['a', [1, 1]], ['b', [1, 1]], ['c', [1]]],  // t=4s
    [['a', [1, 1]], ['b', [1]]],                 // t=5s
    [['a', [1]]],                                // t=6s
    [['a', [1]]],                                // t=7s
    [['a', [1, 1]], ['b', [1]]],                 // t=8s
    [['a', [1, 1]], ['b', [1, 1]], ['c', [1]]],  // t=9s
    [['a', [1, 1]], ['b', [1, 1]], ['c', [1]]],  // t=10s
    [['a', [1, 1]], ['b', [1]]],                 // t=11s
    [['a', [1]]],                                // t=12s
  ],
  reduceOutput: [
    [['a', 1]],                      // t=1s
    [['a', 2], ['b', 1]],            // t=2s
    [['a', 2], ['b', 2], ['c', 1]],  // t=3s
    [['a', 2], ['b', 2], ['c', 1]],  // t=4s
    [['a', 2], ['b', 1]],            // t=5s
    [['a', 1]],                      // t=6s
    [['a', 1]],                      // t=7s
    [['a', 2], ['b', 1]],            // t=8s
    [['a', 2], ['b', 2], ['c', 1]],  // t=9s
    [['a', 2], ['b', 2], ['c', 1]],  // t=10s
    [['a', 2], ['b', 1]],            // t=11s
    [['a', 1]],                      // t=12s
  ],
  /*
   * (Spark's comment) The output of the reduceByKeyAndWindow with inverse function but without a
   * filter function will be different from the naive reduceByKeyAndWindow, as no keys get
   * eliminated from the ReducedWindowedDStream even if the value of a key becomes 0.
   */
  reduceInvOutput: [
    [['a', 1]],                      // t=1s
    [['a', 2], ['b', 1]],            // t=2s
    [['a', 2], ['b', 2], ['c', 1]],  // t=3s
    [['a', 2], ['b', 2], ['c', 1]],  // t=4s
    [['a', 2], ['b', 1], ['c', 0]],  // t=5s
    [['a', 1], ['b', 0], ['c', 0]],  // t=6s
    [['a', 1], ['b', 0], ['c', 0]],  // t=7s
    [['a', 2], ['b', 1], ['c', 0]],  // t=8s
    [['a', 2], ['b', 2], ['c', 1]],  // t=9s
    [['a', 2], ['b', 2], ['c', 1]],  // t=10s
    [['a', 2], ['b', 1], ['c', 0]],  // t=11s
    [['a', 1], ['b', 0], ['c', 0]],  // t=12s
  ],
};

// Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, the shared
// input stringIntKVStream
// biome-ignore format: a per-batch table
const stringIntKVStream = [
  [['california', 1], ['california', 3], ['new york', 4], ['new york', 1]],  // t=1s
  [['california', 5], ['california', 5], ['new york', 3], ['new york', 1]],  // t=2s
] satisfies SN[][];

describe('window', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala,
  // test "window - basic window" (testWindow: window 2s, slide 1s)
  it('window - basic window', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s t=2s    t=3s    t=4s    t=5s    t=6s
      input:    [[0], [1],    [2],    [3],    [4],    [5]],
      expected: [[0], [0, 1], [1, 2], [2, 3], [3, 4], [4, 5]],
    };
    await testWindowOperation(
      table.input,
      (s) => s.window(seconds(2), seconds(1)),
      table.expected,
      1000,
    );
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala,
  // test "window - tumbling window" (window 2s, slide 2s)
  it('window - tumbling window', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=1s t=2s t=3s t=4s t=5s t=6s
      input: [[0], [1], [2], [3], [4], [5]],
      //         t=2s    t=4s    t=6s
      expected: [[0, 1], [2, 3], [4, 5]],
    };
    await testWindowOperation(
      table.input,
      (s) => s.window(seconds(2), seconds(2)),
      table.expected,
      2000,
    );
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala,
  // test "window - larger window" (window 4s, slide 2s; 8 batches, the last two past the input)
  it('window - larger window', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=1s t=2s t=3s t=4s t=5s t=6s
      input: [[0], [1], [2], [3], [4], [5]],
      //         t=2s    t=4s          t=6s          t=8s
      expected: [[0, 1], [0, 1, 2, 3], [2, 3, 4, 5], [4, 5]],
    };
    await testWindowOperation(
      table.input,
      (s) => s.window(seconds(4), seconds(2)),
      table.expected,
      2000,
    );
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala,
  // test "window - non-overlapping window" (window 2s, slide 3s) expects [[1, 2], [4, 5]]: the
  // batches at t=1s and t=4s are in no window. sparkless refuses a window shorter than its slide
  // when the job is defined, since those records would be silently left out of every result
  // (docs/architecture.md, "Decisions and departures").
  it('window - non-overlapping window is refused when the job is defined', async () => {
    const define = runBatches([[[0], [1], [2]]], (s) => s.window(seconds(2), seconds(3)));
    await expect(define).rejects.toSatisfy(
      (e: unknown) =>
        SparklessError.is(e, 'WINDOW_SHORTER_THAN_SLIDE') &&
        e.message.includes('window: window (2s) must not be shorter than the slide (3s)'),
    );
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testWindow" (1 input partition, 4 batches; the 4th is past the input)
  it('window (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s       t=2s                t=3s                t=4s
      input:    [[1, 2, 3], [4, 5, 6],          [7, 8, 9]],
      expected: [[1, 2, 3], [4, 5, 6, 1, 2, 3], [7, 8, 9, 4, 5, 6], [7, 8, 9]],
    };
    const out = await runBatches([table.input], (s) => s.window(seconds(2)), { numBatches: 4 });
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testWindowWithSlideDuration" (window 4s, slide 2s; 8 batches, 4 outputs)
  it('window with a slide (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=1s         t=2s         t=3s         t=4s           t=5s           t=6s
      input: [range(1, 3), range(4, 6), range(7, 9), range(10, 12), range(13, 15), range(16, 18)],
      //         t=2s         t=4s          t=6s          t=8s
      expected: [range(1, 6), range(1, 12), range(7, 18), range(13, 18)],
    };
    const out = await runBatches([table.input], (s) => s.window(seconds(4), seconds(2)), {
      numBatches: 8,
    });
    expectBatches(out, table.expected, { ordered: false, everyMs: 2000 });
  });

  // Not a Spark table: WindowedDStream.compute slices the parent over (T - window, T], and a time
  // at or before the stream's start has no RDD (DStream.isTimeValid: time <= zeroTime), so the
  // first windows hold only the batches since the start (as Spark's "basic window" table shows at
  // t=1s).
  it('windows near the stream start hold fewer batches', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //                t=1s   t=2s        t=3s             t=4s             t=5s
      input:           [['a'], ['b'],      ['c'],           ['d'],           ['e']],
      window3s:        [['a'], ['a', 'b'], ['a', 'b', 'c'], ['b', 'c', 'd'], ['c', 'd', 'e']],
      countByWindow4s: [[1],   [2],        [3],             [4],             [4]],
    };
    const windowed = await runBatches([table.input], (s) => s.window(seconds(3)), {
      numPartitions: 2,
    });
    expectBatches(windowed, table.window3s, { ordered: false });
    const counts = await runBatches([table.input], (s) => s.countByWindow(seconds(4)), {
      numPartitions: 2,
    });
    expectBatches(counts, table.countByWindow4s, { ordered: true });
  });
});

describe('reduceByKeyAndWindow', () => {
  const reduceByKeyAndWindow =
    (windowMs: number, slideMs: number, inverse?: boolean) => (s: DStream<SN>) =>
      s.reduceByKeyAndWindow(sum, {
        window: milliseconds(windowMs),
        slide: milliseconds(slideMs),
        ...(inverse ? { inverse: difference } : {}),
      });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala, tests
  // "reduceByKeyAndWindow - <name>" and "reduceByKeyAndWindow with inverse function - <name>"
  // (testReduceByKeyAndWindow and testReduceByKeyAndWindowWithInverse, window 2s and slide 1s
  // unless given; Spark also sets .checkpoint(Seconds(100)) on the inverse one, which does not
  // change values). The tables are the same with and without an inverse except where noted.
  const variants = [
    ['reduceByKeyAndWindow', false],
    ['reduceByKeyAndWindow with inverse function', true],
  ] as const;
  // biome-ignore format: a per-batch table
  const small = {
    basicReduction: {
      //         t=1s
      input:    [[['a', 1], ['a', 3]]] satisfies SN[][],
      expected: [[['a', 4]]],
    },
    keyAlreadyInWindowAndNewValueAddedIntoWindow: {
      //         t=1s        t=2s
      input:    [[['a', 1]], [['a', 1]]] satisfies SN[][],
      expected: [[['a', 1]], [['a', 2]]],
    },
    newKeyAddedIntoWindow: {
      //         t=1s        t=2s
      input:    [[['a', 1]], [['a', 1], ['b', 1]]] satisfies SN[][],
      expected: [[['a', 1]], [['a', 2], ['b', 1]]],
    },
    keyRemovedFromWindow: {
      // with an inverse, the key stays in the window with 0
      //                    t=1s        t=2s        t=3s        t=4s
      input:               [[['a', 1]], [['a', 1]], [],         []] satisfies SN[][],
      expected:            [[['a', 1]], [['a', 2]], [['a', 1]], []],
      expectedWithInverse: [[['a', 1]], [['a', 2]], [['a', 1]], [['a', 0]]],
    },
  };

  it.each(variants)('%s - basic reduction', async (_, inv) => {
    const { input, expected } = small.basicReduction;
    await testWindowOperation(input, reduceByKeyAndWindow(2000, 1000, inv), expected, 1000);
  });

  it.each(variants)(
    '%s - key already in window and new value added into window',
    async (_, inv) => {
      const { input, expected } = small.keyAlreadyInWindowAndNewValueAddedIntoWindow;
      await testWindowOperation(input, reduceByKeyAndWindow(2000, 1000, inv), expected, 1000);
    },
  );

  it.each(variants)('%s - new key added into window', async (_, inv) => {
    const { input, expected } = small.newKeyAddedIntoWindow;
    await testWindowOperation(input, reduceByKeyAndWindow(2000, 1000, inv), expected, 1000);
  });

  it.each(variants)('%s - key removed from window', async (_, inv) => {
    const { input, expected, expectedWithInverse } = small.keyRemovedFromWindow;
    await testWindowOperation(
      input,
      reduceByKeyAndWindow(2000, 1000, inv),
      inv ? expectedWithInverse : expected,
      1000,
    );
  });

  it.each(variants)('%s - larger slide time', async (_, inv) => {
    await testWindowOperation(
      largerSlideInput,
      reduceByKeyAndWindow(4000, 2000, inv),
      largerSlideReduceOutput,
      2000,
    );
  });

  it.each(variants)('%s - big test', async (_, inv) => {
    await testWindowOperation(
      big.input,
      reduceByKeyAndWindow(2000, 1000, inv),
      inv ? big.reduceInvOutput : big.reduceOutput,
      1000,
    );
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala,
  // test "reduceByKeyAndWindow with inverse and filter functions - big test"
  it('reduceByKeyAndWindow with inverse and filter functions - big test', async () => {
    await testWindowOperation(
      big.input,
      (s) =>
        s.reduceByKeyAndWindow(sum, {
          inverse: difference,
          window: seconds(2),
          slide: seconds(1),
          filter: ([, v]) => v !== 0,
        }),
      big.reduceOutput,
      1000,
    );
  });

  // Not a Spark table: ReducedWindowedDStream.compute keeps every key of the previous window (new
  // value = inverse(previous, leaving), then reduce with entering) and drops keys only through
  // filterFunc, as Spark's "key removed from window" and "big test" tables show. Here two keys go
  // back to zero at different times, and one comes back.
  it('inverse windows keep keys whose value returned to zero unless a filter drops them', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      input: [
        [['a', 2], ['b', 1]],  // t=1s
        [['b', 1]],            // t=2s
        [],                    // t=3s  a leaves the window
        [['a', 5]],            // t=4s  b leaves the window
        [],                    // t=5s
        [],                    // t=6s  a leaves again
      ] satisfies SN[][],
      kept: [
        [['a', 2], ['b', 1]],  // t=1s
        [['a', 2], ['b', 2]],  // t=2s
        [['a', 0], ['b', 1]],  // t=3s
        [['a', 5], ['b', 0]],  // t=4s
        [['a', 5], ['b', 0]],  // t=5s
        [['a', 0], ['b', 0]],  // t=6s
      ],
      filtered: [
        [['a', 2], ['b', 1]],  // t=1s
        [['a', 2], ['b', 2]],  // t=2s
        [['b', 1]],            // t=3s
        [['a', 5]],            // t=4s
        [['a', 5]],            // t=5s
        [],                    // t=6s
      ],
    };
    const window = { window: seconds(2), slide: seconds(1), inverse: difference };
    const kept = await runBatches([table.input], (s) => s.reduceByKeyAndWindow(sum, window), {
      numPartitions: 2,
    });
    expectBatches(kept, table.kept, { ordered: false });
    const filtered = await runBatches(
      [table.input],
      (s) => s.reduceByKeyAndWindow(sum, { ...window, filter: ([, v]) => v !== 0 }),
      { numPartitions: 2 },
    );
    expectBatches(filtered, table.filtered, { ordered: false });
  });

  // A window shorter than its slide is refused for every windowed operator, with or without an
  // inverse function (see "window - non-overlapping window" above).
  it.each([
    [
      'reduceByKeyAndWindow',
      (s: DStream<SN>) => s.reduceByKeyAndWindow(sum, { window: seconds(2), slide: seconds(3) }),
    ],
    [
      'groupByKeyAndWindow',
      (s: DStream<SN>): DStream<unknown> => s.groupByKeyAndWindow(seconds(2), seconds(3)),
    ],
    [
      'countByWindow',
      (s: DStream<SN>): DStream<unknown> => s.countByWindow(seconds(2), seconds(3)),
    ],
  ] as const)('%s with a window shorter than its slide is refused', async (op, build) => {
    const define = runBatches([[[['a', 1]] as SN[]]], build);
    await expect(define).rejects.toSatisfy(
      (e: unknown) =>
        SparklessError.is(e, 'WINDOW_SHORTER_THAN_SLIDE') &&
        e.message.startsWith(`${op}: window (2s) must not be shorter than the slide (3s)`),
    );
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, tests
  // "testReduceByKeyAndWindow" and "testReduceByKeyAndWindowWithInverse" (1 input partition;
  // Java compares in order, which after a shuffle depends on Java's hashing: multisets here)
  it.each([false, true])('reduceByKeyAndWindow (Java suite, inverse: %s)', async (inv) => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['california', 4], ['new york', 5]],   // t=1s
      [['california', 14], ['new york', 9]],  // t=2s
      [['california', 10], ['new york', 4]],  // t=3s
    ];
    const out = await runBatches([stringIntKVStream], reduceByKeyAndWindow(2000, 1000, inv), {
      numBatches: 3,
    });
    expectBatches(out, expected, { ordered: false });
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, test
  // "test_reduce_by_key_and_window_with_none_invFunc" (500 ms batches, window 5s, slide 1s; the
  // Python harness keeps the first 6 non-empty outputs, and none is empty here)
  it('reduceByKeyAndWindow without an inverse, then filter and count (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=0.5s t=1s    t=1.5s     t=2s          t=2.5s           t=3s
      input: [[0],   [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]],
      //         t=1s t=2s t=3s t=4s t=5s t=6s
      expected: [[2], [4], [6], [6], [6], [6]],
    };
    const out = await runBatches(
      [table.input],
      (s) =>
        s
          .map((x) => pair(x, 1))
          .reduceByKeyAndWindow(sum, { window: seconds(5), slide: seconds(1) })
          .filter(([, v]) => v > 0)
          .count(),
      { batchInterval: milliseconds(500), numBatches: 12 },
    );
    expectBatches(out, table.expected, { ordered: true });
  });
});

describe('groupByKeyAndWindow', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala, test
  // "groupByKeyAndWindow". Spark turns each key's values into a Set before comparing; here they
  // are compared as a multiset, which is stricter: bigGroupByOutput as written.
  it('groupByKeyAndWindow', async () => {
    await testWindowOperation(
      big.input,
      (s) => s.groupByKeyAndWindow(seconds(2), seconds(1)),
      big.groupByOutput,
      1000,
      sortValues,
    );
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, test
  // "testGroupByKeyAndWindow" (values compared as sets; here as multisets)
  it('groupByKeyAndWindow (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['california', [1, 3]], ['new york', [1, 4]]],              // t=1s
      [['california', [1, 3, 5, 5]], ['new york', [1, 1, 3, 4]]],  // t=2s
      [['california', [5, 5]], ['new york', [1, 3]]],              // t=3s
    ];
    const out = await runBatches(
      [stringIntKVStream],
      (s) => s.groupByKeyAndWindow(seconds(2), seconds(1)),
      { numBatches: 3 },
    );
    expectBatches(out, expected, { ordered: false, normalize: sortValues });
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, test "test_group_by_key_and_window"
  // (500 ms batches, window 1.5s, slide 0.5s; values in time order, as Python compares lists)
  it('groupByKeyAndWindow keeps values in time order (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      input: [
        [['a', 0]],  // t=0.5s
        [['a', 1]],  // t=1s
        [['a', 2]],  // t=1.5s
        [['a', 3]],  // t=2s
        [['a', 4]],  // t=2.5s
      ] satisfies SN[][],
      expected: [
        [['a', [0]]],        // t=0.5s
        [['a', [0, 1]]],     // t=1s
        [['a', [0, 1, 2]]],  // t=1.5s
        [['a', [1, 2, 3]]],  // t=2s
        [['a', [2, 3, 4]]],  // t=2.5s
        [['a', [3, 4]]],     // t=3s
        [['a', [4]]],        // t=3.5s
      ],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.groupByKeyAndWindow(milliseconds(1500), milliseconds(500)),
      { batchInterval: milliseconds(500), numBatches: 7 },
    );
    expectBatches(out, table.expected, { ordered: true, everyMs: 500 });
  });
});

describe('countByWindow, countByValueAndWindow, reduceByWindow', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala, test
  // "countByWindow" (the last window holds two empty batches and counts [0], not [])
  it('countByWindow', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s t=2s t=3s    t=4s t=5s t=6s
      input:    [[1], [1], [1, 2], [0], [],  []],
      expected: [[1], [2], [3],    [3], [1], [0]],
    };
    await testWindowOperation(
      table.input,
      (s) => s.countByWindow(seconds(2), seconds(1)),
      table.expected,
      1000,
    );
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, tests "test_window" (window(1.5,
  // 0.5).count()), "test_count_by_window" and "test_count_by_window_large" (500 ms batches)
  it('countByWindow near the start and the end of the input (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //           t=0.5s t=1s    t=1.5s     t=2s          t=2.5s          t=3s t=3.5s
      five:       [[0],   [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4]],
      window1500: [[1],   [3],    [6],       [9],          [12],           [9], [5]],
      six: [
        [0],                 // t=0.5s
        [0, 1],              // t=1s
        [0, 1, 2],           // t=1.5s
        [0, 1, 2, 3],        // t=2s
        [0, 1, 2, 3, 4],     // t=2.5s
        [0, 1, 2, 3, 4, 5],  // t=3s
      ],
      //           t=0.5s t=1s t=1.5s t=2s  t=2.5s t=3s  t=3.5s t=4s  t=4.5s t=5s
      window2500: [[1],   [3], [6],   [10], [15],  [20], [18],  [15], [11],  [6]],
    };
    const python = { batchInterval: milliseconds(500) };
    const opts = { ordered: true, everyMs: 500 } as const;
    const windowCount = await runBatches(
      [table.five],
      (s) => s.window(milliseconds(1500), milliseconds(500)).count(),
      { ...python, numBatches: 7 },
    );
    expectBatches(windowCount, table.window1500, opts);
    const counted = await runBatches(
      [table.five],
      (s) => s.countByWindow(milliseconds(1500), milliseconds(500)),
      { ...python, numBatches: 7 },
    );
    expectBatches(counted, table.window1500, opts);
    const large = await runBatches(
      [table.six],
      (s) => s.countByWindow(milliseconds(2500), milliseconds(500)),
      { ...python, numBatches: 10 },
    );
    expectBatches(large, table.window2500, opts);
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/WindowOperationsSuite.scala, test
  // "countByValueAndWindow"
  it('countByValueAndWindow', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s        t=2s                  t=3s
      input:    [['a'],      ['b', 'b'],           ['a', 'b']],
      expected: [[['a', 1]], [['a', 1], ['b', 2]], [['a', 1], ['b', 3]]],
    };
    await testWindowOperation(
      table.input,
      (s) => s.countByValueAndWindow(seconds(2), seconds(1)),
      table.expected,
      1000,
    );
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, test
  // "testCountByValueAndWindow"
  it('countByValueAndWindow (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      input: [
        ['hello', 'world'],  // t=1s
        ['hello', 'moon'],   // t=2s
        ['hello'],           // t=3s
      ],
      expected: [
        [['hello', 1], ['world', 1]],               // t=1s
        [['hello', 2], ['world', 1], ['moon', 1]],  // t=2s
        [['hello', 2], ['moon', 1]],                // t=3s
      ],
    };
    const out = await runBatches([table.input], (s) =>
      s.countByValueAndWindow(seconds(2), seconds(1)),
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, test "test_count_by_value_and_window"
  // (500 ms batches, window 2.5s, slide 0.5s)
  it('countByValueAndWindow (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=0.5s t=1s    t=1.5s     t=2s          t=2.5s           t=3s
      input: [[0],   [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5]],
      expected: [
        [[0, 1]],                                          // t=0.5s
        [[0, 2], [1, 1]],                                  // t=1s
        [[0, 3], [1, 2], [2, 1]],                          // t=1.5s
        [[0, 4], [1, 3], [2, 2], [3, 1]],                  // t=2s
        [[0, 5], [1, 4], [2, 3], [3, 2], [4, 1]],          // t=2.5s
        [[0, 5], [1, 5], [2, 4], [3, 3], [4, 2], [5, 1]],  // t=3s
        [[0, 4], [1, 4], [2, 4], [3, 3], [4, 2], [5, 1]],  // t=3.5s
        [[0, 3], [1, 3], [2, 3], [3, 3], [4, 2], [5, 1]],  // t=4s
        [[0, 2], [1, 2], [2, 2], [3, 2], [4, 2], [5, 1]],  // t=4.5s
        [[0, 1], [1, 1], [2, 1], [3, 1], [4, 1], [5, 1]],  // t=5s
      ],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.countByValueAndWindow(milliseconds(2500), milliseconds(500)),
      { batchInterval: milliseconds(500), numBatches: 10 },
    );
    expectBatches(out, table.expected, { ordered: false, everyMs: 500 });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, tests
  // "testReduceByWindowWithInverse" and "testReduceByWindowWithoutInverse" (1 input partition,
  // 4 batches, compared in order)
  it.each([false, true])('reduceByWindow (Java suite, inverse: %s)', async (inv) => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s       t=2s       t=3s      t=4s
      input:    [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
      expected: [[6],       [21],      [39],     [24]],
    };
    const out = await runBatches(
      [table.input],
      (s) =>
        s.reduceByWindow(sum, {
          window: seconds(2),
          slide: seconds(1),
          ...(inv ? { inverse: difference } : {}),
        }),
      { numBatches: 4 },
    );
    expectBatches(out, table.expected, { ordered: true });
  });
});
