/**
 * Property-based tests of the engine: identities between operators, results that must not depend
 * on how a batch is split into shards or how many partitions a shuffle has, and two small models
 * (window, mapWithState timeouts) computed by hand and compared with what the executor produces.
 *
 * Inputs are a few batches of small records (words over a five-letter alphabet, small positive
 * integers), so that keys repeat within and across batches. Where Spark leaves an order undefined
 * (after a shuffle, across shards) outputs are compared per batch as multisets. Left out, because
 * their results legitimately depend on the layout or on order: glom, mapPartitions, print, take,
 * and folds that are not commutative and associative.
 */
import fc from 'fast-check';
import {
  type DStream,
  type Duration,
  type Key,
  milliseconds,
  type Pair,
  pair,
  type State,
} from 'sparkless';
import { type BatchOutput, runBatches } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';

// ---- inputs -------------------------------------------------------------------------------------

type KV = Pair<Key, number>;

const NUM_RUNS = 60;

const word = fc.constantFrom('a', 'b', 'c', 'd', 'e');
/** Keys of every kind, with 0 and -0 (one key) and an array key. */
const key = fc.constantFrom<Key>('a', 'b', 'c', 0, -0, 1, true, ['a', 1]);
const small = fc.integer({ min: 1, max: 3 });
const kv: fc.Arbitrary<KV> = fc.tuple(key, small);

/** One input stream: 1 to 6 batches of 0 to 6 records each. */
const batchesOf = <T>(record: fc.Arbitrary<T>): fc.Arbitrary<T[][]> =>
  fc.array(fc.array(record, { maxLength: 6 }), { minLength: 1, maxLength: 6 });

/** How the engine lays a run out: shards per input batch, and shuffle and state partitions. */
interface Layout {
  /** Shards each input batch is split into (runBatches' numPartitions). */
  readonly numPartitions: number;
  /** The job's defaultPartitions, used by operators that do not say. */
  readonly defaultPartitions: number;
  /** Passed explicitly as `partitions` to the operators that take it. */
  readonly partitions: number;
}

const SERIAL: Layout = { numPartitions: 1, defaultPartitions: 1, partitions: 1 };

const layout: fc.Arbitrary<Layout> = fc.record({
  numPartitions: fc.integer({ min: 1, max: 4 }),
  defaultPartitions: fc.integer({ min: 1, max: 5 }),
  partitions: fc.integer({ min: 1, max: 5 }),
});

/** A batch interval, and a window and slide as multiples of it with window >= slide. */
interface Geometry {
  readonly batchMs: number;
  /** Window length in batches. */
  readonly w: number;
  /** Slide in batches. */
  readonly s: number;
}

const geometry: fc.Arbitrary<Geometry> = fc
  .record({
    batchMs: fc.constantFrom(500, 1000, 2000),
    s: fc.integer({ min: 1, max: 3 }),
    extra: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ batchMs, s, extra }) => ({ batchMs, s, w: s + extra }));

const ms = (n: number): Duration => milliseconds(n);
const windowOf = (g: Geometry) => ms(g.w * g.batchMs);
const slideOf = (g: Geometry) => ms(g.s * g.batchMs);

const add = (a: number, b: number) => a + b;
const sub = (a: number, b: number) => a - b;
const sum = (xs: readonly number[]) => xs.reduce(add, 0);
const byNumber = (a: number, b: number) => a - b;

// ---- comparing outputs ----------------------------------------------------------------------------

/**
 * A batch's records as a sorted list of their JSON texts: a multiset. JSON writes -0 as 0, as the
 * key encoding does: 0 and -0 are one key, and which of the two a combined record carries depends
 * on arrival order.
 */
function bag(records: readonly unknown[]): string[] {
  return records.map((r) => JSON.stringify(r)).sort();
}

/** Every batch's time and its records as a multiset, after normalising each record. */
function bags<U>(out: readonly BatchOutput<U>[], norm: (r: U) => unknown = (r) => r) {
  return out.map((b) => ({ timeMs: b.timeMs, records: bag(b.records.map(norm)) }));
}

/** Sorts the value list of a [key, values] record. */
const sortedValues = (r: readonly [Key, readonly number[]]) => [r[0], [...r[1]].sort(byNumber)];

/** The batches that a run over these inputs needs so that windows drain and keys time out. */
const batchCount = (inputs: readonly unknown[][], g: Geometry) =>
  Math.max(...inputs.map((i) => i.length)) + g.w + 3;

// ---- layout independence ------------------------------------------------------------------------

/**
 * Declares a property: building `build` over two random pair streams gives the same per-batch
 * multisets under a random layout as with one shard and one partition everywhere.
 */
function layoutFree<U>(
  name: string,
  build: (s: DStream<KV>, t: DStream<KV>, g: Geometry, l: Layout) => DStream<U>,
  norm?: (r: U) => unknown,
) {
  it(`${name} does not depend on shards or partitions`, async () => {
    await fc.assert(
      fc.asyncProperty(
        batchesOf(kv),
        batchesOf(kv),
        geometry,
        layout,
        async (left, right, g, l) => {
          const run = (lay: Layout) =>
            runBatches([left, right], (s, t) => build(s, t, g, lay), {
              numPartitions: lay.numPartitions,
              defaultPartitions: lay.defaultPartitions,
              batchInterval: ms(g.batchMs),
              numBatches: batchCount([left, right], g),
            });
          const [spread, serial] = await Promise.all([run(l), run(SERIAL)]);
          expect(bags(spread, norm)).toEqual(bags(serial, norm));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
}

/** Counts per key with mapWithState, emitting [key, count] per record and a mark on timeout. */
function counting(key: Key, value: number | undefined, state: State<number>) {
  if (state.isTimingOut()) return [key, 'timeout', state.get(), value === undefined] as const;
  state.update((state.getOption() ?? 0) + 1);
  return [key, state.get()] as const;
}

describe('results do not depend on the layout', () => {
  // element-wise
  layoutFree('map', (s) => s.map(([k, v]) => `${k}${v}`));
  layoutFree('flatMap', (s) => s.flatMap(([k, v]) => Array.from({ length: v }, () => k)));
  layoutFree('filter', (s) => s.filter(([, v]) => v % 2 === 1));
  layoutFree('union', (s, t) => s.union(t));
  layoutFree('count', (s) => s.count());

  // keyed, per batch
  layoutFree('reduceByKey', (s, _t, _g, l) => s.reduceByKey(add, { partitions: l.partitions }));
  layoutFree('reduceByKey (default partitions)', (s) => s.reduceByKey(add));
  layoutFree('groupByKey', (s) => s.groupByKey(), sortedValues);
  layoutFree('countByValue', (s) => s.map(([k]) => k).countByValue());
  layoutFree('join', (s, t, _g, l) => s.join(t, { partitions: l.partitions }));
  layoutFree('leftOuterJoin', (s, t) => s.leftOuterJoin(t));
  layoutFree('rightOuterJoin', (s, t) => s.rightOuterJoin(t));
  layoutFree('fullOuterJoin', (s, t, _g, l) => s.fullOuterJoin(t, { partitions: l.partitions }));
  layoutFree(
    'cogroup',
    (s, t) => s.cogroup(t),
    ([k, [vs, ws]]) => [k, [...vs].sort(byNumber), [...ws].sort(byNumber)],
  );
  layoutFree('transform with a reduceByKey inside', (s, _t, _g, l) =>
    s.transform((rdd) => rdd.reduceByKey(add, l.partitions)),
  );
  layoutFree('distinct via transform', (s) => s.transform((rdd) => rdd.distinct()));

  // stateful
  layoutFree('updateStateByKey (a sum that drops keys past 8)', (s, _t, _g, l) =>
    s.updateStateByKey(
      (vs: number[], total: number | undefined) => {
        const next = (total ?? 0) + sum(vs);
        return next > 8 ? undefined : next;
      },
      { partitions: l.partitions },
    ),
  );
  layoutFree('mapWithState (counts per key)', (s) => s.mapWithState({ fn: counting }));
  layoutFree('mapWithState with a timeout', (s, _t, g) =>
    s.mapWithState({ fn: counting, timeout: slideOf(g) }),
  );
  layoutFree('mapWithState stateSnapshots', (s, _t, g, l) =>
    s
      .mapWithState({ fn: counting, timeout: windowOf(g), partitions: l.partitions })
      .stateSnapshots(),
  );

  // windowed
  layoutFree('window', (s, _t, g) => s.window(windowOf(g), slideOf(g)));
  layoutFree('reduceByKeyAndWindow without inverse', (s, _t, g) =>
    s.reduceByKeyAndWindow(add, { window: windowOf(g), slide: slideOf(g) }),
  );
  layoutFree('reduceByKeyAndWindow with inverse', (s, _t, g, l) =>
    s.reduceByKeyAndWindow(add, {
      window: windowOf(g),
      slide: slideOf(g),
      inverse: sub,
      partitions: l.partitions,
    }),
  );
  layoutFree('countByValueAndWindow', (s, _t, g) =>
    s.map(([k]) => k).countByValueAndWindow(windowOf(g), slideOf(g)),
  );
  layoutFree(
    'groupByKeyAndWindow',
    (s, _t, g) => s.groupByKeyAndWindow(windowOf(g), slideOf(g)),
    sortedValues,
  );
});

// ---- identities ---------------------------------------------------------------------------------

describe('identities between operators', () => {
  it('reduceByKeyAndWindow with an inverse and a filter dropping zeros equals the plain window', async () => {
    await fc.assert(
      fc.asyncProperty(batchesOf(kv), geometry, layout, layout, async (input, g, l1, l2) => {
        const opts = (l: Layout) => ({
          numPartitions: l.numPartitions,
          defaultPartitions: l.defaultPartitions,
          batchInterval: ms(g.batchMs),
          numBatches: batchCount([input], g),
        });
        const window = { window: windowOf(g), slide: slideOf(g) };
        const [incremental, plain] = await Promise.all([
          runBatches(
            [input],
            (s) =>
              s.reduceByKeyAndWindow(add, {
                ...window,
                inverse: sub,
                filter: ([, v]) => v !== 0,
                partitions: l1.partitions,
              }),
            opts(l1),
          ),
          runBatches([input], (s) => s.reduceByKeyAndWindow(add, window), opts(l2)),
        ]);
        expect(bags(incremental)).toEqual(bags(plain));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('reduceByKey(f) equals groupByKey() then reducing each value list with f', async () => {
    const fns = { sum: add, max: (a: number, b: number) => Math.max(a, b) };
    await fc.assert(
      fc.asyncProperty(
        batchesOf(kv),
        fc.constantFrom<keyof typeof fns>('sum', 'max'),
        layout,
        layout,
        async (input, which, l1, l2) => {
          const f = fns[which];
          const opts = (l: Layout) => ({
            numPartitions: l.numPartitions,
            defaultPartitions: l.defaultPartitions,
          });
          const [reduced, grouped] = await Promise.all([
            runBatches([input], (s) => s.reduceByKey(f, { partitions: l1.partitions }), opts(l1)),
            runBatches([input], (s) => s.groupByKey().mapValues((vs) => vs.reduce(f)), opts(l2)),
          ]);
          expect(bags(reduced)).toEqual(bags(grouped));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('count() is the number of records of each batch, 0 for an empty one', async () => {
    await fc.assert(
      fc.asyncProperty(batchesOf(word), layout, async (input, l) => {
        const out = await runBatches([input], (s) => s.count(), {
          numPartitions: l.numPartitions,
          defaultPartitions: l.defaultPartitions,
        });
        expect(out.map((b) => b.records)).toEqual(input.map((b) => [b.length]));
        expect(out.map((b) => b.timeMs)).toEqual(input.map((_, i) => (i + 1) * 1000));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('countByValue equals counting by hand', async () => {
    await fc.assert(
      fc.asyncProperty(batchesOf(word), layout, async (input, l) => {
        const out = await runBatches([input], (s) => s.countByValue(), {
          numPartitions: l.numPartitions,
          defaultPartitions: l.defaultPartitions,
        });
        const expected = input.map((batch) => {
          const counts = new Map<string, number>();
          for (const w of batch) counts.set(w, (counts.get(w) ?? 0) + 1);
          return bag([...counts]);
        });
        expect(out.map((b) => bag(b.records))).toEqual(expected);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

// ---- models -------------------------------------------------------------------------------------

describe('models computed by hand', () => {
  it('window(W, S) emits at multiples of S the union of the inputs of the last W/B batches', async () => {
    await fc.assert(
      fc.asyncProperty(batchesOf(word), geometry, layout, async (input, g, l) => {
        const numBatches = batchCount([input], g);
        const out = await runBatches([input], (s) => s.window(windowOf(g), slideOf(g)), {
          numPartitions: l.numPartitions,
          defaultPartitions: l.defaultPartitions,
          batchInterval: ms(g.batchMs),
          numBatches,
        });
        // Batch k (1-based) is at time k * B; a window at T = k * B covers (T - W, T], that is the
        // batches k - w + 1 .. k, and windows are emitted when T is a multiple of S.
        const expected: { timeMs: number; records: string[] }[] = [];
        for (let k = 1; k <= numBatches; k++) {
          if (k % g.s !== 0) continue;
          const covered: string[] = [];
          for (let j = Math.max(1, k - g.w + 1); j <= k; j++) covered.push(...(input[j - 1] ?? []));
          expected.push({ timeMs: k * g.batchMs, records: bag(covered) });
        }
        expect(bags(out)).toEqual(expected);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("mapWithState times keys out by Spark's rule (last record at u, out at the first T with u < T - timeout)", async () => {
    await fc.assert(
      fc.asyncProperty(
        batchesOf(word),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(500, 1000, 2000),
        layout,
        async (input, timeoutBatches, batchMs, l) => {
          const timeoutMs = timeoutBatches * batchMs;
          const numBatches = input.length + timeoutBatches + 3;
          const calls: string[] = [];
          const out = await runBatches(
            [input],
            (s) =>
              s
                .map((w) => pair(w, 1))
                .mapWithState({
                  fn: (key, value, state: State<number>, timeMs) => {
                    calls.push(`${timeMs} ${key} ${state.isTimingOut()}`);
                    return counting(key, value, state);
                  },
                  timeout: ms(timeoutMs),
                }),
            {
              numPartitions: l.numPartitions,
              defaultPartitions: l.defaultPartitions,
              batchInterval: ms(batchMs),
              numBatches,
            },
          );

          // The model: per key, its count and the batch time of its last record.
          const state = new Map<string, { count: number; lastMs: number }>();
          const expected: { timeMs: number; records: string[] }[] = [];
          const expectedCalls: string[] = [];
          for (let k = 1; k <= numBatches; k++) {
            const T = k * batchMs;
            const emitted: unknown[] = [];
            for (const w of input[k - 1] ?? []) {
              const count = (state.get(w)?.count ?? 0) + 1;
              state.set(w, { count, lastMs: T });
              emitted.push([w, count]);
              expectedCalls.push(`${T} ${w} false`);
            }
            for (const [w, st] of [...state]) {
              if (st.lastMs < T - timeoutMs) {
                emitted.push([w, 'timeout', st.count, true]);
                expectedCalls.push(`${T} ${w} true`);
                state.delete(w);
              }
            }
            expected.push({ timeMs: T, records: bag(emitted) });
          }
          expect(bags(out)).toEqual(expected);
          // Every key is called once per record and exactly once more when it times out.
          expect(calls.sort()).toEqual(expectedCalls.sort());
          expect(state.size).toBe(0);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});
