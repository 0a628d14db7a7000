/**
 * Pipelined batches: the next batch's map tasks run while this batch's reduce tasks and commit
 * do, and its reduce tasks only after the commit (DESIGN: the batch protocol, step 5).
 */
import { job, pair, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import {
  afterCall,
  B,
  beforeCall,
  expectSameAsOracle,
  feed,
  type JobFactory,
  makeWorld,
  T0,
} from './harness.js';

const counts: JobFactory = (o) =>
  job('pipelined', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) => {
    ctx
      .kinesis('lines', { decode: utf8 })
      .flatMap((l) => l.split(' '))
      .map((w) => pair(w, 1))
      .reduceByKey((a, b) => a + b)
      .updateStateByKey(
        (vs: number[], s: number | undefined) => (s ?? 0) + vs.reduce((a, b) => a + b, 0),
      )
      .foreachRDD(o.foreach('totals'));
  });

const lines = Array.from({ length: 80 }, (_, i) => `w${i % 7} w${(i * 3) % 5}`);

async function order(pipeline: boolean) {
  const w = await makeWorld(counts, { shards: { lines: 2 }, settings: { pipeline } });
  await feed(w, 'lines', lines, { batches: 5, seed: 3 });
  const events: string[] = [];
  const c = w.coordinator();
  c.invokeHooks.push(
    beforeCall((call) => {
      const e = call.args[0] as { timeMs: number; stage: number };
      events.push(`${e.stage === 0 ? 'map' : 'reduce'} ${(e.timeMs - T0) / B}`);
    }),
  );
  c.storeHooks.push(
    afterCall((call) => {
      if (call.op === 'putCommit')
        events.push(`commit ${((call.args[0] as { timeMs: number }).timeMs - T0) / B}`);
    }),
  );
  await c.run(6);
  await w.settle();
  await expectSameAsOracle(w, { batches: 6 });
  return events;
}

describe('pipelined batches', () => {
  it("runs the next batch's map tasks before this batch commits, and its reduce tasks after", async () => {
    const events = await order(true);
    const i = (e: string) => events.indexOf(e);
    for (let b = 1; b < 6; b++) {
      // Some map task of batch b starts before batch b - 1 commits ...
      expect(i(`map ${b}`), events.join(', ')).toBeLessThan(i(`commit ${b - 1}`));
      // ... and every reduce task of batch b starts after it.
      expect(events.indexOf(`reduce ${b}`)).toBeGreaterThan(i(`commit ${b - 1}`));
    }
  });

  it('runs one batch at a time when pipelining is off, with the same results', async () => {
    const events = await order(false);
    const i = (e: string) => events.indexOf(e);
    for (let b = 1; b < 6; b++) expect(i(`map ${b}`)).toBeGreaterThan(i(`commit ${b - 1}`));
  });
});
