/**
 * The protocol against the oracle batch by batch, on the emulators: coordinators and workers run
 * in this process over the DynamoDB stores on dynalite and shards on kinesis-local (one local
 * cloud for the file), and the in-memory executor runs the same job on the records each committed
 * batch read, as in ../differential.test.ts. Every output, results table, stream sink (read back
 * from the emulator), keyed state and dead letter must agree.
 */
import { job, pair, type State, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import { dynamoClient } from '../../../lib/aws/clients.js';
import { readState } from '../../../lib/aws/stores/dynamo.js';
import { useTarget } from '../../target.js';
import { expectSameAsOracle, type JobFactory, type OracleRun, random } from '../harness.js';
import { add, lineJob, text as lines, runAgainstOracle, seenSummary, sub } from '../jobs.js';
import { type EmulatorWorld, emulatorWorld, feed } from './kit.js';

useTarget();

/** Lines of 1 to 3 words from 10 words: fewer records than in memory, keys still repeat. */
const text = (n: number, seed: number, vocab = 10) => lines(n, seed, vocab, 3);

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
): Promise<{ e: EmulatorWorld; oracle: OracleRun }> {
  const e = await emulatorWorld(factory, { shards: { lines: opts.shards ?? 2 } });
  await feed(e, 'lines', opts.records, {
    batches: opts.batches,
    seed: opts.seed,
    ...(opts.empty ? { empty: opts.empty } : {}),
  });
  const oracle = await runAgainstOracle(e.w, opts);
  return { e, oracle };
}

/** The batches at which `tag` saw records, and how many in all. */
const seen = (e: EmulatorWorld, tag: string) => seenSummary(e.w, tag);

describe('the protocol on dynalite and kinesis-local gives the oracle’s results batch by batch', () => {
  it('stateless: flatMap, filter and map to a Kinesis stream sink and to foreachRDD, in shard order', async () => {
    const f = lineJob('stateless', (lines, o) => {
      const words = lines
        .flatMap((l) => l.split(' '))
        .filter((w) => w !== 'w0')
        .map((w) => `${w.toUpperCase()}!`);
      words.saveToStream('shouted');
      words.foreachRDD(o.foreach('shouted'));
    });
    const { e, oracle } = await differential(f, {
      records: text(60, 1),
      batches: 4,
      seed: 11,
      empty: [2],
      ordered: ['shouted'],
    });
    expect(seen(e, 'shouted')).toMatchObject({ batches: 6, nonEmpty: 3 });
    // Read back from the sink stream: each record says its batch, stage, partition (the map
    // task) and index, and those ids name one record each.
    const raw = (await e.db.rawStreamRecords('shouted')) as Array<Record<string, unknown>>;
    const want = oracle.exec.streams.get('shouted')!;
    expect(raw.length).toBe(want.length);
    for (const r of raw) {
      expect(Object.keys(r).sort()).toEqual(['index', 'partition', 'record', 'stage', 'timeMs']);
      expect(r.stage).toBe(0);
      expect([r.timeMs, r.partition, r.index].every(Number.isInteger)).toBe(true);
    }
    const ids = new Set(raw.map((r) => `${r.timeMs}/${r.stage}/${r.partition}/${r.index}`));
    expect(ids.size).toBe(raw.length);
    expect(want.length).toBeGreaterThan(40);
  });

  it('reduceByKey and updateStateByKey with deletions, to a results table and keyed state', async () => {
    const f = lineJob('running', (lines, o) => {
      const counts = lines
        .flatMap((l) => l.split(' '))
        .map((w) => pair(w, 1))
        .reduceByKey(add, { partitions: 4 });
      counts.foreachRDD(o.foreach('counts'));
      counts
        .updateStateByKey(
          (vs: number[], s: number | undefined, { key }) => {
            const n = (s ?? 0) + vs.reduce(add, 0);
            // A key is dropped once it passes 12, and 'w3' whenever a batch has none of it.
            if (n > 12 || (key === 'w3' && vs.length === 0)) return undefined;
            return n;
          },
          { initialState: [pair('seed', 10), pair('w1', 5)], partitions: 3, name: 'running' },
        )
        .saveToTable('running');
    });
    const { e, oracle } = await differential(f, {
      records: text(80, 2),
      batches: 5,
      seed: 12,
      empty: [3],
    });
    expect(seen(e, 'counts').records).toBeGreaterThan(15);
    // Keys were deleted on the way: fewer keys are left in state than the table ever got.
    const state = oracle.exec.state('running') as Array<[string, number]>;
    const table = oracle.exec.tables.get('running')!;
    expect(state.length).toBeLessThan(table.size);
    // An application reading state by key, as readState does, sees the oracle's state.
    const keys = [...table.values()].map((r) => r.key as string);
    const live = new Map(state);
    for (const key of [...keys, 'seed']) {
      expect(
        await readState(dynamoClient(), e.db.tables.state, 'running', 'running', 3, key),
        key,
      ).toBe(live.get(key));
    }
    expect(live.get('seed')).toBe(10);
  });

  it('mapWithState with a timeout, removals and state snapshots', async () => {
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
      const sessions = lines
        .map((l) => {
          const [k, v] = l.split(' ');
          return pair(k!, v!);
        })
        .mapWithState({ fn, timeout: seconds(2), name: 'sessions', partitions: 2 });
      sessions.foreachRDD(o.foreach('mapped'));
      sessions.stateSnapshots().foreachRDD(o.foreach('snapshots'));
    });
    const rnd = random(4);
    const records = Array.from(
      { length: 50 },
      () => `k${Math.floor(rnd() * 12)} ${rnd() < 0.1 ? 'x' : 'v'}`,
    );
    const { oracle } = await differential(f, {
      records,
      batches: 4,
      seed: 14,
      empty: [3],
      extra: 4,
    });
    const mapped = [...oracle.observer.latest('mapped').values()].flat() as string[];
    expect(mapped.filter((m) => m.startsWith('timed out')).length).toBeGreaterThan(3);
    expect(mapped.some((m) => m.startsWith('removed'))).toBe(true);
  });

  it('reduceByKeyAndWindow with an inverse, a window of 3 slides of 2 batches', async () => {
    const f = lineJob('windows', (lines, o) => {
      lines
        .flatMap((l) => l.split(' '))
        .map((w) => pair(w, 1))
        .reduceByKeyAndWindow(add, {
          window: seconds(6),
          slide: seconds(2),
          inverse: sub,
          filter: ([, n]) => n > 0,
          partitions: 2,
          name: 'inv6by2',
        })
        .foreachRDD(o.foreach('inv6by2'));
    });
    const { e } = await differential(f, {
      records: text(70, 5, 6),
      batches: 6,
      seed: 15,
      empty: [3],
      extra: 7,
    });
    // 14 batches from T0 (a multiple of 2 s): the window emits at every other one.
    const s = seen(e, 'inv6by2');
    expect(s.batches).toBe(7);
    expect(s.nonEmpty).toBeGreaterThanOrEqual(4);
    // The window slid out entirely at the end.
    expect([...e.w.observer.latest('inv6by2').values()].at(-1)).toEqual([]);
  });

  it('a join of two Kinesis streams', async () => {
    const f: JobFactory = (o) =>
      job('joins', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
        const byUser = (l: string) => {
          const [u, x] = l.split(' ');
          return pair(u!, x!);
        };
        const clicks = ctx.kinesis('clicks', { decode: utf8 }).map(byUser);
        const views = ctx.kinesis('views', { decode: utf8 }).map(byUser);
        clicks.join(views, { partitions: 2 }).foreachRDD(o.foreach('join'));
      });
    const e = await emulatorWorld(f, { shards: { clicks: 2, views: 1 } });
    const rnd = random(6);
    const rec = (p: string) =>
      Array.from({ length: 40 }, (_, i) => `u${Math.floor(rnd() * 8)} ${p}${i}`);
    await feed(e, 'clicks', rec('c'), { batches: 4, seed: 16, empty: [2] });
    await feed(e, 'views', rec('v'), { batches: 4, seed: 17 });
    await e.w.run(6);
    await expectSameAsOracle(e.w, { batches: 6 });
    expect(seen(e, 'join').records).toBeGreaterThan(20);
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
    });
    const { e, oracle } = await differential(f, {
      records: text(60, 7),
      batches: 4,
      seed: 18,
      empty: [2],
    });
    expect(seen(e, 'counts').records).toBeGreaterThan(15);
    expect(oracle.exec.tables.get('scaled')!.size).toBe(10);
    expect((await e.db.results('scaled')).length).toBe(10);
  });
});
