/**
 * Conformance of mapWithState and its State object with Spark Streaming, table by table.
 *
 * The tables come from Spark's MapWithStateSuite (each cites its test name), never from what our
 * executor prints. That suite has its own harness: 1000 ms batches, inputs sliced into 2
 * partitions, the pipeline `input.map(x => (x, 1)).mapWithState(spec)`, and both the mapped stream
 * and `stateSnapshots()` compared per batch as sets, with exactly as many batches as expected.
 *
 * Spark's mapping function takes (time, key, value: Option, state) in the advanced API and returns
 * an Option; ours takes (key, value | undefined, state, timeMs) and returns `undefined` where
 * Spark returns `None`.
 */
import {
  type DStream,
  type Pair,
  pair,
  SparklessError,
  State,
  type StateSpec,
  seconds,
} from 'sparkless';
import { runBatches } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';
import { canonical, expectBatches, multiset } from '../helpers.js';

/** MapWithStateSuite.getOperationOutput: the mapped stream and the state snapshots, per batch. */
async function mapWithStateOutput<S, M>(
  input: readonly (readonly string[])[],
  spec: StateSpec<string, number, S, M>,
  numBatches: number,
) {
  const build = (s: DStream<string>) => s.map((x) => pair(x, 1)).mapWithState(spec);
  const opts = { numPartitions: 2, numBatches };
  const mapped = await runBatches([input], build, opts);
  const snapshots = await runBatches([input], (s) => build(s).stateSnapshots(), opts);
  return { mapped, snapshots };
}

/** MapWithStateSuite.testOperation: both streams compared per batch as sets (here multisets). */
async function testOperation<S, M>(
  input: readonly (readonly string[])[],
  spec: StateSpec<string, number, S, M>,
  expectedOutputs: ReadonlyArray<ReadonlyArray<M>>,
  expectedStateSnapshots: ReadonlyArray<ReadonlyArray<Pair<string, S>>>,
) {
  expect(expectedOutputs.length).toBe(expectedStateSnapshots.length);
  const { mapped, snapshots } = await mapWithStateOutput(input, spec, expectedOutputs.length);
  expectBatches(mapped, expectedOutputs, { ordered: false });
  expectBatches(snapshots, expectedStateSnapshots, { ordered: false });
}

type SN = [string, number];

// Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, the input
// and state snapshots shared by the first tests of the suite
// biome-ignore format: a per-batch table
const shared = {
  //          t=1s t=2s   t=3s        t=4s             t=5s        t=6s   t=7s
  inputData: [[],  ['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b'], ['a'], []],
  stateData: [
    [],                              // t=1s
    [['a', 1]],                      // t=2s
    [['a', 2], ['b', 1]],            // t=3s
    [['a', 3], ['b', 2], ['c', 1]],  // t=4s
    [['a', 4], ['b', 3], ['c', 1]],  // t=5s
    [['a', 5], ['b', 3], ['c', 1]],  // t=6s
    [['a', 5], ['b', 3], ['c', 1]],  // t=7s
  ] satisfies SN[][],
};
const { inputData, stateData } = shared;

describe('mapWithState', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, test
  // "mapWithState - basic operations with simple API"
  it('basic operations with simple API', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //           t=1s t=2s   t=3s        t=4s             t=5s        t=6s   t=7s
      input:      [[],  ['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b'], ['a'], []],
      outputData: [[],  [1],   [2, 1],     [3, 2, 1],       [4, 3],     [5],   []],
    };
    // state maintains running count, and updated count is returned
    const mappingFunc = (_key: string, value: number | undefined, state: State<number>) => {
      const sum = (value ?? 0) + (state.getOption() ?? 0);
      state.update(sum);
      return sum;
    };
    await testOperation(table.input, { fn: mappingFunc }, table.outputData, stateData);
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, test
  // "mapWithState - basic operations with advanced API"
  it('basic operations with advanced API', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      //           t=1s t=2s    t=3s          t=4s                t=5s          t=6s    t=7s
      input:      [[],  ['a'],  ['a', 'b'],   ['a', 'b', 'c'],    ['a', 'b'],   ['a'],  []],
      outputData: [[],  ['aa'], ['aa', 'bb'], ['aa', 'bb', 'cc'], ['aa', 'bb'], ['aa'], []],
    };
    // state maintains running count, key string doubled and returned
    const mappingFunc = (
      key: string,
      value: number | undefined,
      state: State<number>,
      _timeMs: number,
    ) => {
      const sum = (value ?? 0) + (state.getOption() ?? 0);
      state.update(sum);
      return key + key;
    };
    await testOperation(table.input, { fn: mappingFunc }, table.outputData, stateData);
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, test
  // "mapWithState - states as mapped data"
  it('states as mapped data', async () => {
    // biome-ignore format: a per-batch table
    const outputData = [
      [],                              // t=1s
      [['a', 1]],                      // t=2s
      [['a', 2], ['b', 1]],            // t=3s
      [['a', 3], ['b', 2], ['c', 1]],  // t=4s
      [['a', 4], ['b', 3]],            // t=5s
      [['a', 5]],                      // t=6s
      [],                              // t=7s
    ] satisfies SN[][];
    const mappingFunc = (key: string, value: number | undefined, state: State<number>) => {
      const sum = (value ?? 0) + (state.getOption() ?? 0);
      const output = pair(key, sum);
      state.update(sum);
      return output;
    };
    await testOperation(inputData, { fn: mappingFunc }, outputData, stateData);
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, test
  // "mapWithState - initial states, with nothing returned as from mapping function"
  it('initial states, with nothing returned as from mapping function', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      initialState: [['a', 5], ['b', 10], ['c', -20], ['d', 0]] satisfies SN[],
      //           t=1s t=2s   t=3s        t=4s             t=5s        t=6s   t=7s
      input:      [[],  ['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b'], ['a'], []],
      outputData: [[],  [],    [],         [],              [],         [],    []],
      stateData: [
        [['a', 5], ['b', 10], ['c', -20], ['d', 0]],   // t=1s
        [['a', 6], ['b', 10], ['c', -20], ['d', 0]],   // t=2s
        [['a', 7], ['b', 11], ['c', -20], ['d', 0]],   // t=3s
        [['a', 8], ['b', 12], ['c', -19], ['d', 0]],   // t=4s
        [['a', 9], ['b', 13], ['c', -19], ['d', 0]],   // t=5s
        [['a', 10], ['b', 13], ['c', -19], ['d', 0]],  // t=6s
        [['a', 10], ['b', 13], ['c', -19], ['d', 0]],  // t=7s
      ] satisfies SN[][],
    };
    const mappingFunc = (_key: string, value: number | undefined, state: State<number>) => {
      const sum = (value ?? 0) + (state.getOption() ?? 0);
      state.update(sum); // (Spark also builds an unused `output = (key, sum)` here)
      return undefined; // Spark: None.asInstanceOf[Option[Int]]
    };
    await testOperation(
      table.input,
      { fn: mappingFunc, initialState: table.initialState },
      table.outputData,
      table.stateData,
    );
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, test
  // "mapWithState - state removing" (StateSpec...numPartitions(1))
  it('state removing', async () => {
    // biome-ignore format: a per-batch table
    const table = {
      inputData: [
        [],               // t=1s
        ['a'],            // t=2s
        ['a', 'b'],       // t=3s  a will be removed
        ['a', 'b', 'c'],  // t=4s  b will be removed
        ['a', 'b', 'c'],  // t=5s  a and c will be removed
        ['a', 'b'],       // t=6s  b will be removed
        ['a'],            // t=7s  a will be removed
        [],               // t=8s
      ],
      // States that were removed
      //           t=1s t=2s t=3s   t=4s   t=5s        t=6s   t=7s   t=8s
      outputData: [[],  [],  ['a'], ['b'], ['a', 'c'], ['b'], ['a'], []],
      stateData: [
        [],                    // t=1s
        [['a', 1]],            // t=2s
        [['b', 1]],            // t=3s
        [['a', 1], ['c', 1]],  // t=4s
        [['b', 1]],            // t=5s
        [['a', 1]],            // t=6s
        [],                    // t=7s
        [],                    // t=8s
      ] satisfies SN[][],
    };
    const mappingFunc = (key: string, value: number | undefined, state: State<number>) => {
      if (state.exists()) {
        state.remove();
        return key;
      }
      state.update(value!);
      return undefined;
    };
    await testOperation(
      table.inputData,
      { fn: mappingFunc, partitions: 1 },
      table.outputData,
      table.stateData,
    );
  });

  // Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, test
  // "mapWithState - state timing out".
  //
  // The rule (MapWithStateDStream / MapWithStateRDD / StateMapSuite): a key whose last record
  // came at batch time u times out at batch T when u < T - timeout (strictly). Spark applies it
  // only on checkpoint batches (every 10 batches here: t=10s, t=20s), where b and c would both
  // time out at t=10s. sparkless deliberately applies it at every batch, so each key times out at
  // the first batch the rule allows; the timeline below is that one. Spark's own assertions (the
  // three at the end) hold on either timeline.
  it('state timing out (swept every batch)', async () => {
    const times = <T>(n: number, x: T): T[] => Array.from({ length: n }, () => x);
    // biome-ignore format: a per-batch table
    const states = {
      abc: [['a', 1], ['b', 1], ['c', 1]] satisfies SN[],
      ab: [['a', 1], ['b', 1]] satisfies SN[],
      a: [['a', 1]] satisfies SN[],
    };
    const { abc, ab, a } = states;
    // biome-ignore format: a per-batch table
    const table = {
      inputData: [
        ['a', 'b', 'c'],  // t=1s   c's last record
        ['a', 'b'],       // t=2s   b's last record
        ['a'],            // t=3s
        [],               // t=4s   c: 1000 < 4000 - 3000? no
        [],               // t=5s   c: 1000 < 5000 - 3000: c times out; b: 2000 < 2000? no
        ['a'],            // t=6s   b: 2000 < 6000 - 3000: b times out; a has a record
        ...times(20, ['a']), // a will continue to stay active
      ],
      //          t=1s t=2s t=3s t=4s t=5s   t=6s   t=7s..t=20s
      outputs:   [[],  [],  [],  [],  ['c'], ['b'], ...times(14, [])],
      snapshots: [abc, abc, abc, abc, ab,    a,     ...times(14, a)],
    };
    const mappingFunc = (key: string, value: number | undefined, state: State<number>) => {
      if (value !== undefined) state.update(1);
      return state.isTimingOut() ? key : undefined;
    };
    const { mapped, snapshots } = await mapWithStateOutput(
      table.inputData,
      { fn: mappingFunc, timeout: seconds(3) },
      20,
    );
    expectBatches(mapped, table.outputs, { ordered: false });
    expectBatches(snapshots, table.snapshots, { ordered: false });

    // Spark's assertions:
    // b and c should be returned once each, when they were marked as expired
    expect(mapped.flatMap((b) => b.records).sort()).toEqual(['b', 'c']);
    // States for a, b, c should be defined at one point of time
    const sameSet = (records: readonly unknown[], set: readonly unknown[]) =>
      canonical(multiset(records)) === canonical(multiset(set));
    expect(snapshots.some((b) => sameSet(b.records, abc))).toBe(true);
    // Finally state should be defined only for a
    expect(snapshots.at(-1)!.records).toEqual([['a', 1]]);
  });
});

describe('State', () => {
  // Spark: streaming/src/test/scala/org/apache/spark/streaming/MapWithStateSuite.scala, test
  // "state - get, exists, update, remove, ". Spark's StateImpl is made empty, wrapped around
  // Some/None, or wrapped as timing out; our State's internal constructor takes `{ value }` or
  // `undefined`, and `true` for a timing-out state. isUpdated and isRemoved are internal, as in
  // Spark, where the test reads them too.
  const expectThrows = (fn: () => void, code?: string) => {
    let thrown: unknown;
    try {
      fn();
    } catch (e) {
      thrown = e;
    }
    expect(SparklessError.is(thrown), `expected a SparklessError, got ${String(thrown)}`).toBe(
      true,
    );
    if (code) expect((thrown as SparklessError).code).toBe(code);
  };

  let state: State<number>;

  /** Spark's testState, check for check (IllegalArgumentException becomes a SparklessError). */
  function testState(
    expectedData: { value: number } | undefined,
    flags: {
      shouldBeUpdated?: boolean;
      shouldBeRemoved?: boolean;
      shouldBeTimingOut?: boolean;
    } = {},
  ) {
    if (expectedData !== undefined) {
      expect(state.exists()).toBe(true);
      expect(state.get()).toBe(expectedData.value);
      expect(state.getOption()).toBe(expectedData.value);
      expect(state.getOption() ?? -1).toBe(expectedData.value);
    } else {
      expect(state.exists()).toBe(false);
      expectThrows(() => state.get(), 'STATE_MISSING'); // Spark: NoSuchElementException
      expect(state.getOption()).toBeUndefined();
      expect(state.getOption() ?? -1).toBe(-1);
    }

    expect(state.isTimingOut()).toBe(flags.shouldBeTimingOut ?? false);
    if (flags.shouldBeTimingOut) {
      expectThrows(() => state.remove());
      expectThrows(() => state.update(-1));
    }

    expect(state.isUpdated).toBe(flags.shouldBeUpdated ?? false);

    expect(state.isRemoved).toBe(flags.shouldBeRemoved ?? false);
    if (flags.shouldBeRemoved) {
      expectThrows(() => state.remove());
      expectThrows(() => state.update(-1));
    }
  }

  it('get, exists, update, remove', () => {
    state = new State<number>(undefined); // Spark: new StateImpl[Int]()
    testState(undefined);

    state = new State<number>(undefined); // Spark: state.wrap(None)
    testState(undefined);

    state = new State<number>({ value: 1 }); // Spark: state.wrap(Some(1))
    testState({ value: 1 });

    state.update(2);
    testState({ value: 2 }, { shouldBeUpdated: true });

    state = new State<number>(undefined);
    state.update(2);
    testState({ value: 2 }, { shouldBeUpdated: true });

    state.remove();
    testState(undefined, { shouldBeRemoved: true });

    state = new State<number>({ value: 3 }, true); // Spark: state.wrapTimingOutState(3)
    testState({ value: 3 }, { shouldBeTimingOut: true });
  });
});
