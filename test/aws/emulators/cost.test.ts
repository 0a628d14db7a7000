/**
 * The protocol's cost shape on DynamoDB (DESIGN: cost shape), counted by the stores' own
 * RequestCounter on dynalite (one local cloud for the file): the requests each batch sends, by
 * DynamoDB operation, and which protocol call of which stage sent them. Map-stage block writes do
 * not grow with records, reduce writes grow with the keys touched, an inverse window reads the
 * same panes whatever its length, and an empty stateless batch costs a fixed, small number.
 *
 * Task invocations run one at a time here, so that each worker call's requests can be told apart
 * (a coordinator runs a stage's tasks at once otherwise; the counts are the same).
 */
import { type DStream, job, pair, type State, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import { useTarget } from '../../target.js';
import { B, expectSameAsOracle, type Hook, type JobFactory, T0 } from '../harness.js';
import { type EmulatorWorld, emulatorWorld, putAll } from './kit.js';

useTarget();

type Counts = Record<string, number>;

interface Costs {
  /**
   * DynamoDB requests per batch by operation: from renewing the lease before its plan to moving
   * the head after its commit (not the deletion of old batches' data that follows).
   */
  readonly perBatch: Map<number, Counts>;
  /** Kinesis requests of the shard reader per batch, by operation. */
  readonly reader: Map<number, Counts>;
  /** DynamoDB requests per batch of each worker call, as `<stage>:<call>`, by operation. */
  readonly calls: Map<number, Record<string, Counts>>;
  /** Capacity units DynamoDB reported per batch for each worker call, as in `calls`. */
  readonly units: Map<number, Counts>;
  /** DynamoDB requests per batch of the coordinator (the batch's requests less the workers'). */
  readonly coordinator: Map<number, Counts>;
}

function diff(now: Counts, before: Counts): Counts {
  const out: Counts = {};
  for (const [op, n] of Object.entries(now))
    if (n - (before[op] ?? 0) > 0) out[op] = n - (before[op] ?? 0);
  return out;
}

function addTo(into: Counts, more: Counts) {
  for (const [op, n] of Object.entries(more)) into[op] = (into[op] ?? 0) + n;
}

const total = (c: Counts | undefined) => Object.values(c ?? {}).reduce((n, v) => n + v, 0);

/** Runs `batches` batches with one task at a time, counting requests per batch and call. */
async function measure(e: EmulatorWorld, batches: number): Promise<Costs> {
  const { w, db, kinesis } = e;
  let chain: Promise<unknown> = Promise.resolve();
  const oneAtATime: Hook = (_call, next) => {
    const run = chain.then(() => next());
    chain = run.catch(() => undefined);
    return run;
  };
  w.invokeHooks.push(oneAtATime);
  const calls = new Map<number, Record<string, Counts>>();
  const units = new Map<number, Counts>();
  w.workerHooks.push(async (call, next) => {
    const { event } = w.invocations.at(-1)!;
    const before = db.counter.snapshot();
    const result = await next();
    const sent = db.counter.since(before);
    if (total(sent) > 0) {
      const name = `${event.stage}:${call.op}`;
      const byCall = calls.get(event.timeMs) ?? {};
      calls.set(event.timeMs, byCall);
      byCall[name] ??= {};
      addTo(byCall[name], sent);
      const used = units.get(event.timeMs) ?? {};
      units.set(event.timeMs, used);
      used[name] = (used[name] ?? 0) + db.counter.capacity() - total(before.capacity);
    }
    return result;
  });
  const dynamo = () => ({ ...db.counter.snapshot().requests });
  const reads = () => Object.fromEntries(kinesis.requests);
  const perBatch = new Map<number, Counts>();
  const reader = new Map<number, Counts>();
  let began = { dynamo: dynamo(), reads: reads() };
  const c = w.coordinator();
  c.storeHooks.push(async (call, next) => {
    if (call.op === 'renewLease') began = { dynamo: dynamo(), reads: reads() };
    const result = await next();
    if (call.op === 'advanceHead') {
      const t = call.args[0] as number;
      perBatch.set(t, diff(dynamo(), began.dynamo));
      reader.set(t, diff(reads(), began.reads));
    }
    return result;
  });
  await c.run(batches);
  await w.settle();
  const coordinator = new Map<number, Counts>();
  for (const [t, counts] of perBatch) {
    const workers: Counts = {};
    for (const sent of Object.values(calls.get(t) ?? {})) addTo(workers, sent);
    coordinator.set(t, diff(counts, workers));
  }
  return { perBatch, reader, calls, units, coordinator };
}

const at = (b: number) => T0 + b * B;
const add = (a: number, b: number) => a + b;

type Observe = Parameters<JobFactory>[0];
const lineJob =
  (name: string, build: (lines: DStream<string>, o: Observe) => void): JobFactory =>
  (o) =>
    job(name, { batchInterval: seconds(1), defaultPartitions: 4 }, (ctx) =>
      build(ctx.kinesis('lines', { decode: utf8 }), o),
    );

/**
 * Puts `perShard` records into every shard, read by batch `b`: their data cycles through `keys`
 * across the shards (the first shard's records first).
 */
async function putBatch(e: EmulatorWorld, b: number, perShard: number, keys: readonly string[]) {
  for (const [s, shard] of e.w.shardsOf('lines').entries()) {
    await putAll(
      e,
      'lines',
      shard,
      Array.from({ length: perShard }, (_, i) => ({
        data: keys[(s * perShard + i) % keys.length]!,
        at: at(b) - 1,
      })),
    );
  }
}

const keys = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `k${from + i}`);

// Batches run one after the other here (pipeline: false), so that the requests between two
// commits are one batch's.
describe('cost shape on DynamoDB', () => {
  it('map-stage block writes do not grow with records: 9 and 900 records of 3 keys cost the same', async () => {
    const f = lineJob('blocks', (lines, o) =>
      lines
        .map((k) => pair(k, 1))
        .reduceByKey(add)
        .foreachRDD(o.foreach('counts')),
    );
    const e = await emulatorWorld(f, { shards: { lines: 3 }, settings: { pipeline: false } });
    await putBatch(e, 2, 3, ['a', 'b', 'c']);
    await putBatch(e, 4, 300, ['a', 'b', 'c']);
    const { perBatch, calls, units } = await measure(e, 6);
    const [small, large] = [at(2), at(4)];
    // Each map task writes its blocks in one BatchWriteItem: every shard has the 3 keys, which
    // hash to 3 of the 4 partitions, so 3 items of one combined pair each (1 capacity unit each).
    for (const t of [small, large]) {
      expect(calls.get(t)!['0:putBlocks']).toEqual({ BatchWriteItem: 3 });
      expect(units.get(t)!['0:putBlocks']).toBe(9);
      expect(calls.get(t)!['1:readBlocks']).toEqual({ Query: 3 });
    }
    // And the whole batch costs the same: per map task its claim and plan (2 GetItem), its
    // blocks (1 BatchWriteItem) and its claim (1 PutItem); per reduce task (4) its claim and plan,
    // the map claims (1 Query), its partition's blocks when it has any (3 Query), its intent
    // (3 BatchWriteItem) and claim; the coordinator renews the lease and moves the head (2
    // UpdateItem), reads the previous claims (1 Query), writes the plan and the commit (2
    // PutItem), checks the commit (1 GetItem) and reads the 3 intents for foreachRDD (3 Query).
    expect(perBatch.get(large)).toEqual(perBatch.get(small));
    expect(perBatch.get(small)).toEqual({
      UpdateItem: 2,
      GetItem: 15,
      Query: 11,
      PutItem: 9,
      BatchWriteItem: 6,
    });
    await expectSameAsOracle(e.w, { batches: 6 });
  });

  it('reduce writes grow with the keys touched: mapWithState writes the state and result of each key of its input', async () => {
    const fn = (k: string, v: string | undefined, s: State<number>) => {
      const n = (s.getOption() ?? 0) + (v === undefined ? 0 : 1);
      s.update(n);
      return pair(k, n);
    };
    const f = lineJob('touched', (lines, o) => {
      const seen = lines.map((k) => pair(k, k)).mapWithState({ fn, name: 'seen', partitions: 2 });
      seen.saveToTable('seen');
      seen.foreachRDD(o.foreach('seen'));
    });
    const e = await emulatorWorld(f, { shards: { lines: 2 }, settings: { pipeline: false } });
    await putBatch(e, 1, 20, keys(40));
    await putBatch(e, 3, 5, keys(5));
    // 5 of these keys are old, 15 new: 20 touched.
    await putBatch(e, 4, 10, keys(20, 35));
    const { perBatch, calls } = await measure(e, 6);
    const reduceWrites = (t: number) =>
      Object.entries(calls.get(t)!)
        .filter(([name]) => name.startsWith('1:'))
        .reduce((n, [, c]) => n + (c.PutItem ?? 0) + (c.BatchWriteItem ?? 0), 0);
    for (const [b, touched] of [
      [1, 40],
      [3, 5],
      [4, 20],
    ] as const) {
      const c = calls.get(at(b))!;
      // One conditional PutItem per key touched, in state and in the results table.
      expect(c['1:applyState']).toEqual({ PutItem: touched });
      expect(c['1:applyResults']).toEqual({ PutItem: touched });
      // Per reduce task (2): one intent and one claim; reads do not depend on the keys either
      // (the state of the partition's keys in one BatchGetItem, after the initialized marker).
      expect(c['1:putIntent']).toEqual({ BatchWriteItem: 2 });
      expect(c['1:putClaim']).toEqual({ PutItem: 2 });
      expect(c['1:loadKeyed']).toEqual({ GetItem: 2, BatchGetItem: 2 });
      expect(reduceWrites(at(b))).toBe(2 * touched + 4);
    }
    // A batch with no records writes no state.
    expect(calls.get(at(5))!['1:applyState']).toBeUndefined();
    expect(perBatch.get(at(5))!.PutItem).toBe(6);
    await expectSameAsOracle(e.w, { batches: 6 });
    expect((await e.db.stateOf('seen')).length).toBe(55);
  });

  it('an inverse window reads the same panes per slide for a 3-batch and a 30-batch window; without an inverse it reads them all', async () => {
    const windowed = (windowS: number, inverse: boolean) =>
      lineJob(`w${windowS}${inverse ? 'inv' : ''}`, (lines, o) =>
        lines
          .map((k) => pair(k, 1))
          .reduceByKeyAndWindow(add, {
            window: seconds(windowS),
            ...(inverse ? { inverse: (a: number, b: number) => a - b } : {}),
            partitions: 2,
          })
          .foreachRDD(o.foreach('window')),
      );
    const paneReads = async (windowS: number, inverse: boolean) => {
      const e = await emulatorWorld(windowed(windowS, inverse), {
        shards: { lines: 1 },
        settings: { pipeline: false },
      });
      for (let b = 1; b <= 6; b++) await putBatch(e, b, 5, ['a', 'b', 'c', 'd', 'e']);
      const { calls } = await measure(e, 7);
      await expectSameAsOracle(e.w, { batches: 7 });
      return calls.get(at(5))!['1:loadPanes'];
    };
    // Per partition (2), at a slide of one batch: the pane leaving (1 Query). The pane entering
    // is the one this batch closes, which the step computes itself, and with panes of one batch
    // there are no earlier partials to read.
    expect(await paneReads(3, true)).toEqual({ Query: 2 });
    expect(await paneReads(30, true)).toEqual({ Query: 2 });
    // Without an inverse, every pane of the window but the one the batch closes: 29 per partition.
    expect(await paneReads(30, false)).toEqual({ Query: 58 });
  });

  it('an empty batch of a stateless job costs a fixed, small number of requests', async () => {
    const f = lineJob('stateless', (lines, o) => {
      const upper = lines.map((l) => l.toUpperCase());
      upper.saveToStream('upper');
      upper.foreachRDD(o.foreach('upper'));
    });
    const e = await emulatorWorld(f, { shards: { lines: 3 }, settings: { pipeline: false } });
    await putBatch(e, 2, 10, ['a', 'b']);
    await putBatch(e, 3, 10, ['c']);
    const { perBatch, reader, calls, coordinator } = await measure(e, 10);
    for (const b of [1, 6, 7, 8, 9]) {
      const t = at(b);
      // The coordinator: renew the lease (UpdateItem), read the previous batch's map claims to
      // plan (Query), write the plan (PutItem), check for a commit (GetItem), write the commit
      // (PutItem), move the head (UpdateItem). No intent to read: no task had output.
      expect(coordinator.get(t), `batch ${b}`).toEqual({
        UpdateItem: 2,
        Query: 1,
        PutItem: 2,
        GetItem: 1,
      });
      // Per map task (3): its claim and its plan (GetItem each), its claim (PutItem).
      expect(calls.get(t), `batch ${b}`).toEqual({
        '0:getClaim': { GetItem: 3 },
        '0:getPlan': { GetItem: 3 },
        '0:putClaim': { PutItem: 3 },
      });
      // 15 DynamoDB requests in all, and per shard one iterator and one GetRecords.
      expect(total(perBatch.get(t))).toBe(15);
      expect(reader.get(t)).toEqual({ GetShardIterator: 3, GetRecords: 3 });
    }
    expect(total(perBatch.get(at(3)))).toBeGreaterThan(15);
    await expectSameAsOracle(e.w, { batches: 10 });
  });
});
