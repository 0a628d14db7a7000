/**
 * The batch protocol run in one process: the coordinator and the workers over in-memory stores
 * and shards, checked batch by batch against the in-memory executor (the oracle) on the records
 * each committed batch read.
 */
import { job, pair, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import { B, expectSameAsOracle, type JobFactory, makeWorld, T0 } from './harness.js';

const totals: JobFactory = (o) =>
  job('totals', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
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

describe('batch protocol in one process', () => {
  it('word count with running totals gives the oracle’s results batch by batch', async () => {
    const w = await makeWorld(totals, { shards: { lines: 2 } });
    const words = ['a b', 'b c', 'c a a', 'd'];
    const total: Record<string, number> = {};
    for (let b = 0; b < 5; b++) {
      for (let i = 0; i < 6; i++) {
        const line = words[(b + i) % words.length]!;
        await w.put(`lines-${i % 2}`, line, T0 + b * B + 10 + i);
        for (const word of line.split(' ')) total[word] = (total[word] ?? 0) + 1;
      }
    }
    const run = await w.run(6);
    expect(run.committed).toHaveLength(6);
    await expectSameAsOracle(w, { batches: 6 });
    // Every word counted exactly once in the state.
    expect(
      Object.fromEntries((await w.kit.stateOf('updateStateByKey#0')) as Array<[string, number]>),
    ).toEqual(total);
  });
});
