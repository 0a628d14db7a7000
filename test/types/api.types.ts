/**
 * Compile-time tests of the public API's types, checked by `tsc` (`npm run typecheck`), never run.
 *
 * `expectType<Equal<A, B>>(true)` fails to compile unless A and B are the same type; a line under
 * `// @ts-expect-error` fails to compile unless it is an error. The streams are declared, not
 * built: only their types matter here.
 */
import {
  type DStream,
  type Duration,
  type Json,
  type Key,
  type MapWithStateDStream,
  type Pair,
  pair,
  type RDD,
  type State,
  seconds,
} from 'sparkless';
import { type BatchOutput, type RunBatchesOptions, runBatches } from 'sparkless/testing';

/** True when A and B are the same type (not merely assignable either way). */
type Equal<A, B> =
  (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;

/** Accepts only a value of type T: `expectType<Equal<A, B>>(true)`. */
function expectType<T>(_: T): void {}

declare const words: DStream<string>;
declare const counts: DStream<Pair<string, number>>;
declare const names: DStream<Pair<string, string>>;
declare const byUser: DStream<Pair<number, { page: string }>>;
declare const objectKeyed: DStream<Pair<{ id: string }, number>>;
declare const events: DStream<{ user: string; n: number }>;

// ---- pair ---------------------------------------------------------------------------------------

const p = pair('a', 1);
expectType<Equal<typeof p, Pair<string, number>>>(true);
// Not the literal types that `['a', 1] as const` would give.
expectType<Equal<typeof p, Pair<'a', 1>>>(false);
expectType<Equal<typeof p, readonly ['a', 1]>>(false);
const composite = pair(['eu', 3] as [string, number], true);
expectType<Equal<typeof composite, Pair<[string, number], boolean>>>(true);
// @ts-expect-error a key must be a string, number, boolean or an array of them
pair({ id: 'a' }, 1);
// @ts-expect-error a key must be a string, number, boolean or an array of them
pair(undefined, 1);
// @ts-expect-error a key must be a string, number, boolean or an array of them
pair(null, 1);

// ---- element-wise -------------------------------------------------------------------------------

expectType<Equal<typeof words extends DStream<infer T> ? T : never, string>>(true);
const lengths = words.map((w) => w.length);
expectType<Equal<typeof lengths, DStream<number>>>(true);
const chars = words.flatMap((w) => w.split(''));
expectType<Equal<typeof chars, DStream<string>>>(true);
const narrowed = words.map((w) => (w ? w : null)).filter((w): w is string => w !== null);
expectType<Equal<typeof narrowed, DStream<string>>>(true);
expectType<Equal<ReturnType<typeof words.count>, DStream<number>>>(true);
// @ts-expect-error union needs a stream of the same element type
words.union(lengths);

// ---- keyed --------------------------------------------------------------------------------------

const wordCounts = words.map((w) => pair(w, 1)).reduceByKey((a, b) => a + b);
expectType<Equal<typeof wordCounts, DStream<Pair<string, number>>>>(true);
// The reducer's parameters are inferred from the values.
counts.reduceByKey((a, b) => {
  expectType<Equal<typeof a, number>>(true);
  expectType<Equal<typeof b, number>>(true);
  return a + b;
});
// @ts-expect-error the reducer must return the value type
counts.reduceByKey((a, b) => `${a}${b}`);

// @ts-expect-error pair operators need a stream of [key, value] pairs
words.reduceByKey((a, b) => a + b);
// @ts-expect-error pair operators need a stream of [key, value] pairs
events.groupByKey();
// @ts-expect-error pair operators need a stream of [key, value] pairs
lengths.mapValues((v) => v);
// @ts-expect-error pair operators need a stream of [key, value] pairs
words.join(counts);

// Keys that are not Key are errors for pair operators.
// @ts-expect-error an object is not a key
objectKeyed.reduceByKey((a, b) => a + b);
// @ts-expect-error an object is not a key
objectKeyed.groupByKey();
// @ts-expect-error an object is not a key
objectKeyed.updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.length);
// @ts-expect-error an object is not a key
objectKeyed.reduceByKeyAndWindow((a, b) => a + b, { window: seconds(10) });

const grouped = counts.groupByKey();
expectType<Equal<typeof grouped, DStream<Pair<string, number[]>>>>(true);
const doubled = counts.mapValues((v) => v * 2);
expectType<Equal<typeof doubled, DStream<Pair<string, number>>>>(true);
const described = counts.mapValues((v) => `${v}`);
expectType<Equal<typeof described, DStream<Pair<string, string>>>>(true);
const spread = counts.flatMapValues((v) => [v, v]);
expectType<Equal<typeof spread, DStream<Pair<string, number>>>>(true);
const combined = counts.combineByKey(
  (v) => [v],
  (c, v) => [...c, v],
  (a, b) => [...a, ...b],
);
expectType<Equal<typeof combined, DStream<Pair<string, number[]>>>>(true);

const byValue = words.countByValue();
const byLength = lengths.countByValue();
// Usable as pairs of the element type and a count, wherever those are expected.
const byValueAsPairs: DStream<Pair<string, number>> = byValue;
const byLengthAsPairs: DStream<Pair<number, number>> = byLength;
byValue.join(counts);
expectType<Equal<typeof byValue, DStream<Pair<string, number>>>>(true);
expectType<Equal<typeof byLength, DStream<Pair<number, number>>>>(true);
// countByValue counts values that are keys.
declare const objects: DStream<{ readonly a: number }>;
// @ts-expect-error countByValue needs a stream of keys
objects.countByValue();

// Joins: the missing side of an outer join is null.
const joined = counts.join(names);
expectType<Equal<typeof joined, DStream<Pair<string, [number, string]>>>>(true);
const left = counts.leftOuterJoin(names);
expectType<Equal<typeof left, DStream<Pair<string, [number, string | null]>>>>(true);
const right = counts.rightOuterJoin(names);
expectType<Equal<typeof right, DStream<Pair<string, [number | null, string]>>>>(true);
const full = counts.fullOuterJoin(names);
expectType<Equal<typeof full, DStream<Pair<string, [number | null, string | null]>>>>(true);
const cogrouped = counts.cogroup(names);
expectType<Equal<typeof cogrouped, DStream<Pair<string, [number[], string[]]>>>>(true);
// @ts-expect-error both sides of a join need the same key type
counts.join(byUser);

// ---- stateful -----------------------------------------------------------------------------------

// updateStateByKey infers the state type from the annotated state parameter.
const totals = counts.updateStateByKey(
  (values, total: number | undefined, info) => {
    expectType<Equal<typeof values, number[]>>(true);
    expectType<Equal<typeof info.key, string>>(true);
    expectType<Equal<typeof info.timeMs, number>>(true);
    return (total ?? 0) + values.length;
  },
  { initialState: [pair('a', 3)] },
);
expectType<Equal<typeof totals, DStream<Pair<string, number>>>>(true);
const sessions = byUser.updateStateByKey((pages, seen: string[] | undefined) => [
  ...(seen ?? []),
  ...pages.map((p) => p.page),
]);
expectType<Equal<typeof sessions, DStream<Pair<number, string[]>>>>(true);
counts.updateStateByKey((values, total: number | undefined) => (total ?? 0) + values.length, {
  // @ts-expect-error initial state must have the state's type
  initialState: [pair('a', 'three')],
});

// mapWithState infers S from `state: State<S>` and M from what the function returns.
const visits = counts.mapWithState({
  fn: (key, value, state: State<number>, timeMs) => {
    expectType<Equal<typeof key, string>>(true);
    expectType<Equal<typeof value, number | undefined>>(true);
    expectType<Equal<typeof timeMs, number>>(true);
    expectType<Equal<ReturnType<typeof state.getOption>, number | undefined>>(true);
    expectType<Equal<ReturnType<typeof state.isTimingOut>, boolean>>(true);
    state.update((state.getOption() ?? 0) + (value ?? 0));
    return { key, total: state.get() };
  },
  timeout: seconds(30),
});
expectType<
  Equal<typeof visits, MapWithStateDStream<string, number, { key: string; total: number }>>
>(true);
const emitted: DStream<{ key: string; total: number }> = visits;
expectType<Equal<ReturnType<typeof visits.stateSnapshots>, DStream<Pair<string, number>>>>(true);
counts.mapWithState({
  fn: (_key, value, state: State<number>) => {
    // @ts-expect-error the state has the annotated type
    state.update('x');
    return value;
  },
});
counts.mapWithState({
  fn: (_key, value) => value,
  // @ts-expect-error durations are values such as seconds(30), never bare numbers
  timeout: 30_000,
});

// ---- windowed -----------------------------------------------------------------------------------

const windowed = words.window(seconds(30), seconds(10));
expectType<Equal<typeof windowed, DStream<string>>>(true);
// @ts-expect-error durations are values such as seconds(30), never bare numbers
words.window(30_000);
// @ts-expect-error durations are values such as seconds(30), never bare numbers
words.window(seconds(30), 10_000);
// @ts-expect-error durations are values such as seconds(30), never bare numbers
words.countByWindow(30);
// @ts-expect-error durations are values such as seconds(30), never bare numbers
counts.reduceByKeyAndWindow((a, b) => a + b, { window: 30_000 });
// @ts-expect-error durations are values such as seconds(30), never bare numbers
counts.groupByKeyAndWindow(30_000);

const windowCounts = counts.reduceByKeyAndWindow((a, b) => a + b, {
  window: seconds(30),
  slide: seconds(10),
  inverse: (a, b) => a - b,
  filter: ([, v]) => v > 0,
});
expectType<Equal<typeof windowCounts, DStream<Pair<string, number>>>>(true);
counts.reduceByKeyAndWindow((a, b) => a + b, {
  window: seconds(30),
  filter: (entry) => {
    expectType<Equal<typeof entry, Pair<string, number>>>(true);
    return true;
  },
});
const windowGroups = counts.groupByKeyAndWindow(seconds(30), seconds(10));
expectType<Equal<typeof windowGroups, DStream<Pair<string, number[]>>>>(true);
const windowValues = words.countByValueAndWindow(seconds(30));
const windowValuesAsPairs: DStream<Pair<string, number>> = windowValues;
expectType<Equal<typeof windowValues, DStream<Pair<string, number>>>>(true);
expectType<Equal<ReturnType<typeof words.countByWindow>, DStream<number>>>(true);
const longest = words.reduceByWindow((a, b) => (a.length >= b.length ? a : b), {
  window: seconds(30),
});
expectType<Equal<typeof longest, DStream<string>>>(true);
const d: Duration = seconds(1);
expectType<Equal<typeof d.ms, number>>(true);

// ---- transform and RDDs -------------------------------------------------------------------------

const transformed = words.transform((rdd, timeMs) => {
  expectType<Equal<typeof rdd, RDD<string>>>(true);
  expectType<Equal<typeof timeMs, number>>(true);
  return rdd.map((w) => pair(w, 1)).reduceByKey((a, b) => a + b);
});
expectType<Equal<typeof transformed, DStream<Pair<string, number>>>>(true);
const withOther = words.transformWith(counts, (a, b) => a.map((w) => pair(w, 0)).union(b));
expectType<Equal<typeof withOther, DStream<Pair<string, number>>>>(true);

words.foreachRDD(async (rdd, timeMs) => {
  expectType<Equal<typeof timeMs, number>>(true);
  expectType<Equal<ReturnType<typeof rdd.collect>, Promise<string[]>>>(true);
  expectType<Equal<ReturnType<typeof rdd.take>, Promise<string[]>>>(true);
  expectType<Equal<ReturnType<typeof rdd.count>, Promise<number>>>(true);
  expectType<Equal<ReturnType<typeof rdd.isEmpty>, Promise<boolean>>>(true);
  const longestWord = rdd.reduce((a, b) => (a.length >= b.length ? a : b));
  expectType<Equal<typeof longestWord, Promise<string>>>(true);
  // @ts-expect-error actions return Promises: await them
  const n: number = rdd.count();
  expectType<number>(n);
});
declare const pairs: RDD<Pair<string, number>>;
const rddGroups = pairs.groupByKey();
expectType<Equal<typeof rddGroups, RDD<Pair<string, number[]>>>>(true);
const rddJoined = pairs.leftOuterJoin(pairs.mapValues((v) => `${v}`));
expectType<Equal<typeof rddJoined, RDD<Pair<string, [number, string | null]>>>>(true);
expectType<Equal<ReturnType<typeof pairs.distinct>, RDD<Pair<string, number>>>>(true);
// @ts-expect-error pair operators need an RDD of [key, value] pairs
(null as unknown as RDD<string>).reduceByKey((a: string, b: string) => a + b);

// ---- outputs ------------------------------------------------------------------------------------

counts.saveToTable('totals');
byUser.mapValues((v) => ({ page: v.page, at: [1, 2] })).saveToTable('pages');
// @ts-expect-error saveToTable needs a stream of [key, value] pairs
words.saveToTable('words');
// @ts-expect-error the values of a results table must be JSON data
counts.mapValues((v) => () => v).saveToTable('functions');
// @ts-expect-error the values of a results table must be JSON data
counts.mapValues((v) => (v > 0 ? v : undefined)).saveToTable('maybe');
words.saveToStream('out', { partitionKey: (w) => w, encode: (w) => w });
// @ts-expect-error print takes a record count
words.print('10');

// ---- the test harness ---------------------------------------------------------------------------

const input: string[][] = [['a', 'b'], ['a']];
const run = runBatches([input], (s) => {
  expectType<Equal<typeof s, DStream<string>>>(true);
  return s.map((w) => pair(w, 1)).reduceByKey((a, b) => a + b);
});
expectType<Equal<typeof run, Promise<BatchOutput<Pair<string, number>>[]>>>(true);

const twoInputs = runBatches(
  [[[1, 2]], [[pair('a', true)]]],
  (numbers, flags) => {
    expectType<Equal<typeof flags, DStream<Pair<string, boolean>>>>(true);
    return numbers.map((n) => n * 2);
  },
  { numPartitions: 2, batchInterval: seconds(2) },
);
expectType<Equal<typeof twoInputs, Promise<BatchOutput<number>[]>>>(true);
const harnessOptions: RunBatchesOptions = {
  numPartitions: 2,
  // @ts-expect-error the batch interval is a Duration
  batchInterval: 1000,
};
// @ts-expect-error build gets one stream per input
runBatches([input], (a: DStream<string>, b: DStream<string>) => a.union(b));

// Inputs written inline, the usual way to write a test table, should give streams of the widened
// types (string, number, Pair<string, number>), as a variable typed string[][] does above.
runBatches(
  [
    [
      [
        ['a', 1],
        ['b', 2],
      ],
    ],
  ],
  (s) => {
    expectType<Equal<typeof s, DStream<Pair<string, number>>>>(true);
    return s.reduceByKey((a, b) => a + b);
  },
);
runBatches([[[1, 2]]], (s) => {
  expectType<Equal<typeof s, DStream<number>>>(true);
  return s.reduce((a, b) => a + b);
});
runBatches([[['a', 'b']], [[{ user: 'u1', n: 1 }]]], (words, objects) => {
  expectType<Equal<typeof words, DStream<string>>>(true);
  expectType<Equal<typeof objects, DStream<{ readonly user: string; readonly n: number }>>>(true);
  return words.filter((w) => w !== 'z');
});

// Keep the declarations used.
export type { Json, Key };
export const uses = [emitted, harnessOptions, byValueAsPairs, byLengthAsPairs, windowValuesAsPairs];
