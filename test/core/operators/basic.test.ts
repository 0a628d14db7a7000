/**
 * Conformance of the element-wise and per-batch operators with Spark Streaming, table by table.
 *
 * The tables come from Spark's own tests (each cites its file and test name), never from what our
 * executor prints. Spark's TestSuiteBase runs 1000 ms batches, the first at t=1s, and slices each
 * input batch into 2 contiguous partitions (numInputPartitions); runBatches does the same with
 * `numPartitions: 2`. JavaAPISuite attaches its inputs with 1 partition. Each table is laid out
 * under a timeline of batch times; biome leaves the tables as aligned.
 */
import { type DStream, pair, SparklessError } from 'sparkless';
import { runBatches } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';
import { expectBatches, multiset, range } from '../helpers.js';

const spark = { numPartitions: 2 } as const;
const java = { numPartitions: 1 } as const;
const sum = (a: number, b: number) => a + b;

describe('map, flatMap, filter', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "map"
  it('map', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                  t=2s                  t=3s
      input:    [range(1, 4),          range(5, 8),          range(9, 12)],
      expected: [['1', '2', '3', '4'], ['5', '6', '7', '8'], ['9', '10', '11', '12']],
    };
    const out = await runBatches([table.input], (s) => s.map((x) => String(x)), spark);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "flatMap"
  it('flatMap', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                      t=2s                          t=3s
      input:    [range(1, 4),              range(5, 8),                  range(9, 12)],
      expected: [[1, 2, 2, 4, 3, 6, 4, 8], [5, 10, 6, 12, 7, 14, 8, 16], [9, 18, 10, 20, 11, 22, 12, 24]],
    };
    const out = await runBatches([table.input], (s) => s.flatMap((x) => [x, x * 2]), spark);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "filter"
  it('filter', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s         t=2s         t=3s
      input:    [range(1, 4), range(5, 8), range(9, 12)],
      expected: [[2, 4],      [6, 8],      [10, 12]],
    };
    const out = await runBatches([table.input], (s) => s.filter((x) => x % 2 === 0), spark);
    expectBatches(out, table.expected, { ordered: true });
  });
});

describe('glom, mapPartitions, repartition', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, test
  // "glom" (Spark asserts numInputPartitions === 2 first: [1, 2, 3, 4] is sliced [1, 2] | [3, 4])
  it('glom (2 input partitions)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s              t=2s              t=3s
      input:    [range(1, 4),      range(5, 8),      range(9, 12)],
      expected: [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]],
    };
    const out = await runBatches([table.input], (s) => s.glom(), spark);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testGlom"
  it('glom (1 input partition, Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                     t=2s
      input:    [['giants', 'dodgers'],   ['yankees', 'red sox']],
      expected: [[['giants', 'dodgers']], [['yankees', 'red sox']]],
    };
    const out = await runBatches([table.input], (s) => s.glom(), java);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "mapPartitions"
  it('mapPartitions', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s         t=2s         t=3s
      input:    [range(1, 4), range(5, 8), range(9, 12)],
      expected: [[3, 7],      [11, 15],    [19, 23]],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.mapPartitions((records) => [records.reduce(sum, 0)]),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testMapPartitions"
  it('mapPartitions (1 input partition, Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                   t=2s
      input:    [['giants', 'dodgers'], ['yankees', 'red sox']],
      expected: [['GIANTSDODGERS'],     ['YANKEESRED SOX']],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.mapPartitions((records) => [records.map((r) => r.toUpperCase()).join('')]),
      java,
    );
    expectBatches(out, table.expected, { ordered: true });
  });

  /**
   * Spark asserts only the partition count of each output and the set of its records (not how
   * the records are spread), so this observes the partitions through glom.
   */
  async function repartitioned(input: number[][], inputPartitions: number, partitions: number) {
    const out = await runBatches([input], (s) => s.repartition(partitions).glom(), {
      numPartitions: inputPartitions,
    });
    return out.map((b) => ({
      timeMs: b.timeMs,
      partitions: b.records.length,
      records: multiset(b.records.flat()),
    }));
  }

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, tests
  // "repartition (more partitions)" (2 input partitions to 5) and "repartition (fewer
  // partitions)" (5 input partitions to 2)
  it.each([
    [2, 5],
    [5, 2],
  ])('repartition from %i to %i partitions', async (from, to) => {
    const input = [range(1, 100), range(101, 200), range(201, 300)];
    expect(await repartitioned(input, from, to)).toEqual([
      { timeMs: 1000, partitions: to, records: multiset(range(1, 100)) },
      { timeMs: 2000, partitions: to, records: multiset(range(101, 200)) },
      { timeMs: 3000, partitions: to, records: multiset(range(201, 300)) },
    ]);
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, tests
  // "testRepartitionMorePartitions" and "testRepartitionFewerPartitions" (each batch has exactly
  // that many partitions, whose sizes sum to 10)
  it.each([
    [2, 4],
    [4, 2],
  ])('repartition from %i to %i partitions (Java suite)', async (from, to) => {
    const input = [range(1, 10), range(1, 10)];
    expect(await repartitioned(input, from, to)).toEqual([
      { timeMs: 1000, partitions: to, records: multiset(range(1, 10)) },
      { timeMs: 2000, partitions: to, records: multiset(range(1, 10)) },
    ]);
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, test "test_repartition" (RDDs of 2
  // partitions; the order inside the one output partition is not defined after a shuffle, so it
  // is compared as a multiset)
  it('repartition to 1 partition (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s           t=2s
      input:    [range(1, 4),   range(5, 8)],
      expected: [[range(1, 4)], [range(5, 8)]],
    };
    const out = await runBatches([table.input], (s) => s.repartition(1).glom(), spark);
    expectBatches(out, table.expected, {
      ordered: true,
      normalize: (partition: number[]) => multiset(partition),
    });
  });
});

describe('union', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "union"
  it('union', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s         t=2s             t=3s
      input:    [range(1, 4), range(101, 104), range(201, 204)],
      expected: [range(1, 8), range(101, 108), range(201, 208)],
    };
    const out = await runBatches([table.input], (s) => s.union(s.map((x) => x + 4)), spark);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, test
  // "StreamingContext.union". sparkless has no context-level union of a list of streams; the
  // same streams unioned one after the other must give the same ordered output.
  it('union of three streams (StreamingContext.union)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s          t=2s             t=3s
      input:    [range(1, 4),  range(101, 104), range(201, 204)],
      expected: [range(1, 12), range(101, 112), range(201, 212)],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.union(s.map((x) => x + 4)).union(s.map((x) => x + 8)),
      spark,
    );
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, test
  // "testUnion" (2 partitions per input)
  it('union of two input streams (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s          t=2s          t=3s
      left:     [[1, 1],       [2, 2],       [3, 3]],
      right:    [[4, 4],       [5, 5],       [6, 6]],
      expected: [[1, 1, 4, 4], [2, 2, 5, 5], [3, 3, 6, 6]],
    };
    const out = await runBatches([table.left, table.right], (s, t) => s.union(t), spark);
    expectBatches(out, table.expected, { ordered: false });
  });

  // Not a Spark table: DESIGN.md ("union keeps this stream's records before the other's"), which
  // Spark's ordered "union" test above relies on too. Both sides are sliced into 2 partitions,
  // so the order holds across partitions as well as within them.
  it("union keeps this stream's records before the other's (ordered comparison)", async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //              t=1s                            t=2s    t=3s
      left:          [['a1', 'a2', 'a3'],             [],     ['a4']],
      right:         [['b1', 'b2'],                   ['b3'], ['b4', 'b5']],
      leftThenRight: [['a1', 'a2', 'a3', 'b1', 'b2'], ['b3'], ['a4', 'b4', 'b5']],
      rightThenLeft: [['b1', 'b2', 'a1', 'a2', 'a3'], ['b3'], ['b4', 'b5', 'a4']],
    };
    const inputs = [table.left, table.right] as const;
    const ab = await runBatches(inputs, (a, b) => a.union(b), spark);
    expectBatches(ab, table.leftThenRight, { ordered: true });
    const ba = await runBatches(inputs, (a, b) => b.union(a), spark);
    expectBatches(ba, table.rightThenLeft, { ordered: true });
  });
});

describe('count, countByValue, reduce', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, test
  // "count" (an empty batch counts as [0], not [])
  it('count', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s t=2s t=3s    t=4s       t=5s
      input:    [[],  [1], [1, 2], [1, 2, 3], [1, 2, 3, 4]],
      expected: [[0], [1], [2],    [3],       [4]],
    };
    const out = await runBatches([table.input], (s: DStream<number>) => s.count(), spark);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testCount"
  it('count (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s          t=2s       t=3s
      input:    [[1, 2, 3, 4], [3, 4, 5], [3]],
      expected: [[4],          [3],       [1]],
    };
    const out = await runBatches([table.input], (s) => s.count(), java);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "countByValue"
  it('countByValue', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s      t=2s       t=3s              t=4s
      input:    [[1],      [1, 1, 1], [1, 2],           [1, 1, 2, 2]],
      expected: [[[1, 1]], [[1, 3]],  [[1, 1], [2, 1]], [[2, 2], [1, 2]]],
    };
    const out = await runBatches([table.input], (s) => s.countByValue(), spark);
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testCountByValue"
  it('countByValue (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                          t=2s                         t=3s
      input:    [['hello', 'world'],           ['hello', 'moon'],           ['hello']],
      expected: [[['hello', 1], ['world', 1]], [['hello', 1], ['moon', 1]], [['hello', 1]]],
    };
    const out = await runBatches([table.input], (s) => s.countByValue(), java);
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "reduce"
  it('reduce', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s         t=2s         t=3s
      input:    [range(1, 4), range(5, 8), range(9, 12)],
      expected: [[10],        [26],        [42]],
    };
    const out = await runBatches([table.input], (s) => s.reduce(sum), spark);
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testReduce"
  it('reduce (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s         t=2s         t=3s
      input:    [range(1, 3), range(4, 6), range(7, 9)],
      expected: [[6],         [15],        [24]],
    };
    const out = await runBatches([table.input], (s) => s.reduce(sum), java);
    expectBatches(out, table.expected, { ordered: true });
  });
});

describe('transform, transformWith', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "transform"
  it('transform', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                  t=2s                  t=3s
      input:    [range(1, 4),          range(5, 8),          range(9, 12)],
      expected: [['1', '2', '3', '4'], ['5', '6', '7', '8'], ['9', '10', '11', '12']],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.transform((rdd) => rdd.map((x) => String(x))),
      spark,
    );
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testTransform"
  it('transform (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s         t=2s         t=3s
      input:    [range(1, 3), range(4, 6), range(7, 9)],
      expected: [range(3, 5), range(6, 8), range(9, 11)],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.transform((rdd) => rdd.map((i) => i + 2)),
      java,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, test
  // "transform with NULL" (Spark throws a SparkException when the function returns null)
  it('fails if the transform function returns null', async () => {
    const run = runBatches([[range(1, 4)]], (s) => s.transform(() => null as never), spark);
    const err = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(SparklessError.is(err), `expected a SparklessError, got ${String(err)}`).toBe(true);
    expect((err as SparklessError).message).toMatch(/must return an RDD/);
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "transformWith"
  it('transformWith', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                                t=2s              t=3s  t=4s
      left:     [['a', 'b'],                         ['a', ''],        [''], []],
      right:    [['a', 'b'],                         ['b', ''],        [],   ['']],
      expected: [[['a', [1, 'x']], ['b', [1, 'x']]], [['', [1, 'x']]], [],   []],
    };
    const out = await runBatches(
      [table.left, table.right],
      (s1: DStream<string>, s2: DStream<string>) =>
        s1
          .map((x) => pair(x, 1))
          .transformWith(
            s2.map((x) => pair(x, 'x')),
            (r1, r2) => r1.join(r2),
          ),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testTransformWith"
  it('transformWith (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      left: [
        [['california', 'dodgers'], ['new york', 'yankees']],  // t=1s
        [['california', 'sharks'], ['new york', 'rangers']],   // t=2s
      ] satisfies [string, string][][],
      right: [
        [['california', 'giants'], ['new york', 'mets']],      // t=1s
        [['california', 'ducks'], ['new york', 'islanders']],  // t=2s
      ] satisfies [string, string][][],
      expected: [
        [['california', ['dodgers', 'giants']], ['new york', ['yankees', 'mets']]],     // t=1s
        [['california', ['sharks', 'ducks']], ['new york', ['rangers', 'islanders']]],  // t=2s
      ],
    };
    const out = await runBatches(
      [table.left, table.right],
      (s1, s2) => s1.transformWith(s2, (r1, r2) => r1.join(r2)),
      java,
    );
    expectBatches(out, table.expected, { ordered: false });
  });
});

describe('empty batches', () => {
  // Not a Spark table: Spark's TestOutputStream adds one entry per batch in which the stream
  // generated an RDD, and an RDD without records is an empty entry (see the trailing [] of the
  // "reduceByKey", "groupByKey" and "join" tables). An empty input batch must therefore give an
  // empty output at its time, never a missing one; batches past the input are empty too.
  it('an empty batch yields an empty output (not a missing one)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //        t=1s          t=2s t=3s          t=4s t=5s
      input:   [['a'],        [],  ['b'],        []],
      kept:    [['a'],        [],  ['b'],        [],  []],
      upper:   [['A'],        [],  ['B'],        [],  []],
      counts:  [[['a', 1]],   [],  [['b', 1]],   [],  []],
      grouped: [[['a', [1]]], [],  [['b', [1]]], [],  []],
      unioned: [['a', 'a'],   [],  ['b', 'b'],   [],  []],
    };
    const opts = { ...spark, numBatches: 5 };
    const check = async <U>(build: (s: DStream<string>) => DStream<U>, expected: unknown[][]) =>
      expectBatches(await runBatches([table.input], build, opts), expected, { ordered: true });
    await check((s) => s.map((x) => x.toUpperCase()), table.upper);
    await check((s) => s.filter((x) => x !== ''), table.kept);
    await check((s) => s.countByValue(), table.counts);
    await check((s) => s.reduce((a, b) => a + b), table.kept);
    await check((s) => s.map((x) => pair(x, 1)).groupByKey(), table.grouped);
    await check((s) => s.union(s), table.unioned);
  });
});
