/**
 * The batch protocol run in one process: the coordinator and the workers over in-memory stores
 * and shards, checked batch by batch against the in-memory executor (the oracle) on the records
 * each committed batch read.
 */
import { type DStream, type Job, job, pair, seconds, utf8 } from 'sparkless';
import { LocalExecutor } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';
import { type CoordinatorContext, coordinate } from '../../lib/aws/coordinator.js';
import { MemoryProtocolStores } from '../../lib/aws/memory-stores.js';
import { runWorkerTask } from '../../lib/aws/worker.js';
import { MemoryKinesis } from './memory-kinesis.js';

const B = 1000;
const T0 = 1_000_000_000_000; // a batch time far from zero, as on a real clock

/** Collects, per batch, what the observed stream produced (on the driver, via foreachRDD). */
function observing(name: string, build: (lines: DStream<string>) => DStream<unknown>) {
  const seen = new Map<number, unknown[]>();
  const j = job(name, { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
    build(ctx.kinesis('lines', { decode: utf8 })).foreachRDD(async (rdd, t) => {
      seen.set(t, await rdd.collect());
    });
  });
  return { job: j, seen };
}

function setup(j: Job, shards = 2) {
  const kinesis = new MemoryKinesis();
  for (let s = 0; s < shards; s++) kinesis.addShard('lines', `shard-${s}`);
  const stores = new MemoryProtocolStores();
  let clock = T0;
  let attempts = 0;
  const log: string[] = [];
  const worker = {
    job: j,
    stores,
    reader: kinesis,
    now: () => clock,
    attemptId: () => `a${++attempts}`,
  };
  const ctx: CoordinatorContext = {
    job: j,
    stores,
    reader: kinesis,
    invoker: { runTask: (event) => runWorkerTask(worker, event) },
    settings: {
      maxRecords: 10_000,
      startPosition: { kind: 'trimHorizon' },
      runForMs: 10 * 60_000,
      leaseTtlMs: 60_000,
      maxTaskAttempts: 3,
      batchesKept: 3,
    },
    owner: 'coordinator-1',
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    log: (l) => log.push(l),
  };
  return { kinesis, stores, ctx, log, advance: (ms: number) => (clock += ms), clock: () => clock };
}

const sort = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();

/** Runs the oracle on the records each committed batch read, in shard order. */
async function oracle(j: Job, stores: MemoryProtocolStores, kinesis: MemoryKinesis) {
  const exec = new LocalExecutor(j);
  for (const t of [...stores.commits.keys()].sort((a, b) => a - b)) {
    const plan = stores.plans.get(t)!;
    const shards = await Promise.all(
      plan.sources.lines!.map(async (task) =>
        (await kinesis.readSlice('lines', task, t, 10_000)).records.map((r) =>
          new TextDecoder().decode(r.data),
        ),
      ),
    );
    await exec.runBatch(t, { lines: shards });
  }
  return exec;
}

describe('batch protocol in one process', () => {
  it('word count with running totals gives the oracle’s results batch by batch', async () => {
    const { job: j, seen } = observing('totals', (lines) =>
      lines
        .flatMap((l) => l.split(' '))
        .map((w) => pair(w, 1))
        .reduceByKey((a, b) => a + b)
        .updateStateByKey(
          (vs: number[], s: number | undefined) => (s ?? 0) + vs.reduce((a, b) => a + b, 0),
        ),
    );
    const { kinesis, stores, ctx } = setup(j);
    const words = ['a b', 'b c', 'c a a', 'd'];
    const total: Record<string, number> = {};
    for (let b = 0; b < 5; b++) {
      for (let i = 0; i < 6; i++) {
        const line = words[(b + i) % words.length]!;
        kinesis.put(`shard-${i % 2}`, line, T0 + b * B + 10 + i);
        for (const w of line.split(' ')) total[w] = (total[w] ?? 0) + 1;
      }
    }
    const run = await coordinate(ctx, { maxBatches: 6 });
    expect(run.committed).toHaveLength(6);
    // The oracle: the same job over the same per-batch slices.
    const oracleSeen = new Map<number, unknown[]>();
    const oj = job('totals', { batchInterval: seconds(1), defaultPartitions: 3 }, (c) => {
      c.kinesis('lines', { decode: utf8 })
        .flatMap((l) => l.split(' '))
        .map((w) => pair(w, 1))
        .reduceByKey((a, b) => a + b)
        .updateStateByKey(
          (vs: number[], s: number | undefined) => (s ?? 0) + vs.reduce((a, b) => a + b, 0),
        )
        .foreachRDD(async (rdd, t) => {
          oracleSeen.set(t, await rdd.collect());
        });
    });
    await oracle(oj, stores, kinesis);
    expect([...seen.keys()]).toEqual([...oracleSeen.keys()]);
    for (const [t, recs] of seen)
      expect(sort(recs), `batch ${t}`).toEqual(sort(oracleSeen.get(t)!));
    // Every word counted exactly once in the state.
    expect(
      Object.fromEntries(stores.stateOf('updateStateByKey#0') as Array<[string, number]>),
    ).toEqual(total);
  });
});
