/**
 * Conformance of updateStateByKey with Spark Streaming, table by table.
 *
 * The tables come from Spark's own tests (each cites its file and test name), never from what our
 * executor prints. The state stream holds every (key, state) pair after each batch, not only the
 * keys updated in it. Where Spark's update function returns `None` to remove a key, ours returns
 * `undefined`; Spark's `Some(s)` is `s`. Each table is laid out under a timeline of batch times.
 */
import { type DStream, milliseconds, pair } from 'sparkless';
import { runBatches } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';
import { expectBatches } from '../helpers.js';

const spark = { numPartitions: 2 } as const;
const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
const ones = (s: DStream<string>) => s.map((x) => pair(x, 1));
type SN = [string, number];

/** Spark's `updateFunc` of BasicOperationsSuite: `Some(values.sum + state.getOrElse(0))`. */
const runningSum = (values: number[], state: number | undefined) => total(values) + (state ?? 0);

// Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, the shared
// input stringIntKVStream
// biome-ignore format: a per-batch table
const stringIntKVStream = [
  [['california', 1], ['california', 3], ['new york', 4], ['new york', 1]],  // t=1s
  [['california', 5], ['california', 5], ['new york', 3], ['new york', 1]],  // t=2s
] satisfies SN[][];

describe('updateStateByKey', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala,
  // test "updateStateByKey"
  it('updateStateByKey', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=1s   t=2s        t=3s             t=4s        t=5s   t=6s
      input: [['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b'], ['a'], []],
      expected: [
        [['a', 1]],                      // t=1s
        [['a', 2], ['b', 1]],            // t=2s
        [['a', 3], ['b', 2], ['c', 1]],  // t=3s
        [['a', 4], ['b', 3], ['c', 1]],  // t=4s
        [['a', 5], ['b', 3], ['c', 1]],  // t=5s
        [['a', 5], ['b', 3], ['c', 1]],  // t=6s
      ],
    };
    const out = await runBatches([table.input], (s) => ones(s).updateStateByKey(runningSum), spark);
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, tests
  // "updateStateByKey - simple with initial value RDD" and "updateStateByKey - with initial value
  // RDD" (the same table; the second uses Spark's iterator form of the update function, which
  // sparkless does not have). Both pass HashPartitioner(numInputPartitions): 2 partitions.
  it('updateStateByKey with an initial state', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      initial: [['a', 1], ['c', 2]] satisfies SN[],
      //      t=1s   t=2s        t=3s             t=4s        t=5s   t=6s
      input: [['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b'], ['a'], []],
      expected: [
        [['a', 2], ['c', 2]],            // t=1s
        [['a', 3], ['b', 1], ['c', 2]],  // t=2s
        [['a', 4], ['b', 2], ['c', 3]],  // t=3s
        [['a', 5], ['b', 3], ['c', 3]],  // t=4s
        [['a', 6], ['b', 3], ['c', 3]],  // t=5s
        [['a', 6], ['b', 3], ['c', 3]],  // t=6s
      ],
    };
    const out = await runBatches(
      [table.input],
      (s) => ones(s).updateStateByKey(runningSum, { initialState: table.initial, partitions: 2 }),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, test
  // "updateStateByKey - testing time stamps as input". Spark's function takes (time, key, values,
  // state); ours takes (values, state, { key, timeMs }). Spark's first batch is at 1000 ms, as
  // runBatches' is. (Spark's own comments in that test disagree slightly with its table; the
  // table is what Spark asserts, and what is used here.)
  it('updateStateByKey with the batch time and key', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      initial: [['a', 0], ['c', 0]] satisfies SN[],
      //      t=1s   t=2s        t=3s             t=4s        t=5s   t=6s
      input: [['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b'], ['a'], []],
      expected: [
        [['a', 1000], ['c', 0]],                   // t=1s
        [['a', 3000], ['b', 2000], ['c', 0]],      // t=2s
        [['a', 6000], ['b', 5000], ['c', 3000]],   // t=3s
        [['a', 10000], ['b', 9000], ['c', 3000]],  // t=4s
        [['a', 15000], ['b', 9000], ['c', 3000]],  // t=5s
        [['a', 15000], ['b', 9000], ['c', 3000]],  // t=6s
      ],
    };
    const keysSeen = new Set<string>();
    const out = await runBatches(
      [table.input],
      (s) =>
        ones(s).updateStateByKey(
          (values: number[], state: number | undefined, { key, timeMs }) => {
            keysSeen.add(key);
            // Update only if we receive values for this key during the batch.
            return values.length > 0 ? timeMs + (state ?? 0) : (state ?? 0);
          },
          { initialState: table.initial, partitions: 2 },
        ),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
    expect([...keysSeen].sort()).toEqual(['a', 'b', 'c']);
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/BasicOperationsSuite.scala, test
  // "updateStateByKey - object lifecycle".
  //
  // Spark's input has `null` batches (t=2s, t=5s, t=6s): the input stream generates no RDD at
  // all, and Spark still calls the update function for every key with state, with no values
  // (StateDStream.compute, `case None`). runBatches has no notion of a missing RDD: those batches
  // are empty ([]) here, which calls the function the same way, so the outputs must agree. The
  // function returns `undefined` to remove a key where Spark's returns `None`.
  it('updateStateByKey - object lifecycle', async () => {
    class StateObject {
      counter = 0;
      expireCounter = 0;
    }
    // updateFunc clears a state when a StateObject is seen without new values twice in a row
    const updateFunc = (values: number[], state: StateObject | undefined) => {
      const stateObj = state ?? new StateObject();
      const n = total(values);
      if (n === 0) {
        stateObj.expireCounter += 1; // no new values
      } else {
        // has new values, increment and reset expireCounter
        stateObj.counter += n;
        stateObj.expireCounter = 0;
      }
      // seen twice with no new values, give it the boot
      return stateObj.expireCounter === 2 ? undefined : stateObj;
    };
    // biome-ignore format: a per-batch table
    const table = {
      //      t=1s        t=2s (null) t=3s             t=4s   t=5s (null) t=6s (null)
      input: [['a', 'b'], [],         ['a', 'c', 'a'], ['c'], [],         []],
      expected: [
        [['a', 1], ['b', 1]],  // t=1s
        [['a', 1], ['b', 1]],  // t=2s
        [['a', 3], ['c', 1]],  // t=3s
        [['a', 3], ['c', 2]],  // t=4s
        [['c', 2]],            // t=5s
        [],                    // t=6s
      ],
    };
    const out = await runBatches(
      [table.input],
      (s) =>
        ones(s)
          .updateStateByKey(updateFunc)
          .mapValues((o) => o.counter),
      spark,
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, test
  // "testUpdateStateByKey" (1 input partition; the third batch is past the input, hence empty)
  it('updateStateByKey (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const expected = [
      [['california', 4], ['new york', 5]],   // t=1s
      [['california', 14], ['new york', 9]],  // t=2s
      [['california', 14], ['new york', 9]],  // t=3s
    ];
    const out = await runBatches([stringIntKVStream], (s) => s.updateStateByKey(runningSum), {
      numPartitions: 1,
      numBatches: 3,
    });
    expectBatches(out, expected, { ordered: false });
  });

  // Spark: streaming/src/test/java/test/org/apache/spark/streaming/JavaAPISuite.java, test
  // "testUpdateStateByKeyWithInitial" (HashPartitioner(1))
  it('updateStateByKey with an initial state (Java suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      initial: [['california', 1], ['new york', 2]] satisfies SN[],
      expected: [
        [['california', 5], ['new york', 7]],    // t=1s
        [['california', 15], ['new york', 11]],  // t=2s
        [['california', 15], ['new york', 11]],  // t=3s
      ],
    };
    const out = await runBatches(
      [stringIntKVStream],
      (s) => s.updateStateByKey(runningSum, { initialState: table.initial, partitions: 1 }),
      { numPartitions: 1, numBatches: 3 },
    );
    expectBatches(out, table.expected, { ordered: false });
  });

  const appendTo = (values: number[], state: number[] | undefined) => [...(state ?? []), ...values];

  // Spark: python/pyspark/streaming/tests/test_dstream.py, test "test_update_state_by_key"
  // (500 ms batches; the state is the list of all values seen, in order)
  it('updateStateByKey appending to a list (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //      t=0.5s      t=1s        t=1.5s      t=2s        t=2.5s
      input: [[['k', 0]], [['k', 1]], [['k', 2]], [['k', 3]], [['k', 4]]] satisfies SN[][],
      expected: [
        [['k', [0]]],              // t=0.5s
        [['k', [0, 1]]],           // t=1s
        [['k', [0, 1, 2]]],        // t=1.5s
        [['k', [0, 1, 2, 3]]],     // t=2s
        [['k', [0, 1, 2, 3, 4]]],  // t=2.5s
      ],
    };
    const out = await runBatches([table.input], (s) => s.updateStateByKey(appendTo), {
      numPartitions: 1,
      batchInterval: milliseconds(500),
    });
    expectBatches(out, table.expected, { ordered: true, everyMs: 500 });
  });

  // Spark: python/pyspark/streaming/tests/test_dstream.py,
  // test "test_update_state_by_key_initial_rdd"
  it('updateStateByKey appending to an initial list (Python suite)', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      initial: [['k', [0, 1]]] satisfies [string, number[]][],
      //         t=0.5s              t=1s                   t=1.5s
      input:    [[['k', 2]],         [['k', 3]],            [['k', 4]]] satisfies SN[][],
      expected: [[['k', [0, 1, 2]]], [['k', [0, 1, 2, 3]]], [['k', [0, 1, 2, 3, 4]]]],
    };
    const out = await runBatches(
      [table.input],
      (s) => s.updateStateByKey(appendTo, { initialState: table.initial }),
      { numPartitions: 1, batchInterval: milliseconds(500) },
    );
    expectBatches(out, table.expected, { ordered: true, everyMs: 500 });
  });
});
