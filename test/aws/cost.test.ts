/**
 * The protocol's cost shape (DESIGN: cost shape), counted as requests per batch to the stores
 * (MemoryProtocolStores counts each operation as the DynamoDB stores would send it) and to the
 * shard reader: map-side writes do not grow with records, reduce-side writes grow with the keys
 * changed, an inverse window reads the same panes whatever its length, and an empty batch costs
 * a fixed, small number of requests.
 */
import { type DStream, job, pair, type State, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import {
  afterCall,
  B,
  expectSameAsOracle,
  type Hook,
  type JobFactory,
  makeWorld,
  memoryStores,
  T0,
  type World,
} from './harness.js';

type Counts = Record<string, number>;

/**
 * Runs `batches` batches and returns the requests of each, by operation: from one move of the
 * head to the next (so a batch's plan, tasks, outputs and commit). Reader calls are prefixed
 * `reader.`; user-visible pane reads (`paneEnds`) count the pane ends a task asked for.
 */
async function requestsPerBatch(
  factory: JobFactory,
  batches: number,
  put: (w: World) => Promise<void>,
  shards = 3,
): Promise<{ w: World; perBatch: Map<number, Counts> }> {
  const kit = memoryStores();
  // Batches one after the other, so that the requests between two commits are one batch's.
  const w = await makeWorld(factory, {
    shards: { lines: shards },
    makeStores: () => kit,
    settings: { pipeline: false },
  });
  await put(w);
  const reader = new Map<string, number>();
  const countReader: Hook = async (call, next) => {
    reader.set(`reader.${call.op}`, (reader.get(`reader.${call.op}`) ?? 0) + 1);
    return next();
  };
  w.readerHooks.push(countReader);
  const snapshot = (): Counts => ({
    ...Object.fromEntries(kit.memory.requests),
    ...Object.fromEntries(reader),
  });
  const c = w.coordinator();
  // The coordinator lists shards with its own reader.
  c.readerHooks.push(countReader);
  w.workerHooks.push(async (call, next) => {
    if (call.op === 'loadPanes') {
      const need = call.args[2] as { panes: readonly number[] };
      reader.set('paneEnds', (reader.get('paneEnds') ?? 0) + need.panes.length);
    }
    return next();
  });
  const snapshots: Array<[number, Counts]> = [];
  c.storeHooks.push(
    afterCall((call) => {
      if (call.op === 'advanceHead') snapshots.push([call.args[0] as number, snapshot()]);
    }),
  );
  await c.run(batches);
  await w.settle();
  const perBatch = new Map<number, Counts>();
  snapshots.forEach(([t, now], i) => {
    const before = i > 0 ? snapshots[i - 1]![1] : {};
    const diff: Counts = {};
    for (const [op, n] of Object.entries(now))
      if (n - (before[op] ?? 0) > 0) diff[op] = n - (before[op] ?? 0);
    perBatch.set(t, diff);
  });
  return { w, perBatch };
}

const at = (b: number) => T0 + b * B;
const total = (c: Counts) =>
  Object.entries(c)
    .filter(([op]) => op !== 'paneEnds')
    .reduce((n, [, v]) => n + v, 0);

/** Puts `n` records `key` cycling through `keys`, round robin over shards, read by batch `b`. */
async function putBatch(w: World, b: number, n: number, keys: readonly string[]) {
  const shards = w.shardsOf('lines');
  for (let i = 0; i < n; i++)
    await w.put(
      shards[i % shards.length]!,
      keys[Math.floor(i / shards.length) % keys.length]!,
      at(b) - 1,
    );
}

const add = (a: number, b: number) => a + b;
const lineJob =
  (
    name: string,
    build: (lines: DStream<string>, o: Parameters<JobFactory>[0]) => void,
  ): JobFactory =>
  (o) =>
    job(name, { batchInterval: seconds(1), defaultPartitions: 4 }, (ctx) =>
      build(ctx.kinesis('lines', { decode: utf8 }), o),
    );

describe('cost shape', () => {
  it('map-stage block writes do not grow with records: 10 and 10,000 records of 3 keys write the same blocks', async () => {
    const f = lineJob('blocks', (lines, o) =>
      lines
        .map((k) => pair(k, 1))
        .reduceByKey(add)
        .foreachRDD(o.foreach('counts')),
    );
    const { w, perBatch } = await requestsPerBatch(f, 6, async (w) => {
      await putBatch(w, 2, 10, ['a', 'b', 'c']);
      await putBatch(w, 4, 10_000, ['a', 'b', 'c']);
    });
    const small = perBatch.get(at(2))!;
    const large = perBatch.get(at(4))!;
    // 3 shards, each with all 3 keys, which hash to 3 of the 4 partitions: 9 blocks either way.
    expect([small.putBlock, large.putBlock]).toEqual([9, 9]);
    // One claim per task (3 map, 4 reduce), whatever the records.
    expect([small.putClaim, large.putClaim]).toEqual([7, 7]);
    expect(large).toEqual(small);
    expect(total(small)).toBe(52);
    await expectSameAsOracle(w, { batches: 6 });
  });

  it('reduce-side state writes are the keys changed: mapWithState writes the keys of its records only', async () => {
    const fn = (_k: string, v: string | undefined, s: State<number>) => {
      s.update((s.getOption() ?? 0) + (v === undefined ? 0 : 1));
      return undefined;
    };
    const f = lineJob('touched', (lines, o) =>
      lines
        .map((k) => pair(k, k))
        .mapWithState({ fn, name: 'seen' })
        .foreachRDD(o.foreach('seen')),
    );
    const keys = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `k${from + i}`);
    const { w, perBatch } = await requestsPerBatch(f, 7, async (w) => {
      await putBatch(w, 1, 600, keys(200));
      await putBatch(w, 3, 60, keys(5));
      await putBatch(w, 4, 90, keys(30, 190));
    });
    expect(perBatch.get(at(1))!.writeState).toBe(200);
    expect(perBatch.get(at(3))!.writeState).toBe(5);
    // 10 of these keys are old, 20 new: 30 changed.
    expect(perBatch.get(at(4))!.writeState).toBe(30);
    expect(perBatch.get(at(5))!.writeState).toBeUndefined();
    expect((await w.kit.stateOf('seen')).length).toBe(220);
    await expectSameAsOracle(w, { batches: 7 });
  });

  it('updateStateByKey writes every key it keeps, touched or not (it visits every key each batch)', async () => {
    const f = lineJob('totals', (lines, o) =>
      lines
        .map((k) => pair(k, 1))
        .updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.length)
        .foreachRDD(o.foreach('totals')),
    );
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const { w, perBatch } = await requestsPerBatch(f, 5, async (w) => {
      await putBatch(w, 1, 150, keys);
      await putBatch(w, 3, 15, keys.slice(0, 5));
    });
    expect(perBatch.get(at(3))!.writeState).toBe(50);
    // One query per partition reads them all.
    expect(perBatch.get(at(3))!.queryState).toBe(4);
    await expectSameAsOracle(w, { batches: 5 });
  });

  it('an inverse window reads the same panes per slide for a 10-batch and a 100-batch window; without an inverse it reads them all', async () => {
    const windowed = (windowS: number, inverse: boolean) =>
      lineJob(`w${windowS}${inverse}`, (lines, o) =>
        lines
          .map((k) => pair(k, 1))
          .reduceByKeyAndWindow(add, {
            window: seconds(windowS),
            ...(inverse ? { inverse: (a: number, b: number) => a - b } : {}),
            partitions: 3,
          })
          .foreachRDD(o.foreach('window')),
      );
    const put = async (w: World) => {
      for (let b = 1; b <= 14; b++) await putBatch(w, b, 30, ['a', 'b', 'c', 'd', 'e']);
    };
    const reads = async (windowS: number, inverse: boolean) => {
      const { w, perBatch } = await requestsPerBatch(windowed(windowS, inverse), 15, put);
      await expectSameAsOracle(w, { batches: 15 });
      const c = perBatch.get(at(13))!;
      return { getPanes: c.getPanes, queryPartials: c.queryPartials, paneEnds: c.paneEnds };
    };
    const short = await reads(10, true);
    const long = await reads(100, true);
    // Per partition: one read of the pane leaving (S/g = 1). The pane entering is the one this
    // batch closes, computed by the step itself, and with panes of one batch there are no
    // earlier partials to read.
    expect(short).toEqual({ getPanes: 3, queryPartials: undefined, paneEnds: 3 });
    expect(long).toEqual(short);
    const plain = await reads(100, false);
    expect(plain.paneEnds).toBe(297); // 99 of each partition's 100 panes: the newest is computed
  });

  it('an empty batch of a stateless job costs a fixed, small number of requests', async () => {
    const f = lineJob('stateless', (lines, o) => {
      const upper = lines.map((l) => l.toUpperCase());
      upper.saveToStream('upper');
      upper.foreachRDD(o.foreach('upper'));
    });
    const { w, perBatch } = await requestsPerBatch(f, 10, async (w) => {
      await putBatch(w, 2, 30, ['a', 'b']);
      await putBatch(w, 6, 30, ['c']);
    });
    const empty = [at(4), at(8)].map((t) => perBatch.get(t)!);
    expect(empty[0]).toEqual(empty[1]);
    // The plan (renew the lease, read the previous claims, write the plan), per shard one task
    // (its claim and plan, the slice, the claim written), and the commit (check, write, head).
    expect(empty[0]).toEqual({
      renewLease: 1,
      listClaims: 1,
      putPlan: 1,
      getCommit: 1,
      getClaim: 3,
      getPlan: 3,
      'reader.readSlice': 3,
      putClaim: 3,
      putCommit: 1,
      advanceHead: 1,
    });
    expect(total(empty[0]!)).toBe(18);
    expect(total(perBatch.get(at(6))!)).toBeGreaterThan(18);
    await expectSameAsOracle(w, { batches: 10 });
  });

  it('an empty batch of a reduceByKey job costs a fixed, small number of requests', async () => {
    const f = lineJob('counts', (lines, o) =>
      lines
        .map((k) => pair(k, 1))
        .reduceByKey(add)
        .foreachRDD(o.foreach('counts')),
    );
    const { w, perBatch } = await requestsPerBatch(f, 10, async (w) => {
      await putBatch(w, 2, 30, ['a', 'b']);
      await putBatch(w, 6, 30, ['c']);
    });
    const empty = [at(4), at(8)].map((t) => perBatch.get(t)!);
    expect(empty[0]).toEqual(empty[1]);
    // The map side as for a stateless job; each reduce task reads its plan and claim, lists the
    // map claims (no blocks to read: none were written), and claims.
    expect(empty[0]).toEqual({
      renewLease: 1,
      listClaims: 1 + 4,
      putPlan: 1,
      getCommit: 1,
      getClaim: 3 + 4,
      getPlan: 3 + 4,
      'reader.readSlice': 3,
      putClaim: 3 + 4,
      putCommit: 1,
      advanceHead: 1,
    });
    expect(total(empty[0]!)).toBe(34);
    expect(perBatch.get(at(6))!.readBlocks).toBeGreaterThan(0);
    await expectSameAsOracle(w, { batches: 10 });
  });
});
