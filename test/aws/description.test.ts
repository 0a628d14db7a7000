/**
 * The coordinator records what the job is when it takes the lease: its explain() text and
 * plan, which tools show without loading the job's code.
 */
import { job, pair, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import { feed, type JobFactory, makeMemoryWorld } from './harness.js';

const counts: JobFactory = (o) =>
  job('described', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) => {
    ctx
      .kinesis('lines', { decode: utf8 })
      .map((l) => pair(l, 1))
      .reduceByKey((a, b) => a + b)
      .foreachRDD(o.foreach('counts'));
  });

describe('the job description', () => {
  it("is written by the coordinator that takes the lease, with the job's explain() and plan", async () => {
    const { w, memory } = await makeMemoryWorld(counts, { shards: { lines: 1 } });
    await feed(w, 'lines', ['a', 'b', 'a'], { batches: 1, seed: 1 });
    expect(memory.description).toBeUndefined();
    await w.run(2);
    expect(memory.description).toMatchObject({
      job: 'described',
      batchIntervalMs: 1000,
      explain: w.job.explain(),
      plan: { stateHash: w.job.plan.stateHash, stages: w.job.plan.stages },
    });
  });
});
