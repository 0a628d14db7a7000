/**
 * The plan of a job: stages split at shuffle boundaries, as Spark's DAG scheduler splits them;
 * the stateful operators with their windows and timeouts; and the plan is plain data.
 */
import { type Job, job, minutes, type Pair, pair, type State, seconds } from 'sparkless';
import { describe, expect, it } from 'vitest';

const sum = (a: number, b: number) => a + b;

/** Each stage as [kind, node ids, writes, outputs], the shape most tests compare. */
function stagesOf(j: Job) {
  return j.plan.stages.map((s) => ({
    kind: s.kind,
    nodes: s.nodes.map((n) => n.id),
    writes: s.writes,
    outputs: s.outputs,
  }));
}

const wordCount = () =>
  job('wordcount', { batchInterval: seconds(1) }, (ctx) => {
    ctx
      .kinesis('lines')
      .flatMap((l) => l.split(' '))
      .filter((w) => w.length > 0)
      .map((w) => pair(w, 1))
      .reduceByKey(sum)
      .print();
  });

describe('stages', () => {
  it('splits word count into a map stage per shard and a reduce stage with the combine', () => {
    const plan = wordCount().plan;
    expect(plan.stages).toHaveLength(2);
    const [map, reduce] = plan.stages;
    expect(map).toMatchObject({ id: 0, kind: 'map', source: 'lines' });
    expect(map!.nodes.map((n) => [n.id, n.detail])).toEqual([
      ['0:kinesis', "read 'lines'"],
      ['1:flatMap', 'flatMap'],
      ['2:filter', 'filter'],
      ['3:map', 'map'],
    ]);
    expect(map!.writes).toEqual(['4:reduceByKey']);
    expect(map!.outputs).toEqual([]);
    expect(reduce).toMatchObject({
      id: 1,
      kind: 'reduce',
      shuffle: '4:reduceByKey',
      partitions: 4,
      writes: [],
      outputs: ['5:print'],
    });
    expect(reduce!.nodes.map((n) => n.id)).toEqual(['4:reduceByKey']);
    expect(reduce!.nodes[0]!.detail).toBe(
      'shuffle into 4 partitions by hash, combine per key, map-side combine',
    );
    expect(plan.dynamic).toBe(false);
  });

  it('flags map-side combine only where the operator combines', () => {
    const j = job('combine', { batchInterval: seconds(1) }, (ctx) => {
      const s = ctx.queue<Pair<string, number>>('in');
      s.reduceByKey(sum, { partitions: 2 }).print();
      s.groupByKey({ partitions: 2 }).print();
      s.combineByKey(
        (v) => [v],
        (c: number[], v) => [...c, v],
        (a, b) => [...a, ...b],
        { mapSideCombine: false, partitions: 2 },
      ).print();
    });
    const details = Object.fromEntries(
      j.plan.stages.filter((s) => s.kind === 'reduce').map((s) => [s.shuffle, s.nodes[0]!.detail]),
    );
    expect(details).toEqual({
      '1:reduceByKey': 'shuffle into 2 partitions by hash, combine per key, map-side combine',
      '3:groupByKey': 'shuffle into 2 partitions by hash, group per key',
      '5:combineByKey': 'shuffle into 2 partitions by hash, combine per key',
    });
  });

  it('fuses a chain of narrow operators into one stage', () => {
    const j = job('narrow', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .kinesis('in')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .flatMap((s) => s.split(','))
        .map((w) => pair(w, w.length))
        .mapValues((n) => n * 2)
        .mapPartitions((rs) => rs)
        .print();
    });
    expect(stagesOf(j)).toEqual([
      {
        kind: 'map',
        nodes: [
          '0:kinesis',
          '1:map',
          '2:filter',
          '3:flatMap',
          '4:map',
          '5:mapValues',
          '6:mapPartitions',
        ],
        writes: [],
        outputs: ['7:print'],
      },
    ]);
  });

  it('runs updateStateByKey in the reduce stage of a reduceByKey with the same partitions', () => {
    const j = job('stateful', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<Pair<string, number>>('in')
        .reduceByKey(sum, { partitions: 6 })
        .mapValues((v) => v * 2)
        .updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.length, {
          partitions: 6,
        })
        .print();
    });
    expect(stagesOf(j)).toEqual([
      { kind: 'map', nodes: ['0:queue'], writes: ['1:reduceByKey'], outputs: [] },
      {
        kind: 'reduce',
        nodes: ['1:reduceByKey', '2:mapValues', '3:updateStateByKey'],
        writes: [],
        outputs: ['4:print'],
      },
    ]);
    expect(j.plan.stages[1]!.nodes[2]!.detail).toBe("state 'updateStateByKey#0'");
  });

  it('shuffles again before updateStateByKey with a different partition count', () => {
    const j = job('stateful', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<Pair<string, number>>('in')
        .reduceByKey(sum, { partitions: 4 })
        .updateStateByKey((vs: number[]) => vs.length, { partitions: 8 })
        .print();
    });
    expect(stagesOf(j)).toEqual([
      { kind: 'map', nodes: ['0:queue'], writes: ['1:reduceByKey'], outputs: [] },
      {
        kind: 'reduce',
        nodes: ['1:reduceByKey'],
        writes: ['2:updateStateByKey/shuffle'],
        outputs: [],
      },
      {
        kind: 'reduce',
        nodes: ['2:updateStateByKey/shuffle', '2:updateStateByKey'],
        writes: [],
        outputs: ['3:print'],
      },
    ]);
    expect(j.plan.stages[2]).toMatchObject({
      shuffle: '2:updateStateByKey/shuffle',
      partitions: 8,
    });
  });

  it('shuffles again before updateStateByKey when a map may have changed the keys', () => {
    // Spark drops the partitioner after map (which may change keys) but keeps it after mapValues.
    const j = job('stateful', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<Pair<string, number>>('in')
        .reduceByKey(sum)
        .map(([k, v]) => pair(k.toUpperCase(), v))
        .updateStateByKey((vs: number[]) => vs.length)
        .print();
    });
    expect(j.plan.stages.map((s) => s.shuffle ?? s.source)).toEqual([
      'in',
      '1:reduceByKey',
      '3:updateStateByKey/shuffle',
    ]);
  });

  it('plans a join of two sources as two map stages writing one cogroup stage', () => {
    const j = job('join', { batchInterval: seconds(1) }, (ctx) => {
      const clicks = ctx.queue<Pair<string, number>>('clicks');
      const users = ctx.queue<Pair<string, string>>('users');
      clicks.join(users, { partitions: 3 }).print();
    });
    expect(stagesOf(j)).toEqual([
      { kind: 'map', nodes: ['0:queue'], writes: ['2:join'], outputs: [] },
      { kind: 'map', nodes: ['1:queue'], writes: ['2:join'], outputs: [] },
      { kind: 'reduce', nodes: ['2:join', '3:join'], writes: [], outputs: ['4:print'] },
    ]);
    expect(j.plan.stages.map((s) => s.source ?? null)).toEqual(['clicks', 'users', null]);
    expect(j.plan.stages[2]).toMatchObject({ shuffle: '2:join', partitions: 3 });
    expect(j.plan.stages[2]!.nodes[0]!.detail).toBe('cogroup of 2 into 3 partitions');
  });

  it('runs a union of a source stream and a shuffled stream in both stages', () => {
    const j = job('union', { batchInterval: seconds(1) }, (ctx) => {
      const s = ctx.queue<Pair<string, number>>('in');
      s.union(s.reduceByKey(sum)).print();
    });
    expect(stagesOf(j)).toEqual([
      {
        kind: 'map',
        nodes: ['0:queue', '2:union'],
        writes: ['1:reduceByKey'],
        outputs: ['3:print'],
      },
      { kind: 'reduce', nodes: ['1:reduceByKey', '2:union'], writes: [], outputs: ['3:print'] },
    ]);
  });

  it('adds the stages of a shuffle inside transform and marks the plan dynamic', () => {
    const j = job('transform', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<Pair<string, number>>('in')
        .transform((rdd) => rdd.reduceByKey(sum, 3).mapValues((v) => v * 2))
        .print();
    });
    expect(stagesOf(j)).toEqual([
      { kind: 'map', nodes: ['0:queue'], writes: ['1:transform/0:reduceByKey'], outputs: [] },
      {
        kind: 'reduce',
        nodes: ['1:transform/0:reduceByKey', '1:transform/1:mapValues'],
        writes: [],
        outputs: ['2:print'],
      },
    ]);
    expect(j.plan.stages[1]!.partitions).toBe(3);
    expect(j.plan.dynamic).toBe(true);
  });

  it('marks a plan with foreachRDD dynamic and one with only narrow transforms not', () => {
    const withForeach = job('foreach', { batchInterval: seconds(1) }, (ctx) => {
      ctx.queue('in').foreachRDD(() => {});
    });
    expect(withForeach.plan.dynamic).toBe(true);
    expect(wordCount().plan.dynamic).toBe(false);
  });

  it('shows the stages of a batch at which every window emits', () => {
    const j = job('windows', { batchInterval: seconds(1) }, (ctx) => {
      const s = ctx.queue<Pair<string, number>>('in');
      s.window(seconds(4), seconds(2)).print();
      s.reduceByKeyAndWindow(sum, { window: seconds(9), slide: seconds(3) }).print();
    });
    expect(j.plan.stages.flatMap((s) => s.outputs).sort()).toEqual(['2:print', '4:print']);
  });
});

describe('explain', () => {
  const statefulJob = () =>
    job('clicks', { batchInterval: seconds(10), defaultPartitions: 6 }, (ctx) => {
      const counts = ctx
        .kinesis('clicks')
        .map((u) => pair(u, 1))
        .reduceByKey(sum);
      counts
        .updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.length, {
          name: 'totals',
        })
        .saveToTable('totals');
      counts
        .reduceByKeyAndWindow(sum, {
          window: minutes(5),
          slide: seconds(30),
          inverse: (a, b) => a - b,
        })
        .print();
      counts.mapWithState({ fn: (_k, v) => v, timeout: minutes(30) }).print();
    });

  it('lists the job, its sources, sinks and stages', () => {
    const text = statefulJob().explain();
    expect(text).toContain("Job 'clicks': batch interval 10s, 6 partitions by default");
    expect(text).toContain('Sources: clicks (kinesis)');
    expect(text).toContain('Sinks: totals (table)');
    expect(text).toContain("Stage 0 (map): one task per shard of 'clicks'");
    expect(text).toContain('  -> writes blocks for 2:reduceByKey');
    expect(text).toContain('Stage 1 (reduce): one task per partition (6) of 2:reduceByKey');
    expect(text).toMatch(
      /\n {2}2:reduceByKey +shuffle into 6 partitions by hash, combine per key, map-side combine\n/,
    );
    expect(text).toContain('  -> output 4:saveToTable');
  });

  it('lists the stateful operators with window, slide, pane, inverse, timeout and the state hash', () => {
    const j = statefulJob();
    const text = j.explain();
    expect(text).toContain(`Stateful operators (state hash ${j.plan.stateHash}):`);
    expect(text).toContain('  totals (updateStateByKey, 3:updateStateByKey): 6 partitions');
    expect(text).toContain(
      '  reduceByKeyAndWindow#1 (reduceByKeyAndWindow, 5:reduceByKeyAndWindow): 6 partitions, window 5m, slide 30s, pane 30s, inverse',
    );
    expect(text).toContain(
      '  mapWithState#2 (mapWithState, 7:mapWithState): 6 partitions, timeout 30m',
    );
    expect(text).toMatch(
      /\n {2}5:reduceByKeyAndWindow +state 'reduceByKeyAndWindow#1', window 5m, slide 30s, pane 30s, inverse\n/,
    );
    expect(text).toMatch(/\n {2}7:mapWithState +state 'mapWithState#2', timeout 30m\n/);
  });

  it('shows a pane that is the greatest common divisor of window and slide', () => {
    const text = job('panes', { batchInterval: seconds(10) }, (ctx) => {
      ctx
        .queue<Pair<string, number>>('in')
        .reduceByKeyAndWindow(sum, { window: seconds(50), slide: seconds(20) })
        .print();
    }).explain();
    expect(text).toContain('window 50s, slide 20s, pane 10s');
    expect(text).not.toContain('inverse');
  });

  it('says when stages may change at run time, and only then', () => {
    const note = 'transform and foreachRDD may add stages at run time';
    expect(wordCount().explain()).not.toContain(note);
    expect(wordCount().explain()).not.toContain('Stateful operators');
    const dynamic = job('dyn', { batchInterval: seconds(1) }, (ctx) => {
      ctx
        .queue<number>('in')
        .transform((r) => r.distinct())
        .print();
    });
    expect(dynamic.explain()).toContain(note);
  });
});

describe('plan data', () => {
  it('round-trips through JSON', () => {
    for (const j of [
      wordCount(),
      job('all', { batchInterval: seconds(10) }, (ctx) => {
        const s = ctx.kinesis('in').map((w) => pair(w, 1));
        const t = ctx.queue<Pair<string, number>>('other');
        s.reduceByKeyAndWindow(sum, { window: minutes(1), inverse: (a, b) => a - b })
          .join(t)
          .saveToStream('joined');
        s.mapWithState({
          fn: (_k, v, state: State<number>) => {
            state.update((state.getOption() ?? 0) + (v ?? 0));
            return v;
          },
          timeout: minutes(1),
        })
          .stateSnapshots()
          .saveToTable('snapshots');
        s.transform((r) => r.sortByKey()).print();
      }),
    ]) {
      const text = JSON.stringify(j.plan);
      expect(JSON.parse(text)).toStrictEqual(j.plan);
      expect(JSON.stringify(JSON.parse(text))).toBe(text);
    }
  });

  it('names the sources and sinks with their kinds', () => {
    const plan = job('io', { batchInterval: seconds(1) }, (ctx) => {
      const s = ctx.kinesis('a').union(ctx.queue<string>('b'));
      s.map((x) => pair(x, 1)).saveToTable('t');
      s.saveToStream('s');
    }).plan;
    expect(plan.sources).toEqual([
      { name: 'a', kind: 'kinesis' },
      { name: 'b', kind: 'queue' },
    ]);
    expect(plan.sinks).toEqual([
      { name: 't', kind: 'table' },
      { name: 's', kind: 'stream' },
    ]);
    expect(plan).toMatchObject({ job: 'io', batchIntervalMs: 1000, defaultPartitions: 4 });
  });
});
