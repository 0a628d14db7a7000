/**
 * What no batch needs any more is deleted explicitly, never left to TTL: blocks and intents of
 * old batches, tombstones of removed state once no late attempt can need them, and plans,
 * claims and commits past their retention.
 */
import { job, pair, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import type { MemoryProtocolStores } from '../../lib/aws/memory-stores.js';
import { B, type JobFactory, makeWorld, T0 } from './harness.js';

// A key's count while it keeps coming; removed in the first batch without a record of it.
const counts: JobFactory = (o) =>
  job('housekeeping', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) => {
    ctx
      .kinesis('lines', { decode: utf8 })
      .map((w) => pair(w, 1))
      .updateStateByKey(
        (vs: number[], s: number | undefined) => (vs.length ? (s ?? 0) + vs.length : undefined),
        { name: 'counts' },
      )
      .foreachRDD(o.foreach('counts'));
  });

describe('housekeeping', () => {
  it('purges tombstones and old control items, and the state stays right', async () => {
    const w = await makeWorld(counts, {
      shards: { lines: 2 },
      settings: { batchesKept: 2, maxTaskMs: 0, controlRetentionMs: 4 * B },
    });
    const memory = (w.kit as unknown as { memory: MemoryProtocolStores }).memory;
    const tombstones = () =>
      [...memory.state.values()]
        .flatMap((items) => [...items.values()])
        .filter((e) => e.value === null).length;
    // The first batch (at T0) is empty; the next holds a, b and c; the one after only a, so b and
    // c are removed there.
    await w.put('lines-0', 'a', T0 + 10);
    await w.put('lines-1', 'b', T0 + 20);
    await w.put('lines-0', 'c', T0 + 30);
    await w.put('lines-1', 'a', T0 + B + 10);
    await w.run(3);
    expect(tombstones()).toBe(2);
    expect(memory.stateOf('counts')).toEqual([['a', 2]]);
    await w.run(8);
    // a was removed in the fourth batch; every tombstone is gone by now, and so is the state.
    expect(tombstones()).toBe(0);
    expect(memory.stateOf('counts')).toEqual([]);
    // Plans, claims and commits older than the retention are gone; recent ones stay.
    const head = (await w.stores.getHead())!;
    const plans = [...memory.plans.keys()].sort((a, b) => a - b);
    expect(plans[0]).toBeGreaterThanOrEqual(head - 4 * B - 2 * B);
    expect(plans).toContain(head);
    expect([...memory.claims.values()].every((c) => c.timeMs >= plans[0]!)).toBe(true);
  });
});
