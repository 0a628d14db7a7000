/**
 * The protocol under faults, one test per named point: workers killed between their writes,
 * payloads run twice, zombie attempts, coordinators killed between their steps and resumed by a
 * successor, two coordinators at once, throttling, lost blocks, poison records and resharding.
 * Each run is checked against the oracle on the records its committed batches read, with exact
 * counts: nothing lost, nothing applied twice.
 */
import { job, pair, seconds, utf8 } from 'sparkless';
import { describe, expect, it } from 'vitest';
import type { BatchPlan, Intent, TaskClaim } from '../../lib/aws/protocol.js';
import type { StateChange } from '../../lib/aws/views.js';
import {
  afterCall,
  B,
  beforeCall,
  type Coordinator,
  expectSameAsOracle,
  feed,
  type Hook,
  type JobFactory,
  Killed,
  makeWorld,
  POISON_ERROR,
  random,
  T0,
  Throttled,
  World,
} from './harness.js';
import {
  add,
  eventOf,
  expectNoRecompute,
  gate,
  is,
  MAP,
  REDUCE,
  text,
  wordsJob,
  X,
} from './jobs.js';

/** How many batches each run commits. */
const BATCHES = 8;

async function wordsWorld(seed = 1): Promise<World> {
  const w = await makeWorld(wordsJob, { shards: { lines: 3 } });
  await feed(w, 'lines', text(240, seed), { batches: 6, seed: seed + 100, empty: [5] });
  return w;
}

describe('workers', () => {
  it('a map task killed after writing its blocks, before its claim, is retried; its blocks are never read', async () => {
    const w = await wordsWorld();
    let killed: string | undefined;
    w.workerHooks.push(
      afterCall((call) => {
        if (call.op !== 'putBlocks' || killed) return;
        const [t, , task, attempt] = call.args as [number, string, number, string];
        if (t === X && task === 1) {
          killed = attempt;
          throw new Error('worker killed after putBlocks');
        }
      }),
    );
    const readAttempts = new Set<string>();
    w.workerHooks.push(
      beforeCall((call) => {
        if (call.op !== 'readBlocks') return;
        for (const wr of call.args[3] as Array<{ attempt: string }>) readAttempts.add(wr.attempt);
      }),
    );
    await w.run(BATCHES);
    await expectSameAsOracle(w, { batches: BATCHES });
    expect(killed).toBeDefined();
    const claim = (await w.stores.getClaim(X, MAP, 1))!;
    expect(claim.attempt).not.toBe(killed);
    expect(readAttempts.has(claim.attempt)).toBe(true);
    expect(readAttempts.has(killed!)).toBe(false);
    expect(w.invocations.filter((i) => is(i.event, X, MAP, 1)).map((i) => !!i.error)).toEqual([
      true,
      false,
    ]);
    expectNoRecompute(w);
  });

  it('the same payload run twice: the second run returns the first claim and applies nothing twice', async () => {
    const w = await wordsWorld(2);
    const twice: Array<[TaskClaim, TaskClaim]> = [];
    w.invokeHooks.push(async (call, next) => {
      const e = eventOf(call.args);
      if (!is(e, X, MAP, 0) && !is(e, X, REDUCE, 2)) return next();
      const first = (await next()) as TaskClaim;
      const second = (await next()) as TaskClaim;
      twice.push([first, second]);
      return second;
    });
    const writes = new Map<string, number>();
    w.workerHooks.push(
      beforeCall((call) => {
        if (!['putIntent', 'putClaim', 'putBlocks', 'loadKeyed'].includes(call.op)) return;
        if (eventTime(w) === X) writes.set(call.op, (writes.get(call.op) ?? 0) + 1);
      }),
    );
    await w.run(BATCHES);
    expect(twice).toHaveLength(2);
    for (const [first, second] of twice) expect(second).toEqual(first);
    // Three map tasks and three reduce tasks wrote once each; the repeats only re-applied.
    expect(Object.fromEntries(writes)).toEqual({
      putBlocks: 3,
      putClaim: 6,
      putIntent: 6,
      loadKeyed: 3,
    });
    await expectSameAsOracle(w, { batches: BATCHES });
    expectNoRecompute(w);
  });

  it('a zombie attempt that writes blocks and an intent after another attempt claimed is never read', async () => {
    const w = await wordsWorld(3);
    // The first attempts of map task 2 and reduce task 0 of X stall (their invocations time out);
    // the retries claim; then the stalled attempts wake up and write garbage under their ids.
    const zombies: Array<{ attempt: string; done: Promise<TaskClaim>; op: string }> = [];
    const wrote: string[] = [];
    const read: string[] = [];
    w.workerHooks.push(
      beforeCall((call) => {
        if (call.op === 'readBlocks')
          for (const wr of call.args[3] as Array<{ attempt: string }>) read.push(wr.attempt);
        if (call.op === 'getIntent') read.push(call.args[3] as string);
      }),
    );
    const wakeUp = new Map<string, () => void>();
    const stalled = new Set<string>();
    w.invokeHooks.push(async (call, next) => {
      const e = eventOf(call.args);
      const id = `${e.stage}/${e.task}`;
      if (e.timeMs !== X || !['0/2', '1/0'].includes(id) || stalled.has(id)) return next();
      stalled.add(id);
      const g = gate();
      wakeUp.set(id, g.open);
      const corrupt: Hook = async (c, proceed) => {
        if (c.op === 'putBlocks') {
          await g.wait;
          const [t, writeId, task, attempt, blocks] = c.args as [
            number,
            string,
            number,
            string,
            unknown[][],
          ];
          const r = await proceed([t, writeId, task, attempt, blocks.map((b) => [...b, ...b])]);
          wrote.push(`${id} ${c.op}`);
          return r;
        }
        if (c.op === 'putIntent') {
          await g.wait;
          const [t, stage, task, attempt, intent] = c.args as [
            number,
            number,
            number,
            string,
            Intent,
          ];
          const bad: Intent = {
            ...intent,
            outputs: Object.fromEntries(
              Object.entries(intent.outputs).map(([op, parts]) => [
                op,
                parts.map((p) => ({ ...p, records: [...p.records, 'zombie'] })),
              ]),
            ),
            state: intent.state.map((s) => ({
              ...s,
              changes: s.changes.map(
                (ch): StateChange => ({
                  encodedKey: ch.encodedKey,
                  entry: ch.entry && { ...ch.entry, value: 999_999 },
                }),
              ),
            })),
          };
          const r = await proceed([t, stage, task, attempt, bad]);
          wrote.push(`${id} ${c.op}`);
          return r;
        }
        return proceed();
      };
      const ctx = w.workerContext();
      const attempt = `zombie-${id}`;
      const zombie = {
        ...ctx,
        attemptId: () => attempt,
        stores: new Proxy(ctx.stores, {
          get(target, prop) {
            const f = Reflect.get(target, prop) as (...a: unknown[]) => Promise<unknown>;
            return (...args: unknown[]) =>
              corrupt({ op: String(prop), args }, (a) => f(...(a ?? args)));
          },
        }),
      };
      zombies.push({ attempt, done: w.invoke(e, zombie), op: id });
      throw new Error('task timed out');
    });
    // Wake each zombie once its task is claimed, and let it finish before the next stage reads.
    w.workerHooks.push(
      afterCall((call) => {
        if (call.op !== 'putClaim') return;
        const c = call.args[0] as TaskClaim;
        if (c.timeMs === X && !c.attempt.startsWith('zombie'))
          wakeUp.get(`${c.stage}/${c.task}`)?.();
      }),
    );
    const c = w.coordinator();
    c.invokeHooks.push(
      beforeCall(async (call) => {
        const e = eventOf(call.args);
        if (is(e, X, REDUCE)) await zombies.find((z) => z.op === '0/2')?.done;
      }),
    );
    c.storeHooks.push(
      beforeCall(async (call) => {
        if (call.op === 'putCommit' && (call.args[0] as { timeMs: number }).timeMs === X)
          await zombies.find((z) => z.op === '1/0')?.done;
      }),
    );
    await c.run(BATCHES);
    await w.settle();
    expect(zombies).toHaveLength(2);
    expect(wrote.sort()).toEqual(['0/2 putBlocks', '0/2 putIntent', '1/0 putIntent']);
    expect(read.filter((a) => a.startsWith('zombie'))).toEqual([]);
    for (const z of zombies) {
      const [stage, task] = z.op.split('/').map(Number) as [number, number];
      const claim = (await w.stores.getClaim(X, stage, task))!;
      expect(claim.attempt).not.toBe(z.attempt);
      // The zombie lost the claim, and answered with the winner's.
      expect(await z.done).toMatchObject(claim);
    }
    expect(w.invocations.filter((i) => i.event.timeMs === X && !i.error)).toHaveLength(8);
    await expectSameAsOracle(w, { batches: BATCHES });
  });

  it('a reduce task killed after applying part of its intent is retried: it re-applies the claimed intent and never recomputes', async () => {
    const w = await wordsWorld(4);
    let cut: { partition: number; applied: number; of: number } | undefined;
    w.workerHooks.push(async (call, next) => {
      if (call.op !== 'applyState' || cut) return next();
      const [t, name, partition, changes, initialized] = call.args as [
        number,
        string,
        number,
        StateChange[],
        boolean,
      ];
      if (t !== X || changes.length < 2) return next();
      const applied = Math.floor(changes.length / 2);
      cut = { partition, applied, of: changes.length };
      await next([t, name, partition, changes.slice(0, applied), initialized]);
      throw new Error('worker killed while applying its intent');
    });
    const loads: number[] = [];
    w.workerHooks.push(
      beforeCall((call) => {
        if (call.op === 'loadKeyed' && eventTime(w) === X) loads.push(call.args[1] as number);
      }),
    );
    await w.run(BATCHES);
    expect(cut).toBeDefined();
    const runs = w.invocations.filter((i) => is(i.event, X, REDUCE, cut!.partition));
    expect(runs.map((i) => !!i.error)).toEqual([true, false]);
    expect(runs[1]!.claim!.attempt).toBe(
      (await w.stores.getClaim(X, REDUCE, cut!.partition))!.attempt,
    );
    // State was loaded once per partition in X: the retry did not run the task again.
    expect(loads.sort()).toEqual([0, 1, 2]);
    expectNoRecompute(w);
    await expectSameAsOracle(w, { batches: BATCHES });
  });
});

/** The batch of the task invoked last (a coordinator runs one batch's stages at a time). */
function eventTime(w: World): number | undefined {
  return w.invocations.at(-1)?.event.timeMs;
}

describe('coordinators', () => {
  const killPoints: Array<[string, (c: Coordinator) => void, (w: World) => Promise<void>]> = [
    [
      'after writing the plan',
      (c) =>
        c.storeHooks.push(
          afterCall((call) => {
            if (call.op === 'putPlan' && (call.args[0] as BatchPlan).timeMs === X) throw c.kill();
          }),
        ),
      async (w) => {
        expect(await w.stores.getPlan(X)).toBeDefined();
        expect(await w.stores.listClaims(X, MAP)).toEqual([]);
      },
    ],
    [
      'mid-map',
      (c) =>
        c.invokeHooks.push(
          beforeCall((call) => {
            const e = eventOf(call.args);
            if (is(e, X, MAP) && e.task >= 1) throw c.kill();
          }),
        ),
      async (w) => {
        expect((await w.stores.listClaims(X, MAP)).map((c) => c.task)).toEqual([0]);
      },
    ],
    [
      'after the map claims',
      (c) =>
        c.invokeHooks.push(
          beforeCall((call) => {
            if (is(eventOf(call.args), X, REDUCE)) throw c.kill();
          }),
        ),
      async (w) => {
        expect(await w.stores.listClaims(X, MAP)).toHaveLength(3);
        expect(await w.stores.listClaims(X, REDUCE)).toEqual([]);
      },
    ],
    [
      'mid-reduce',
      (c) =>
        c.invokeHooks.push(
          beforeCall((call) => {
            const e = eventOf(call.args);
            if (is(e, X, REDUCE) && e.task >= 1) throw c.kill();
          }),
        ),
      async (w) => {
        expect((await w.stores.listClaims(X, REDUCE)).map((c) => c.task)).toEqual([0]);
      },
    ],
    [
      'just before the commit',
      (c) =>
        c.storeHooks.push(
          beforeCall((call) => {
            if (call.op === 'putCommit' && (call.args[0] as { timeMs: number }).timeMs === X)
              throw c.kill();
          }),
        ),
      async (w) => {
        expect(await w.stores.listClaims(X, REDUCE)).toHaveLength(3);
        expect(await w.stores.getCommit(X)).toBeUndefined();
      },
    ],
    [
      'after the commit, before the head moves',
      (c) =>
        c.storeHooks.push(
          beforeCall((call) => {
            if (call.op === 'advanceHead' && call.args[0] === X) throw c.kill();
          }),
        ),
      async (w) => {
        expect(await w.stores.getCommit(X)).toBeDefined();
        expect(await w.stores.getHead()).toBe(X - B);
      },
    ],
  ];

  it.each(killPoints)(
    'a coordinator killed %s: a successor resumes from the head with exact results',
    async (_point, arm, atKill) => {
      const w = await wordsWorld(5);
      const first = w.coordinator('coordinator-1');
      arm(first);
      await expect(first.run(BATCHES)).rejects.toBeInstanceOf(Killed);
      await w.settle();
      await atKill(w);
      // The dead coordinator's lease holds until it expires.
      const early = await w.coordinator('coordinator-2').run(1);
      expect(early.acquired).toBe(false);
      w.clock += w.settings.leaseTtlMs + 1;
      const successor = w.coordinator('coordinator-2');
      const done = (await w.commits()).length;
      // One batch first: the head must reach what is committed even when the successor stops.
      const one = await successor.run(1);
      expect(one.acquired).toBe(true);
      expect(await w.stores.getHead()).toBe((await w.commits()).at(-1));
      await w.coordinator('coordinator-3').run(BATCHES - done - 1);
      await w.settle();
      expect(await w.stores.getHead()).toBe(T0 + (BATCHES - 1) * B);
      await expectSameAsOracle(w, { batches: BATCHES });
      expectNoRecompute(w);
    },
  );

  it('a coordinator whose lease lapsed keeps running beside its successor: each batch is committed once, with exact results', async () => {
    const w = await wordsWorld(6);
    const a = w.coordinator('coordinator-a');
    // It never notices that its lease lapsed.
    a.storeHooks.push(async (call, next) =>
      call.op === 'renewLease' ? { renewed: true, stopRequested: false } : next(),
    );
    let b: Promise<unknown> | undefined;
    let bRun: Awaited<ReturnType<Coordinator['run']>> | undefined;
    a.invokeHooks.push(
      beforeCall((call) => {
        if (b || !is(eventOf(call.args), X, MAP)) return;
        // It stalls past its lease; a successor starts and resumes the batch in flight.
        w.clock += w.settings.leaseTtlMs + 1;
        b = w
          .coordinator('coordinator-b')
          .run(BATCHES - 3)
          .then((r) => {
            bRun = r;
          });
      }),
    );
    const aRun = await a.run(BATCHES);
    await b;
    await w.settle();
    expect(bRun!.acquired).toBe(true);
    const both = aRun.committed.filter((t) => bRun!.committed.includes(t));
    expect(both.length).toBeGreaterThanOrEqual(3);
    // Each batch has one commit, written by whichever coordinator got there first (both finish
    // the batches they share; the second one's write returns the first one's commit).
    const epochs = new Set<number>();
    for (const t of await w.commits()) epochs.add((await w.stores.getCommit(t))!.epoch);
    expect([...epochs].every((e) => e === 1 || e === 2)).toBe(true);
    expect(await w.commits()).toEqual(Array.from({ length: BATCHES }, (_, i) => T0 + i * B));
    // Both ran the driver's outputs of the batches they shared; every run saw the same records.
    expect(w.observer.seen.get('counts')!.get(X)!.length).toBe(2);
    // Two attempts of a task may both compute before one claims; only the claimed one applies.
    await expectSameAsOracle(w, { batches: BATCHES });
  });
});

describe('leases', () => {
  it('a coordinator that finds its lease taken at a batch boundary stops there without releasing it', async () => {
    const w = await wordsWorld(9);
    const a = w.coordinator('coordinator-a');
    let b: Promise<Awaited<ReturnType<Coordinator['run']>>> | undefined;
    // After committing X, coordinator-a stalls past its lease and a successor takes over.
    a.storeHooks.push(
      afterCall((call) => {
        if (call.op !== 'advanceHead' || call.args[0] !== X || b) return;
        w.clock += w.settings.leaseTtlMs + 1;
        b = w.coordinator('coordinator-b').run(BATCHES - 4);
      }),
    );
    const aRun = await a.run(BATCHES);
    const bRun = await b!;
    await w.settle();
    expect(aRun.reason).toBe('lease-lost');
    // coordinator-a stops at its next batch boundary, where it renews its lease: the batch whose
    // map stage had already run beside X's commit (X + B) still finishes, and coordinator-b,
    // resuming from the head, finishes it too (its commit is written once), then goes on.
    expect(aRun.committed).toEqual([T0, T0 + B, T0 + 2 * B, X, X + B]);
    expect(bRun.committed.at(-1)).toBe(X + 4 * B);
    expect(await w.commits()).toEqual(Array.from({ length: BATCHES }, (_, i) => T0 + i * B));
    // coordinator-b released its lease when it stopped; coordinator-a did not touch it.
    expect(await w.coordinator('coordinator-c').run(0)).toMatchObject({ acquired: true });
    await expectSameAsOracle(w, { batches: BATCHES });
    expectNoRecompute(w);
  });

  it('a coordinator killed in the first batch, before any head: its successor resumes from the plan', async () => {
    const w = await wordsWorld(10);
    const first = w.coordinator('coordinator-1');
    first.invokeHooks.push(
      beforeCall((call) => {
        if (is(eventOf(call.args), T0, MAP, 2)) throw first.kill();
      }),
    );
    await expect(first.run(BATCHES)).rejects.toBeInstanceOf(Killed);
    await w.settle();
    expect(await w.stores.getHead()).toBeUndefined();
    expect((await w.stores.listClaims(T0, MAP)).map((c) => c.task)).toEqual([0, 1]);
    w.clock += w.settings.leaseTtlMs + 1;
    const run = await w.coordinator('coordinator-2').run(BATCHES);
    await w.settle();
    expect(run.committed[0]).toBe(T0);
    await expectSameAsOracle(w, { batches: BATCHES });
  });
});

describe('throttling', () => {
  it('throttled store and reader calls are retried by the coordinator’s task retries', async () => {
    const w = await wordsWorld(7);
    const rnd = random(77);
    const thrown = new Map<string, number>();
    const throttle = (p: number, budget: number): Hook => {
      let n = 0;
      return async (call, next) => {
        if (n >= budget || rnd() >= p) return next();
        n++;
        thrown.set(call.op, (thrown.get(call.op) ?? 0) + 1);
        // Half the time the request went through and only its answer was lost.
        if (rnd() < 0.5) await next();
        throw new Throttled(call.op);
      };
    };
    w.workerHooks.push(throttle(0.08, 30));
    w.readerHooks.push(throttle(0.25, 10));
    await w.run(BATCHES);
    const total = [...thrown.values()].reduce(add, 0);
    expect(total).toBeGreaterThanOrEqual(30);
    expect(thrown.get('readSlice')).toBeGreaterThanOrEqual(4);
    expect(thrown.size).toBeGreaterThanOrEqual(6);
    // Each throttled call failed one invocation, which was retried.
    let retries = 0;
    let errors = 0;
    for (const t of await w.commits()) {
      const { metrics } = (await w.stores.getCommit(t))!;
      retries += metrics.taskRetries;
      errors += metrics.taskErrors;
    }
    expect({ retries, errors }).toEqual({ retries: total, errors: total });
    await expectSameAsOracle(w, { batches: BATCHES });
  });
});

describe('lost data', () => {
  it('a claimed block that was deleted fails the batch naming the chunk; nothing of it commits', async () => {
    const w = await wordsWorld(8);
    let deletion: Promise<number> | undefined;
    const c = w.coordinator();
    c.invokeHooks.push(
      beforeCall(async (call) => {
        if (!is(eventOf(call.args), X, REDUCE)) return;
        deletion ??= w.stores
          .getClaim(X, MAP, 1)
          .then((claim) => w.kit.deleteBlocks(X, 1, claim!.attempt));
        await deletion;
      }),
    );
    const failed = c.run(BATCHES);
    await expect(failed).rejects.toThrow(
      /batch 1000000003000: chunk 0 of task 1 \(attempt attempt-\d+\) for 5:reduceByKey partition \d is claimed but missing/,
    );
    await w.settle();
    expect(await deletion).toBe(3);
    expect(await w.stores.getCommit(X)).toBeUndefined();
    expect(await w.stores.getHead()).toBe(X - B);
    expect(await w.stores.listClaims(X, REDUCE)).toEqual([]);
    expect(w.observer.seen.get('counts')!.has(X)).toBe(false);
    expect(w.invocations.filter((i) => is(i.event, X, REDUCE)).every((i) => i.error)).toBe(true);
    expect((await w.kit.results('totals')).every((r) => r.timeMs < X)).toBe(true);
    await expectSameAsOracle(w, { batches: 3, allRead: false });
  });
});

describe('poison records', () => {
  /** Parses `key value` lines; lines starting with 'poison' make the parser throw. */
  const parsed: JobFactory = (o) =>
    job('poison', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
      ctx
        .kinesis('lines', { decode: utf8 })
        .map((l) => {
          if (l.startsWith('poison')) throw new Error(`cannot parse '${l}'`);
          const [k, v] = l.split(' ');
          return pair(k!, Number(v));
        })
        .reduceByKey((a, b) => {
          if (a < 0 || b < 0) throw new Error('negative count');
          return a + b;
        })
        .foreachRDD(o.foreach('sums'));
    });

  /** 90 good records over batches 1..5 and 3 shards, with `extra` records put in stamp order among them. */
  async function poisonWorld(
    extra: Array<{ shard: number; data: string | Uint8Array; batch: number }>,
  ) {
    const w = await makeWorld(parsed, { shards: { lines: 3 } });
    const rnd = random(9);
    const all = Array.from({ length: 90 }, () => ({
      shard: Math.floor(rnd() * 3),
      data: `k${Math.floor(rnd() * 8)} ${1 + Math.floor(rnd() * 5)}` as string | Uint8Array,
      at: T0 + Math.floor(rnd() * 5 * B),
    }));
    for (const r of extra) all.push({ ...r, at: T0 + (r.batch - 1) * B + Math.floor(rnd() * B) });
    all.sort((a, b) => a.at - b.at);
    for (const r of all) await w.put(`lines-${r.shard}`, r.data, r.at);
    return w;
  }

  const letters = async (w: World, operator: RegExp) =>
    (await w.kit.deadLetters()).filter((d) => operator.test(d.operator));

  it('a map function that throws on a record dead-letters that record, with its shard', async () => {
    const w = await poisonWorld([
      { shard: 0, data: 'poison one', batch: 2 },
      { shard: 2, data: 'poison two', batch: 4 },
    ]);
    await w.run(7);
    await expectSameAsOracle(w, { batches: 7 });
    const got = await letters(w, /map$/);
    expect(got.map((d) => [d.subject, d.stage, d.timeMs, d.shardId])).toEqual([
      ['poison one', 'map', T0 + 2 * B, 'lines-0'],
      ['poison two', 'map', T0 + 4 * B, 'lines-2'],
    ]);
  });

  it('a map function that throws on a record dead-letters it with its sequence number', async () => {
    const w = await poisonWorld([{ shard: 1, data: 'poison three', batch: 3 }]);
    await w.run(6);
    const [d] = await letters(w, /map$/);
    expect(d!.sequenceNumber).toBe(w.puts.find((p) => p.data === 'poison three')!.sequenceNumber);
  });

  it('a record that fails to decode is dead-lettered with its shard and sequence number', async () => {
    const bad = [
      { shard: 1, data: Uint8Array.of(0x6b, 0x31, 0x20, 0xff), batch: 1 },
      { shard: 2, data: Uint8Array.of(0xc3, 0x28), batch: 3 },
    ];
    const w = await poisonWorld(bad);
    await w.run(6);
    const { reads } = await expectSameAsOracle(w, { batches: 6 });
    const got = await letters(w, /^source 'lines'$/);
    expect(
      got.map((d) => [d.stage, d.timeMs, d.shardId, d.sequenceNumber, d.subject]).sort(),
    ).toEqual(
      bad
        .map((b) => {
          const put = w.puts.find((p) => p.data === b.data)!;
          const read = reads.find((r) =>
            r.read.lines!.some((s) => s.some((x) => x.sequenceNumber === put.sequenceNumber)),
          )!;
          const ascii = [...b.data].map((c) => (c < 0x80 ? String.fromCharCode(c) : '?')).join('');
          return ['map', read.timeMs, put.shardId, put.sequenceNumber, ascii];
        })
        .sort(),
    );
  });

  it('a reduce function that throws on a key dead-letters that key with its inputs', async () => {
    // One 'bad' record in each of two shards: the map side has nothing to combine, the reduce
    // side throws and the key goes with its inputs; two in one shard: the map-side combine throws
    // on the second record, which goes alone, and the first goes on.
    const w = await poisonWorld([
      { shard: 0, data: 'bad -1', batch: 2 },
      { shard: 1, data: 'bad -2', batch: 2 },
      { shard: 2, data: 'worse -1', batch: 4 },
      { shard: 2, data: 'worse -3', batch: 4 },
    ]);
    await w.run(7);
    await expectSameAsOracle(w, { batches: 7 });
    const got = await letters(w, /reduceByKey$/);
    expect(got.map((d) => [d.stage, d.subject, d.timeMs]).sort()).toEqual(
      [
        ['reduce', ['bad', [-1, -2]], T0 + 2 * B],
        ['map', ['worse', -3], T0 + 4 * B],
      ].sort(),
    );
    // The reduce task failed on its first attempts and dead-lettered the key only on its last
    // ones (DESIGN: fails the task, is retried, and after the retries dead-letters the key).
    const reduceStage = w.invocations.find(
      (i) => i.event.timeMs === T0 + 2 * B && i.event.stage > 0 && i.error !== undefined,
    )?.event.stage;
    expect(reduceStage).toBeDefined();
    const attempts = w.invocations.filter(
      (i) =>
        i.event.timeMs === T0 + 2 * B && i.event.stage === reduceStage && i.error !== undefined,
    );
    expect(attempts.length).toBe(w.settings.maxTaskAttempts - 1);
    // The sums of those batches go on without the key.
    const sums = w.observer.latest('sums');
    expect(sums.get(T0 + 2 * B)!.some((r) => (r as [string])[0] === 'bad')).toBe(false);
    expect(sums.get(T0 + 2 * B)!.length).toBeGreaterThan(3);
  });

  it('a task that fails at one record on every attempt halves its cap to 1, dead-letters that record alone, and the shard moves on', async () => {
    const w = await makeWorld(wordsJob, { shards: { lines: 2 }, settings: { maxRecords: 16 } });
    const put = (shard: number, batch: number, data: string) =>
      w.put(`lines-${shard}`, data, T0 + batch * B - 500);
    for (const d of ['a0 w1', 'a1 w2']) await put(0, 1, d);
    for (const d of ['b0 w3', 'POISON', 'b2 w4', 'b3 w5']) await put(0, 2, d);
    for (const d of ['c0 w6']) await put(0, 3, d);
    for (let b = 1; b <= 4; b++) for (const d of ['x w1', 'y w2']) await put(1, b, `${d} ${b}`);
    const poison = w.puts.find((p) => p.data === 'POISON')!.sequenceNumber;
    // The worker dies (out of memory, say) whenever it processes the record: before it claims a
    // slice that holds it, unless it only dead-lettered it.
    w.workerHooks.push(
      beforeCall(async (call) => {
        const c = call.args[0] as TaskClaim;
        if (call.op !== 'putClaim' || c.stage !== MAP || c.deadLettered) return;
        const task = (await w.stores.getPlan(c.timeMs))!.sources.lines![c.task]!;
        const end = c.slice!.endSequence;
        if (task.shardId !== 'lines-0') return;
        if ((task.after ?? '') < poison && end !== undefined && end >= poison)
          throw new Error('out of memory');
      }),
    );
    await w.run(7);
    await expectSameAsOracle(w, { batches: 7 });
    const dead = (await w.kit.deadLetters()).filter((d) => d.error === POISON_ERROR);
    expect(dead.map((d) => [d.shardId, d.sequenceNumber, d.subject])).toEqual([
      ['lines-0', poison, 'POISON'],
    ]);
    // Batch 2 read b0 alone at cap 1; batch 3 dead-lettered the poison record alone.
    const claim = async (b: number) => (await w.stores.getClaim(T0 + b * B, MAP, 0))!;
    expect((await claim(2)).slice!.records).toBe(1);
    expect([(await claim(3)).slice!.records, (await claim(3)).deadLettered]).toEqual([1, 1]);
    const maxRecords = w.invocations
      .filter((i) => is(i.event, T0 + 3 * B, MAP, 0))
      .map((i) => [i.event.maxRecords, !!i.event.deadLetterFirst, !!i.error]);
    expect(maxRecords).toEqual([
      [16, false, true],
      [16, false, true],
      [16, false, true],
      [8, false, true],
      [4, false, true],
      [2, false, true],
      [1, false, true],
      [1, true, false],
    ]);
  });
});

describe('resharding', () => {
  it('a split and a merge mid-stream: children enter only after every parent ended, and every record is read once', async () => {
    const w = await makeWorld(wordsJob, { shards: { lines: 2 } });
    const rnd = random(21);
    const word = () => `w${Math.floor(rnd() * 12)}`;
    const putBatches = async (shard: string, from: number, to: number, n: number) => {
      for (let i = 0; i < n; i++) {
        const b = from + Math.floor((i * (to - from + 1)) / n);
        await w.put(shard, `${word()} ${word()}`, T0 + (b - 1) * B + Math.floor(rnd() * B));
      }
    };
    await putBatches('lines-0', 1, 3, 18);
    await putBatches('lines-1', 1, 4, 20);
    const c = w.coordinator();
    c.storeHooks.push(
      // Resharding happens between two plans: before batch T0 + 3B is planned, and before T0 + 5B.
      beforeCall(async (call) => {
        if (call.op !== 'putPlan') return;
        const at = (call.args[0] as { timeMs: number }).timeMs;
        if (at === T0 + 3 * B) {
          // Split lines-0 into lines-2 and lines-3.
          await w.close('lines-0');
          await w.addShard('lines', 'lines-2', ['lines-0']);
          await w.addShard('lines', 'lines-3', ['lines-0']);
          await putBatches('lines-2', 3, 8, 24);
          await putBatches('lines-3', 3, 6, 16);
        }
        if (at === T0 + 5 * B) {
          // Merge lines-1 and lines-3 into lines-4.
          await w.close('lines-1');
          await w.close('lines-3');
          await w.addShard('lines', 'lines-4', ['lines-1', 'lines-3']);
          await putBatches('lines-4', 5, 9, 20);
        }
      }),
    );
    await c.run(12);
    await w.settle();
    const { reads } = await expectSameAsOracle(w, { batches: 12 });
    const batchesOf = (shard: string) =>
      reads
        .filter((r) => r.plan.sources.lines!.some((t) => t.shardId === shard))
        .map((r) => r.timeMs);
    const first = (s: string) => Math.min(...batchesOf(s));
    const last = (s: string) => Math.max(...batchesOf(s));
    for (const [child, parents] of [
      ['lines-2', ['lines-0']],
      ['lines-3', ['lines-0']],
      ['lines-4', ['lines-1', 'lines-3']],
    ] as const) {
      for (const p of parents) {
        expect(first(child), `${child} after ${p}`).toBe(
          Math.max(...parents.map((q) => last(q))) + B,
        );
        const end = (await w.stores.getClaim(
          last(p),
          MAP,
          reads
            .find((r) => r.timeMs === last(p))!
            .plan.sources.lines!.findIndex((t) => t.shardId === p),
        ))!.slice!;
        expect([end.shardEnded, end.childShards.includes(child)]).toEqual([true, true]);
      }
    }
    // The merge waited for its later parent.
    expect(last('lines-3')).toBeGreaterThan(last('lines-1'));
  });
});

describe('resharding past retention', () => {
  it('a child that was read to its end is not read again once its parent left the listing', async () => {
    const w = await makeWorld(wordsJob, { shards: { lines: 1 } });
    const rnd = random(23);
    const putBatches = async (shard: string, from: number, to: number, n: number) => {
      for (let i = 0; i < n; i++) {
        const b = from + Math.floor((i * (to - from + 1)) / n);
        await w.put(shard, `w${Math.floor(rnd() * 12)}`, T0 + (b - 1) * B + Math.floor(rnd() * B));
      }
    };
    const split = async (parent: string, children: [string, string], to: number) => {
      await w.close(parent);
      for (const c of children) {
        await w.addShard('lines', c, [parent]);
        await putBatches(c, (await w.stores.getHead())! / B - T0 / B + 1, to, 6);
      }
    };
    await putBatches('lines-0', 1, 2, 6);
    const c = w.coordinator();
    c.storeHooks.push(
      afterCall(async (call) => {
        if (call.op !== 'advanceHead') return;
        const t = call.args[0] as number;
        if (t === T0 + B) await split('lines-0', ['lines-1', 'lines-2'], 8);
        if (t === T0 + 4 * B) await split('lines-1', ['lines-3', 'lines-4'], 6);
        if (t === T0 + 6 * B) await w.expire('lines-0');
        if (t === T0 + 8 * B) await split('lines-2', ['lines-5', 'lines-6'], 10);
      }),
    );
    await c.run(13);
    await w.settle();
    await expectSameAsOracle(w, { batches: 13 });
  });
});

describe('resharding with two sources', () => {
  it('shard ids repeat across streams: one stream’s resharding does not let the other’s children in early', async () => {
    const f: JobFactory = (o) =>
      job('two-streams', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
        const byUser = (l: string) => {
          const [u, x] = l.split(' ');
          return pair(u!, x!);
        };
        const clicks = ctx.kinesis('clicks', { decode: utf8 }).map(byUser);
        const views = ctx.kinesis('views', { decode: utf8 }).map(byUser);
        clicks.join(views).foreachRDD(o.foreach('join'));
        clicks
          .union(views)
          .mapValues(() => 1)
          .reduceByKey(add)
          .updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.reduce(add, 0))
          .saveToTable('seen');
      });
    const w = await makeWorld(f, { shards: {} });
    const id = (n: number) => `shardId-00000000000${n}`;
    for (const source of ['clicks', 'views'])
      for (const n of [0, 1]) await w.addShard(source, id(n));
    const rnd = random(25);
    const putBatches = async (
      source: string,
      n: number,
      from: number,
      to: number,
      count: number,
    ) => {
      for (let i = 0; i < count; i++) {
        const b = from + Math.floor((i * (to - from + 1)) / count);
        const at = T0 + (b - 1) * B + Math.floor(rnd() * B);
        await w.put(id(n), `u${Math.floor(rnd() * 6)} ${source}${i}`, at, source);
      }
    };
    // clicks: 0 and 1 merge into 2; 0 ends early, 1 late, so 0 waits in the plan for 1.
    await putBatches('clicks', 0, 1, 2, 6);
    await putBatches('clicks', 1, 1, 6, 12);
    // views: 0 splits into 2 and 3, and is read until batch 5.
    await putBatches('views', 0, 1, 5, 15);
    await putBatches('views', 1, 1, 8, 12);
    const c = w.coordinator();
    c.storeHooks.push(
      afterCall(async (call) => {
        if (call.op !== 'advanceHead' || call.args[0] !== T0 + B) return;
        await w.close(id(0), 'clicks');
        await w.close(id(1), 'clicks');
        await w.addShard('clicks', id(2), [id(0), id(1)]);
        await putBatches('clicks', 2, 7, 9, 9);
        await w.close(id(0), 'views');
        for (const n of [2, 3]) {
          await w.addShard('views', id(n), [id(0)]);
          await putBatches('views', n, 2, 9, 8);
        }
      }),
    );
    await c.run(12);
    await w.settle();
    await expectSameAsOracle(w, { batches: 12 });
  });
});

describe('results sink', () => {
  /** A map-only job: each line `key value` sets its key in a results table. */
  const latest: JobFactory = () =>
    job('latest', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
      ctx
        .kinesis('lines', { decode: utf8 })
        .map((l) => {
          const [k, v] = l.split(' ');
          return pair(k!, v!);
        })
        .saveToTable('latest');
    });

  it('a key written twice by one task in a batch keeps its later value, as in the oracle', async () => {
    const w = await makeWorld(latest, { shards: { lines: 1 } });
    for (const [b, line] of [
      [1, 'a 1'],
      [1, 'b 1'],
      [1, 'a 2'],
      [2, 'b 2'],
      [2, 'b 3'],
      [2, 'a 3'],
      [2, 'b 4'],
    ] as const)
      await w.put('lines-0', line, T0 + (b - 1) * B + 10);
    await w.run(4);
    await expectSameAsOracle(w, { batches: 4 });
    expect((await w.kit.results('latest')).map((r) => [r.key, r.value, r.timeMs]).sort()).toEqual([
      ['a', '3', T0 + 2 * B],
      ['b', '4', T0 + 2 * B],
    ]);
  });

  it('re-applying the claimed tasks of a batch in any order leaves the results table as it was', async () => {
    const w = await makeWorld(latest, { shards: { lines: 3 } });
    // The same keys from every shard in one batch: which shard's value stands is not defined,
    // but once written it must not change when claimed tasks are applied again.
    for (let s = 0; s < 3; s++)
      for (const k of ['a', 'b', 'c']) await w.put(`lines-${s}`, `${k} ${s}`, T0 + 10);
    await w.run(3);
    const table = async () =>
      (await w.kit.results('latest')).map((r) => [r.key, r.value, r.timeMs]).sort();
    const before = await table();
    expect(before).toHaveLength(3);
    for (const order of [
      [2, 1, 0],
      [0, 2, 1],
      [1, 0, 2],
    ]) {
      for (const task of order)
        await w.invoke({ kind: 'task', job: 'latest', timeMs: T0 + B, stage: MAP, task });
      expect(await table()).toEqual(before);
    }
  });
});

describe('a changed job', () => {
  /** The words job with its running totals over `partitions` partitions and a given filter. */
  const variant =
    (partitions: number, keep: (w: string) => boolean): JobFactory =>
    (o) =>
      job('faults', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
        ctx
          .kinesis('lines', { decode: utf8 })
          .flatMap((l) => l.split(' '))
          .filter(keep)
          .map((w) => pair(w, 1))
          .updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.length, {
            partitions,
          })
          .foreachRDD(o.foreach('totals'));
      });

  it('a coordinator refuses a job whose stateful operators changed shape, and runs one whose stateless steps changed', async () => {
    const w = await makeWorld(
      variant(3, () => true),
      { shards: { lines: 2 } },
    );
    await feed(w, 'lines', text(60, 31), { batches: 4, seed: 32 });
    await w.run(3);
    const state = await w.kit.stateOf('updateStateByKey#0');
    const changed = new World(
      variant(4, () => true),
      w.kit,
      w.shards,
      {},
    );
    changed.clock = w.clock;
    const refused = changed.coordinator('coordinator-2').run(2);
    await expect(refused).rejects.toThrow(
      /job 'faults' kept its state up to batch 1000000002000 .* a stateful operator's kind, name, partitions, window, slide or timeout changed/,
    );
    await expect(refused).rejects.toMatchObject({ code: 'STATE_MISMATCH' });
    expect(await w.stores.getHead()).toBe(T0 + 2 * B);
    expect(await w.kit.stateOf('updateStateByKey#0')).toEqual(state);
    // The lease was released: a job with the same state shape takes over at once.
    const filtered = new World(
      variant(3, (x) => x !== 'w0'),
      w.kit,
      w.shards,
      {},
    );
    filtered.clock = w.clock;
    const run = await filtered.coordinator('coordinator-3').run(2);
    expect(run.committed).toEqual([T0 + 3 * B, T0 + 4 * B]);
  });
});
