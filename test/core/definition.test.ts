/**
 * Defining a job: mistakes fail when the job is built, with an error that names the operator, the
 * value and the fix; operator ids and stateful names are stable; the state hash follows the shape
 * of stored state and nothing else.
 */
import {
  type DStream,
  type Duration,
  type Job,
  type JobContext,
  job,
  milliseconds,
  minutes,
  type Pair,
  pair,
  SparklessError,
  seconds,
} from 'sparkless';
import { LocalExecutor } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';

/** Runs `fn`, expects a SparklessError with `code` whose message contains every fragment. */
function expectError(fn: () => unknown, code: string, ...fragments: string[]): SparklessError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeDefined();
  expect(SparklessError.is(caught), `not a SparklessError: ${String(caught)}`).toBe(true);
  const err = caught as SparklessError;
  expect(err.code).toBe(code);
  expect(SparklessError.is(err, code)).toBe(true);
  for (const f of fragments) expect(err.message).toContain(f);
  return err;
}

const sum = (a: number, b: number) => a + b;

/** A job over one queue of [word, count] pairs with a 10s batch interval. */
function pairsJob(
  build: (s: DStream<Pair<string, number>>, ctx: JobContext) => void,
  batchInterval: Duration = seconds(10),
): Job {
  return job('defs', { batchInterval }, (ctx) => build(ctx.queue<Pair<string, number>>('in'), ctx));
}

describe('durations', () => {
  it('fails if a window is not a multiple of the batch interval, suggesting the nearest ones', () => {
    const err = expectError(
      () => pairsJob((s) => s.reduceByKeyAndWindow(sum, { window: seconds(45) }).print()),
      'NOT_A_MULTIPLE_OF_BATCH',
    );
    expect(err.message).toBe(
      'reduceByKeyAndWindow: window (45s) must be a multiple of the batch interval (10s); try 40s or 50s',
    );
  });

  it('fails if a window shorter than the batch interval suggests only the batch interval', () => {
    expectError(
      () => pairsJob((s) => s.window(seconds(5)).print()),
      'NOT_A_MULTIPLE_OF_BATCH',
      'window: window (5s) must be a multiple of the batch interval (10s); try 10s',
    );
  });

  it('fails if a slide is not a multiple of the batch interval', () => {
    expectError(
      () =>
        pairsJob((s) =>
          s.reduceByKeyAndWindow(sum, { window: minutes(1), slide: seconds(15) }).print(),
        ),
      'NOT_A_MULTIPLE_OF_BATCH',
      'reduceByKeyAndWindow: slide (15s)',
      'batch interval (10s)',
      'try 10s or 20s',
    );
  });

  it("fails if a window over a windowed stream is not a multiple of that stream's slide", () => {
    expectError(
      () =>
        pairsJob((s) =>
          s.window(seconds(40), seconds(20)).window(seconds(50), seconds(20)).print(),
        ),
      'NOT_A_MULTIPLE_OF_BATCH',
      "window: window (50s) must be a multiple of the parent stream's slide (20s); try 40s or 1m",
    );
  });

  it('fails if a window is shorter than its slide', () => {
    expectError(
      () => pairsJob((s) => s.countByWindow(seconds(20), seconds(30)).print()),
      'WINDOW_SHORTER_THAN_SLIDE',
      'window (20s) must not be shorter than the slide (30s)',
      'make the window at least 30s or slide by at most 20s',
    );
  });

  it.each([
    ['zero', seconds(0), 'window (0s) must be positive'],
    ['negative', seconds(-10), 'window (-10s) must be positive'],
  ])('fails if a window is %s', (_, window, fragment) => {
    expectError(
      () => pairsJob((s) => s.reduceByKeyAndWindow(sum, { window }).print()),
      'INVALID_DURATION',
      `reduceByKeyAndWindow: ${fragment}`,
    );
  });

  it('fails if a number is given instead of a Duration', () => {
    expectError(
      () =>
        pairsJob((s) =>
          s.reduceByKeyAndWindow(sum, { window: 30_000 as unknown as Duration }).print(),
        ),
      'INVALID_DURATION',
      'reduceByKeyAndWindow: window must be a Duration such as seconds(10), got 30000',
    );
    expectError(
      () => pairsJob((s) => s.window(seconds(20), 10_000 as unknown as Duration).print()),
      'INVALID_DURATION',
      'window: slide must be a Duration such as seconds(10), got 10000',
    );
    expectError(
      () =>
        job('defs', { batchInterval: 1000 as unknown as Duration }, (ctx) =>
          ctx.queue('in').print(),
        ),
      'INVALID_DURATION',
      "job 'defs': batchInterval must be a Duration such as seconds(10), got 1000",
    );
  });

  it('fails if the batch interval is under 100ms', () => {
    expectError(
      () => pairsJob((s) => s.print(), milliseconds(50)),
      'INVALID_DURATION',
      "job 'defs': batchInterval (50ms) must be at least 100ms",
    );
    expect(() => pairsJob((s) => s.print(), milliseconds(100))).not.toThrow();
  });

  it('fails if a duration is not a whole number of milliseconds', () => {
    expectError(
      () => milliseconds(1.5),
      'INVALID_DURATION',
      'milliseconds(1.5) must be a whole number of milliseconds',
      'milliseconds(2)',
    );
  });

  it('fails if a mapWithState timeout is not a multiple of the batch interval', () => {
    expectError(
      () => pairsJob((s) => s.mapWithState({ fn: (_k, v) => v, timeout: seconds(25) }).print()),
      'NOT_A_MULTIPLE_OF_BATCH',
      'mapWithState: timeout (25s) must be a multiple of the batch interval (10s); try 20s or 30s',
    );
  });
});

describe('structure', () => {
  it('fails if the pipeline has no output', () => {
    expectError(
      () => pairsJob((s) => s.reduceByKey(sum)),
      'NO_OUTPUT',
      "job 'defs': the pipeline has no output",
      'print(), foreachRDD(), saveToTable() or saveToStream()',
    );
  });

  it('fails if two sources have the same name', () => {
    expectError(
      () =>
        job('defs', { batchInterval: seconds(1) }, (ctx) => {
          ctx.queue<number>('clicks').union(ctx.kinesis('clicks').map(Number)).print();
        }),
      'DUPLICATE_NAME',
      "two sources are named 'clicks'",
      'give each source its own name',
    );
  });

  it('fails if two sinks have the same name, whatever their kinds', () => {
    expectError(
      () =>
        pairsJob((s) => {
          s.saveToTable('totals');
          s.reduceByKey(sum).saveToTable('totals');
        }),
      'DUPLICATE_NAME',
      "two sinks are named 'totals'",
      'give each sink its own name',
    );
    expectError(
      () =>
        pairsJob((s) => {
          s.saveToTable('out');
          s.saveToStream('out');
        }),
      'DUPLICATE_NAME',
      "two sinks are named 'out'",
    );
  });

  it('fails if a union or join combines streams with different slides', () => {
    expectError(
      () => pairsJob((s) => s.union(s.window(seconds(20), seconds(20))).print()),
      'INVALID_ARGUMENT',
      'union: both streams must have the same slide, got 10s and 20s',
      'window them alike first',
    );
    expectError(
      () => pairsJob((s) => s.window(seconds(30), seconds(30)).join(s).print()),
      'INVALID_ARGUMENT',
      'join: both streams must have the same slide, got 30s and 10s',
    );
    // The same slides are fine, whatever the windows.
    expect(() =>
      pairsJob((s) =>
        s
          .window(seconds(60), seconds(20))
          .join(s.window(seconds(20), seconds(20)))
          .print(),
      ),
    ).not.toThrow();
  });

  it('fails if a stream of another job is combined with this one', () => {
    let other!: DStream<Pair<string, number>>;
    pairsJob((s) => {
      other = s;
      s.print();
    });
    for (const combine of [
      (s: DStream<Pair<string, number>>) => s.union(other),
      (s: DStream<Pair<string, number>>) => s.join(other),
      (s: DStream<Pair<string, number>>) => s.cogroup(other),
      (s: DStream<Pair<string, number>>) => s.transformWith(other, (a) => a),
    ]) {
      expectError(
        () => pairsJob((s) => combine(s).print()),
        'FOREIGN_STREAM',
        'the other stream must be a DStream of the same job',
      );
    }
  });

  it('fails if operators are added to a stream after its job is defined', () => {
    let kept!: DStream<Pair<string, number>>;
    const j = pairsJob((s) => {
      kept = s;
      s.print();
    });
    const before = JSON.stringify(j.plan);
    expectError(
      () => kept.map((x) => x),
      'INVALID_ARGUMENT',
      "map: job 'defs' is already defined",
      "build every operator inside the job's build function",
    );
    expectError(() => kept.print(), 'INVALID_ARGUMENT', "print: job 'defs' is already defined");
    expectError(
      () => kept.updateStateByKey((vs: number[]) => vs.length),
      'INVALID_ARGUMENT',
      'already defined',
    );
    expect(JSON.stringify(j.plan)).toBe(before);
    expect(j.graph.nodes.map((n) => n.id)).toEqual(['0:queue', '1:print']);
  });

  // Bug: saveToTable/saveToStream register their sink, and ctx.kinesis/ctx.queue their source,
  // before the graph refuses the operator, so a failed late call still changes a defined job:
  // an executor made afterwards creates the table and accepts input for the source.
  it('leaves a defined job unchanged when a late sink or source is refused', async () => {
    let kept!: DStream<Pair<string, number>>;
    let ctx!: JobContext;
    const j = pairsJob((s, c) => {
      kept = s;
      ctx = c;
      s.print();
    });
    expect(() => kept.saveToTable('late')).toThrow(/already defined/);
    expect(() => ctx.queue('late')).toThrow(/already defined/);
    const exec = new LocalExecutor(j);
    expect([...exec.tables.keys()]).toEqual([]);
    await expect(exec.runBatch(10_000, { late: [[1]] })).rejects.toSatisfy((e) =>
      SparklessError.is(e, 'UNKNOWN_SOURCE'),
    );
  });

  it('fails if print is asked for no records', () => {
    expectError(
      () => pairsJob((s) => s.print(0)),
      'INVALID_ARGUMENT',
      'print: num must be a positive whole number, got 0',
    );
    expectError(() => pairsJob((s) => s.print(2.5)), 'INVALID_ARGUMENT', 'got 2.5');
  });
});

describe('partitions', () => {
  it.each([0, -1, 1.5, 10_001, '4'])('fails if an operator is given %j partitions', (n) => {
    const partitions = n as number;
    expectError(
      () => pairsJob((s) => s.reduceByKey(sum, { partitions }).print()),
      'INVALID_ARGUMENT',
      `reduceByKey: partitions must be a whole number from 1 to 10000, got ${JSON.stringify(n)}`,
    );
  });

  it('fails if stateful operators, repartition or the job are given bad partitions', () => {
    expectError(
      () => pairsJob((s) => s.updateStateByKey((vs: number[]) => vs.length, { partitions: 0 })),
      'INVALID_ARGUMENT',
      'updateStateByKey: partitions must be a whole number from 1 to 10000, got 0',
    );
    expectError(
      () =>
        pairsJob((s) =>
          s.reduceByKeyAndWindow(sum, { window: seconds(30), partitions: 1.5 }).print(),
        ),
      'INVALID_ARGUMENT',
      'reduceByKeyAndWindow: partitions must be a whole number from 1 to 10000, got 1.5',
    );
    expectError(
      () => pairsJob((s) => s.repartition(0).print()),
      'INVALID_ARGUMENT',
      'repartition: partitions must be a whole number from 1 to 10000, got 0',
    );
    expectError(
      () =>
        job('defs', { batchInterval: seconds(1), defaultPartitions: 0 }, (ctx) =>
          ctx.queue('in').print(),
        ),
      'INVALID_ARGUMENT',
      "job 'defs': defaultPartitions must be a whole number from 1 to 10000, got 0",
    );
  });
});

describe('names', () => {
  it.each(['', 'my job', '1st', 'a'.repeat(49), 'under_score'])(
    'fails if the job is named %j',
    (name) => {
      expectError(
        () => job(name, { batchInterval: seconds(1) }, (ctx) => ctx.queue('in').print()),
        'INVALID_ARGUMENT',
        'job: the name must start with a letter and have up to 48 letters, digits or -',
        `got ${JSON.stringify(name)}`,
      );
    },
  );

  it('accepts a job name of 48 characters', () => {
    expect(
      job(`a${'b'.repeat(47)}`, { batchInterval: seconds(1) }, (ctx) => ctx.queue('in').print())
        .name,
    ).toHaveLength(48);
  });

  it.each(['', 'two words', '9lives', 'dots.not.allowed'])(
    'fails if a source is named %j',
    (name) => {
      expectError(
        () => job('defs', { batchInterval: seconds(1) }, (ctx) => ctx.kinesis(name).print()),
        'INVALID_ARGUMENT',
        'source: the name must start with a letter',
        `got ${JSON.stringify(name)}`,
      );
    },
  );

  it('fails if a sink is badly named', () => {
    expectError(
      () => pairsJob((s) => s.saveToTable('my table')),
      'INVALID_ARGUMENT',
      'saveToTable: the sink name must start with a letter',
      'got "my table"',
    );
    expectError(
      () => pairsJob((s) => s.saveToStream('')),
      'INVALID_ARGUMENT',
      'saveToStream: the sink name must start with a letter',
    );
  });

  it('fails if a stateful operator is badly named', () => {
    expectError(
      () =>
        pairsJob((s) =>
          s.updateStateByKey((vs: number[]) => vs.length, { name: 'has space' }).print(),
        ),
      'INVALID_ARGUMENT',
      'updateStateByKey: name must be 1 to 64 letters, digits or _.#:- characters, got "has space"',
    );
    expectError(
      () =>
        pairsJob((s) =>
          s.reduceByKeyAndWindow(sum, { window: seconds(30), name: 'x'.repeat(65) }).print(),
        ),
      'INVALID_ARGUMENT',
      'reduceByKeyAndWindow: name must be 1 to 64',
    );
  });
});

describe('operator ids and stateful names', () => {
  const define = () =>
    job('ids', { batchInterval: seconds(10) }, (ctx) => {
      const counts = ctx
        .kinesis('lines')
        .flatMap((l) => l.split(' '))
        .map((w) => pair(w, 1))
        .reduceByKey(sum);
      counts
        .updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.length)
        .print();
      counts.reduceByKeyAndWindow(sum, { window: minutes(1), inverse: (a, b) => a - b }).print();
      counts.mapWithState({ fn: (_k, v) => v, timeout: minutes(5) }).print();
      counts.window(seconds(30)).saveToStream('windowed');
    });

  it('gives the same ids and the same plan when the same job is defined twice', () => {
    const a = define();
    const b = define();
    expect(a.plan.operators.map((o) => o.id)).toEqual(b.plan.operators.map((o) => o.id));
    expect(JSON.stringify(a.plan)).toBe(JSON.stringify(b.plan));
    expect(a.explain()).toBe(b.explain());
  });

  it('numbers operators by their position in construction order', () => {
    expect(define().plan.operators.map((o) => o.id)).toEqual([
      '0:kinesis',
      '1:flatMap',
      '2:map',
      '3:reduceByKey',
      '4:updateStateByKey',
      '5:print',
      '6:reduceByKeyAndWindow',
      '7:print',
      '8:mapWithState',
      '9:mapWithState',
      '10:print',
      '11:window',
      '12:saveToStream',
    ]);
  });

  it('names stateful operators by kind and position among them by default', () => {
    expect(define().plan.stateful.map((s) => [s.name, s.kind, s.id])).toEqual([
      ['updateStateByKey#0', 'updateStateByKey', '4:updateStateByKey'],
      ['reduceByKeyAndWindow#1', 'reduceByKeyAndWindow', '6:reduceByKeyAndWindow'],
      ['mapWithState#2', 'mapWithState', '8:mapWithState'],
      ['window#3', 'window', '11:window'],
    ]);
  });

  it('uses the name a stateful operator is given', () => {
    const j = pairsJob((s) => {
      s.updateStateByKey((vs: number[]) => vs.length, { name: 'totals' }).print();
      s.mapWithState({ fn: (_k, v) => v, name: 'sessions.v2' }).print();
      s.window(seconds(20), undefined, { name: 'recent' }).print();
    });
    expect(j.plan.stateful.map((s) => s.name)).toEqual(['totals', 'sessions.v2', 'recent']);
  });

  // The name is where an operator's state is stored (StatefulOptions.name), so two stateful
  // operators may not share one, given explicitly or clashing with a default name.
  it('fails if two stateful operators have the same name', () => {
    expectError(
      () =>
        pairsJob((s) => {
          s.updateStateByKey((vs: number[]) => vs.length, { name: 'counts' }).print();
          s.mapWithState({ fn: (_k, v) => v, name: 'counts' }).print();
        }),
      'DUPLICATE_NAME',
      "'counts'",
    );
    expectError(
      () =>
        pairsJob((s) => {
          s.updateStateByKey((vs: number[]) => vs.length).print();
          s.updateStateByKey((vs: number[]) => vs.length, { name: 'updateStateByKey#0' }).print();
        }),
      'DUPLICATE_NAME',
      "'updateStateByKey#0'",
    );
  });

  it('exposes the id of the operator behind a stream', () => {
    pairsJob((s) => {
      expect(s.id).toBe('0:queue');
      const m = s.mapValues((v) => v * 2);
      expect(m.id).toBe('1:mapValues');
      expect(m.slideDuration).toBe(10_000);
      expect(m.window(seconds(60), seconds(30)).slideDuration).toBe(30_000);
      m.print();
    });
  });
});

describe('state hash', () => {
  type Shape = {
    window?: Duration;
    slide?: Duration;
    partitions?: number;
    /** null: no timeout. */
    timeout?: Duration | null;
    name?: string;
    kind?: 'updateStateByKey' | 'mapWithState';
    inverse?: boolean;
    reduce?: (a: number, b: number) => number;
    extraMap?: boolean;
    update?: (vs: number[], s: number | undefined) => number;
  };
  const hashOf = (shape: Shape = {}) =>
    job('hash', { batchInterval: seconds(10) }, (ctx) => {
      let s = ctx.queue<Pair<string, number>>('in');
      if (shape.extraMap) s = s.filter(([k]) => k !== '').map(([k, v]) => pair(k.trim(), v));
      s.reduceByKeyAndWindow(shape.reduce ?? sum, {
        window: shape.window ?? minutes(1),
        slide: shape.slide ?? seconds(20),
        ...(shape.inverse === false ? {} : { inverse: (a, b) => a - b }),
        ...(shape.partitions ? { partitions: shape.partitions } : {}),
      }).print();
      const name = shape.name ?? 'state';
      if ((shape.kind ?? 'mapWithState') === 'mapWithState')
        s.mapWithState({
          fn: (_k, v) => v,
          ...(shape.timeout === null ? {} : { timeout: shape.timeout ?? minutes(5) }),
          name,
        }).print();
      else s.updateStateByKey(shape.update ?? ((vs: number[]) => vs.length), { name }).print();
    }).plan.stateHash;

  it('is the same for the same stateful shape', () => {
    expect(hashOf()).toMatch(/^[0-9a-f]{16}$/);
    expect(hashOf()).toBe(hashOf());
  });

  it.each<[string, Shape]>([
    ['window', { window: minutes(2) }],
    ['slide', { slide: seconds(30) }],
    ['partitions', { partitions: 8 }],
    ['timeout', { timeout: minutes(6) }],
    ['timeout is dropped', { timeout: null }],
    ['name', { name: 'state2' }],
    ['kind', { kind: 'updateStateByKey' }],
    ['inverse', { inverse: false }],
  ])('changes when the %s changes', (_, shape) => {
    expect(hashOf(shape)).not.toBe(hashOf());
  });

  it('changes when only the kind of a stateful operator changes', () => {
    // Neither has a timeout, so the kind is the only difference.
    expect(hashOf({ kind: 'updateStateByKey' })).not.toBe(hashOf({ timeout: null }));
  });

  it('does not change when only a function body or a stateless operator changes', () => {
    expect(hashOf({ reduce: (a, b) => b + a })).toBe(hashOf());
    expect(hashOf({ extraMap: true })).toBe(hashOf());
    expect(hashOf({ kind: 'updateStateByKey', update: (vs, s) => (s ?? 0) + vs.length })).toBe(
      hashOf({ kind: 'updateStateByKey' }),
    );
  });

  it('is the same for a job without stateful operators whatever they do', () => {
    const stateless = (partitions: number) =>
      job('hash', { batchInterval: seconds(10) }, (ctx) =>
        ctx.queue<Pair<string, number>>('in').reduceByKey(sum, { partitions }).print(),
      ).plan.stateHash;
    expect(stateless(2)).toBe(stateless(8));
  });
});
