/**
 * RDDs as transform and foreachRDD see them: lazy transformations inside transform, actions in
 * foreachRDD only.
 */
import { type DStream, job, pair, type RDD, SparklessError, seconds } from 'sparkless';
import { LocalExecutor, runBatches } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';

const sum = (a: number, b: number) => a + b;

/** Records compared as a multiset: order after a shuffle is undefined, as in Spark. */
const sorted = <T>(records: readonly T[]): T[] =>
  [...records].sort((a, b) => {
    const x = JSON.stringify(a);
    const y = JSON.stringify(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });

/** The records of one batch through `fn` inside transform. */
async function viaTransform<T, U>(
  batch: readonly T[],
  fn: (rdd: RDD<T>) => RDD<U>,
  numPartitions = 1,
): Promise<U[]> {
  const out = await runBatches([[batch]], (s: DStream<T>) => s.transform(fn), { numPartitions });
  expect(out).toHaveLength(1);
  return out[0]!.records;
}

/** The records of one batch of two inputs through `fn` inside transformWith. */
async function viaTransformWith<A, B, U>(
  a: readonly A[],
  b: readonly B[],
  fn: (x: RDD<A>, y: RDD<B>) => RDD<U>,
): Promise<U[]> {
  const out = await runBatches([[a], [b]], (x: DStream<A>, y: DStream<B>) =>
    x.transformWith(y, fn),
  );
  return out[0]!.records;
}

/** Runs one batch of `batch` through a job whose foreachRDD calls `fn`, and returns its result. */
async function inForeach<T, R>(
  batch: readonly T[],
  fn: (rdd: RDD<T>, timeMs: number) => Promise<R>,
  opts: { maxCollect?: number; numPartitions?: number } = {},
): Promise<R> {
  let result: { value: R } | undefined;
  const j = job('actions', { batchInterval: seconds(1) }, (ctx) => {
    ctx.queue<T>('in').foreachRDD(async (rdd, t) => {
      result = { value: await fn(rdd, t) };
    });
  });
  const exec = new LocalExecutor(j, opts.maxCollect ? { maxCollect: opts.maxCollect } : {});
  const n = opts.numPartitions ?? 1;
  const shards = Array.from({ length: n }, (_, i) => batch.filter((_, j) => j % n === i));
  await exec.runBatch(1000, { in: shards });
  expect(result, 'foreachRDD did not run').toBeDefined();
  return result!.value;
}

describe('transformations inside transform', () => {
  it('maps, flat-maps and filters record by record, in order', async () => {
    expect(
      await viaTransform([1, 2, 3, 4], (r) =>
        r
          .map((x) => x * 10)
          .flatMap((x) => [x, x + 1])
          .filter((x) => x % 20 !== 0),
      ),
    ).toEqual([10, 11, 21, 30, 31, 41]);
  });

  it('maps whole partitions with their index', async () => {
    expect(
      await viaTransform(
        [1, 2, 3, 4, 5],
        (r) => r.mapPartitions((recs, p) => [{ p, n: recs.length, sum: recs.reduce(sum, 0) }]),
        2,
      ),
    ).toEqual([
      { p: 0, n: 2, sum: 3 },
      { p: 1, n: 3, sum: 12 },
    ]);
  });

  it('maps values and keeps keys', async () => {
    expect(
      await viaTransform([pair('a', 1), pair('b', 2)], (r) => r.mapValues((v) => `${v}!`)),
    ).toEqual([
      ['a', '1!'],
      ['b', '2!'],
    ]);
  });

  it("puts this RDD's records before the other's in a union", async () => {
    expect(
      await viaTransform([1, 2, 3, 4, 5], (r) =>
        r.filter((x) => x % 2 === 0).union(r.filter((x) => x % 2 === 1)),
      ),
    ).toEqual([2, 4, 1, 3, 5]);
  });

  it('reduces by key across partitions', async () => {
    const batch = [pair('a', 1), pair('b', 2), pair('a', 3), pair('c', 4), pair('a', 5)];
    expect(sorted(await viaTransform(batch, (r) => r.reduceByKey(sum), 2))).toEqual([
      ['a', 9],
      ['b', 2],
      ['c', 4],
    ]);
    expect(sorted(await viaTransform(batch, (r) => r.reduceByKey(sum, 1), 3))).toEqual([
      ['a', 9],
      ['b', 2],
      ['c', 4],
    ]);
  });

  it('groups values by key in arrival order', async () => {
    const batch = [pair('a', 3), pair('b', 2), pair('a', 1), pair('a', 2)];
    expect(sorted(await viaTransform(batch, (r) => r.groupByKey()))).toEqual([
      ['a', [3, 1, 2]],
      ['b', [2]],
    ]);
  });

  describe('joins', () => {
    const left = [pair('a', 1), pair('b', 2), pair('a', 3)];
    const right = [pair('a', 'x'), pair('c', 'y'), pair('a', 'z')];

    it('joins every value of a key with every value of it on the other side', async () => {
      expect(sorted(await viaTransformWith(left, right, (x, y) => x.join(y)))).toEqual([
        ['a', [1, 'x']],
        ['a', [1, 'z']],
        ['a', [3, 'x']],
        ['a', [3, 'z']],
      ]);
    });

    it('keeps missing keys with null in outer joins', async () => {
      const a = [
        ['a', [1, 'x']],
        ['a', [1, 'z']],
        ['a', [3, 'x']],
        ['a', [3, 'z']],
      ];
      expect(sorted(await viaTransformWith(left, right, (x, y) => x.leftOuterJoin(y)))).toEqual(
        sorted([...a, ['b', [2, null]]]),
      );
      expect(sorted(await viaTransformWith(left, right, (x, y) => x.rightOuterJoin(y)))).toEqual(
        sorted([...a, ['c', [null, 'y']]]),
      );
      expect(sorted(await viaTransformWith(left, right, (x, y) => x.fullOuterJoin(y)))).toEqual(
        sorted([...a, ['b', [2, null]], ['c', [null, 'y']]]),
      );
    });

    it('cogroups the values of both sides per key', async () => {
      expect(sorted(await viaTransformWith(left, right, (x, y) => x.cogroup(y, 2)))).toEqual([
        [
          'a',
          [
            [1, 3],
            ['x', 'z'],
          ],
        ],
        ['b', [[2], []]],
        ['c', [[], ['y']]],
      ]);
    });

    it('joins two RDDs derived from the same batch', async () => {
      const out = await viaTransform([pair('k', 1), pair('k', 2)], (r) =>
        r.filter(([, v]) => v === 1).join(r.filter(([, v]) => v === 2)),
      );
      expect(out).toEqual([['k', [1, 2]]]);
    });
  });

  it('keeps distinct records, comparing them as JSON values', async () => {
    const out = await viaTransform(
      [{ a: 1, b: 2 }, { b: 2, a: 1 }, { a: 2 }, [1, 2], [1, 2], 'x', 'x', 1, '1'],
      (r) => r.distinct(),
      3,
    );
    expect(sorted(out)).toEqual(sorted([{ a: 1, b: 2 }, { a: 2 }, [1, 2], 'x', 1, '1']));
  });

  describe('sorting', () => {
    const values = [5, 3, 9, 1, 7, 2, 8, 6, 4, 0];

    it('sorts ascending by default and descending on request', async () => {
      expect(await viaTransform(values, (r) => r.sortBy((x) => x), 2)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
      ]);
      expect(
        await viaTransform(values, (r) => r.sortBy((x) => x, { ascending: false }), 2),
      ).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    });

    it.each([true, false])(
      'sorts into range partitions whose concatenation is sorted (ascending: %s)',
      async (ascending) => {
        const parts = await viaTransform(
          values,
          (r) =>
            r
              .sortBy((x) => -x * 2, { ascending, partitions: 3 })
              .mapPartitions((recs, p) => [pair(p, recs)]),
          2,
        );
        expect(parts.map(([p]) => p)).toEqual([0, 1, 2]);
        for (const [, recs] of parts) expect(recs.length).toBeGreaterThan(0);
        const all = parts.flatMap(([, recs]) => recs);
        const expected = ascending
          ? [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
          : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        expect(all).toEqual(expected);
      },
    );

    it('sorts pairs by key, strings and tuples included', async () => {
      const batch = [pair('b', 1), pair('a', 2), pair('c', 3), pair('a', 4)];
      const asc = await viaTransform(batch, (r) => r.sortByKey());
      expect(asc.map(([k]) => k)).toEqual(['a', 'a', 'b', 'c']);
      const desc = await viaTransform(batch, (r) => r.sortByKey({ ascending: false }), 2);
      expect(desc.map(([k]) => k)).toEqual(['c', 'b', 'a', 'a']);
      const tuples = await viaTransform(
        [pair(['x', 2], 1), pair(['x', 10], 2), pair(['a', 5], 3)],
        (r) => r.sortByKey(),
      );
      expect(tuples.map(([, v]) => v)).toEqual([3, 1, 2]);
    });
  });

  it('pairs every record with every record of the other in a cartesian product', async () => {
    expect(
      sorted(await viaTransformWith([1, 2], ['x', 'y', 'z'], (a, b) => a.cartesian(b))),
    ).toEqual(
      sorted([
        [1, 'x'],
        [1, 'y'],
        [1, 'z'],
        [2, 'x'],
        [2, 'y'],
        [2, 'z'],
      ]),
    );
    expect(await viaTransformWith([1, 2], [] as string[], (a, b) => a.cartesian(b))).toEqual([]);
  });

  it('gives the transform function each batch time', async () => {
    const out = await runBatches([[[1], [], [2]]], (s) =>
      s.transform((r, t) => r.map((x) => [x, t])),
    );
    expect(out).toEqual([
      { timeMs: 1000, records: [[1, 1000]] },
      { timeMs: 2000, records: [] },
      { timeMs: 3000, records: [[2, 3000]] },
    ]);
  });

  it.each(['count', 'collect', 'take', 'reduce', 'isEmpty'] as const)(
    'rejects %s inside transform with ACTION_IN_TRANSFORM when the job is defined',
    (action) => {
      const define = () =>
        job('action', { batchInterval: seconds(1) }, (ctx) => {
          ctx
            .queue<number>('in')
            .transform((rdd) => {
              const run = {
                count: () => rdd.count(),
                collect: () => rdd.collect(),
                take: () => rdd.take(1),
                reduce: () => rdd.reduce((a, b) => a + b),
                isEmpty: () => rdd.isEmpty(),
              }[action];
              void run();
              return rdd;
            })
            .print();
        });
      expect(define).toThrow(
        expect.toSatisfy(
          (e: unknown) =>
            SparklessError.is(e, 'ACTION_IN_TRANSFORM') &&
            /actions are not allowed in transform/.test(e.message) &&
            /use foreachRDD/.test(e.message),
        ),
      );
    },
  );

  it('fails clearly when transform returns something other than an RDD', async () => {
    await expect(
      runBatches([[[1]]], (s) => s.transform(((r: RDD<number>) => [r]) as never)),
    ).rejects.toSatisfy(
      (e) =>
        SparklessError.is(e, 'INVALID_ARGUMENT') &&
        e.message.includes('1:transform: the transform function must return an RDD') &&
        e.message.includes('return the transformed rdd'),
    );
  });

  it('fails if an RDD of another batch is combined with this one', async () => {
    let previous: RDD<number> | undefined;
    const batches: number[][] = [[1], [2]];
    await expect(
      runBatches([batches], (s) =>
        s.transform((r) => {
          const other = previous;
          previous = r;
          return other ? r.union(other) : r;
        }),
      ),
    ).rejects.toSatisfy(
      (e) =>
        SparklessError.is(e, 'FOREIGN_STREAM') &&
        e.message.includes('RDD.union: the other RDD must belong to the same batch'),
    );
  });
});

describe('actions in foreachRDD', () => {
  const batch = [pair('a', 1), pair('b', 2), pair('a', 3), pair('c', 4), pair('b', 5)];

  it('collects every record, partition by partition', async () => {
    expect(await inForeach(batch, (r) => r.collect(), { numPartitions: 2 })).toEqual([
      pair('a', 1),
      pair('a', 3),
      pair('b', 5),
      pair('b', 2),
      pair('c', 4),
    ]);
  });

  it('collects the result of a shuffle', async () => {
    expect(sorted(await inForeach(batch, (r) => r.reduceByKey(sum, 3).collect()))).toEqual([
      ['a', 4],
      ['b', 7],
      ['c', 4],
    ]);
  });

  it('takes the first n records in partition order', async () => {
    expect(await inForeach([1, 2, 3, 4, 5, 6], (r) => r.take(4), { numPartitions: 3 })).toEqual([
      1, 4, 2, 5,
    ]);
    expect(await inForeach([1, 2], (r) => r.take(5))).toEqual([1, 2]);
    expect(await inForeach([1, 2], (r) => r.take(0))).toEqual([]);
  });

  it('counts, reduces and tells whether an RDD is empty', async () => {
    expect(await inForeach(batch, (r) => r.count(), { numPartitions: 2 })).toBe(5);
    expect(await inForeach([1, 2, 3, 4], (r) => r.reduce(sum), { numPartitions: 2 })).toBe(10);
    expect(await inForeach([1, 2], (r) => r.isEmpty())).toBe(false);
    expect(await inForeach([1, 2], (r) => r.filter((x) => x > 2).isEmpty())).toBe(true);
    expect(await inForeach([] as number[], (r) => r.count())).toBe(0);
  });

  it('fails to reduce an empty RDD, as Spark does', async () => {
    const err = await inForeach([] as number[], (r) =>
      r.reduce(sum).then(
        () => undefined,
        (e) => e,
      ),
    );
    expect(SparklessError.is(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toBe('RDD.reduce: the RDD is empty; check isEmpty() first');
  });

  it('fails with RESULT_TOO_LARGE when a collect exceeds maxCollect', async () => {
    const err = await inForeach(
      [1, 2, 3, 4, 5],
      (r) =>
        r.collect().then(
          () => undefined,
          (e) => e,
        ),
      { maxCollect: 3 },
    );
    expect(SparklessError.is(err, 'RESULT_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toContain('5 records exceed the limit of 3');
    // At the limit, and after reducing, it is fine.
    expect(await inForeach([1, 2, 3], (r) => r.collect(), { maxCollect: 3 })).toEqual([1, 2, 3]);
    expect(await inForeach([1, 2, 3, 4, 5], (r) => r.take(3), { maxCollect: 3 })).toEqual([
      1, 2, 3,
    ]);
  });

  it('fails the batch when a foreachRDD function rejects', async () => {
    const j = job('actions', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue<number>('in').foreachRDD(async (rdd) => {
        await rdd.collect();
      });
    });
    await expect(
      new LocalExecutor(j, { maxCollect: 1 }).runBatch(1000, { in: [[1, 2]] }),
    ).rejects.toSatisfy((e) => SparklessError.is(e, 'RESULT_TOO_LARGE'));
  });

  it('receives the batch time, and runs only when its stream generates', async () => {
    const seen: Array<[number, number[]]> = [];
    const j = job('times', { batchInterval: seconds(1) }, (ctx) => {
      const s = ctx.queue<number>('in');
      s.foreachRDD(async (rdd, t) => {
        seen.push([t, await rdd.collect()]);
      });
      s.window(seconds(2), seconds(2)).foreachRDD(async (rdd, t) => {
        seen.push([-t, await rdd.collect()]);
      });
    });
    const exec = new LocalExecutor(j);
    for (const [t, records] of [
      [1000, [1]],
      [2000, [2]],
      [3000, []],
      [4000, [4]],
    ] as const) {
      await exec.runBatch(t, { in: [records] });
    }
    expect(seen).toEqual([
      [1000, [1]],
      [2000, [2]],
      [-2000, [1, 2]],
      [3000, []],
      [4000, [4]],
      [-4000, [4]],
    ]);
  });
});
