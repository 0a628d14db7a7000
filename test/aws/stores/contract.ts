/**
 * The contract suites of the runtime's stores: one per port, run against the in-memory stores
 * (memory.test.ts) and the DynamoDB ones on dynalite (dynamo.test.ts) alike. `make` returns a
 * fresh, empty store each time (a new job on shared tables, for DynamoDB).
 */
import { describe, expect, it } from 'vitest';
import { claimedBlocks } from '../../../lib/aws/stores/blocks.js';
import type {
  ControlStore,
  DataStore,
  DeadLetterStore,
  ResultsStore,
  StateChange,
  StateStore,
  StoredDeadLetter,
} from '../../../lib/aws/stores/ports.js';
import {
  decodeBlock,
  encodeBlock,
  encodePayload,
  splitChunks,
} from '../../../lib/contract/encoding.js';
import { SparklessError } from '../../../lib/core/errors.js';
import { encodeKey } from '../../../lib/core/keys.js';
import type { StateEntry } from '../../../lib/core/operators/store.js';

/** Bytes of a given length, with content that differs by seed. */
function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

/** A string of `n` characters that compresses badly (so byte sizes are what they seem). */
function text(n: number, seed = 0): string {
  let s = '';
  let x = seed + 1;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += x.toString(36);
  }
  return s.slice(0, n);
}

/** Compares bytes without a deep-equality walk (slow over a megabyte). */
function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual!.length).toBe(expected.length);
  expect(Buffer.compare(actual!, expected)).toBe(0);
}

const set = (key: string, value: unknown, updatedMs: number): StateChange => ({
  encodedKey: encodeKey(key),
  entry: { key, value, updatedMs },
});
const remove = (key: string): StateChange => ({ encodedKey: encodeKey(key), entry: null });
const keysOf = (m: Map<string, StateEntry>) => [...m.keys()].sort();

// ---------------------------------------------------------------------------------------------

export function describeControlStore(name: string, make: () => Promise<ControlStore>) {
  describe(`${name}: ControlStore`, () => {
    it('takes a free lease at epoch 1, refuses it while held, and lets it be taken once expired', async () => {
      const store = await make();
      const a = await store.acquireLease('a', 1_000, 500);
      expect(a).toEqual({
        acquired: true,
        epoch: 1,
        holder: 'a',
        expiresAtMs: 1_500,
        stopRequested: false,
      });
      // Held until 1500: another owner is told who holds it, and so is the holder itself.
      expect(await store.acquireLease('b', 1_400, 500)).toEqual({
        acquired: false,
        epoch: 1,
        holder: 'a',
        expiresAtMs: 1_500,
        stopRequested: false,
      });
      expect((await store.acquireLease('a', 1_400, 500)).acquired).toBe(false);
      // Expired: b steals it, and the epoch moves on.
      const b = await store.acquireLease('b', 1_501, 500);
      expect(b).toEqual({
        acquired: true,
        epoch: 2,
        holder: 'b',
        expiresAtMs: 2_001,
        stopRequested: false,
      });
    });

    it('renews only for the holder at its epoch; a stale epoch fails', async () => {
      const store = await make();
      await store.acquireLease('a', 1_000, 500);
      await store.acquireLease('b', 2_000, 500); // a's lease expired at 1500
      expect((await store.renewLease('a', 1, 2_100, 500)).renewed).toBe(false);
      expect((await store.renewLease('b', 1, 2_100, 500)).renewed).toBe(false);
      expect(await store.renewLease('b', 2, 2_100, 1_000)).toEqual({
        renewed: true,
        stopRequested: false,
      });
      // Renewed to 3100: still held at 3000.
      expect((await store.acquireLease('a', 3_000, 500)).acquired).toBe(false);
      expect((await store.acquireLease('a', 3_101, 500)).epoch).toBe(3);
    });

    it('releases for the holder only, and the next holder gets a higher epoch', async () => {
      const store = await make();
      await store.acquireLease('a', 1_000, 60_000);
      expect(await store.releaseLease('b', 1)).toBe(false);
      expect(await store.releaseLease('a', 2)).toBe(false);
      expect((await store.acquireLease('b', 1_100, 500)).acquired).toBe(false);
      expect(await store.releaseLease('a', 1)).toBe(true);
      const b = await store.acquireLease('b', 1_100, 500);
      expect(b).toMatchObject({ acquired: true, epoch: 2, holder: 'b' });
      // a's old epoch can neither renew nor release b's lease.
      expect((await store.renewLease('a', 1, 1_200, 500)).renewed).toBe(false);
      expect(await store.releaseLease('a', 1)).toBe(false);
    });

    it('keeps the latest description of the job', async () => {
      const store = await make();
      expect(await store.getDescription()).toBeUndefined();
      await store.putDescription({ explain: 'one', writtenAtMs: 1 });
      await store.putDescription({ explain: 'two', writtenAtMs: 2 });
      expect(await store.getDescription()).toEqual({ explain: 'two', writtenAtMs: 2 });
    });

    it('tells the holder, at its next renewal, that the job was asked to stop, until cleared', async () => {
      const store = await make();
      // Asked before any coordinator ever ran: the first one learns it as it takes the lease.
      await store.requestStop(900);
      expect(await store.acquireLease('a', 1_000, 500)).toMatchObject({
        acquired: true,
        stopRequested: true,
      });
      await store.clearStop();
      expect(await store.renewLease('a', 1, 1_100, 500)).toEqual({
        renewed: true,
        stopRequested: false,
      });
      await store.requestStop(1_150);
      expect(await store.renewLease('a', 1, 1_200, 500)).toEqual({
        renewed: true,
        stopRequested: true,
      });
      // The request is kept through releases and new holders, and does not block the lease.
      expect(await store.releaseLease('a', 1)).toBe(true);
      expect(await store.acquireLease('b', 1_300, 500)).toMatchObject({
        acquired: true,
        epoch: 2,
        stopRequested: true,
      });
      await store.clearStop();
      expect((await store.renewLease('b', 2, 1_400, 500)).stopRequested).toBe(false);
    });

    it('gives the lease to exactly one of many coordinators racing for it', async () => {
      const store = await make();
      const owners = ['a', 'b', 'c', 'd', 'e', 'f'];
      const results = await Promise.all(owners.map((o) => store.acquireLease(o, 1_000, 500)));
      expect(results.filter((r) => r.acquired)).toHaveLength(1);
      expect(new Set(results.map((r) => r.holder)).size).toBe(1);
    });

    it('moves the head only forward', async () => {
      const store = await make();
      expect(await store.getHead()).toBeUndefined();
      expect(await store.advanceHead(2_000)).toBe(true);
      expect(await store.advanceHead(1_000)).toBe(false);
      expect(await store.advanceHead(2_000)).toBe(false);
      expect(await store.getHead()).toBe(2_000);
      expect(await store.advanceHead(3_000)).toBe(true);
      expect(await store.getHead()).toBe(3_000);
    });

    it('writes a plan once: a second writer gets the first plan', async () => {
      const store = await make();
      expect(await store.getPlan(1_000)).toBeUndefined();
      expect(await store.putPlan(1_000, { shards: ['s0'], by: 'first' })).toEqual({
        shards: ['s0'],
        by: 'first',
      });
      expect(await store.putPlan(1_000, { shards: ['s1'], by: 'second' })).toEqual({
        shards: ['s0'],
        by: 'first',
      });
      expect(await store.getPlan(1_000)).toEqual({ shards: ['s0'], by: 'first' });
    });

    it('gives every racing plan writer the same winner', async () => {
      const store = await make();
      const results = await Promise.all(
        [1, 2, 3, 4, 5].map((n) => store.putPlan(5_000, { writer: n })),
      );
      const winner = await store.getPlan(5_000);
      expect(results).toEqual(results.map(() => winner));
    });

    it('lists plans after a time, oldest first, bounded, in time order across digit counts', async () => {
      const store = await make();
      for (const t of [5_000, 999, 10_000, 1_000, 3_000, 2_000]) await store.putPlan(t, { t });
      const all = await store.listPlans(-1, 100);
      expect(all.map((p) => p.timeMs)).toEqual([999, 1_000, 2_000, 3_000, 5_000, 10_000]);
      expect(all.map((p) => p.value)).toEqual(all.map((p) => ({ t: p.timeMs })));
      expect((await store.listPlans(1_000, 2)).map((p) => p.timeMs)).toEqual([2_000, 3_000]);
      expect((await store.listPlans(10_000, 5)).map((p) => p.timeMs)).toEqual([]);
      expect(await store.listPlans(0, 0)).toEqual([]);
    });

    it('writes a claim once: a second attempt gets the first claim', async () => {
      const store = await make();
      expect(await store.getClaim(1_000, 0, 3)).toBeUndefined();
      expect(await store.putClaim(1_000, 0, 3, { attempt: 'a1' })).toEqual({ attempt: 'a1' });
      expect(await store.putClaim(1_000, 0, 3, { attempt: 'a2' })).toEqual({ attempt: 'a1' });
      expect(await store.getClaim(1_000, 0, 3)).toEqual({ attempt: 'a1' });
      // Another task, stage or batch is another claim.
      expect(await store.putClaim(1_000, 0, 4, { attempt: 'b' })).toEqual({ attempt: 'b' });
      expect(await store.putClaim(1_000, 1, 3, { attempt: 'c' })).toEqual({ attempt: 'c' });
      expect(await store.putClaim(2_000, 0, 3, { attempt: 'd' })).toEqual({ attempt: 'd' });
    });

    it('lists the claims of a batch by stage and task, or of one stage', async () => {
      const store = await make();
      for (const [stage, task] of [
        [1, 10],
        [0, 2],
        [1, 2],
        [0, 0],
        [1, 0],
      ] as const) {
        await store.putClaim(1_000, stage, task, { stage, task });
      }
      await store.putClaim(2_000, 0, 1, { other: true });
      const all = await store.listClaims(1_000);
      expect(all.map((c) => [c.stage, c.task])).toEqual([
        [0, 0],
        [0, 2],
        [1, 0],
        [1, 2],
        [1, 10],
      ]);
      expect(
        all.every(
          (c) => JSON.stringify(c.claim) === JSON.stringify({ stage: c.stage, task: c.task }),
        ),
      ).toBe(true);
      expect((await store.listClaims(1_000, 1)).map((c) => c.task)).toEqual([0, 2, 10]);
      expect(await store.listClaims(3_000)).toEqual([]);
    });

    it('writes a commit once and lists commits in a range, bounded, either way', async () => {
      const store = await make();
      expect(await store.putCommit(2_000, { records: 5 })).toEqual({ records: 5 });
      expect(await store.putCommit(2_000, { records: 7 })).toEqual({ records: 5 });
      expect(await store.getCommit(2_000)).toEqual({ records: 5 });
      expect(await store.getCommit(3_000)).toBeUndefined();
      for (const t of [1_000, 3_000, 4_000, 5_000]) await store.putCommit(t, { t });
      expect((await store.listCommits(2_000, 4_000, 10)).map((c) => c.timeMs)).toEqual([
        2_000, 3_000, 4_000,
      ]);
      expect((await store.listCommits(0, 10_000, 2)).map((c) => c.timeMs)).toEqual([1_000, 2_000]);
      expect(
        (await store.listCommits(0, 10_000, 2, { newestFirst: true })).map((c) => c.timeMs),
      ).toEqual([5_000, 4_000]);
      expect((await store.listCommits(-5_000, 1_000, 10)).map((c) => c.timeMs)).toEqual([1_000]);
      expect(await store.listCommits(6_000, 9_000, 10)).toEqual([]);
    });

    it('deletes the control items of the oldest batches up to a time, a few at a time', async () => {
      const store = await make();
      for (const t of [1_000, 2_000, 3_000, 4_000]) {
        await store.putPlan(t, { t });
        await store.putClaim(t, 0, 0, { t });
        await store.putCommit(t, { t });
      }
      expect(await store.deleteUpTo(3_000, 2)).toEqual([1_000, 2_000]);
      expect(await store.deleteUpTo(3_000, 2)).toEqual([3_000]);
      expect(await store.deleteUpTo(3_000, 2)).toEqual([]);
      expect((await store.listPlans(-1, 10)).map((p) => p.timeMs)).toEqual([4_000]);
      expect(
        (await store.listCommits(0, Number.MAX_SAFE_INTEGER, 10)).map((c) => c.timeMs),
      ).toEqual([4_000]);
      expect(await store.listClaims(2_000)).toEqual([]);
      expect(await store.listClaims(4_000)).toHaveLength(1);
    });

    it('deletes the plan, claims and commit of one batch only', async () => {
      const store = await make();
      for (const t of [1_000, 2_000]) {
        await store.putPlan(t, { t });
        await store.putClaim(t, 0, 0, { t });
        await store.putClaim(t, 1, 5, { t });
        await store.putCommit(t, { t });
      }
      await store.deleteBatch(1_000);
      expect(await store.getPlan(1_000)).toBeUndefined();
      expect(await store.listClaims(1_000)).toEqual([]);
      expect(await store.getCommit(1_000)).toBeUndefined();
      expect(await store.getPlan(2_000)).toEqual({ t: 2_000 });
      expect(await store.listClaims(2_000)).toHaveLength(2);
      expect(await store.getCommit(2_000)).toEqual({ t: 2_000 });
      // A deleted plan's time can be planned again (the head has moved past it in practice).
      expect(await store.putPlan(1_000, { again: true })).toEqual({ again: true });
    });
  });
}

// ---------------------------------------------------------------------------------------------

export function describeDataStore(name: string, make: () => Promise<DataStore>) {
  describe(`${name}: DataStore`, () => {
    it('lists every chunk and attempt written for a partition, by task, attempt and chunk', async () => {
      const store = await make();
      const T = 1_000;
      expect(
        await store.putBlocks(T, '3:shuffle', 1, 'y', [
          { partition: 0, payload: encodeBlock([['a', 1]]) },
          { partition: 2, payload: encodeBlock([['c', 1]]) },
        ]),
      ).toEqual([1, 1]);
      await store.putBlocks(T, '3:shuffle', 0, 'a', [
        { partition: 0, payload: encodeBlock([['b', 2]]) },
      ]);
      // Task 1 ran twice (the first attempt lost its claim).
      await store.putBlocks(T, '3:shuffle', 1, 'x', [
        { partition: 0, payload: encodeBlock([['a', 9]]) },
      ]);
      // Another shuffle and another batch are elsewhere.
      await store.putBlocks(T, '5:join', 1, 'x', [
        { partition: 0, payload: encodeBlock([['z', 0]]) },
      ]);
      await store.putBlocks(2_000, '3:shuffle', 1, 'x', [
        { partition: 0, payload: encodeBlock([]) },
      ]);

      const listing = await store.listBlocks(T, '3:shuffle', 0);
      expect(listing.map((b) => [b.task, b.attempt, b.chunk])).toEqual([
        [0, 'a', 0],
        [1, 'x', 0],
        [1, 'y', 0],
      ]);
      const claimed = claimedBlocks(
        listing,
        [
          { task: 0, attempt: 'a', chunks: 1 },
          { task: 1, attempt: 'y', chunks: 1 },
          { task: 2, attempt: 'q', chunks: 0 },
        ],
        { timeMs: T, writeId: '3:shuffle', partition: 0 },
      );
      expect(claimed.map((b) => decodeBlock(b))).toEqual([[['b', 2]], [['a', 1]]]);
      expect((await store.listBlocks(T, '3:shuffle', 2)).map((b) => b.task)).toEqual([1]);
      expect(await store.listBlocks(T, '3:shuffle', 1)).toEqual([]);
    });

    it('chunks a block over the item limit and joins it back', async () => {
      const store = await make();
      const records = Array.from({ length: 3_000 }, (_, i) => [`key-${i}`, text(200, i)]);
      const payload = encodeBlock(records);
      expect(payload.length).toBeGreaterThan(400 * 1024);
      const [chunks] = await store.putBlocks(1_000, 'w', 0, 'a', [{ partition: 4, payload }]);
      expect(chunks).toBe(splitChunks(payload).length);
      expect(chunks).toBeGreaterThan(1);
      const listing = await store.listBlocks(1_000, 'w', 4);
      expect(listing.map((b) => b.chunk)).toEqual(Array.from({ length: chunks! }, (_, i) => i));
      const [joined] = claimedBlocks(listing, [{ task: 0, attempt: 'a', chunks: chunks! }], {
        timeMs: 1_000,
        writeId: 'w',
        partition: 4,
      });
      expect(decodeBlock(joined!)).toEqual(records);
    });

    it('fails clearly when a claimed chunk is missing, never returning a shorter input', async () => {
      const store = await make();
      const pieces = splitChunks(bytes(30), 10);
      await store.putBlock(1_000, 'w', 0, 2, 'a', 0, pieces[0]!);
      await store.putBlock(1_000, 'w', 0, 2, 'a', 2, pieces[2]!);
      const listing = await store.listBlocks(1_000, 'w', 0);
      const read = () =>
        claimedBlocks(listing, [{ task: 2, attempt: 'a', chunks: 3 }], {
          timeMs: 1_000,
          writeId: 'w',
          partition: 0,
        });
      expect(read).toThrow(
        /block of task 2 \(attempt a\) for partition 0.*chunk 1 of 3 is missing/,
      );
      expect(() => read()).toThrow(expect.objectContaining({ code: 'CHUNK_MISSING' }));
      // A claimed attempt with no items at all is missing too.
      expect(() =>
        claimedBlocks(listing, [{ task: 3, attempt: 'b', chunks: 1 }], {
          timeMs: 1_000,
          writeId: 'w',
          partition: 0,
        }),
      ).toThrow(SparklessError);
    });

    it('writes a block chunk idempotently', async () => {
      const store = await make();
      await store.putBlock(1_000, 'w', 0, 0, 'a', 0, bytes(100));
      await store.putBlock(1_000, 'w', 0, 0, 'a', 0, bytes(100));
      const listing = await store.listBlocks(1_000, 'w', 0);
      expect(listing).toHaveLength(1);
      expect(listing[0]!.bytes).toEqual(bytes(100));
    });

    it('stores intents by task attempt, small and over the item limit', async () => {
      const store = await make();
      const small = encodePayload({ state: [], outputs: { '4:print': [[1, 2]] } });
      const large = encodePayload({
        values: Array.from({ length: 4_000 }, (_, i) => text(250, i)),
      });
      expect(large.length).toBeGreaterThan(900 * 1024);
      await store.putIntent(1_000, 1, 2, 'a', small);
      await store.putIntent(1_000, 1, 3, 'b', large);
      expect(await store.getIntent(1_000, 1, 2, 'a')).toEqual(small);
      expectBytes(await store.getIntent(1_000, 1, 3, 'b'), large);
      expect(await store.getIntent(1_000, 1, 2, 'other')).toBeUndefined();
      expect(await store.getIntent(1_000, 0, 2, 'a')).toBeUndefined();
      expect(await store.getIntent(2_000, 1, 2, 'a')).toBeUndefined();
    });

    it('writes a pane once: the first pane stays', async () => {
      const store = await make();
      expect(await store.getPane('win', 0, 2_000)).toBeUndefined();
      await store.putPane('win', 0, 2_000, bytes(50, 1));
      await store.putPane('win', 0, 2_000, bytes(50, 2));
      expect(await store.getPane('win', 0, 2_000)).toEqual(bytes(50, 1));
      // Other partitions, operators and ends are other panes.
      expect(await store.getPane('win', 1, 2_000)).toBeUndefined();
      expect(await store.getPane('other', 0, 2_000)).toBeUndefined();
      expect(await store.getPane('win', 0, 20_000)).toBeUndefined();
      const large = bytes(500 * 1024, 3);
      await store.putPane('win', 0, 4_000, large);
      expectBytes(await store.getPane('win', 0, 4_000), large);
    });

    it('lists the partials of a time range (from exclusive, to inclusive) in time order', async () => {
      const store = await make();
      for (const t of [3_000, 1_000, 5_000, 2_000, 4_000]) {
        await store.putPartial('win', 1, t, encodePayload({ t }));
      }
      await store.putPartial('win', 2, 3_000, encodePayload('other partition'));
      await store.putPartial('win#2', 1, 3_000, encodePayload('other operator'));
      const times = async (from: number, to: number) =>
        (await store.listPartials('win', 1, from, to)).map((p) => p.timeMs);
      expect(await times(1_000, 4_000)).toEqual([2_000, 3_000, 4_000]);
      expect(await times(-3_000, 1_000)).toEqual([1_000]);
      expect(await times(0, Number.POSITIVE_INFINITY)).toEqual([1_000, 2_000, 3_000, 4_000, 5_000]);
      expect(await times(5_000, 9_000)).toEqual([]);
      expect(await times(2_000, 2_000)).toEqual([]);
      const [p] = await store.listPartials('win', 1, 2_000, 3_000);
      expect(p!.value).toEqual(encodePayload({ t: 3_000 }));
      const large = bytes(450 * 1024, 9);
      await store.putPartial('win', 1, 6_000, large);
      expectBytes((await store.listPartials('win', 1, 5_000, 6_000))[0]?.value, large);
    });

    it('deletes panes and partials up to a time, and the blocks and intents of a batch', async () => {
      const store = await make();
      for (const t of [1_000, 2_000, 3_000]) {
        await store.putPane('win', 0, t, bytes(10, t));
        await store.putPartial('win', 0, t, bytes(10, t));
        await store.putBlocks(t, 'w', 0, 'a', [
          { partition: 0, payload: bytes(10) },
          { partition: 1, payload: bytes(10) },
        ]);
        await store.putIntent(t, 1, 0, 'a', bytes(10));
      }
      expect(await store.deletePanes('win', 0, 2_000)).toBe(2);
      expect(await store.getPane('win', 0, 2_000)).toBeUndefined();
      expect(await store.getPane('win', 0, 3_000)).toEqual(bytes(10, 3_000));
      expect(await store.deletePartials('win', 0, 1_000)).toBe(1);
      expect((await store.listPartials('win', 0, 0, 9_000)).map((p) => p.timeMs)).toEqual([
        2_000, 3_000,
      ]);
      expect(await store.deletePanes('win', 0, -1)).toBe(0);

      expect(await store.deleteBatch(2_000, [{ writeId: 'w', partitions: 2 }])).toBe(3);
      expect(await store.listBlocks(2_000, 'w', 0)).toEqual([]);
      expect(await store.listBlocks(2_000, 'w', 1)).toEqual([]);
      expect(await store.getIntent(2_000, 1, 0, 'a')).toBeUndefined();
      expect(await store.listBlocks(3_000, 'w', 1)).toHaveLength(1);
      expect(await store.getIntent(3_000, 1, 0, 'a')).toEqual(bytes(10));
      // Intents can be kept longer than blocks.
      expect(await store.deleteBlocks(1_000, [{ writeId: 'w', partitions: 2 }])).toBe(2);
      expect(await store.getIntent(1_000, 1, 0, 'a')).toEqual(bytes(10));
      expect(await store.deleteIntents(1_000)).toBe(1);
      expect(await store.getIntent(1_000, 1, 0, 'a')).toBeUndefined();
    });
  });
}

// ---------------------------------------------------------------------------------------------

export function describeStateStore(name: string, make: () => Promise<StateStore>) {
  describe(`${name}: StateStore`, () => {
    it('applies entries and reads them back by key, by keys and by partition', async () => {
      const store = await make();
      const result = await store.apply(
        'counts',
        0,
        [set('a', 1, 1_000), set('b', { n: [1, 2] }, 1_000)],
        1_000,
      );
      expect(result).toEqual({ written: 2, skipped: 0 });
      expect(await store.get('counts', 0, encodeKey('a'))).toEqual({
        key: 'a',
        value: 1,
        updatedMs: 1_000,
      });
      expect(await store.get('counts', 0, encodeKey('zz'))).toBeUndefined();
      const many = await store.getMany('counts', 0, [encodeKey('b'), encodeKey('zz')]);
      expect([...many]).toEqual([
        [encodeKey('b'), { key: 'b', value: { n: [1, 2] }, updatedMs: 1_000 }],
      ]);
      expect(keysOf(await store.list('counts', 0))).toEqual([encodeKey('a'), encodeKey('b')]);
      // Other partitions and operators are separate.
      expect((await store.list('counts', 1)).size).toBe(0);
      expect((await store.list('counts#2', 0)).size).toBe(0);
      expect(await store.countKeys('counts', 0)).toBe(2);
    });

    it('keeps keys of every kind: numbers, booleans, arrays', async () => {
      const store = await make();
      const keys = [7, -1.5, true, ['user', 3], [[1], 'x'], ''];
      await store.apply(
        's',
        3,
        keys.map((key, i) => ({
          encodedKey: encodeKey(key),
          entry: { key, value: i, updatedMs: 5 },
        })),
        1_000,
      );
      const listed = await store.list('s', 3);
      expect([...listed.values()].map((e) => e.key).sort()).toEqual([...keys].sort());
      expect((await store.get('s', 3, encodeKey(['user', 3])))?.value).toBe(3);
    });

    it('ignores a stale write and makes re-applying a batch a no-op', async () => {
      const store = await make();
      await store.apply('s', 0, [set('a', 'at 2000', 2_000)], 2_000);
      expect(await store.apply('s', 0, [set('a', 'at 1000', 1_000)], 1_000)).toEqual({
        written: 0,
        skipped: 1,
      });
      expect((await store.get('s', 0, encodeKey('a')))?.value).toBe('at 2000');
      expect(
        await store.apply('s', 0, [set('a', 'again', 2_000), set('b', 1, 2_000)], 2_000),
      ).toEqual({ written: 1, skipped: 1 });
      expect((await store.get('s', 0, encodeKey('a')))?.value).toBe('at 2000');
      expect(await store.apply('s', 0, [set('a', 'at 3000', 3_000)], 3_000)).toEqual({
        written: 1,
        skipped: 0,
      });
      expect((await store.get('s', 0, encodeKey('a')))?.value).toBe('at 3000');
    });

    it('hides removed keys behind tombstones that also stop stale writes, until purged', async () => {
      const store = await make();
      await store.apply('s', 0, [set('a', 1, 1_000), set('b', 2, 1_000)], 1_000);
      expect(await store.apply('s', 0, [remove('a')], 2_000)).toEqual({ written: 1, skipped: 0 });
      expect(await store.get('s', 0, encodeKey('a'))).toBeUndefined();
      expect(keysOf(await store.getMany('s', 0, [encodeKey('a'), encodeKey('b')]))).toEqual([
        encodeKey('b'),
      ]);
      expect(keysOf(await store.list('s', 0))).toEqual([encodeKey('b')]);
      expect(await store.countKeys('s', 0)).toBe(1);
      // A stale write of an older batch does not bring the key back.
      expect(await store.apply('s', 0, [set('a', 'stale', 1_500)], 1_500)).toEqual({
        written: 0,
        skipped: 1,
      });
      expect(await store.get('s', 0, encodeKey('a'))).toBeUndefined();
      // Purging removes tombstones up to a time only.
      await store.apply('s', 0, [remove('b')], 3_000);
      expect(await store.purgeTombstones('s', 0, 2_500)).toBe(1);
      expect(await store.purgeTombstones('s', 0, 2_500)).toBe(0);
      // A later batch writes the key again.
      await store.apply('s', 0, [set('a', 'back', 4_000)], 4_000);
      expect((await store.get('s', 0, encodeKey('a')))?.value).toBe('back');
      expect(keysOf(await store.list('s', 0))).toEqual([encodeKey('a')]);
      expect(await store.purgeTombstones('s', 0, 10_000)).toBe(1);
      expect(keysOf(await store.list('s', 0))).toEqual([encodeKey('a')]);
    });

    it('finds keys last updated before a time through expiry items that follow updates and removals', async () => {
      const store = await make();
      const expiry = { expiry: true };
      await store.apply(
        'mws',
        2,
        [set('a', 'a1', 1_000), set('b', 'b1', 1_000), set('c', 'c1', 2_000)],
        2_000,
        expiry,
      );
      const expiring = async (before: number) => keysOf(await store.listExpiring('mws', 2, before));
      expect(await expiring(1_001)).toEqual([encodeKey('a'), encodeKey('b')]);
      expect(await expiring(1_000)).toEqual([]);
      expect((await store.listExpiring('mws', 2, 1_500)).get(encodeKey('a'))).toEqual({
        key: 'a',
        value: 'a1',
        updatedMs: 1_000,
      });
      // A record for a moves its expiry; b is removed (timed out); c keeps its time.
      await store.apply(
        'mws',
        2,
        [set('a', 'a2', 3_000), remove('b'), set('c', 'c2', 2_000)],
        3_000,
        expiry,
      );
      expect(await expiring(1_500)).toEqual([]);
      expect(await expiring(2_500)).toEqual([encodeKey('c')]);
      expect((await store.listExpiring('mws', 2, 2_500)).get(encodeKey('c'))?.value).toBe('c2');
      expect(await expiring(10_000)).toEqual([encodeKey('a'), encodeKey('c')]);
      // A stale write does not move a key's expiry.
      await store.apply('mws', 2, [set('a', 'stale', 500)], 1_000, expiry);
      expect(await expiring(1_000)).toEqual([]);
      expect((await store.get('mws', 2, encodeKey('a')))?.value).toBe('a2');
      // Re-applying a batch leaves the expiry as it was.
      await store.apply(
        'mws',
        2,
        [set('a', 'a2', 3_000), remove('b'), set('c', 'c2', 2_000)],
        3_000,
        expiry,
      );
      expect(await expiring(2_500)).toEqual([encodeKey('c')]);
      expect(await expiring(10_000)).toEqual([encodeKey('a'), encodeKey('c')]);
      // Keys written without expiry tracking never show up.
      await store.apply('mws', 2, [set('d', 'd', 100)], 4_000);
      expect(await expiring(10_000)).toEqual([encodeKey('a'), encodeKey('c')]);
      expect(await expiring(0)).toEqual([]);
    });

    it('reads more than 100 keys at once', async () => {
      const store = await make();
      const keys = Array.from({ length: 230 }, (_, i) => `key-${i}`);
      await store.apply(
        's',
        0,
        keys.map((k, i) => set(k, i, 1_000)),
        1_000,
      );
      const asked = [...keys, ...keys.slice(0, 20), 'missing-1', 'missing-2'].map((k) =>
        encodeKey(k),
      );
      const got = await store.getMany('s', 0, asked);
      expect(got.size).toBe(230);
      expect(got.get(encodeKey('key-229'))?.value).toBe(229);
    });

    it('lists every key of a partition holding more than 1 MB', async () => {
      const store = await make();
      const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`);
      await store.apply(
        'big',
        1,
        keys.map((k, i) => set(k, text(4_000, i), 1_000)),
        1_000,
      );
      const listed = await store.list('big', 1);
      expect(listed.size).toBe(300);
      expect(listed.get(encodeKey('k123'))?.value).toBe(text(4_000, 123));
      expect(await store.countKeys('big', 1)).toBe(300);
    });

    it('keeps keys longer than a DynamoDB key can hold', async () => {
      const store = await make();
      const long = `long-${text(3_000)}`;
      const longer = ['x', `é${text(2_000, 2)}`];
      const changes: StateChange[] = [
        { encodedKey: encodeKey(long), entry: { key: long, value: 1, updatedMs: 100 } },
        { encodedKey: encodeKey(longer), entry: { key: longer, value: 2, updatedMs: 200 } },
      ];
      await store.apply('s', 0, changes, 1_000, { expiry: true });
      expect(await store.get('s', 0, encodeKey(long))).toEqual({
        key: long,
        value: 1,
        updatedMs: 100,
      });
      expect(
        (await store.getMany('s', 0, [encodeKey(longer)])).get(encodeKey(longer))?.key,
      ).toEqual(longer);
      expect(keysOf(await store.list('s', 0))).toEqual([encodeKey(long), encodeKey(longer)].sort());
      expect(keysOf(await store.listExpiring('s', 0, 150))).toEqual([encodeKey(long)]);
      await store.apply('s', 0, [{ encodedKey: encodeKey(long), entry: null }], 2_000, {
        expiry: true,
      });
      expect(await store.get('s', 0, encodeKey(long))).toBeUndefined();
      expect(keysOf(await store.listExpiring('s', 0, 1_000))).toEqual([encodeKey(longer)]);
    });

    it('keeps a value larger than an item can hold, and replaces it', async () => {
      const store = await make();
      const big = { text: text(600 * 1024, 5), n: 1 };
      await store.apply('s', 0, [set('big', big, 1_000)], 1_000, { expiry: true });
      expect((await store.get('s', 0, encodeKey('big')))?.value).toEqual(big);
      expect((await store.list('s', 0)).get(encodeKey('big'))?.value).toEqual(big);
      expect((await store.listExpiring('s', 0, 1_001)).get(encodeKey('big'))?.value).toEqual(big);
      // Re-applying is a no-op; a stale write is ignored; a later one replaces it.
      await store.apply('s', 0, [set('big', big, 1_000)], 1_000, { expiry: true });
      await store.apply('s', 0, [set('big', { text: text(500 * 1024, 6) }, 500)], 500);
      expect(
        (await store.getMany('s', 0, [encodeKey('big')])).get(encodeKey('big'))?.value,
      ).toEqual(big);
      const bigger = { text: text(800 * 1024, 7), n: 2 };
      await store.apply('s', 0, [set('big', bigger, 2_000)], 2_000);
      expect((await store.get('s', 0, encodeKey('big')))?.value).toEqual(bigger);
      await store.apply('s', 0, [set('big', 'small', 3_000)], 3_000);
      expect((await store.get('s', 0, encodeKey('big')))?.value).toBe('small');
    });

    it('records once that a partition got its initial state', async () => {
      const store = await make();
      expect(await store.isInitialized('s', 0)).toBe(false);
      await store.markInitialized('s', 0, 1_000);
      await store.markInitialized('s', 0, 2_000);
      expect(await store.isInitialized('s', 0)).toBe(true);
      expect(await store.isInitialized('s', 1)).toBe(false);
      expect(await store.isInitialized('t', 0)).toBe(false);
      // The marker is not a key.
      expect((await store.list('s', 0)).size).toBe(0);
    });
  });
}

// ---------------------------------------------------------------------------------------------

export function describeResultsStore(
  name: string,
  make: () => Promise<{ store: ResultsStore; table: string }>,
) {
  describe(`${name}: ResultsStore`, () => {
    const entry = (key: unknown, value: unknown) => ({ encodedKey: encodeKey(key), key, value });

    it('keeps the latest value per key with its batch time, each batch applied once', async () => {
      const { store, table } = await make();
      expect(await store.apply(table, [entry('a', 1), entry(['b', 2], { n: 2 })], 1_000)).toEqual({
        written: 2,
        skipped: 0,
      });
      expect(await store.get(table, encodeKey('a'))).toEqual({ key: 'a', value: 1, timeMs: 1_000 });
      expect(await store.get(table, encodeKey(['b', 2]))).toEqual({
        key: ['b', 2],
        value: { n: 2 },
        timeMs: 1_000,
      });
      expect(await store.get(table, encodeKey('none'))).toBeUndefined();
      // Re-applying batch 1000 (even with other values, as a broken retry would) changes nothing.
      expect(await store.apply(table, [entry('a', 100)], 1_000)).toEqual({
        written: 0,
        skipped: 1,
      });
      // An older batch is ignored; a newer one wins.
      expect(await store.apply(table, [entry('a', -1)], 500)).toEqual({ written: 0, skipped: 1 });
      expect(await store.apply(table, [entry('a', 3), entry('c', 'c')], 2_000)).toEqual({
        written: 2,
        skipped: 0,
      });
      expect(await store.get(table, encodeKey('a'))).toEqual({ key: 'a', value: 3, timeMs: 2_000 });
    });

    it('refuses, before writing any, a batch holding a result too large for an item', async () => {
      const { store, table } = await make();
      const apply = store.apply(table, [entry('ok', 1), entry('huge', text(500 * 1024))], 1_000);
      await expect(apply).rejects.toThrow(
        /saveToTable: the result of key "huge" for table .* holds at most 400 KB/,
      );
      expect(await store.get(table, encodeKey('ok'))).toBeUndefined();
    });

    it('stores long keys and JSON values as JSON sees them', async () => {
      const { store, table } = await make();
      const long = text(2_500, 3);
      await store.apply(
        table,
        [entry(long, { list: [1, 'two', null, true], nested: { x: 1.5 } }), entry(7, [])],
        1_000,
      );
      expect(await store.get(table, encodeKey(long))).toEqual({
        key: long,
        value: { list: [1, 'two', null, true], nested: { x: 1.5 } },
        timeMs: 1_000,
      });
      expect((await store.get(table, encodeKey(7)))?.value).toEqual([]);
    });
  });
}

// ---------------------------------------------------------------------------------------------

export function describeDeadLetterStore(name: string, make: () => Promise<DeadLetterStore>) {
  describe(`${name}: DeadLetterStore`, () => {
    const letter = (
      timeMs: number,
      stage: number,
      task: number,
      index: number,
    ): StoredDeadLetter => ({
      timeMs,
      stage,
      task,
      index,
      letter: {
        operator: '2:map',
        stage: 'map',
        timeMs,
        partition: task,
        subject: { record: `r${index}` },
        error: 'boom',
        shardId: 'shardId-000',
        sequenceNumber: `${index}`,
      },
    });

    it('writes dead letters idempotently and lists a time range in order', async () => {
      const store = await make();
      const letters = [
        letter(2_000, 0, 1, 0),
        letter(1_000, 1, 0, 1),
        letter(1_000, 1, 0, 0),
        letter(1_000, 0, 3, 0),
        letter(3_000, 0, 0, 0),
      ];
      await store.put(letters);
      await store.put(letters.slice(0, 3));
      const all = await store.list(0, 10_000);
      expect(all.map((l) => [l.timeMs, l.stage, l.task, l.index])).toEqual([
        [1_000, 0, 3, 0],
        [1_000, 1, 0, 0],
        [1_000, 1, 0, 1],
        [2_000, 0, 1, 0],
        [3_000, 0, 0, 0],
      ]);
      expect(all[0]).toEqual(letter(1_000, 0, 3, 0));
      expect((await store.list(1_000, 2_000)).map((l) => l.timeMs)).toEqual([
        1_000, 1_000, 1_000, 2_000,
      ]);
      expect(await store.list(2_000, 3_000, 1)).toEqual([letter(2_000, 0, 1, 0)]);
      expect(await store.list(4_000, 5_000)).toEqual([]);
      expect(await store.list(3_000, Number.MAX_SAFE_INTEGER)).toHaveLength(1);
      await store.put([]);
    });
  });
}
