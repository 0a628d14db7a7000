/**
 * Stopping a job gracefully: asked to stop (ControlStore.requestStop, what `sparkless stop`
 * does), the running coordinator finishes the batch in flight and ends; later coordinators
 * (the schedule's) end at once; once the request is cleared the job resumes from its head, and
 * the results are exact throughout.
 */
import { job, pair, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import {
  afterCall,
  expectSameAsOracle,
  feed,
  type JobFactory,
  makeMemoryWorld,
} from './harness.js';

const counts: JobFactory = (o) =>
  job('stoppable', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) => {
    ctx
      .kinesis('lines', { decode: utf8 })
      .flatMap((l) => l.split(' '))
      .map((w) => pair(w, 1))
      .updateStateByKey(
        (vs: number[], s: number | undefined) => (s ?? 0) + vs.reduce((a, b) => a + b, 0),
        { name: 'totals' },
      )
      .foreachRDD(o.foreach('totals'));
  });

describe('a job asked to stop', () => {
  it('finishes the batch in flight, stays stopped, and resumes exactly where it stopped', async () => {
    const { w, memory: stores } = await makeMemoryWorld(counts, { shards: { lines: 2 } });
    await feed(
      w,
      'lines',
      Array.from({ length: 60 }, (_, i) => `w${i % 5} w${i % 3}`),
      { batches: 8, seed: 11 },
    );
    const first = w.coordinator('first');
    let commits = 0;
    first.storeHooks.push(
      afterCall((call) => {
        // Asked to stop once the third batch committed; the fourth is already planned.
        if (call.op === 'putCommit' && ++commits === 3) stores.stopRequested = true;
      }),
    );
    const run = await first.run(20);
    expect(run.reason).toBe('stopped');
    // The batch that was in flight when the request came finished; no other started.
    expect(run.committed).toHaveLength(4);
    await w.settle();

    // The schedule's next coordinator ends at once, holding nothing.
    const idle = await w.coordinator('scheduled').run(20);
    expect(idle).toMatchObject({ acquired: true, committed: [], reason: 'stopped' });

    stores.stopRequested = false;
    const resumed = await w.coordinator('resumed').run(5);
    expect(resumed.reason).toBe('max-batches');
    expect(resumed.committed[0]).toBe((run.committed.at(-1) as number) + 1000);
    await expectSameAsOracle(w, { batches: 9 });
  });
});
