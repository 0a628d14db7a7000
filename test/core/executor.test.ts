/**
 * The in-memory executor on its own: decoding source records, dead letters, sinks, print, batch
 * times, state inspection, and window panes that do not pile up.
 */
import {
  type DStream,
  encodeUtf8,
  type JobContext,
  job,
  json,
  minutes,
  type Pair,
  pair,
  type RecordMeta,
  SparklessError,
  seconds,
} from 'sparkless';
import { LocalExecutor, type SourceRecord } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';

const sum = (a: number, b: number) => a + b;

const sorted = <T>(records: readonly T[]): T[] =>
  [...records].sort((a, b) => {
    const x = JSON.stringify(a);
    const y = JSON.stringify(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });

type Click = { user: string; n?: number };

/** A job that decodes JSON from the Kinesis source 'in' and collects what `build` makes of it. */
function collecting<U>(build: (s: DStream<Click>) => DStream<U>) {
  const seen: U[][] = [];
  const j = job('exec', { batchInterval: seconds(1) }, (ctx) => {
    build(ctx.kinesis('in', { decode: json<Click>() })).foreachRDD(async (rdd) => {
      seen.push(await rdd.collect());
    });
  });
  return { j, seen };
}

async function rejection(p: Promise<unknown>): Promise<SparklessError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(SparklessError.is(e), `expected a SparklessError, got ${String(e)}`).toBe(true);
  return e as SparklessError;
}

describe('Kinesis sources', () => {
  it('decodes raw records given as strings or bytes, per shard', async () => {
    const { j, seen } = collecting((s) => s.map((r) => r.user));
    const exec = new LocalExecutor(j);
    const result = await exec.runBatch(1000, {
      in: [
        ['{"user":"a"}', encodeUtf8('{"user":"b"}')],
        [{ data: '{"user":"c"}', sequenceNumber: '7' } satisfies SourceRecord],
      ],
    });
    expect(seen).toEqual([['a', 'b', 'c']]);
    expect(result.recordsIn).toEqual({ in: 3 });
    expect(result.deadLetters).toEqual([]);
  });

  it("gives the decoder each record's metadata, defaulting what the record leaves out", async () => {
    const metas: RecordMeta[] = [];
    const j = job('meta', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .kinesis('in', {
          decode: (_data, meta) => {
            metas.push(meta);
            return meta.sequenceNumber;
          },
        })
        .print();
    });
    await new LocalExecutor(j).runBatch(2000, {
      in: [
        ['x', 'y'],
        [{ data: 'z', partitionKey: 'pk', sequenceNumber: '42', arrivalTimeMs: 1500 }],
      ],
    });
    expect(metas).toEqual([
      { partitionKey: '', sequenceNumber: '0', arrivalTimeMs: 2000, shardId: 'shard-0' },
      { partitionKey: '', sequenceNumber: '1', arrivalTimeMs: 2000, shardId: 'shard-0' },
      { partitionKey: 'pk', sequenceNumber: '42', arrivalTimeMs: 1500, shardId: 'shard-1' },
    ]);
  });

  it('dead-letters a record that fails to decode, with its shard and sequence number', async () => {
    const { j, seen } = collecting((s) => s.map((r) => r.user));
    const exec = new LocalExecutor(j, { onRecordError: 'deadLetter' });
    const result = await exec.runBatch(1000, {
      in: [
        ['{"user":"a"}'],
        [
          '{"user":"b"}',
          {
            data: 'not json',
            sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
          },
          '{"user":"c"}',
        ],
      ],
    });
    expect(seen).toEqual([['a', 'b', 'c']]);
    expect(result.deadLetters).toHaveLength(1);
    expect(result.deadLetters[0]).toMatchObject({
      operator: "source 'in'",
      stage: 'map',
      timeMs: 1000,
      partition: 1,
      shardId: 'shard-1',
      sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
      subject: 'not json',
    });
    expect(result.deadLetters[0]!.error).toMatch(/JSON/);
    expect(exec.deadLetters).toEqual(result.deadLetters);
  });

  it('dead-letters bytes that are not UTF-8', async () => {
    const { j, seen } = collecting((s) => s.map((r) => r.user));
    const exec = new LocalExecutor(j, { onRecordError: 'deadLetter' });
    const bad = Uint8Array.from([0x7b, 0xff, 0x7d]);
    const result = await exec.runBatch(1000, { in: [[bad, '{"user":"a"}']] });
    expect(seen).toEqual([['a']]);
    expect(result.deadLetters).toMatchObject([
      { operator: "source 'in'", shardId: 'shard-0', sequenceNumber: '0', subject: bad },
    ]);
  });

  it('fails the batch on a record that fails to decode by default', async () => {
    const { j } = collecting((s) => s.map((r) => r.user));
    const exec = new LocalExecutor(j);
    const err = await rejection(exec.runBatch(1000, { in: [['{"user":"a"}', '{oops']] }));
    expect(err.code).toBe('USER_FUNCTION_FAILED');
    expect(err.message).toContain(`source 'in': the function threw on "{oops"`);
    expect(exec.deadLetters).toEqual([]);
  });
});

describe('user functions that throw', () => {
  const failing = (user: string) => {
    if (user === 'bad') throw new Error('boom');
    return user.toUpperCase();
  };

  it('dead-letters only the record a map function throws on, with its shard and sequence number, and the batch goes on', async () => {
    const { j, seen } = collecting((s) => s.map((r) => failing(r.user)));
    const exec = new LocalExecutor(j, { onRecordError: 'deadLetter' });
    const result = await exec.runBatch(1000, {
      in: [['{"user":"a"}'], ['{"user":"bad"}', '{"user":"b"}']],
    });
    expect(seen).toEqual([['A', 'B']]);
    expect(result.deadLetters).toEqual([
      {
        operator: '1:map',
        stage: 'map',
        timeMs: 1000,
        partition: 1,
        subject: { user: 'bad' },
        error: 'boom',
        // The source record it came from: the first of shard 1 (sequence numbers default to the
        // record's position when the input gives none).
        shardId: 'shard-1',
        sequenceNumber: '0',
      },
    ]);
    // The next batch runs as usual.
    await exec.runBatch(2000, { in: [['{"user":"c"}']] });
    expect(seen[1]).toEqual(['C']);
    expect(exec.deadLetters).toHaveLength(1);
  });

  it('fails the batch with USER_FUNCTION_FAILED by default', async () => {
    const { j } = collecting((s) => s.map((r) => failing(r.user)));
    const err = await rejection(
      new LocalExecutor(j).runBatch(1000, { in: [['{"user":"a"}', '{"user":"bad"}']] }),
    );
    expect(err.code).toBe('USER_FUNCTION_FAILED');
    expect(err.message).toBe('1:map: the function threw on {"user":"bad"}: boom');
    expect((err.cause as Error).message).toBe('boom');
  });

  const failingSum = (a: number, b: number) => {
    if (a < 0 || b < 0) throw new Error('negative');
    return a + b;
  };
  const reduceJob = () =>
    collecting((s) =>
      s.map((r) => pair(r.user, r.n ?? 0)).reduceByKey(failingSum, { partitions: 2 }),
    );
  const rec = (user: string, n: number) => JSON.stringify({ user, n });

  it("dead-letters a key's inputs when a reduceByKey function throws on them, and other keys come out", async () => {
    const { j, seen } = reduceJob();
    const exec = new LocalExecutor(j, { onRecordError: 'deadLetter' });
    // One record of `bad` per shard: the map side has nothing to combine, the reduce side fails.
    const result = await exec.runBatch(1000, {
      in: [
        [rec('bad', -1), rec('ok', 1), rec('x', 5)],
        [rec('bad', 2), rec('ok', 2)],
      ],
    });
    expect(sorted(seen[0]!)).toEqual([
      ['ok', 3],
      ['x', 5],
    ]);
    expect(result.deadLetters).toHaveLength(1);
    expect(result.deadLetters[0]).toMatchObject({
      operator: '2:reduceByKey',
      stage: 'reduce',
      timeMs: 1000,
      subject: ['bad', [-1, 2]],
      error: 'negative',
    });
  });

  // Bug (operators/shuffle.ts shuffleRead): after a merge fails, the key is deleted from the
  // reduce task's map, and the block of a later map task starts it afresh, so the key comes out
  // with the value of the remaining inputs alone (here ['bad', 4]).
  it('dead-letters all of a failed key in a reduce task, whatever shard its inputs came from', async () => {
    const { j, seen } = reduceJob();
    const exec = new LocalExecutor(j, { onRecordError: 'deadLetter' });
    await exec.runBatch(1000, {
      in: [
        [rec('bad', -1), rec('ok', 1)],
        [rec('bad', 2), rec('ok', 2)],
        [rec('bad', 4), rec('ok', 3)],
      ],
    });
    expect(sorted(seen[0]!)).toEqual([['ok', 6]]);
  });

  it('keeps the state of a key whose updateStateByKey function throws', async () => {
    const j = job('state', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<Pair<string, number>>('in')
        .updateStateByKey((vs: number[], s: number | undefined) => {
          if (vs.includes(-1)) throw new Error('poison');
          return (s ?? 0) + vs.reduce(sum, 0);
        })
        .print();
    });
    const exec = new LocalExecutor(j, { onRecordError: 'deadLetter' });
    await exec.runBatch(1000, { in: [[pair('a', 1), pair('b', 1)]] });
    const r = await exec.runBatch(2000, { in: [[pair('a', -1), pair('a', 5), pair('b', 2)]] });
    expect(sorted(exec.state('updateStateByKey#0'))).toEqual([
      ['a', 1],
      ['b', 3],
    ]);
    expect(r.deadLetters).toMatchObject([
      { operator: '1:updateStateByKey', stage: 'reduce', subject: ['a', [-1, 5]] },
    ]);
  });
});

describe('sinks', () => {
  it('keeps the latest value per key with its batch time in a table', async () => {
    const j = job('table', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue<Pair<string, number>>('in').reduceByKey(sum).saveToTable('totals');
    });
    const exec = new LocalExecutor(j);
    await exec.runBatch(1000, { in: [[pair('a', 1), pair('b', 1)], [pair('a', 2)]] });
    await exec.runBatch(2000, { in: [[pair('a', 10)]] });
    await exec.runBatch(3000, { in: [[]] });
    const table = exec.tables.get('totals')!;
    expect(sorted([...table.values()])).toEqual([
      { key: 'a', value: 10, timeMs: 2000 },
      { key: 'b', value: 1, timeMs: 1000 },
    ]);
  });

  it('keys a table by the canonical form of a key', async () => {
    const j = job('table', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue<Pair<[string, number], string>>('in').saveToTable('t');
    });
    const exec = new LocalExecutor(j);
    await exec.runBatch(1000, { in: [[pair(['a', 1], 'x'), pair(['a', 2], 'y')]] });
    await exec.runBatch(2000, { in: [[pair(['a', 1], 'z')]] });
    expect(sorted([...exec.tables.get('t')!.values()])).toEqual([
      { key: ['a', 1], value: 'z', timeMs: 2000 },
      { key: ['a', 2], value: 'y', timeMs: 1000 },
    ]);
  });

  it('writes stream records with their batch time, partition and index', async () => {
    const j = job('stream', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<string>('in')
        .map((s) => s.toUpperCase())
        .saveToStream('out');
    });
    const exec = new LocalExecutor(j);
    await exec.runBatch(1000, { in: [['a', 'b'], ['c']] });
    await exec.runBatch(2000, { in: [[], ['d']] });
    expect(exec.streams.get('out')).toEqual([
      { timeMs: 1000, partition: 0, index: 0, record: 'A' },
      { timeMs: 1000, partition: 0, index: 1, record: 'B' },
      { timeMs: 1000, partition: 1, index: 0, record: 'C' },
      { timeMs: 2000, partition: 1, index: 0, record: 'D' },
    ]);
  });

  it('counts the records each output received', async () => {
    const j = job('counts', { batchInterval: seconds(1) }, (ctx) => {
      const s = ctx.queue<Pair<string, number>>('in');
      s.saveToStream('all');
      s.reduceByKey(sum).saveToTable('sums');
    });
    const r = await new LocalExecutor(j).runBatch(1000, {
      in: [[pair('a', 1), pair('a', 2), pair('b', 3)]],
    });
    expect(r.recordsIn).toEqual({ in: 3 });
    expect(r.recordsOut).toEqual({ '1:saveToStream': 3, '3:saveToTable': 2 });
  });
});

describe('print', () => {
  // Spark's DStream.print (streaming/.../dstream/DStream.scala): a line of 43 dashes, "Time: <ms> ms",
  // the dashes again, the first `num` records, "..." when there are more, then an empty line.
  const DASHES = '-------------------------------------------';

  it("prints the first records of each batch in Spark's format, to the log", async () => {
    const log: string[] = [];
    const j = job('print', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue<string>('in').print(2);
    });
    const exec = new LocalExecutor(j, { log: (l) => log.push(l) });
    const first = await exec.runBatch(1000, { in: [['a', 'b', 'c']] });
    const second = await exec.runBatch(2000, { in: [['d', 'e']] });
    const third = await exec.runBatch(3000, { in: [[]] });
    expect(DASHES).toHaveLength(43);
    expect(first.printed).toEqual([DASHES, 'Time: 1000 ms', DASHES, 'a', 'b', '...', '']);
    expect(second.printed).toEqual([DASHES, 'Time: 2000 ms', DASHES, 'd', 'e', '']);
    expect(third.printed).toEqual([DASHES, 'Time: 3000 ms', DASHES, '']);
    expect(log).toEqual([...first.printed, ...second.printed, ...third.printed]);
  });

  it('prints ten records by default, and records that are not strings as JSON', async () => {
    const j = job('print', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue<unknown>('in').print();
    });
    const batch = [pair('a', 1), { b: [2] }, 3, null, ...Array.from({ length: 8 }, (_, i) => i)];
    const r = await new LocalExecutor(j).runBatch(1000, { in: [batch] });
    expect(r.printed.slice(3)).toEqual([
      '["a",1]',
      '{"b":[2]}',
      '3',
      'null',
      '0',
      '1',
      '2',
      '3',
      '4',
      '5',
      '...',
      '',
    ]);
  });
});

describe('batch times and sources', () => {
  const simple = () =>
    job('times', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue<number>('in').print();
    });

  it.each([
    ['not a multiple of the batch interval', 1500],
    ['not a whole number', 1000.5],
  ])('rejects a batch time that is %s', async (_, t) => {
    const err = await rejection(new LocalExecutor(simple()).runBatch(t, { in: [] }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(
      `batch time ${t} must be a multiple of the batch interval (1000ms)`,
    );
  });

  it('rejects a batch time that is not after the previous batch', async () => {
    const exec = new LocalExecutor(simple());
    await exec.runBatch(2000, { in: [[1]] });
    for (const t of [2000, 1000]) {
      const err = await rejection(exec.runBatch(t, { in: [[1]] }));
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.message).toContain('after the previous batch (2000ms)');
    }
    // Skipping batch times is allowed.
    await expect(exec.runBatch(5000, { in: [[1]] })).resolves.toMatchObject({ timeMs: 5000 });
  });

  it('rejects input for a source the job does not have, and stays usable', async () => {
    const exec = new LocalExecutor(simple());
    const err = await rejection(exec.runBatch(1000, { in: [[1]], typo: [[2]] }));
    expect(err.code).toBe('UNKNOWN_SOURCE');
    expect(err.message).toBe("runBatch: the job has no source 'typo'; its sources are in");
    await expect(exec.runBatch(1000, { in: [[1]] })).resolves.toMatchObject({ timeMs: 1000 });
  });

  it('treats a source missing from the input as empty', async () => {
    const j = job('two', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue<number>('a').union(ctx.queue<number>('b')).saveToStream('out');
    });
    const exec = new LocalExecutor(j);
    const r = await exec.runBatch(1000, { a: [[1, 2]] });
    expect(r.recordsIn).toEqual({ a: 2, b: 0 });
    expect(exec.streams.get('out')!.map((x) => x.record)).toEqual([1, 2]);
  });
});

describe('state', () => {
  const counting = () =>
    job('state', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<string>('in')
        .map((w) => pair(w, 1))
        .updateStateByKey(
          (vs: number[], s: number | undefined) => {
            const total = (s ?? 0) + vs.length;
            // A key without records this batch is forgotten.
            return vs.length === 0 ? undefined : total;
          },
          { partitions: 3 },
        )
        .print();
    });

  it('returns the current keyed state of updateStateByKey by name or id', async () => {
    const exec = new LocalExecutor(counting());
    await exec.runBatch(1000, { in: [['a', 'b', 'a']] });
    expect(sorted(exec.state('updateStateByKey#0'))).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    await exec.runBatch(2000, { in: [['a', 'c']] });
    expect(sorted(exec.state('updateStateByKey#0'))).toEqual([
      ['a', 3],
      ['c', 1],
    ]);
    expect(sorted(exec.state('2:updateStateByKey'))).toEqual(
      sorted(exec.state('updateStateByKey#0')),
    );
  });

  it('fails for an operator that is not stateful, naming the ones there are', async () => {
    const exec = new LocalExecutor(counting());
    let caught: unknown;
    try {
      exec.state('counts');
    } catch (e) {
      caught = e;
    }
    expect(SparklessError.is(caught, 'INVALID_ARGUMENT')).toBe(true);
    expect((caught as Error).message).toBe(
      "state: no stateful operator 'counts'; the job has: updateStateByKey#0",
    );
    expect(() => exec.state('1:map')).toThrow(/no stateful operator '1:map'/);
  });
});

describe('window panes', () => {
  /** The panes and partials held by an operator (by its state name), over all its partitions. */
  const held = (exec: LocalExecutor, stateName: string) =>
    (exec.store.panes.get(stateName) ?? []).reduce((n, p) => n + p.held, 0);

  // Window 30s sliding by 10s over 1s batches: panes of 10s. After a slide the three panes of the
  // window are held; between slides, up to nine partials of the pane being filled as well.
  const PANES = 3;
  const MAX = 3 + 9;

  it.each([
    [
      'reduceByKeyAndWindow with an inverse',
      (s: ReturnType<typeof keyed>) =>
        s.reduceByKeyAndWindow(sum, {
          window: seconds(30),
          slide: seconds(10),
          inverse: (a, b) => a - b,
          filter: ([, v]) => v !== 0,
          partitions: 1,
        }),
    ],
    [
      'reduceByKeyAndWindow without an inverse',
      (s: ReturnType<typeof keyed>) =>
        s.reduceByKeyAndWindow(sum, { window: seconds(30), slide: seconds(10), partitions: 1 }),
    ],
    [
      'window',
      (s: ReturnType<typeof keyed>) => s.window(seconds(30), seconds(10), { partitions: 1 }),
    ],
  ])('%s holds a bounded number of panes after many batches', async (_, windowed) => {
    const j = job('panes', { batchInterval: seconds(1) }, (ctx) => {
      windowed(keyed(ctx)).print();
    });
    const stateName = j.plan.stateful[0]!.name;
    const exec = new LocalExecutor(j);
    let most = 0;
    for (let b = 1; b <= 200; b++) {
      await exec.runBatch(b * 1000, { in: [[`k${b}`, 'steady']] });
      const now = held(exec, stateName);
      most = Math.max(most, now);
      // Near the start, panes before the first batch are absent.
      if (b % 10 === 0) expect(now, `after the slide at ${b}s`).toBe(Math.min(PANES, b / 10));
    }
    expect(most).toBe(MAX);
  });

  it('keeps window values only for keys still in an inverse window with a filter', async () => {
    const j = job('keys', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<string>('in')
        .countByValueAndWindow(minutes(1), seconds(10), { partitions: 2 })
        .print();
    });
    const stateName = j.plan.stateful[0]!.name;
    const exec = new LocalExecutor(j);
    for (let b = 1; b <= 300; b++) await exec.runBatch(b * 1000, { in: [[`k${b}`]] });
    const keys = (exec.store.keyed.get(stateName) ?? []).reduce((n, p) => n + p.size, 0);
    // At 300s the window (240s, 300s] holds the 60 keys k241..k300.
    expect(keys).toBe(60);
  });
});

function keyed(ctx: JobContext) {
  return ctx.queue<string>('in').map((w) => pair(w, 1));
}
