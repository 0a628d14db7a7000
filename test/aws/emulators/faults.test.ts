/**
 * The protocol under faults on the emulators (DynamoDB on dynalite, Kinesis on kinesis-local, one
 * local cloud for the file): a subset of ../faults.test.ts, each point checked against the oracle
 * with exact counts, here also of what DynamoDB saw (conditional writes that found their item
 * already written) and of what the sink stream holds. Plus what only real services do: a block
 * deleted from the data table with DeleteItem, and a shard split with SplitShard mid-stream.
 */
import { ListShardsCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { kinesisClient } from '../../../lib/aws/clients.js';
import type { Intent, TaskClaim } from '../../../lib/aws/protocol.js';
import type { StateChange } from '../../../lib/aws/views.js';
import { batchLayout } from '../../../lib/aws/worker.js';
import { useTarget, waitStreamActive } from '../../target.js';
import {
  afterCall,
  B,
  beforeCall,
  expectSameAsOracle,
  type Hook,
  Killed,
  random,
  T0,
} from '../harness.js';
import { eventOf, expectNoRecompute, gate, is, MAP, REDUCE, text, wordsJob, X } from '../jobs.js';
import { type EmulatorWorld, emulatorWorld, feed, putAll } from './kit.js';

useTarget();

/** How many batches each run commits. */
const BATCHES = 7;

async function wordsWorld(seed: number): Promise<EmulatorWorld> {
  // One batch at a time, so that the requests a test counts belong to the batch it names (the
  // in-memory fault suite runs with batches pipelined).
  const e = await emulatorWorld(wordsJob, { shards: { lines: 3 }, settings: { pipeline: false } });
  await feed(e, 'lines', text(120, seed), { batches: 5, seed: seed + 100, empty: [4] });
  return e;
}

/** The conditional writes DynamoDB refused since `before` (a snapshot), per operation. */
function refusedSince(e: EmulatorWorld, before: Record<string, number>) {
  const now = e.db.counter.snapshot().conditionFailures;
  const out: Record<string, number> = {};
  for (const [op, n] of Object.entries(now))
    if (n - (before[op] ?? 0)) out[op] = n - (before[op] ?? 0);
  return out;
}

describe('workers on the emulators', () => {
  it('the same payload run twice: the second run returns the first claim, and DynamoDB refuses each of its writes once', async () => {
    const e = await wordsWorld(2);
    const { w } = e;
    const twice: Array<{
      first: TaskClaim;
      second: TaskClaim;
      refused: Record<string, number>;
      intent?: Intent;
    }> = [];
    w.invokeHooks.push(async (call, next) => {
      const ev = eventOf(call.args);
      if (!is(ev, X, MAP, 0) && !is(ev, X, REDUCE, 2)) return next();
      const first = (await next()) as TaskClaim;
      const before = e.db.counter.snapshot().conditionFailures;
      const second = (await next()) as TaskClaim;
      // Read now: a batch's intents are deleted once `batchesKept` batches committed after it.
      const intent = first.intent
        ? await w.stores.getIntent(X, first.stage, first.task, first.attempt)
        : undefined;
      twice.push({
        first,
        second,
        refused: refusedSince(e, before),
        ...(intent ? { intent } : {}),
      });
      return second;
    });
    const writes = new Map<string, number>();
    w.workerHooks.push(
      beforeCall((call) => {
        if (!['putIntent', 'putClaim', 'putBlocks', 'loadKeyed'].includes(call.op)) return;
        if (w.invocations.at(-1)?.event.timeMs === X)
          writes.set(call.op, (writes.get(call.op) ?? 0) + 1);
      }),
    );
    await w.run(BATCHES);
    expect(twice).toHaveLength(2);
    for (const { first, second } of twice) expect(second).toEqual(first);
    // Three map tasks and three reduce tasks wrote once each; the repeats only re-applied.
    expect(Object.fromEntries(writes)).toEqual({
      putBlocks: 3,
      putClaim: 6,
      putIntent: 6,
      loadKeyed: 3,
    });
    // The reduce task's re-apply: every state and result write is conditional on the item's
    // version, and each found it written by this batch already.
    const [map, reduce] = [twice.find((t) => t.first.stage === MAP)!, twice[1]!];
    expect(reduce.first.stage).toBe(REDUCE);
    const intent = reduce.intent!;
    const stateChanges = intent.state.reduce((n, s) => n + s.changes.length, 0);
    const sinks = batchLayout(w.job, X)
      .stages[REDUCE]!.outputs.filter((o) => o.action.kind === 'sink')
      .map((o) => o.op.id);
    const results = sinks
      .flatMap((id) => intent.outputs[id] ?? [])
      .reduce((n, p) => n + p.records.length, 0);
    expect([stateChanges, results].every((n) => n > 0)).toBe(true);
    expect(reduce.refused).toEqual({ PutItem: stateChanges + results });
    // The map task's re-apply sent its stream records again (at least once): twice in the sink.
    expect(map.refused).toEqual({});
    const sent = (await e.db.streamRecords('long')).filter(
      (r) => r.timeMs === X && r.partition === 0,
    );
    const once = new Set(sent.map((r) => r.index));
    expect(once.size).toBeGreaterThan(0);
    expect(sent.length).toBe(2 * once.size);
    await expectSameAsOracle(w, { batches: BATCHES });
    expectNoRecompute(w);
  });

  it('a zombie attempt that writes blocks and an intent after another attempt claimed is never read', async () => {
    const e = await wordsWorld(3);
    const { w } = e;
    // The first attempts of map task 2 and reduce task 0 of X stall (their invocations time out);
    // the retries claim; then the stalled attempts wake up and write garbage under their ids.
    const zombies: Array<{ attempt: string; done: Promise<TaskClaim>; op: string }> = [];
    const wakeUp = new Map<string, () => void>();
    const stalled = new Set<string>();
    w.invokeHooks.push(async (call, next) => {
      const ev = eventOf(call.args);
      const id = `${ev.stage}/${ev.task}`;
      if (ev.timeMs !== X || !['0/2', '1/0'].includes(id) || stalled.has(id)) return next();
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
          return proceed([t, writeId, task, attempt, blocks.map((b) => [...b, ...b])]);
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
          return proceed([t, stage, task, attempt, bad]);
        }
        return proceed();
      };
      const ctx = w.workerContext();
      const attempt = `zombie-${id.replace('/', '-')}`;
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
      zombies.push({ attempt, done: w.invoke(ev, zombie), op: id });
      throw new Error('task timed out');
    });
    // Wake each zombie once its task is claimed, and let it finish before the next stage reads.
    let winner: Intent | undefined;
    w.workerHooks.push(
      afterCall(async (call) => {
        if (call.op !== 'putClaim') return;
        const c = call.args[0] as TaskClaim;
        if (c.timeMs !== X || c.attempt.startsWith('zombie')) return;
        if (c.stage === REDUCE && c.task === 0)
          winner = await w.stores.getIntent(X, REDUCE, 0, c.attempt);
        wakeUp.get(`${c.stage}/${c.task}`)?.();
      }),
    );
    const c = w.coordinator();
    c.invokeHooks.push(
      beforeCall(async (call) => {
        if (is(eventOf(call.args), X, REDUCE)) await zombies.find((z) => z.op === '0/2')?.done;
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
    for (const z of zombies) {
      const [stage, task] = z.op.split('/').map(Number) as [number, number];
      const claim = (await w.stores.getClaim(X, stage, task))!;
      expect(claim.attempt).not.toBe(z.attempt);
      // The zombie lost the claim, and answered with the winner's.
      expect(await z.done).toMatchObject(claim);
    }
    // 3 map and 3 reduce tasks, and the two zombies that finished late.
    expect(w.invocations.filter((i) => i.event.timeMs === X && !i.error)).toHaveLength(8);
    // DynamoDB refused each zombie's claim, and then, item by item, whichever of the zombie and
    // the winner came second to apply the winner's intent of reduce task 0: nothing else in the
    // run was refused.
    const sinks = batchLayout(w.job, X)
      .stages[REDUCE]!.outputs.filter((o) => o.action.kind === 'sink')
      .map((o) => o.op.id);
    const applied =
      winner!.state.reduce((n, st) => n + st.changes.length, 0) +
      sinks.flatMap((id) => winner!.outputs[id] ?? []).reduce((n, p) => n + p.records.length, 0);
    expect(applied).toBeGreaterThan(0);
    expect(e.db.counter.snapshot().conditionFailures).toEqual({ PutItem: 2 + applied });
    await expectSameAsOracle(w, { batches: BATCHES });
  });

  it('a reduce task killed after applying part of its intent is retried: it re-applies the claimed intent and never recomputes', async () => {
    const e = await wordsWorld(4);
    const { w } = e;
    let cut: { partition: number; applied: number; of: number } | undefined;
    let before: Record<string, number> = {};
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
      before = e.db.counter.snapshot().conditionFailures;
      throw new Error('worker killed while applying its intent');
    });
    let refused: Record<string, number> | undefined;
    w.invokeHooks.push(async (call, next) => {
      const r = await next();
      if (cut && is(eventOf(call.args), X, REDUCE, cut.partition))
        refused = refusedSince(e, before);
      return r;
    });
    const loads: number[] = [];
    w.workerHooks.push(
      beforeCall((call) => {
        if (call.op === 'loadKeyed' && w.invocations.at(-1)?.event.timeMs === X)
          loads.push(call.args[1] as number);
      }),
    );
    await w.run(BATCHES);
    expect(cut).toBeDefined();
    const runs = w.invocations.filter((i) => is(i.event, X, REDUCE, cut!.partition));
    expect(runs.map((i) => !!i.error)).toEqual([true, false]);
    expect(runs[1]!.claim!.attempt).toBe(
      (await w.stores.getClaim(X, REDUCE, cut!.partition))!.attempt,
    );
    // The retry re-applied the whole intent: DynamoDB refused the state writes already applied.
    expect(refused).toEqual({ PutItem: cut!.applied });
    // State was loaded once per partition in X: the retry did not run the task again.
    expect(loads.sort()).toEqual([0, 1, 2]);
    expectNoRecompute(w);
    await expectSameAsOracle(w, { batches: BATCHES });
  });
});

describe('coordinators on the emulators', () => {
  it('a coordinator killed just before the commit: a successor resumes from the head with exact results', async () => {
    const { w } = await wordsWorld(5);
    const first = w.coordinator('coordinator-1');
    first.storeHooks.push(
      beforeCall((call) => {
        if (call.op === 'putCommit' && (call.args[0] as { timeMs: number }).timeMs === X)
          throw first.kill();
      }),
    );
    await expect(first.run(BATCHES)).rejects.toBeInstanceOf(Killed);
    await w.settle();
    expect(await w.stores.listClaims(X, REDUCE)).toHaveLength(3);
    expect(await w.stores.getCommit(X)).toBeUndefined();
    expect(await w.stores.getHead()).toBe(X - B);
    // The dead coordinator's lease holds until it expires.
    expect((await w.coordinator('coordinator-2').run(1)).acquired).toBe(false);
    w.clock += w.settings.leaseTtlMs + 1;
    const invoked = w.invocations.length;
    const one = await w.coordinator('coordinator-2').run(1);
    expect(one).toMatchObject({ acquired: true, epoch: 2, committed: [X] });
    // Every task of X was claimed: the successor's invocations only returned their claims.
    const again = w.invocations.slice(invoked);
    expect(again.map((i) => [i.event.stage, i.event.task, !!i.error])).toEqual([
      [MAP, 0, false],
      [MAP, 1, false],
      [MAP, 2, false],
      [REDUCE, 0, false],
      [REDUCE, 1, false],
      [REDUCE, 2, false],
    ]);
    expect(await w.stores.getHead()).toBe(X);
    await w.coordinator('coordinator-3').run(BATCHES - 4);
    await w.settle();
    expect(await w.stores.getHead()).toBe(T0 + (BATCHES - 1) * B);
    expect((await w.stores.getCommit(X))!.epoch).toBe(2);
    await expectSameAsOracle(w, { batches: BATCHES });
    expectNoRecompute(w);
  });
});

describe('lost data on DynamoDB', () => {
  it('a claimed block deleted from the data table fails the batch naming the missing chunk; nothing of it commits', async () => {
    const e = await wordsWorld(8);
    const { w } = e;
    let deletion: Promise<number> | undefined;
    const c = w.coordinator();
    c.invokeHooks.push(
      beforeCall(async (call) => {
        if (!is(eventOf(call.args), X, REDUCE)) return;
        deletion ??= w.stores
          .getClaim(X, MAP, 1)
          .then((claim) => e.db.deleteBlocks(X, 1, claim!.attempt));
        await deletion;
      }),
    );
    await expect(c.run(BATCHES)).rejects.toThrow(
      /block of task 1 \(attempt attempt-\d+\) for partition \d of \d+:reduceByKey at batch 1000000003000: chunk 0 of 1 is missing/,
    );
    await w.settle();
    const claim = (await w.stores.getClaim(X, MAP, 1))!;
    // One item per non-empty partition of the task's block was deleted.
    expect(await deletion).toBe(
      claim.blocks[Object.keys(claim.blocks)[0]!]!.filter(Boolean).length,
    );
    expect(await deletion).toBeGreaterThan(0);
    expect(await w.stores.getCommit(X)).toBeUndefined();
    expect(await w.stores.getHead()).toBe(X - B);
    expect(await w.stores.listClaims(X, REDUCE)).toEqual([]);
    expect(w.observer.seen.get('counts')!.has(X)).toBe(false);
    const reduces = w.invocations.filter((i) => is(i.event, X, REDUCE));
    expect(reduces.every((i) => i.error)).toBe(true);
    expect((await e.db.results('totals')).every((r) => r.timeMs < X)).toBe(true);
    await expectSameAsOracle(w, { batches: 3, allRead: false });
  });
});

describe('resharding on kinesis-local', () => {
  it('a shard split mid-stream (SplitShard): the children enter after their parent ended, and every record is read once', async () => {
    const e = await emulatorWorld(wordsJob, { shards: { lines: 2 } });
    const { w } = e;
    const rnd = random(21);
    const word = () => `w${Math.floor(rnd() * 12)}`;
    const putBatches = (shard: string, from: number, to: number, n: number) =>
      putAll(
        e,
        'lines',
        shard,
        Array.from({ length: n }, (_, i) => {
          const b = from + Math.floor((i * (to - from + 1)) / n);
          return { data: `${word()} ${word()}`, at: T0 + (b - 1) * B + Math.floor(rnd() * B) };
        }).sort((a, b) => a.at - b.at),
      );
    const [s0, s1] = w.shardsOf('lines') as [string, string];
    await putBatches(s0, 1, 3, 12);
    await putBatches(s1, 1, 4, 12);
    const kinesis = kinesisClient();
    const stream = e.kinesis.stream('lines');
    let children: string[] = [];
    const c = w.coordinator();
    c.storeHooks.push(
      afterCall(async (call) => {
        if (call.op !== 'advanceHead' || call.args[0] !== T0 + 2 * B) return;
        // Split shard 0 in the middle of its hash key range, while its batch-3 records wait.
        const before = new Set(
          (await w.stores.getPlan(T0 + 2 * B))!.sources.lines!.map((t) => t.shardId),
        );
        const listed = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
        const range = listed.Shards!.find((s) => s.ShardId === s0)!.HashKeyRange!;
        const middle = (BigInt(range.StartingHashKey!) + BigInt(range.EndingHashKey!)) / 2n;
        await kinesis.send(
          new SplitShardCommand({
            StreamName: stream,
            ShardToSplit: s0,
            NewStartingHashKey: middle.toString(),
          }),
        );
        await waitStreamActive(kinesis, stream);
        const after = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
        children = after.Shards!.filter((s) => s.ParentShardId === s0).map((s) => s.ShardId!);
        expect(children).toHaveLength(2);
        expect(before.has(children[0]!)).toBe(false);
        for (const child of children) {
          await w.addShard('lines', child, [s0]);
          await putBatches(child, 3, 7, 10);
        }
      }),
    );
    await c.run(10);
    await w.settle();
    const { reads } = await expectSameAsOracle(w, { batches: 10 });
    const batchesOf = (shard: string) =>
      reads
        .filter((r) => r.plan.sources.lines!.some((t) => t.shardId === shard))
        .map((r) => r.timeMs);
    const last = Math.max(...batchesOf(s0));
    // The parent was read to its end (batch 3's records came after the split), then left the plan.
    expect(last).toBeGreaterThanOrEqual(T0 + 3 * B);
    const lastTask = reads
      .find((r) => r.timeMs === last)!
      .plan.sources.lines!.findIndex((t) => t.shardId === s0);
    const end = (await w.stores.getClaim(last, MAP, lastTask))!.slice!;
    expect([end.shardEnded, [...end.childShards].sort()]).toEqual([true, [...children].sort()]);
    for (const child of children) expect(Math.min(...batchesOf(child))).toBe(last + B);
    // The other shard was read throughout; 12 + 12 + 2 x 10 records, each read once.
    expect(batchesOf(s1)).toHaveLength(10);
    const read = reads.flatMap((r) => Object.values(r.read).flat(2));
    expect(read).toHaveLength(44);
  });
});
