/**
 * The batch protocol in one process: coordinators and workers over the protocol's stores and a
 * shard reader, hooks to inject faults between any two of their steps, and the differential
 * check against the in-memory executor (the oracle), run on the records each committed batch
 * read as its plan and claims say (never re-bucketed by time).
 *
 * The stores and the shards come from factories (`makeStores`, `makeShards`), so the same tests
 * can run over the DynamoDB and Kinesis emulators: everything here goes through the ports
 * (ProtocolStores, ShardReader) and the small inspection interfaces below.
 */
import type { DeadLetter, Job, Key, RDD } from 'sparkless';
import { LocalExecutor, type SourceRecord } from 'sparkless/testing';
import { expect } from 'vitest';
import { random } from '../../examples/generators.js';
import {
  type CoordinatorContext,
  type CoordinatorRun,
  type CoordinatorSettings,
  coordinate,
  type TaskInvoker,
} from '../../lib/aws/coordinator.js';
import type { TaskEvent } from '../../lib/aws/events.js';
import { MemoryProtocolStores } from '../../lib/aws/memory-stores.js';
import type {
  BatchPlan,
  ProtocolStores,
  ShardReader,
  SliceRecord,
  TaskClaim,
} from '../../lib/aws/protocol.js';
import { batchLayout, runWorkerTask, type WorkerContext } from '../../lib/aws/worker.js';
import { MemoryKinesis } from './memory-kinesis.js';

/** The batch interval of every job here, and a first batch time far from zero, as on a real clock. */
export const B = 1000;
export const T0 = 1_000_000_000_000;

/** The error the worker records when it dead-letters a record the task failed on at every cap. */
export const POISON_ERROR = 'the task failed on this record at every attempt';

// ---- ports under test -------------------------------------------------------------------------

/** The protocol's stores, and what the checks read back from them. */
export interface StoreKit {
  readonly stores: ProtocolStores;
  /** Every [key, state] of a keyed stateful operator. */
  stateOf(stateName: string): Promise<Array<[unknown, unknown]>>;
  /** The latest value per key of a results sink, with its batch time. */
  results(sink: string): Promise<Array<{ key: unknown; value: unknown; timeMs: number }>>;
  /** Everything sent to a stream sink, repeats included. */
  streamRecords(
    sink: string,
  ): Promise<
    Array<{ timeMs: number; stage: number; partition: number; index: number; record: unknown }>
  >;
  deadLetters(): Promise<DeadLetter[]>;
  /** Deletes the blocks one attempt of a map task wrote for a batch (a store losing data); returns how many. */
  deleteBlocks(timeMs: number, task: number, attempt: string): Promise<number>;
}

/** Shards the tests write to (ids per source, as in Kinesis), and the reader the protocol uses. */
export interface ShardKit {
  readonly reader: ShardReader;
  addShard(source: string, shardId: string, parents?: readonly string[]): Promise<void>;
  /** Appends a record; resolves to its sequence number. */
  put(
    source: string,
    shardId: string,
    data: string | Uint8Array,
    arrivalTimeMs: number,
  ): Promise<string>;
  /** Closes a shard (a split or merge closes its parents). */
  close(source: string, shardId: string): Promise<void>;
  /** Drops a closed shard from the listing, as retention does. */
  expire(source: string, shardId: string): Promise<void>;
}

export function memoryStores(): StoreKit & { readonly memory: MemoryProtocolStores } {
  const memory = new MemoryProtocolStores();
  return {
    memory,
    stores: memory,
    stateOf: async (name) => memory.stateOf(name),
    results: async (sink) => [...(memory.results.get(sink)?.values() ?? [])],
    streamRecords: async (sink) => [...(memory.streams.get(sink) ?? [])],
    deadLetters: async () => [...memory.deadLetters.values()],
    deleteBlocks: async (timeMs, task, attempt) => {
      let n = 0;
      for (const k of [...memory.blocks.keys()]) {
        const [t, , , kt, ka] = k.split('/');
        if (Number(t) === timeMs && Number(kt) === task && ka === attempt) {
          memory.blocks.delete(k);
          n++;
        }
      }
      return n;
    },
  };
}

export function memoryShards(): ShardKit & { readonly kinesis: MemoryKinesis } {
  const kinesis = new MemoryKinesis();
  return {
    kinesis,
    reader: kinesis,
    addShard: async (source, shardId, parents = []) =>
      kinesis.addShard(source, shardId, [...parents]),
    put: async (source, shardId, data, at) => kinesis.put(source, shardId, data, at),
    close: async (source, shardId) => kinesis.close(source, shardId),
    expire: async (source, shardId) => kinesis.expire(source, shardId),
  };
}

// ---- hooks ------------------------------------------------------------------------------------

/** A call to a port, as a hook sees it. */
export interface Call {
  readonly op: string;
  readonly args: readonly unknown[];
}

/** Wraps a call: may throw, delay it, change its arguments (through `next`) or its result. */
export type Hook = (
  call: Call,
  next: (args?: readonly unknown[]) => Promise<unknown>,
) => Promise<unknown>;

/** A hook that runs `fn` before the call (throwing from it fails the call before it happens). */
export const beforeCall =
  (fn: (call: Call) => void | Promise<void>): Hook =>
  async (call, next) => {
    await fn(call);
    return next();
  };

/** A hook that runs `fn` after the call succeeded (throwing from it loses the result). */
export const afterCall =
  (fn: (call: Call, result: unknown) => void | Promise<void>): Hook =>
  async (call, next) => {
    const r = await next();
    await fn(call, r);
    return r;
  };

/** `target` with every method call going through the hooks `hooks()` gives at the time. */
export function intercept<T extends object>(target: T, hooks: () => readonly Hook[]): T {
  return new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      const method = v as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        const list = hooks();
        const at = (i: number, a: readonly unknown[]): Promise<unknown> =>
          i === list.length
            ? Promise.resolve(method.apply(t, [...a]))
            : list[i]!({ op: prop, args: a }, (nextArgs) => at(i + 1, nextArgs ?? a));
        return at(0, args);
      };
    },
  });
}

/** A retriable error, as the SDK throws when a request is throttled. */
export class Throttled extends Error {
  override readonly name = 'ThrottlingException';
  constructor(op: string) {
    super(`Rate exceeded (${op})`);
  }
}

/** What a killed process throws from then on. */
export class Killed extends Error {
  constructor(who: string) {
    super(`${who} was killed`);
  }
}

// ---- observing outputs ------------------------------------------------------------------------

/** Collects what foreachRDD functions see, per tag and batch; a batch may be seen more than once. */
export class Observer {
  readonly seen = new Map<string, Map<number, unknown[][]>>();
  /** The tests' own counters of job function calls, by name. */
  readonly calls = new Map<string, number>();

  count(name: string): void {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
  }

  /** A foreachRDD function that collects the batch's records under `tag`. */
  foreach<T>(tag: string): (rdd: RDD<T>, timeMs: number) => Promise<void> {
    return async (rdd, t) => {
      const records = await rdd.collect();
      const byBatch = this.seen.get(tag) ?? new Map<number, unknown[][]>();
      this.seen.set(tag, byBatch);
      byBatch.set(t, [...(byBatch.get(t) ?? []), records]);
    };
  }

  /** The records of each batch under `tag` (the last time it was seen). */
  latest(tag: string): Map<number, unknown[]> {
    return new Map([...(this.seen.get(tag) ?? [])].map(([t, all]) => [t, all.at(-1)!]));
  }
}

/** Builds the job under test; called once for the protocol's run and once for the oracle. */
export type JobFactory = (observe: Observer) => Job;

// ---- the world --------------------------------------------------------------------------------

export interface WorldOptions {
  readonly makeStores?: () => StoreKit | Promise<StoreKit>;
  readonly makeShards?: () => ShardKit | Promise<ShardKit>;
  /** Shards per source at the start, named `<source>-<i>`. */
  readonly shards: Readonly<Record<string, number>>;
  readonly settings?: Partial<CoordinatorSettings>;
}

export const defaultSettings: CoordinatorSettings = {
  maxRecords: 10_000,
  startPosition: { kind: 'trimHorizon' },
  runForMs: 10 * 60_000,
  leaseTtlMs: 60_000,
  maxTaskAttempts: 3,
  batchesKept: 3,
};

/** One put record, as the test wrote it. */
export interface PutRecord {
  readonly source: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly data: string | Uint8Array;
  readonly arrivalTimeMs: number;
}

/** Stores, shards, a manual clock, workers, and the coordinators started on them. */
export class World {
  clock = T0;
  readonly observer = new Observer();
  readonly job: Job;
  readonly log: string[] = [];
  /** Every record put, in put order. */
  readonly puts: PutRecord[] = [];
  /** Hooks on the workers' store calls, reader calls, and on every task invocation. */
  readonly workerHooks: Hook[] = [];
  readonly readerHooks: Hook[] = [];
  readonly invokeHooks: Hook[] = [];
  /** Every event invoked, in order, with the claim it returned or the error it failed with. */
  readonly invocations: Array<{ event: TaskEvent; claim?: TaskClaim; error?: unknown }> = [];
  readonly settings: CoordinatorSettings;
  readonly #inflight = new Set<Promise<unknown>>();
  #attempts = 0;

  constructor(
    readonly factory: JobFactory,
    readonly kit: StoreKit,
    readonly shards: ShardKit,
    settings: Partial<CoordinatorSettings>,
  ) {
    this.job = factory(this.observer);
    this.settings = { ...defaultSettings, ...settings };
  }

  get stores(): ProtocolStores {
    return this.kit.stores;
  }

  readonly now = (): number => this.clock;

  /** The workers' stores and reader, through the worker hooks. */
  readonly workerStores: ProtocolStores = intercept(
    bindAll(() => this.kit.stores),
    () => this.workerHooks,
  );
  readonly workerReader: ShardReader = intercept(
    bindAll(() => this.shards.reader),
    () => this.readerHooks,
  );

  /** A worker's context; tests pass their own stores or reader to single one attempt out. */
  workerContext(
    stores: ProtocolStores = this.workerStores,
    reader: ShardReader = this.workerReader,
  ): WorkerContext {
    return {
      job: this.job,
      stores,
      reader,
      now: this.now,
      attemptId: () => `attempt-${++this.#attempts}`,
      log: (l) => this.log.push(l),
    };
  }

  /** Runs one task on a worker, as an invocation does; tracked until it settles. */
  invoke(event: TaskEvent, ctx: WorkerContext = this.workerContext()): Promise<TaskClaim> {
    const entry: { event: TaskEvent; claim?: TaskClaim; error?: unknown } = { event };
    this.invocations.push(entry);
    const p = runWorkerTask(ctx, event).then(
      (claim) => {
        entry.claim = claim;
        return claim;
      },
      (e: unknown) => {
        entry.error = e;
        throw e;
      },
    );
    this.track(p);
    return p;
  }

  /** Keeps a promise (a worker still running, say) to wait for in {@link settle}. */
  track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.#inflight.add(settled);
    void settled.then(() => this.#inflight.delete(settled));
  }

  /** Waits until every tracked worker finished. */
  async settle(): Promise<void> {
    while (this.#inflight.size) await Promise.all([...this.#inflight]);
  }

  /** The invoker coordinators use: every task invocation through the invoke hooks. */
  readonly invoker: TaskInvoker = intercept(
    { runTask: (event: TaskEvent) => this.invoke(event) },
    () => this.invokeHooks,
  );

  /** A coordinator process (not started). */
  coordinator(owner = 'coordinator-1', settings: Partial<CoordinatorSettings> = {}): Coordinator {
    return new Coordinator(this, owner, { ...this.settings, ...settings });
  }

  /** Starts a coordinator that runs `maxBatches` batches, and waits for its workers. */
  async run(maxBatches: number, owner = 'coordinator-1'): Promise<CoordinatorRun> {
    const run = await this.coordinator(owner).run(maxBatches);
    await this.settle();
    return run;
  }

  /** Appends a record to a shard (of the one source that has it, unless given) and logs it. */
  async put(
    shardId: string,
    data: string | Uint8Array,
    arrivalTimeMs: number,
    source = this.#sourceOf(shardId),
  ): Promise<string> {
    const sequenceNumber = await this.shards.put(source, shardId, data, arrivalTimeMs);
    this.puts.push({ source, shardId, sequenceNumber, data, arrivalTimeMs });
    return sequenceNumber;
  }

  async addShard(source: string, shardId: string, parents: readonly string[] = []): Promise<void> {
    this.#shardIds.push({ source, shardId, parents });
    await this.shards.addShard(source, shardId, parents);
  }

  async close(shardId: string, source = this.#sourceOf(shardId)): Promise<void> {
    await this.shards.close(source, shardId);
  }

  async expire(shardId: string, source = this.#sourceOf(shardId)): Promise<void> {
    await this.shards.expire(source, shardId);
  }

  readonly #shardIds: Array<{ source: string; shardId: string; parents: readonly string[] }> = [];

  /** The parents a shard was added with. */
  parentsOf(source: string, shardId: string): readonly string[] {
    return this.#shardIds.find((s) => s.source === source && s.shardId === shardId)?.parents ?? [];
  }

  #sourceOf(shardId: string): string {
    const sources = this.#shardIds.filter((s) => s.shardId === shardId).map((s) => s.source);
    if (sources.length !== 1)
      throw new Error(`shard ${shardId} is in ${sources.length} sources; say which`);
    return sources[0]!;
  }

  /** The shards of a source added so far, in order. */
  shardsOf(source: string): string[] {
    return this.#shardIds.filter((s) => s.source === source).map((s) => s.shardId);
  }

  /** Commits written, oldest first. */
  async commits(): Promise<number[]> {
    const out: number[] = [];
    for (const p of await this.stores.listPlans(-1, 1_000_000))
      if (await this.stores.getCommit(p.timeMs)) out.push(p.timeMs);
    return out;
  }
}

/** The store methods bound to whatever store the getter returns (a Proxy cannot enumerate a class's methods). */
function bindAll<T extends object>(get: () => T): T {
  return new Proxy({} as T, {
    get(_, prop) {
      const target = get();
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export async function makeWorld(factory: JobFactory, opts: WorldOptions): Promise<World> {
  const kit = await (opts.makeStores ?? memoryStores)();
  const shards = await (opts.makeShards ?? memoryShards)();
  const w = new World(factory, kit, shards, opts.settings ?? {});
  for (const [source, n] of Object.entries(opts.shards))
    for (let i = 0; i < n; i++) await w.addShard(source, `${source}-${i}`);
  return w;
}

/**
 * A world over in-memory stores, with those stores at hand: to set or read what a tool would
 * (a stop request, the job's description).
 */
export async function makeMemoryWorld(
  factory: JobFactory,
  opts: Omit<WorldOptions, 'makeStores'>,
): Promise<{ w: World; memory: MemoryProtocolStores }> {
  const kit = memoryStores();
  const w = await makeWorld(factory, { ...opts, makeStores: async () => kit });
  return { w, memory: kit.memory };
}

/** One coordinator process: its own hooks; once killed, everything it does throws. */
export class Coordinator {
  dead = false;
  readonly storeHooks: Hook[] = [];
  readonly readerHooks: Hook[] = [];
  readonly invokeHooks: Hook[] = [];
  readonly ctx: CoordinatorContext;

  constructor(
    readonly world: World,
    readonly owner: string,
    settings: CoordinatorSettings,
  ) {
    const alive: Hook = async (_call, next) => {
      if (this.dead) throw new Killed(owner);
      return next();
    };
    this.ctx = {
      job: world.job,
      stores: intercept(
        bindAll(() => world.stores),
        () => [alive, ...this.storeHooks],
      ),
      reader: intercept(
        bindAll(() => world.shards.reader),
        () => [alive, ...this.readerHooks],
      ),
      invoker: intercept(
        bindAll(() => world.invoker),
        () => [alive, ...this.invokeHooks],
      ),
      settings,
      owner,
      now: world.now,
      sleep: async (ms) => {
        if (this.dead) throw new Killed(owner);
        world.clock += Math.max(0, ms);
        await Promise.resolve();
      },
      log: (l) => world.log.push(`${owner}: ${l}`),
    };
  }

  /** Kills the process: returns the error to throw where it dies. */
  kill(): Killed {
    this.dead = true;
    return new Killed(this.owner);
  }

  run(maxBatches?: number): Promise<CoordinatorRun> {
    return coordinate(this.ctx, maxBatches !== undefined ? { maxBatches } : {});
  }
}

// ---- input ------------------------------------------------------------------------------------

/** The examples' seeded generator, so every run puts the same records. */
export { random };

/**
 * Puts records spread over batches 1..`batches` (read by the batches at T0 + b * B): each goes to
 * a random shard of the source with an arrival stamp inside its batch, except the batches in
 * `empty`. About one stamp in eight is out of order within its shard, so that a record stamped
 * before a batch's time waits behind a later one and lands in a later batch. Run `batches + 1`
 * batches (from T0) to read them all.
 */
export async function feed(
  w: World,
  source: string,
  records: ReadonlyArray<string | Uint8Array>,
  opts: { batches: number; seed: number; empty?: readonly number[] },
): Promise<void> {
  const rnd = random(opts.seed);
  const shards = w.shardsOf(source);
  const batches = Array.from({ length: opts.batches }, (_, i) => i + 1).filter(
    (b) => !opts.empty?.includes(b),
  );
  const perShard = new Map<string, Array<{ data: string | Uint8Array; at: number }>>();
  for (const data of records) {
    const b = batches[Math.floor(rnd() * batches.length)]!;
    const shard = shards[Math.floor(rnd() * shards.length)]!;
    const at = T0 + (b - 1) * B + Math.floor(rnd() * B);
    perShard.set(shard, [...(perShard.get(shard) ?? []), { data, at }]);
  }
  for (const [shard, list] of perShard) {
    list.sort((a, b) => a.at - b.at);
    for (let i = 0; i + 1 < list.length; i++) {
      if (rnd() < 0.125) [list[i], list[i + 1]] = [list[i + 1]!, list[i]!];
    }
    for (const r of list) await w.put(shard, r.data, r.at);
  }
}

// ---- the oracle -------------------------------------------------------------------------------

/** What a committed batch read, per source and map task, from its plan and claims. */
export interface BatchRead {
  readonly timeMs: number;
  readonly plan: BatchPlan;
  /** Per source, per task: the records the task read (the poison ones included). */
  readonly read: Readonly<Record<string, readonly SliceRecord[][]>>;
  /** The oracle's input: what was read, less the records dead-lettered as poison. */
  readonly input: Readonly<Record<string, SourceRecord[][]>>;
}

/** The records each committed batch read: from its plan (where) and claims (how many). */
export async function committedReads(w: World): Promise<BatchRead[]> {
  // Sequence numbers are unique within a stream, so shard id and sequence number name a record.
  const poison = new Set(
    (await w.kit.deadLetters())
      .filter((d) => d.error === POISON_ERROR)
      .map((d) => `${d.operator}/${d.shardId}/${d.sequenceNumber}`),
  );
  const out: BatchRead[] = [];
  for (const plan of await w.stores.listPlans(-1, 1_000_000)) {
    const t = plan.timeMs;
    if (!(await w.stores.getCommit(t))) continue;
    const layout = batchLayout(w.job, t);
    const read: Record<string, SliceRecord[][]> = {};
    const input: Record<string, SourceRecord[][]> = {};
    for (const [source, tasks] of Object.entries(plan.sources)) {
      const stage = layout.stages.find((s) => s.source === source)!;
      const claims = await w.stores.listClaims(t, stage.id);
      expect(
        claims.map((c) => c.task),
        `batch ${t}: claims of ${source}`,
      ).toEqual(tasks.map((_, i) => i));
      read[source] = [];
      input[source] = [];
      for (const [i, task] of tasks.entries()) {
        const slice = claims[i]!.slice!;
        expect(slice.shardId, `batch ${t} task ${i}`).toBe(task.shardId);
        const records = slice.records
          ? (await w.shards.reader.readSlice(source, task, Number.MAX_SAFE_INTEGER, slice.records))
              .records
          : [];
        expect(records.length, `batch ${t} ${task.shardId}: records read`).toBe(slice.records);
        if (records.length)
          expect(records.at(-1)!.sequenceNumber, `batch ${t} ${task.shardId}: end`).toBe(
            slice.endSequence,
          );
        read[source].push(records);
        input[source].push(
          records
            .filter((r) => !poison.has(`source '${source}'/${task.shardId}/${r.sequenceNumber}`))
            .map((r) => ({
              data: r.data,
              partitionKey: r.partitionKey,
              sequenceNumber: r.sequenceNumber,
              arrivalTimeMs: r.arrivalTimeMs,
            })),
        );
      }
    }
    out.push({ timeMs: t, plan, read, input });
  }
  return out;
}

/** The oracle run over the committed batches' reads. */
export interface OracleRun {
  readonly exec: LocalExecutor;
  readonly observer: Observer;
  readonly reads: readonly BatchRead[];
}

export async function runOracle(w: World): Promise<OracleRun> {
  const observer = new Observer();
  const exec = new LocalExecutor(w.factory(observer), { onRecordError: 'deadLetter' });
  const reads = await committedReads(w);
  for (const r of reads) await exec.runBatch(r.timeMs, r.input);
  return { exec, observer, reads };
}

const text = (x: unknown) => JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? [...v] : v));
export const multiset = (xs: readonly unknown[]): string[] => xs.map(text).sort();

export interface CheckOptions {
  /** foreachRDD tags whose records keep their order (nothing unordered before them). */
  readonly ordered?: readonly string[];
  /** How many batches must have committed. */
  readonly batches?: number;
  /** Whether every record put must have been read by now. @default true */
  readonly allRead?: boolean;
}

/**
 * Checks the protocol's run against the oracle on the same per-batch reads: every output seen by
 * foreachRDD batch by batch, results tables, stream sinks (repeats dropped by their ids), keyed
 * state and dead letters; and that every shard was read exactly once, in order, along the chain
 * of plans and claims.
 */
export async function expectSameAsOracle(w: World, opts: CheckOptions = {}): Promise<OracleRun> {
  await w.settle();
  const run = await runOracle(w);
  const { exec, observer, reads } = run;

  // Commits: consecutive batches, each committed once.
  const times = reads.map((r) => r.timeMs);
  if (opts.batches !== undefined) expect(times).toHaveLength(opts.batches);
  expect(times, 'committed batches are consecutive').toEqual(
    times.map((_, i) => times[0]! + i * B),
  );

  // Every shard read in order, each record once, along the chain of positions.
  const readOf = new Map<string, string[]>();
  const lastEnd = new Map<string, string | undefined>();
  for (const r of reads) {
    for (const [source, tasks] of Object.entries(r.plan.sources)) {
      tasks.forEach((task, i) => {
        const shard = `${source}/${task.shardId}`;
        if (lastEnd.has(shard))
          expect(task.after, `batch ${r.timeMs} ${shard}: starts where it stopped`).toBe(
            lastEnd.get(shard),
          );
        else expect(task.after, `batch ${r.timeMs} ${shard}: starts at the start`).toBe(undefined);
        const records = r.read[source]![i]!;
        const seqs = readOf.get(shard) ?? [];
        seqs.push(...records.map((x) => x.sequenceNumber));
        readOf.set(shard, seqs);
        lastEnd.set(shard, records.at(-1)?.sequenceNumber ?? task.after);
      });
    }
  }
  // A child is read only after every parent it has was read to its end.
  const batchesOf = new Map<string, number[]>();
  for (const r of reads)
    for (const [source, tasks] of Object.entries(r.plan.sources))
      for (const t of tasks) {
        const shard = `${source}/${t.shardId}`;
        batchesOf.set(shard, [...(batchesOf.get(shard) ?? []), r.timeMs]);
      }
  for (const [shard, batches] of batchesOf) {
    const [source, shardId] = shard.split('/') as [string, string];
    for (const p of w.parentsOf(source, shardId)) {
      const parent = batchesOf.get(`${source}/${p}`) ?? [];
      expect(
        Math.min(...batches),
        `${shard} starts after its parent ${p} ended (${Math.max(...parent)})`,
      ).toBeGreaterThan(Math.max(...parent));
    }
  }

  const putOf = new Map<string, string[]>();
  for (const p of w.puts) {
    const shard = `${p.source}/${p.shardId}`;
    putOf.set(shard, [...(putOf.get(shard) ?? []), p.sequenceNumber]);
  }
  for (const [shard, seqs] of readOf) {
    const put = putOf.get(shard) ?? [];
    expect(seqs, `${shard}: read in order, each record once`).toEqual(put.slice(0, seqs.length));
  }
  if (opts.allRead ?? true) {
    for (const [shard, put] of putOf)
      expect(readOf.get(shard) ?? [], `${shard}: every record read`).toEqual(put);
  }

  // Outputs seen on the driver, batch by batch.
  const tags = new Set([...w.observer.seen.keys(), ...observer.seen.keys()]);
  for (const tag of tags) {
    const got = w.observer.seen.get(tag) ?? new Map<number, unknown[][]>();
    const want = observer.latest(tag);
    expect([...got.keys()].sort(), `${tag}: batches`).toEqual([...want.keys()].sort());
    for (const [t, seen] of got) {
      for (const records of seen) {
        if (opts.ordered?.includes(tag))
          expect(records.map(text), `${tag} at ${t}`).toEqual(want.get(t)!.map(text));
        else expect(multiset(records), `${tag} at ${t}`).toEqual(multiset(want.get(t)!));
      }
    }
  }

  // Sinks.
  for (const sink of w.job.graph.sinks.values()) {
    if (sink.kind === 'table') {
      const got = await w.kit.results(sink.name);
      const want = [...exec.tables.get(sink.name)!.values()];
      expect(multiset(got), `table ${sink.name}`).toEqual(multiset(want));
    } else {
      // Records of batches that did not commit yet are sent again when they do.
      const byId = new Map<string, unknown>();
      for (const r of await w.kit.streamRecords(sink.name)) {
        if (!times.includes(r.timeMs)) continue;
        const id = `${r.timeMs}/${r.stage}/${r.partition}/${r.index}`;
        if (byId.has(id))
          expect(text(r.record), `stream ${sink.name}: a repeat of ${id}`).toBe(text(byId.get(id)));
        byId.set(id, r.record);
      }
      const got = new Map<number, unknown[]>();
      for (const [id, record] of byId) {
        const t = Number(id.split('/')[0]);
        got.set(t, [...(got.get(t) ?? []), record]);
      }
      const want = new Map<number, unknown[]>();
      for (const r of exec.streams.get(sink.name)!)
        want.set(r.timeMs, [...(want.get(r.timeMs) ?? []), r.record]);
      expect([...got.keys()].sort(), `stream ${sink.name}: batches`).toEqual(
        [...want.keys()].sort(),
      );
      for (const [t, records] of want)
        expect(multiset(got.get(t)!), `stream ${sink.name} at ${t}`).toEqual(multiset(records));
    }
  }

  // Keyed state.
  for (const spec of w.job.plan.stateful) {
    expect(multiset(await w.kit.stateOf(spec.name)), `state ${spec.name}`).toEqual(
      multiset(exec.state(spec.name) as Array<[Key, unknown]>),
    );
  }

  // Dead letters: what failed where (shard positions are checked by the tests that make them).
  // The worker keeps undecodable bytes as text, non-ASCII bytes as '?'; the oracle keeps the bytes.
  const subject = (x: unknown) =>
    x instanceof Uint8Array
      ? [...x].map((c) => (c < 0x80 ? String.fromCharCode(c) : '?')).join('')
      : x;
  const letter = (d: DeadLetter) => [
    d.operator,
    d.stage,
    d.timeMs,
    d.partition,
    subject(d.subject),
    d.error,
  ];
  const letters = (await w.kit.deadLetters()).filter((d) => d.error !== POISON_ERROR);
  expect(multiset(letters.map(letter)), 'dead letters').toEqual(
    multiset(exec.deadLetters.map(letter)),
  );
  return run;
}

/** Records as text, for jobs over utf8 lines. */
export const lines = (n: number, make: (i: number) => string): string[] =>
  Array.from({ length: n }, (_, i) => make(i));
