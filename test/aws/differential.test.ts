/**
 * The protocol against the oracle, batch by batch: each job runs through the coordinator and the
 * workers over the protocol's stores, then the in-memory executor runs the same job on the records
 * each committed batch read (from its plan and claims), and every output, sink, state and dead
 * letter must agree. Several shards and partitions, arrival stamps spread over batches and out of
 * order within shards, and empty batches.
 */
import { job, pair, type State, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import {
  B,
  expectSameAsOracle,
  feed,
  type JobFactory,
  makeWorld,
  type OracleRun,
  random,
  type World,
} from './harness.js';
import { add, lineJob, runAgainstOracle, seenSummary, sub, text } from './jobs.js';

/** Runs a one-source job over `records` spread over `batches` batches, then checks it. */
async function differential(
  factory: JobFactory,
  opts: {
    records: string[];
    batches: number;
    seed: number;
    shards?: number;
    empty?: number[];
    /** Batches run after the last records (timeouts, windows sliding out). */
    extra?: number;
    ordered?: string[];
  },
): Promise<{ w: World; oracle: OracleRun }> {
  const w = await makeWorld(factory, { shards: { lines: opts.shards ?? 3 } });
  await feed(w, 'lines', opts.records, {
    batches: opts.batches,
    seed: opts.seed,
    ...(opts.empty ? { empty: opts.empty } : {}),
  });
  const oracle = await runAgainstOracle(w, opts);
  return { w, oracle };
}

describe('the protocol gives the oracle’s results batch by batch', () => {
  it('stateless: flatMap, filter and map to a stream sink and to foreachRDD, in shard order', async () => {
    const f = lineJob('stateless', (lines, o) => {
      const words = lines
        .flatMap((l) => l.split(' '))
        .filter((w) => w !== 'w0')
        .map((w) => `${w.toUpperCase()}!`);
      words.saveToStream('shouted');
      words.foreachRDD(o.foreach('shouted'));
      lines.map((l) => l.length).foreachRDD(o.foreach('lengths'));
      // Single-partition shuffles and a repartition.
      lines.count().foreachRDD(o.foreach('count'));
      words.repartition(2).foreachRDD(o.foreach('repartitioned'));
    });
    const { w } = await differential(f, {
      records: text(300, 1),
      batches: 8,
      seed: 11,
      empty: [3, 4],
      ordered: ['shouted', 'lengths', 'count'],
    });
    const s = seenSummary(w, 'shouted');
    expect(s.batches).toBe(10);
    expect(s.nonEmpty).toBeGreaterThanOrEqual(5);
    expect(s.nonEmpty).toBeLessThan(10);
  });

  it('reduceByKey over 4 partitions, to foreachRDD and a results table', async () => {
    const f = lineJob('counts', (lines, o) => {
      const counts = lines
        .flatMap((l) => l.split(' '))
        .map((w) => pair(w, 1))
        .reduceByKey(add, { partitions: 4 });
      counts.foreachRDD(o.foreach('counts'));
      counts.saveToTable('counts');
    });
    const { w, oracle } = await differential(f, {
      records: text(400, 2),
      batches: 7,
      seed: 12,
      empty: [5],
    });
    expect(seenSummary(w, 'counts').records).toBeGreaterThan(20);
    expect(oracle.exec.tables.get('counts')!.size).toBe(12);
  });

  it('a key written by several map tasks in one batch keeps the value the batch lists last', async () => {
    // No shuffle: every shard's task writes the key 'last' to the results table; the oracle keeps
    // the value of the last task in the batch's order, and so must the store, whatever order the
    // tasks apply in.
    const f = lineJob('last-writer', (lines) => {
      lines.map((l) => pair('last', l)).saveToTable('last');
    });
    const { oracle } = await differential(f, { records: text(60, 5), batches: 4, seed: 21 });
    expect(oracle.exec.tables.get('last')!.size).toBe(1);
  });

  it('updateStateByKey with deletions and an initial state', async () => {
    const f = lineJob('running', (lines, o) => {
      lines
        .flatMap((l) => l.split(' '))
        .map((w) => pair(w, 1))
        .updateStateByKey(
          (vs: number[], s: number | undefined, { key }) => {
            const n = (s ?? 0) + vs.length;
            // A key is dropped once it passes 15, and 'w3' whenever a batch has none of it.
            if (n > 15 || (key === 'w3' && vs.length === 0)) return undefined;
            return n;
          },
          { initialState: [pair('seed', 100), pair('w1', 5)], partitions: 4 },
        )
        .foreachRDD(o.foreach('running'));
    });
    const { oracle } = await differential(f, {
      records: text(200, 3),
      batches: 8,
      seed: 13,
      empty: [2, 6],
    });
    // The job deleted keys on the way: fewer keys are left than were ever counted.
    const keys = new Set(
      [...oracle.observer.latest('running').values()].flat().map((r) => (r as [string])[0]),
    );
    expect(oracle.exec.state('updateStateByKey#0').length).toBeLessThan(keys.size);
  });

  it('mapWithState with timeouts, removals and state snapshots', async () => {
    const fn = (key: string, value: string | undefined, state: State<number>) => {
      if (state.isTimingOut()) return `timed out ${key} at ${state.get()}`;
      if (value === 'x') {
        state.remove();
        return `removed ${key}`;
      }
      const n = (state.getOption() ?? 0) + 1;
      state.update(n);
      return `${key}=${n}`;
    };
    const f = lineJob('sessions', (lines, o) => {
      const pairs = lines.map((l) => {
        const [k, v] = l.split(' ');
        return pair(k!, v!);
      });
      const sessions = pairs.mapWithState({ fn, timeout: seconds(2), name: 'sessions' });
      sessions.foreachRDD(o.foreach('mapped'));
      sessions.stateSnapshots().foreachRDD(o.foreach('snapshots'));
      // Without snapshots, a task loads only its input's keys and those due to time out.
      pairs
        .mapWithState({ fn, timeout: seconds(3), name: 'visits', partitions: 2 })
        .foreachRDD(o.foreach('visits'));
    });
    const rnd = random(4);
    const records = Array.from(
      { length: 150 },
      () => `k${Math.floor(rnd() * 20)} ${rnd() < 0.1 ? 'x' : 'v'}`,
    );
    const { oracle } = await differential(f, {
      records,
      batches: 8,
      seed: 14,
      empty: [4, 5, 6],
      extra: 5,
    });
    const mapped = [...oracle.observer.latest('mapped').values()].flat() as string[];
    expect(mapped.some((m) => m.startsWith('timed out'))).toBe(true);
    expect(mapped.some((m) => m.startsWith('removed'))).toBe(true);
    const visits = [...oracle.observer.latest('visits').values()].flat() as string[];
    expect(visits.some((m) => m.startsWith('timed out'))).toBe(true);
  });

  it('windows: reduceByKeyAndWindow with and without an inverse, window() and countByValueAndWindow sliding by 2 batches', async () => {
    const f = lineJob('windows', (lines, o) => {
      const words = lines.flatMap((l) => l.split(' '));
      const ones = words.map((w) => pair(w, 1));
      ones
        .reduceByKeyAndWindow(add, { window: seconds(3), inverse: sub, name: 'inv3' })
        .foreachRDD(o.foreach('inv3'));
      ones
        .reduceByKeyAndWindow(add, {
          window: seconds(6),
          slide: seconds(2),
          inverse: sub,
          filter: ([, n]) => n > 0,
          partitions: 2,
          name: 'inv6by2',
        })
        .foreachRDD(o.foreach('inv6by2'));
      ones
        .reduceByKeyAndWindow(add, { window: seconds(4), slide: seconds(2), name: 'plain4by2' })
        .foreachRDD(o.foreach('plain4by2'));
      words.window(seconds(3), undefined, { name: 'raw3' }).foreachRDD(o.foreach('raw3'));
      words
        .countByValueAndWindow(seconds(4), seconds(2), { name: 'cbv4by2' })
        .foreachRDD(o.foreach('cbv4by2'));
      // One partition with an inverse; grouped values in arrival order within a shard.
      words.countByWindow(seconds(3)).foreachRDD(o.foreach('count3'));
      lines
        .flatMap((l) => l.split(' ').map((w, i) => pair(w, `${i}:${l}`)))
        .groupByKeyAndWindow(seconds(2), undefined, { name: 'grouped2' })
        .foreachRDD(o.foreach('grouped2'));
    });
    const { w } = await differential(f, {
      records: text(250, 5, 8),
      batches: 9,
      seed: 15,
      empty: [3, 7],
      extra: 7,
    });
    for (const tag of ['inv3', 'raw3', 'count3', 'grouped2'])
      expect(seenSummary(w, tag).batches).toBe(17);
    for (const tag of ['inv6by2', 'plain4by2', 'cbv4by2']) {
      const s = seenSummary(w, tag);
      expect(s.batches).toBeGreaterThanOrEqual(8);
      expect(s.batches).toBeLessThanOrEqual(9);
      expect(s.nonEmpty).toBeGreaterThan(2);
    }
  });

  it('a join of two kinesis streams, and a left outer join', async () => {
    const f: JobFactory = (o) =>
      job('joins', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
        const byUser = (l: string) => {
          const [u, x] = l.split(' ');
          return pair(u!, x!);
        };
        const clicks = ctx.kinesis('clicks', { decode: utf8 }).map(byUser);
        const views = ctx.kinesis('views', { decode: utf8 }).map(byUser);
        clicks.join(views, { partitions: 4 }).foreachRDD(o.foreach('join'));
        clicks.leftOuterJoin(views).foreachRDD(o.foreach('left'));
        // A union lists this stream's records before the other's, each in shard order.
        clicks.union(views).foreachRDD(o.foreach('union'));
      });
    const w = await makeWorld(f, { shards: { clicks: 2, views: 3 } });
    const rnd = random(6);
    const rec = (p: string) =>
      Array.from({ length: 120 }, (_, i) => `u${Math.floor(rnd() * 10)} ${p}${i}`);
    await feed(w, 'clicks', rec('c'), { batches: 6, seed: 16, empty: [2] });
    await feed(w, 'views', rec('v'), { batches: 6, seed: 17, empty: [5] });
    await w.run(8);
    await expectSameAsOracle(w, { batches: 8, ordered: ['union'] });
    expect(seenSummary(w, 'join').records).toBeGreaterThan(50);
  });

  it('a transform with a shuffle inside (rdd.reduceByKey), to a results table', async () => {
    const f = lineJob('transform', (lines, o) => {
      const counts = lines.transform((rdd) =>
        rdd
          .flatMap((l) => l.split(' '))
          .map((w) => pair(w, 1))
          .reduceByKey(add, 2)
          .mapValues((n) => n * 10),
      );
      counts.foreachRDD(o.foreach('counts'));
      counts.saveToTable('scaled');
      // A range shuffle: sorted across 3 partitions, read back in order.
      lines
        .transform((rdd) =>
          rdd.flatMap((l) => l.split(' ')).sortBy((w) => w, { ascending: false, partitions: 3 }),
        )
        .foreachRDD(o.foreach('sorted'));
    });
    const { w, oracle } = await differential(f, {
      records: text(300, 7),
      batches: 6,
      seed: 18,
      empty: [4],
      ordered: ['sorted'],
    });
    expect(seenSummary(w, 'counts').records).toBeGreaterThan(20);
    expect(oracle.exec.tables.get('scaled')!.size).toBe(12);
  });
});

describe('seeded runs of a job with every kind of stage, with late records', () => {
  /** Counts, running totals with deletions, inverse windows (one sliding by 2), a join, a table. */
  const mixed =
    (partitions: number): JobFactory =>
    (o) =>
      job('mixed', { batchInterval: seconds(1), defaultPartitions: partitions }, (ctx) => {
        const pairs = ctx
          .kinesis('lines', { decode: utf8 })
          .flatMap((l) => l.split(' '))
          .map((w) => pair(w, 1));
        const counts = pairs.reduceByKey(add);
        counts.foreachRDD(o.foreach('counts'));
        const totals = counts.updateStateByKey((vs: number[], s: number | undefined) => {
          const n = (s ?? 0) + vs.reduce(add, 0);
          return n % 7 === 0 ? undefined : n;
        });
        totals.saveToTable('totals');
        const windowed = pairs.reduceByKeyAndWindow(add, {
          window: seconds(3),
          inverse: sub,
          partitions: partitions + 1,
        });
        windowed.join(totals).foreachRDD(o.foreach('joined'));
        pairs
          .map(([w]) => w)
          .countByValueAndWindow(seconds(4), seconds(2))
          .foreachRDD(o.foreach('slid'));
      });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}`, async () => {
      const rnd = random(seed * 7919);
      const shards = 1 + Math.floor(rnd() * 4);
      const partitions = 1 + Math.floor(rnd() * 4);
      const batches = 4 + Math.floor(rnd() * 5);
      const w = await makeWorld(mixed(partitions), { shards: { lines: shards } });
      await feed(w, 'lines', text(40 + Math.floor(rnd() * 300), seed, 6 + Math.floor(rnd() * 20)), {
        batches,
        seed: seed + 1000,
        empty: [1 + Math.floor(rnd() * batches)],
      });
      // Records that become visible late: put after a batch committed, stamped before it.
      const c = w.coordinator();
      c.storeHooks.push(async (call, next) => {
        const r = await next();
        if (call.op === 'advanceHead' && rnd() < 0.5) {
          const t = call.args[0] as number;
          for (let i = 0; i < 1 + Math.floor(rnd() * 5); i++)
            await w.put(
              w.shardsOf('lines')[Math.floor(rnd() * shards)]!,
              `late${Math.floor(rnd() * 4)} w${Math.floor(rnd() * 6)}`,
              t - 1 - Math.floor(rnd() * 3 * B),
            );
        }
        return r;
      });
      const n = batches + 3;
      await c.run(n);
      await w.settle();
      await expectSameAsOracle(w, { batches: n, allRead: false });
    });
  }
});
