/**
 * Conformance of the keyed (pair) operators with Spark Streaming, table by table.
 *
 * The tables come from Spark's own tests (each cites its file and test name), never from what our
 * executor prints. BasicOperationsSuite slices each input batch into 2 partitions
 * (`numPartitions: 2`); JavaAPISuite attaches its inputs with 1 partition; the Python suite runs
 * 500 ms batches with 1 partition per RDD. Spark's `None` on an outer join's missing side is
 * `null` here, and `Some(x)` is `x`. Each table is laid out under a timeline of batch times.
 */
import { type DStream, milliseconds, type Pair, pair } from 'sparkless';
import { runBatches } from 'sparkless/testing';
import { describe, it } from 'vitest';
import { expectBatches } from '../helpers.js';

const spark = { numPartitions: 2 } as const;
const java = { numPartitions: 1 } as const;
const python = { numPartitions: 1, batchInterval: milliseconds(500) } as const;
const sum = (a: number, b: number) => a + b;
const ones = (s: DStream<string>) => s.map((x) => pair(x, 1));
type SS = [string, string];
type SN = [string, number];
/** The Python tables mix number and string keys (`satisfies` would infer one kind per batch). */
type KN = [string | number, number];

// Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, the shared
// inputs stringStringKVStream and stringIntKVStream
// biome-ignore format: a per-batch table
const stringStringKVStream = [
  [ // t=1s
    ['california', 'dodgers'], ['california', 'giants'],
    ['new york', 'yankees'], ['new york', 'mets'],
  ],
  [ // t=2s
    ['california', 'sharks'], ['california', 'ducks'],
    ['new york', 'rangers'], ['new york', 'islanders'],
  ],
] satisfies SS[][];
// biome-ignore format: a per-batch table
const stringIntKVStream = [
  [['california', 1], ['california', 3], ['new york', 4], ['new york', 1]],  // t=1s
  [['california', 5], ['california', 5], ['new york', 3], ['new york', 1]],  // t=2s
] satisfies SN[][];

// Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, the inputs of
// tests "testCoGroup", "testJoin" and "testTransformWith"
// biome-ignore format: a per-batch table
const javaJoinLeft = [
  [['california', 'dodgers'], ['new york', 'yankees']],  // t=1s
  [['california', 'sharks'], ['new york', 'rangers']],   // t=2s
] satisfies SS[][];
// biome-ignore format: a per-batch table
const javaJoinRight = [
  [['california', 'giants'], ['new york', 'mets']],      // t=1s
  [['california', 'ducks'], ['new york', 'islanders']],  // t=2s
] satisfies SS[][];

describe('reduceByKey, groupByKey, mapValues, flatMapValues', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "reduceByKey"
  it('reduceByKey', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                  t=2s       t=3s
      input:    [['a', 'a', 'b'],      ['', ''],  []],
      expected: [[['a', 2], ['b', 1]], [['', 2]], []],
    };
    const out = await runBatches([table.input], (s) => ones(s).reduceByKey(sum), spark);
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testPairReduceByKey"
  it('reduceByKey (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                                  t=2s
      expected: [[['california', 4], ['new york', 5]], [['california', 10], ['new york', 4]]],
    };
    const out = await runBatches([stringIntKVStream], (s) => s.reduceByKey(sum), java);
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "groupByKey"
  it('groupByKey', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                         t=2s            t=3s
      input:    [['a', 'a', 'b'],             ['', ''],       []],
      expected: [[['a', [1, 1]], ['b', [1]]], [['', [1, 1]]], []],
    };
    const out = await runBatches([table.input], (s) => ones(s).groupByKey(), spark);
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testPairGroupByKey" (Java compares each key's values in order; 1 input partition)
  it('groupByKey (Java suite, values in arrival order)', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['california', ['dodgers', 'giants']], ['new york', ['yankees', 'mets']]],     // t=1s
      [['california', ['sharks', 'ducks']], ['new york', ['rangers', 'islanders']]],  // t=2s
    ];
    const out = await runBatches([stringStringKVStream], (s) => s.groupByKey(), java);
    expectBatches(out, expected, { ordered: false });
  });

  // Not a Spark table: DESIGN.md ("grouped values keep sequence order within a shard"). With one
  // input partition, each key's values must come out in the order they arrived, whatever the
  // number of shuffle partitions.
  it.each([1, 3])(
    'grouped values keep arrival order within a shard (groupByKey into %i partitions)',
    async (partitions) => {
      // biome-ignore format: a per-batch table
      const table = {
        input: [
          [['k', 3], ['j', 9], ['k', 1], ['k', 2], ['j', 8], ['k', 0]],  // t=1s
          [['j', 5], ['j', 4], ['k', 7]],                                // t=2s
        ] satisfies SN[][],
        expected: [
          [['k', [3, 1, 2, 0]], ['j', [9, 8]]],  // t=1s
          [['j', [5, 4]], ['k', [7]]],           // t=2s
        ],
      };
      const out = await runBatches([table.input], (s) => s.groupByKey({ partitions }), java);
      expectBatches(out, table.expected, { ordered: false });
    },
  );

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "mapValues"
  it('mapValues', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                    t=2s        t=3s
      input:    [['a', 'a', 'b'],        ['', ''],   []],
      expected: [[['a', 12], ['b', 11]], [['', 12]], []],
    };
    const out = await runBatches(
      [table.input],
      (s) =>
        ones(s)
          .reduceByKey(sum)
          .mapValues((v) => v + 10),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testMapValues" (compared in order)
  it('mapValues (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [ // t=1s
        ['california', 'DODGERS'], ['california', 'GIANTS'],
        ['new york', 'YANKEES'], ['new york', 'METS'],
      ],
      [ // t=2s
        ['california', 'SHARKS'], ['california', 'DUCKS'],
        ['new york', 'RANGERS'], ['new york', 'ISLANDERS'],
      ],
    ];
    const out = await runBatches(
      [stringStringKVStream],
      (s) => s.mapValues((v) => v.toUpperCase()),
      java,
    );
    expectBatches(out, expected, { ordered: true });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "flatMapValues"
  it('flatMapValues', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                                        t=2s                 t=3s
      input:    [['a', 'a', 'b'],                            ['', ''],            []],
      expected: [[['a', 2], ['a', 12], ['b', 1], ['b', 11]], [['', 2], ['', 12]], []],
    };
    const out = await runBatches(
      [table.input],
      (s) =>
        ones(s)
          .reduceByKey(sum)
          .flatMapValues((v) => [v, v + 10]),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testFlatMapValues" (compared in order)
  it('flatMapValues (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [ // t=1s
        ['california', 'dodgers1'], ['california', 'dodgers2'],
        ['california', 'giants1'], ['california', 'giants2'],
        ['new york', 'yankees1'], ['new york', 'yankees2'],
        ['new york', 'mets1'], ['new york', 'mets2'],
      ],
      [ // t=2s
        ['california', 'sharks1'], ['california', 'sharks2'],
        ['california', 'ducks1'], ['california', 'ducks2'],
        ['new york', 'rangers1'], ['new york', 'rangers2'],
        ['new york', 'islanders1'], ['new york', 'islanders2'],
      ],
    ];
    const out = await runBatches(
      [stringStringKVStream],
      (s) => s.flatMapValues((v) => [`${v}1`, `${v}2`]),
      java,
    );
    expectBatches(out, expected, { ordered: true });
  });
});

describe('combineByKey', () => {
  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testCombineByKey" (HashPartitioner(2); Java compares in order, which after a shuffle
  // depends on Java's hashing, so the batches are compared as multisets)
  it('combineByKey (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //         t=1s                                  t=2s
      expected: [[['california', 4], ['new york', 5]], [['california', 10], ['new york', 4]]],
    };
    const out = await runBatches(
      [stringIntKVStream],
      (s) => s.combineByKey((v) => v, sum, sum, { partitions: 2 }),
      java,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, test "test_combineByKey" (500 ms
  // batches; the Python test sorts each batch by key)
  it('combineByKey (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      input: [
        [[1, 1], [2, 1], [3, 1], [4, 1]],                           // t=0.5s
        [[1, 1], [1, 1], [1, 1], [2, 1], [2, 1], [3, 1]],           // t=1s
        [['a', 1], ['a', 1], ['b', 1], ['', 1], ['', 1], ['', 1]],  // t=1.5s
      ] as KN[][],
      expected: [
        [[1, '1'], [2, '1'], [3, '1'], [4, '1']],  // t=0.5s
        [[1, '111'], [2, '11'], [3, '1']],         // t=1s
        [['a', '11'], ['b', '1'], ['', '111']],    // t=1.5s
      ],
    };
    const out = await runBatches(
      [table.input],
      (s) =>
        s.combineByKey(
          (v) => String(v),
          (c, v) => c + String(v),
          (a, b) => a + b,
        ),
      python,
    );
    expectBatches(out, table.expected, { ordered: false, everyMs: 500 });
  });
});

describe('cogroup', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "cogroup"
  it('cogroup', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=1s             t=2s       t=3s  t=4s
      left:  [['a', 'a', 'b'], ['a', ''], [''], []],
      right: [['a', 'a', 'b'], ['b', ''], [],   []],
      expected: [
        [['a', [[1, 1], ['x', 'x']]], ['b', [[1], ['x']]]],          // t=1s
        [['a', [[1], []]], ['b', [[], ['x']]], ['', [[1], ['x']]]],  // t=2s
        [['', [[1], []]]],                                           // t=3s
        [],                                                          // t=4s
      ],
    };
    const out = await runBatches(
      [table.left, table.right],
      (s1: DStream<string>, s2: DStream<string>) => ones(s1).cogroup(s2.map((x) => pair(x, 'x'))),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testCoGroup"
  it('cogroup (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [ // t=1s
        ['california', [['dodgers'], ['giants']]],
        ['new york', [['yankees'], ['mets']]],
      ],
      [ // t=2s
        ['california', [['sharks'], ['ducks']]],
        ['new york', [['rangers'], ['islanders']]],
      ],
    ];
    const out = await runBatches([javaJoinLeft, javaJoinRight], (s1, s2) => s1.cogroup(s2), java);
    expectBatches(out, expected, { ordered: false });
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, test "test_cogroup" (500 ms batches,
  // 1 partition; each side's values in arrival order)
  it('cogroup (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      left: [
        [[1, 1], [2, 1], [3, 1]],                          // t=0.5s
        [[1, 1], [1, 1], [1, 1], [2, 1]],                  // t=1s
        [['a', 1], ['a', 1], ['b', 1], ['', 1], ['', 1]],  // t=1.5s
      ] as KN[][],
      right: [
        [[1, 2]],                                          // t=0.5s
        [[4, 1]],                                          // t=1s
        [['a', 1], ['a', 1], ['b', 1], ['', 1], ['', 2]],  // t=1.5s
      ] as KN[][],
      expected: [
        [[1, [[1], [2]]], [2, [[1], []]], [3, [[1], []]]],                     // t=0.5s
        [[1, [[1, 1, 1], []]], [2, [[1], []]], [4, [[], [1]]]],                // t=1s
        [['a', [[1, 1], [1, 1]]], ['b', [[1], [1]]], ['', [[1, 1], [1, 2]]]],  // t=1.5s
      ],
    };
    const out = await runBatches([table.left, table.right], (s1, s2) => s1.cogroup(s2), python);
    expectBatches(out, table.expected, { ordered: false, everyMs: 500 });
  });
});

describe('join and the outer joins', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, the
  // inputs of tests "join", "leftOuterJoin", "rightOuterJoin" and "fullOuterJoin", joined as
  // s1.map(x => (x, 1)).<op>(s2.map(x => (x, "x")))
  // biome-ignore format: a per-batch table
  const table = {
    //      t=1s        t=2s       t=3s  t=4s
    left:  [['a', 'b'], ['a', ''], [''], []],
    right: [['a', 'b'], ['b', ''], [],   ['']],
  };
  const joined = <U>(
    op: (a: DStream<Pair<string, number>>, b: DStream<Pair<string, string>>) => DStream<U>,
  ) =>
    runBatches(
      [table.left, table.right],
      (s1: DStream<string>, s2: DStream<string>) =>
        op(
          ones(s1),
          s2.map((x) => pair(x, 'x')),
        ),
      spark,
    );

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "join"
  it('join', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['a', [1, 'x']], ['b', [1, 'x']]],  // t=1s
      [['', [1, 'x']]],                    // t=2s
      [],                                  // t=3s
      [],                                  // t=4s
    ];
    expectBatches(await joined((a, b) => a.join(b)), expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "leftOuterJoin"
  it('leftOuterJoin', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['a', [1, 'x']], ['b', [1, 'x']]],  // t=1s
      [['', [1, 'x']], ['a', [1, null]]],  // t=2s
      [['', [1, null]]],                   // t=3s
      [],                                  // t=4s
    ];
    expectBatches(await joined((a, b) => a.leftOuterJoin(b)), expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "rightOuterJoin"
  it('rightOuterJoin', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['a', [1, 'x']], ['b', [1, 'x']]],    // t=1s
      [['', [1, 'x']], ['b', [null, 'x']]],  // t=2s
      [],                                    // t=3s
      [['', [null, 'x']]],                   // t=4s
    ];
    expectBatches(await joined((a, b) => a.rightOuterJoin(b)), expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "fullOuterJoin"
  it('fullOuterJoin', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['a', [1, 'x']], ['b', [1, 'x']]],                      // t=1s
      [['', [1, 'x']], ['a', [1, null]], ['b', [null, 'x']]],  // t=2s
      [['', [1, null]]],                                       // t=3s
      [['', [null, 'x']]],                                     // t=4s
    ];
    expectBatches(await joined((a, b) => a.fullOuterJoin(b)), expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testJoin"
  it('join (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['california', ['dodgers', 'giants']], ['new york', ['yankees', 'mets']]],     // t=1s
      [['california', ['sharks', 'ducks']], ['new york', ['rangers', 'islanders']]],  // t=2s
    ];
    const out = await runBatches([javaJoinLeft, javaJoinRight], (s1, s2) => s1.join(s2), java);
    expectBatches(out, expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java,
  // test "testLeftOuterJoin"
  it('leftOuterJoin then count (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      left: [
        [['california', 'dodgers'], ['new york', 'yankees']],  // t=1s
        [['california', 'sharks']],                            // t=2s
      ] satisfies SS[][],
      right: [
        [['california', 'giants']],   // t=1s
        [['new york', 'islanders']],  // t=2s
      ] satisfies SS[][],
      //         t=1s t=2s
      expected: [[2], [1]],
    };
    const out = await runBatches(
      [table.left, table.right],
      (s1, s2) => s1.leftOuterJoin(s2).count(),
      java,
    );
    expectBatches(out, table.expected, { ordered: true });
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py, tests "test_join",
  // "test_left_outer_join", "test_right_outer_join" and "test_full_outer_join" (500 ms batches)
  it('the four joins (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //               t=0.5s
      left:           [[['a', 1], ['b', 2]]] satisfies SN[][],
      right:          [[['b', 3], ['c', 4]]] satisfies SN[][],
      join:           [[['b', [2, 3]]]],
      leftOuterJoin:  [[['a', [1, null]], ['b', [2, 3]]]],
      rightOuterJoin: [[['b', [2, 3]], ['c', [null, 4]]]],
      fullOuterJoin:  [[['a', [1, null]], ['b', [2, 3]], ['c', [null, 4]]]],
    };
    const run = <U>(op: (a: DStream<SN>, b: DStream<SN>) => DStream<U>) =>
      runBatches([table.left, table.right], op, python);
    const opts = { ordered: false, everyMs: 500 } as const;
    expectBatches(await run((a, b) => a.join(b)), table.join, opts);
    expectBatches(await run((a, b) => a.leftOuterJoin(b)), table.leftOuterJoin, opts);
    expectBatches(await run((a, b) => a.rightOuterJoin(b)), table.rightOuterJoin, opts);
    expectBatches(await run((a, b) => a.fullOuterJoin(b)), table.fullOuterJoin, opts);
  });
});
