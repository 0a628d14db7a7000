/**
 * Jobs, inputs and helpers the protocol's test suites share, in memory and on the emulators.
 */
import { type DStream, job, pair, seconds, utf8 } from 'sparkless';
import { expect } from 'vitest';
import type { TaskEvent } from '../../lib/aws/events.js';
import {
  B,
  expectSameAsOracle,
  type JobFactory,
  type OracleRun,
  random,
  T0,
  type World,
} from './harness.js';

export const add = (a: number, b: number) => a + b;
export const sub = (a: number, b: number) => a - b;

/** Lines of 1 to `maxWords` words from a small vocabulary, so keys repeat across batches and shards. */
export function text(n: number, seed: number, vocab = 12, maxWords = 4): string[] {
  const rnd = random(seed);
  return Array.from({ length: n }, () =>
    Array.from(
      { length: 1 + Math.floor(rnd() * maxWords) },
      () => `w${Math.floor(rnd() * vocab)}`,
    ).join(' '),
  );
}

type Observe = Parameters<JobFactory>[0];

/** A job of one Kinesis source of text lines, 1-second batches and 3 partitions. */
export const lineJob =
  (name: string, build: (lines: DStream<string>, o: Observe) => void): JobFactory =>
  (o) =>
    job(name, { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) =>
      build(ctx.kinesis('lines', { decode: utf8 }), o),
    );

/**
 * Stage 0 maps each shard (and feeds a stream sink); stage 1 reduces 3 partitions, keeps running
 * totals (counting each call of the update function per batch and key) and feeds a results table.
 */
export const wordsJob: JobFactory = (o) =>
  job('faults', { batchInterval: seconds(1), defaultPartitions: 3 }, (ctx) => {
    const words = ctx.kinesis('lines', { decode: utf8 }).flatMap((l) => l.split(' '));
    words.filter((w) => w.length > 2).saveToStream('long');
    const counts = words.map((w) => pair(w, 1)).reduceByKey(add);
    counts.foreachRDD(o.foreach('counts'));
    const totals = counts.updateStateByKey(
      (vs: number[], s: number | undefined, { key, timeMs }) => {
        o.count(`update ${timeMs} ${key}`);
        return (s ?? 0) + vs.reduce(add, 0);
      },
    );
    totals.saveToTable('totals');
    totals.foreachRDD(o.foreach('totals'));
  });

/** wordsJob's stages. */
export const MAP = 0;
export const REDUCE = 1;
/** The batch the faults hit (the fourth). */
export const X = T0 + 3 * B;

/** The update function ran once per batch and key: nothing was recomputed after its claim. */
export function expectNoRecompute(w: World) {
  expect(w.observer.calls.size).toBeGreaterThan(50);
  for (const [name, n] of w.observer.calls) expect(n, name).toBe(1);
}

/** The task event of an invocation's arguments. */
export const eventOf = (args: readonly unknown[]) => args[0] as TaskEvent;
/** Whether an event is of batch `t`, stage `stage` and (if given) task `task`. */
export const is = (e: TaskEvent, t: number, stage: number, task?: number) =>
  e.timeMs === t && e.stage === stage && (task === undefined || e.task === task);

/** A promise and the function that resolves it. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

/**
 * Runs the batches that read records fed over `batches` batches (plus `extra` after them), and
 * checks every committed batch against the oracle.
 */
export async function runAgainstOracle(
  w: World,
  opts: { readonly batches: number; readonly extra?: number; readonly ordered?: string[] },
): Promise<OracleRun> {
  const n = opts.batches + 1 + (opts.extra ?? 1);
  const run = await w.run(n);
  expect(run.committed).toHaveLength(n);
  return expectSameAsOracle(w, { batches: n, ...(opts.ordered ? { ordered: opts.ordered } : {}) });
}

/** The batches at which `tag` saw records, and how many in all. */
export function seenSummary(w: World, tag: string) {
  const batches = [...w.observer.latest(tag)];
  return {
    batches: batches.length,
    nonEmpty: batches.filter(([, r]) => r.length > 0).length,
    records: batches.reduce((n, [, r]) => n + r.length, 0),
  };
}
