/**
 * The coordinator: the driver of a job. It takes the lease, then runs batch after batch:
 *
 * 1. At `T + grace` it writes the plan of `T` once: per shard where its slice starts (a child
 *    shard enters only when every parent ended), the record cap, the plan's hash.
 * 2. It runs the batch's stages in order, one synchronous invocation per task, retrying failed
 *    tasks; a map task that keeps failing reads half as many records each time, down to one
 *    record, which then goes to the dead-letter store.
 * 3. It runs print and foreachRDD on the records the tasks computed for them.
 * 4. It writes the commit of `T` once, with the batch's metrics, and moves the head forward.
 *
 * A coordinator that starts resumes from the head: planned, uncommitted batches continue from
 * their plans and existing claims (claimed tasks are never run again). Correctness never depends
 * on the lease: it only keeps two coordinators from overlapping most of the time.
 */

import {
  BATCH_METRICS,
  type BatchMetricName,
  METRIC_DIMENSION,
  METRIC_NAMESPACE,
  SHARD_DIMENSION,
  SHARD_METRICS,
} from '../contract/metrics.js';
import { rddScope } from '../core/batch.js';
import { SparklessError } from '../core/errors.js';
import { runRddJob } from '../core/executor.js';
import type { Job } from '../core/job.js';
import type { RddNode } from '../core/nodes.js';
import { RDD } from '../core/rdd.js';
import type { Stage } from '../core/stages.js';
import { orderParts, type Part } from '../core/task.js';
import type { TaskEvent } from './events.js';
import type {
  BatchCommit,
  BatchMetrics,
  BatchPlan,
  Intent,
  ProtocolStores,
  ShardReader,
  ShardTask,
  StartPosition,
  TaskClaim,
  TaskResult,
} from './protocol.js';
import type { RequestCounter, RequestCounts } from './stores/counter.js';
import { type BatchLayout, batchLayout } from './worker.js';

/** Runs a task on a worker (a synchronous invocation with a deadline) and returns its claim. */
export interface TaskInvoker {
  runTask(event: TaskEvent): Promise<TaskResult>;
}

/** How a coordinator runs. */
export interface CoordinatorSettings {
  /** The most records a map task reads per batch. */
  readonly maxRecords: number;
  /** How long after a batch time its plan is written. @default min(batch interval, 1s) */
  readonly graceMs?: number;
  /** Where a shard's first batch starts. */
  readonly startPosition: StartPosition;
  /** How long one coordinator runs before handing over (it stops at a batch boundary). */
  readonly runForMs: number;
  /** How long the lease lasts without renewal. */
  readonly leaseTtlMs: number;
  /** Failed attempts of a task before the coordinator gives up on the batch (map tasks also halve their cap). */
  readonly maxTaskAttempts: number;
  /** How many recent batches keep their blocks and intents for inspection. */
  readonly batchesKept: number;
  /**
   * Whether the next batch's map stages may run while this batch's later stages and commit do
   * (they read only the next batch's shards; its reduce stages still wait for the commit).
   * @default true
   */
  readonly pipeline?: boolean;
  /** How long plans, claims and commits are kept after their batch. @default 24 hours */
  readonly controlRetentionMs?: number;
  /**
   * How long a worker invocation can run at most (Lambda's timeout): a tombstone is kept at
   * least this long, so that no late attempt of an older batch can bring its key back.
   * @default 15 minutes
   */
  readonly maxTaskMs?: number;
}

/** What a coordinator needs. */
export interface CoordinatorContext {
  readonly job: Job;
  readonly stores: ProtocolStores;
  readonly reader: ShardReader;
  readonly invoker: TaskInvoker;
  readonly settings: CoordinatorSettings;
  readonly owner: string;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: (line: string) => void;
  /** Counts the coordinator's own DynamoDB requests. */
  readonly counter?: RequestCounter;
}

/** How a coordinator's run ended. */
export interface CoordinatorRun {
  readonly acquired: boolean;
  readonly epoch?: number;
  readonly committed: number[];
  /** Why it stopped. */
  readonly reason: 'lease-held' | 'max-batches' | 'time-up' | 'lease-lost' | 'stopped';
}

/** Takes the lease and runs batches until `maxBatches` or the run time is up. */
export async function coordinate(
  ctx: CoordinatorContext,
  opts: {
    maxBatches?: number;
    /** How long to keep trying for a held lease (a successor waits for its predecessor). */
    waitForLeaseMs?: number;
  } = {},
): Promise<CoordinatorRun> {
  const { stores, settings, job } = ctx;
  const B = job.batchIntervalMs;
  const grace = settings.graceMs ?? Math.min(B, 1000);
  const startedAt = ctx.now();
  let lease = await stores.acquireLease(ctx.owner, startedAt, settings.leaseTtlMs);
  while (!lease.acquired && ctx.now() - startedAt < (opts.waitForLeaseMs ?? 0)) {
    await ctx.sleep(Math.min(1000, B));
    lease = await stores.acquireLease(ctx.owner, ctx.now(), settings.leaseTtlMs);
  }
  if (!lease.acquired) return { acquired: false, committed: [], reason: 'lease-held' };
  const epoch = lease.epoch;
  const committed: number[] = [];
  let last: BatchCommit | undefined;
  let reason: CoordinatorRun['reason'] = 'time-up';
  try {
    const head = await stores.getHead();
    // Planned, uncommitted batches first (a predecessor may have stopped mid-batch).
    const pending = await stores.listPlans(head ?? -1, 10);
    let previous: BatchPlan | undefined =
      head !== undefined ? await stores.getPlan(head) : undefined;
    if (previous && previous.stateHash !== job.plan.stateHash) {
      // State is stored by operator name and partition: another shape would misread it.
      throw new SparklessError(
        'STATE_MISMATCH',
        `coordinator: job '${job.name}' kept its state up to batch ${previous.timeMs} with stateful operators hashed ${previous.stateHash}, but this job's hash ${job.plan.stateHash}: a stateful operator's kind, name, partitions, window, slide or timeout changed, and the stored state would be read wrongly; deploy the job that wrote the state, or reset the job's state before deploying this one`,
      );
    }
    await stores.describeJob({
      job: job.name,
      batchIntervalMs: B,
      explain: job.explain(),
      plan: job.plan,
      writtenAtMs: ctx.now(),
    });
    let next = head !== undefined ? head + B : Math.floor(ctx.now() / B) * B;
    // Batches a predecessor planned are finished even when the job is asked to stop.
    const stopAfterPending = lease.stopRequested === true;
    for (const plan of pending) {
      previous = plan;
      next = plan.timeMs + B;
      if (await stores.getCommit(plan.timeMs)) {
        // Committed by a predecessor that stopped before it moved the head.
        await stores.advanceHead(plan.timeMs);
        continue;
      }
      last = await runBatch(ctx, plan, epoch, last);
      committed.push(plan.timeMs);
      if (opts.maxBatches !== undefined && committed.length >= opts.maxBatches)
        return { acquired: true, epoch, committed, reason: 'max-batches' };
    }
    if (stopAfterPending) return { acquired: true, epoch, committed, reason: 'stopped' };
    // While a batch's later stages and commit run (its tail), the next batch's map stages may
    // run too: they read only its shards. Its later stages wait for the commit.
    let tail: Promise<BatchCommit> | undefined;
    try {
      for (;;) {
        if (settings.pipeline === false && tail) {
          // One batch at a time: the previous batch commits before the next is planned.
          last = await tail;
          committed.push(last.timeMs);
          tail = undefined;
        }
        if (opts.maxBatches !== undefined && committed.length + (tail ? 1 : 0) >= opts.maxBatches) {
          reason = 'max-batches';
          break;
        }
        if (ctx.now() - startedAt + B > settings.runForMs) break;
        const wait = next + grace - ctx.now();
        if (wait > 0) await ctx.sleep(wait);
        const renewal = await stores.renewLease(ctx.owner, epoch, ctx.now(), settings.leaseTtlMs);
        if (!renewal.renewed) {
          reason = 'lease-lost';
          break;
        }
        if (renewal.stopRequested) {
          // Asked to stop: the batch in flight finishes below, and no other starts.
          reason = 'stopped';
          break;
        }
        const plan = await stores.putPlan(await planBatch(ctx, next, epoch, previous));
        const [before, begun] = await Promise.allSettled([tail, startBatch(ctx, plan)]);
        tail = undefined;
        if (before.status === 'rejected') throw before.reason;
        if (before.value) {
          last = before.value;
          committed.push(last.timeMs);
        }
        if (begun.status === 'rejected') throw begun.reason;
        const b = begun.value;
        tail = 'metrics' in b ? Promise.resolve(b) : finishBatch(ctx, b, epoch, last);
        previous = plan;
        next += B;
      }
    } finally {
      // The batch in flight finishes (or fails) before the coordinator stops.
      if (tail) {
        last = await tail;
        committed.push(last.timeMs);
      }
    }
  } finally {
    if (reason !== 'lease-lost') await stores.releaseLease(ctx.owner, epoch);
  }
  return { acquired: true, epoch, committed, reason };
}

/** The map stage of each source in a batch's layout. */
function mapStageOf(layout: BatchLayout, source: string): Stage | undefined {
  return layout.stages.find((s) => s.source === source);
}

/** Plans the batch at `timeMs` from the previous batch's plan and claims. */
export async function planBatch(
  ctx: CoordinatorContext,
  timeMs: number,
  epoch: number,
  previous: BatchPlan | undefined,
): Promise<BatchPlan> {
  const { job, stores, reader, settings } = ctx;
  const layout = batchLayout(job, timeMs);
  const sources: Record<string, ShardTask[]> = {};
  const ended = new Set(previous?.ended ?? []);
  for (const [name, spec] of job.graph.sources) {
    if (spec.kind !== 'kinesis') {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `coordinator: source '${name}' is a ${spec.kind} source, which only runs in memory`,
      );
    }
    const before = previous?.sources[name];
    if (!before) {
      // The first batch: every shard whose parents are not in the listing, from the start position.
      const shards = await reader.listShards(name);
      const ids = new Set(shards.map((s) => s.shardId));
      const roots = shards.filter((s) => s.parents.every((p) => !ids.has(p)));
      sources[name] = await Promise.all(
        roots.map(async (s) =>
          reader.resolveStart
            ? {
                shardId: s.shardId,
                position: await reader.resolveStart(name, s.shardId, settings.startPosition),
              }
            : { shardId: s.shardId, start: settings.startPosition },
        ),
      );
      continue;
    }
    const prevLayout = batchLayout(job, previous!.timeMs);
    const stage = mapStageOf(prevLayout, name);
    const claims = stage ? await stores.listClaims(previous!.timeMs, stage.id) : [];
    const tasks: ShardTask[] = [];
    let resharded = false;
    // Shard ids are unique within a stream only: the plan's ended shards are named by source.
    const endedKey = (shardId: string) => `${name}/${shardId}`;
    before.forEach((t, i) => {
      const slice = claims.find((c) => c.task === i)?.slice;
      if (slice?.shardEnded) {
        ended.add(endedKey(t.shardId));
        resharded = true;
        return;
      }
      if (slice?.next) tasks.push({ shardId: t.shardId, position: slice.next });
      else {
        const after = slice?.endSequence ?? t.after;
        tasks.push(after !== undefined ? { shardId: t.shardId, after } : t);
      }
    });
    if (resharded) {
      // Children enter once every parent ended (a parent that no longer exists counts as ended);
      // a child can only become ready when a parent ends, so the shards are listed only then.
      // An ended shard is remembered while it is listed, so that it never enters again, not even
      // as the child of parents that left the listing.
      const shards = await reader.listShards(name);
      const ids = new Set(shards.map((s) => s.shardId));
      const reading = new Set(tasks.map((t) => t.shardId));
      const done = (shardId: string) => ended.has(endedKey(shardId));
      for (const s of shards) {
        if (reading.has(s.shardId) || done(s.shardId) || s.parents.length === 0) continue;
        if (s.parents.every((p) => done(p) || !ids.has(p)))
          tasks.push({ shardId: s.shardId, start: { kind: 'trimHorizon' } });
      }
      for (const e of [...ended])
        if (e.startsWith(endedKey('')) && !ids.has(e.slice(endedKey('').length))) ended.delete(e);
    }
    sources[name] = tasks;
  }
  void layout;
  return {
    timeMs,
    planHash: layout.planHash,
    stateHash: job.plan.stateHash,
    epoch,
    sources,
    ended: [...ended],
    maxRecords: settings.maxRecords,
    plannedAtMs: ctx.now(),
  };
}

/** The requests of a commit not yet made when its metrics are counted: the commit and the head. */
const COMMIT_REQUESTS = 2;

/** A batch whose map stages ran, waiting for its later stages and its commit. */
export interface StartedBatch {
  readonly plan: BatchPlan;
  readonly layout: BatchLayout;
  readonly startedMs: number;
  readonly requestsBefore: RequestCounts | undefined;
  readonly claimsByStage: Map<number, TaskClaim[]>;
  readonly stageMetrics: Array<{ stage: number; kind: string; ms: number; taskMs: number[] }>;
  readonly errors: { taskErrors: number; taskRetries: number };
}

/**
 * Runs the map stages of a planned batch (they read only its shards, so they may run while the
 * previous batch's later stages still do); returns the commit instead when the batch is
 * committed already.
 */
export async function startBatch(
  ctx: CoordinatorContext,
  plan: BatchPlan,
): Promise<StartedBatch | BatchCommit> {
  const { job, stores } = ctx;
  const t = plan.timeMs;
  const existing = await stores.getCommit(t);
  if (existing) {
    await stores.advanceHead(t);
    return existing;
  }
  const layout = batchLayout(job, t);
  if (layout.planHash !== plan.planHash) {
    throw new SparklessError(
      'PLAN_MISMATCH',
      `coordinator: batch ${t} was planned as ${plan.planHash}, but this job plans it as ${layout.planHash}; the job changed while a batch was in flight — deploy the job that planned it, or reset the job`,
    );
  }
  const started: StartedBatch = {
    plan,
    layout,
    startedMs: ctx.now(),
    requestsBefore: ctx.counter?.snapshot(),
    claimsByStage: new Map(),
    stageMetrics: [],
    errors: { taskErrors: 0, taskRetries: 0 },
  };
  await runStages(ctx, started, (s) => s.source !== undefined);
  return started;
}

/** Runs every stage of a planned batch, the driver's outputs, and the commit. */
export async function runBatch(
  ctx: CoordinatorContext,
  plan: BatchPlan,
  epoch: number,
  previousCommit?: BatchCommit,
): Promise<BatchCommit> {
  const started = await startBatch(ctx, plan);
  return 'metrics' in started ? started : finishBatch(ctx, started, epoch, previousCommit);
}

/** Runs the stages of a started batch that `which` selects and have not run, in order. */
async function runStages(
  ctx: CoordinatorContext,
  b: StartedBatch,
  which: (stage: Stage) => boolean,
): Promise<void> {
  const { job, settings } = ctx;
  const { plan, layout, claimsByStage, stageMetrics, errors } = b;
  const t = plan.timeMs;
  for (const stage of layout.stages) {
    if (claimsByStage.has(stage.id) || !which(stage)) continue;
    const tasks =
      stage.source !== undefined
        ? (plan.sources[stage.source]?.length ?? 0)
        : (stage.partitions ?? 0);
    const began = ctx.now();
    const claims = await Promise.all(
      Array.from({ length: tasks }, async (_, task) => {
        let maxRecords = plan.maxRecords;
        // Set once the task failed reading a single record: that record is then dead-lettered.
        let failedAtOne = false;
        for (let attempt = 1; ; attempt++) {
          const poison = stage.source !== undefined && failedAtOne;
          try {
            return await ctx.invoker.runTask({
              kind: 'task',
              job: job.name,
              timeMs: t,
              stage: stage.id,
              task,
              ...(stage.source !== undefined ? { maxRecords } : {}),
              ...(poison ? { deadLetterFirst: true } : {}),
              // A later stage's task fails on a user function's error until its last attempts,
              // which dead-letter the failing keys instead (DESIGN: bad input).
              ...(stage.source === undefined && attempt >= settings.maxTaskAttempts
                ? { deadLetterFailures: true }
                : {}),
            });
          } catch (e) {
            errors.taskErrors++;
            const message = e instanceof Error ? e.message : String(e);
            ctx.log(
              `batch ${t} stage ${stage.id} task ${task} attempt ${attempt} failed: ${message}`,
            );
            if (SparklessError.is(e, 'PLAN_MISMATCH') || SparklessError.is(e, 'INVALID_EVENT'))
              throw e;
            if (stage.source === undefined && attempt >= settings.maxTaskAttempts * 4) throw e;
            if (poison) throw e;
            errors.taskRetries++;
            if (stage.source !== undefined && attempt >= settings.maxTaskAttempts) {
              if (maxRecords === 1) failedAtOne = true;
              maxRecords = Math.max(1, Math.floor(maxRecords / 2));
            }
            await ctx.sleep(Math.min(2000, 50 * 2 ** Math.min(attempt, 5)));
          }
        }
      }),
    );
    claimsByStage.set(stage.id, claims);
    stageMetrics.push({
      stage: stage.id,
      kind: stage.kind,
      ms: ctx.now() - began,
      // A task's time includes applying its intent, which its stored claim cannot hold.
      taskMs: claims.map((c) => c.durationMs + ((c as TaskResult).applied?.ms ?? 0)),
    });
  }
}

/**
 * Runs a started batch's later stages, the driver's outputs and the commit. Its reduce tasks
 * read state, so the previous batch must be committed first.
 */
export async function finishBatch(
  ctx: CoordinatorContext,
  b: StartedBatch,
  epoch: number,
  previousCommit?: BatchCommit,
): Promise<BatchCommit> {
  const { job, stores, settings } = ctx;
  const { plan, layout, claimsByStage, stageMetrics, startedMs, requestsBefore } = b;
  const t = plan.timeMs;
  await runStages(ctx, b, () => true);
  const { taskErrors, taskRetries } = b.errors;

  // The driver's outputs: print and foreachRDD, over the records the tasks computed. Sinks were
  // written by their tasks; their counts come with the claims. Each intent is read once.
  const recordsOut: Record<string, number> = {};
  const intents = new Map<string, Promise<Intent>>();
  const intentOf = (claim: TaskClaim) => {
    const k = `${claim.stage}/${claim.task}`;
    let i = intents.get(k);
    if (!i) {
      i = stores.getIntent(t, claim.stage, claim.task, claim.attempt);
      intents.set(k, i);
    }
    return i;
  };
  for (const out of layout.dag.outputs) {
    if (out.action.kind === 'sink' || out.action.kind === 'collect') {
      recordsOut[out.op.id] = [...claimsByStage.values()]
        .flat()
        .reduce((n, c) => n + (c.recordsOut?.[out.op.id] ?? 0), 0);
      continue;
    }
    const parts: Array<Part & { order: number }> = [];
    let order = 0;
    for (const stage of layout.stages) {
      if (!stage.outputs.some((o) => o.op === out.op)) continue;
      for (const claim of (claimsByStage.get(stage.id) ?? []).sort((a, b) => a.task - b.task)) {
        if (!claim.intent) continue;
        const intent = await intentOf(claim);
        for (const p of intent.outputs[out.op.id] ?? []) parts.push({ ...p, order: order++ });
      }
    }
    const records = orderParts(parts).map((p) => p.records);
    recordsOut[out.op.id] = records.reduce((n, r) => n + r.length, 0);
    if (out.action.kind === 'print') {
      const first = records.flat().slice(0, out.action.num + 1);
      ctx.log('-------------------------------------------');
      ctx.log(`Time: ${t} ms`);
      ctx.log('-------------------------------------------');
      for (const r of first.slice(0, out.action.num))
        ctx.log(typeof r === 'string' ? r : JSON.stringify(r));
      if (first.length > out.action.num) ctx.log('...');
      ctx.log('');
    } else if (out.action.kind === 'foreachRDD') {
      const scope = rddScope(`${out.op.id}@${t}`, job.graph.settings.defaultPartitions, {
        run: (node) => runRddJob(node, t, { onRecordError: 'throw' }),
      });
      const data: RddNode = {
        id: `${out.op.id}@${t}/records`,
        label: out.op.op,
        kind: 'parallelize',
        data: records,
        parents: [],
        partitions: records.length,
      };
      await out.action.fn(new RDD(scope, data) as never, t);
    }
  }

  const slices = layout.stages.flatMap((s) =>
    s.source !== undefined
      ? (claimsByStage.get(s.id) ?? []).map((c) => ({ source: s.source!, slice: c.slice }))
      : [],
  );
  const all = [...claimsByStage.values()].flat();
  const committedMs = ctx.now();
  const metrics: BatchMetrics = {
    recordsIn: slices.reduce((n, s) => n + (s.slice?.records ?? 0), 0),
    bytesIn: slices.reduce((n, s) => n + (s.slice?.bytes ?? 0), 0),
    shards: slices.map((s) => ({
      source: s.source,
      shardId: s.slice?.shardId ?? '',
      records: s.slice?.records ?? 0,
      bytes: s.slice?.bytes ?? 0,
      millisBehindLatest: s.slice?.millisBehindLatest ?? 0,
    })),
    recordsOut,
    stages: stageMetrics,
    schedulingDelayMs: Math.max(0, startedMs - t),
    processingMs: committedMs - startedMs,
    totalDelayMs: Math.max(0, committedMs - t),
    deadLettered: all.reduce((n, c) => n + c.deadLettered, 0),
    taskErrors,
    taskRetries,
    retentionGaps: slices.filter((s) => s.slice?.trimmedGap).length,
    keysInState: await keysInState(ctx, t, all, previousCommit),
    // The tasks' requests up to their claims and in applying them, and the coordinator's.
    dynamoRequests:
      all.reduce(
        (n, c) => n + (c.requests?.count ?? 0) + ((c as TaskResult).applied?.requests?.count ?? 0),
        0,
      ) +
      (ctx.counter && requestsBefore
        ? ctx.counter.requests() - requestsBefore.total + COMMIT_REQUESTS
        : 0),
    consumedCapacityUnits:
      all.reduce(
        (n, c) =>
          n +
          (c.requests?.capacityUnits ?? 0) +
          ((c as TaskResult).applied?.requests?.capacityUnits ?? 0),
        0,
      ) +
      (ctx.counter && requestsBefore
        ? ctx.counter.capacity() - Object.values(requestsBefore.capacity).reduce((a, b) => a + b, 0)
        : 0),
  };
  const commit = await stores.putCommit({ timeMs: t, epoch, metrics });
  await stores.advanceHead(t);
  for (const line of emf(job.name, t, metrics)) ctx.log(JSON.stringify(line));
  const old = t - settings.batchesKept * job.batchIntervalMs;
  if (old > 0) await stores.deleteBatchData(old);
  if ((t / job.batchIntervalMs) % Math.max(1, settings.batchesKept) === 0) {
    // Every few batches: tombstones no late attempt can need, and old control items.
    const tombstonesUpTo = Math.min(old, ctx.now() - (settings.maxTaskMs ?? 15 * 60_000));
    const controlUpTo = t - (settings.controlRetentionMs ?? 24 * 3_600_000);
    if (tombstonesUpTo > 0) await stores.housekeep(tombstonesUpTo, controlUpTo);
  }
  return commit;
}

/** Keys held per stateful operator: the previous commit's counts plus this batch's changes. */
async function keysInState(
  ctx: CoordinatorContext,
  timeMs: number,
  claims: readonly TaskClaim[],
  previousCommit: BatchCommit | undefined,
) {
  // The coordinator usually just committed the previous batch; read it only after a resume.
  const before =
    previousCommit?.timeMs === timeMs - ctx.job.batchIntervalMs
      ? previousCommit
      : await ctx.stores.getCommit(timeMs - ctx.job.batchIntervalMs);
  const previous = before?.metrics.keysInState ?? {};
  const out: Record<string, number> = {};
  for (const s of ctx.job.plan.stateful) out[s.name] = previous[s.name] ?? 0;
  for (const c of claims) {
    for (const [name, d] of Object.entries(c.stateKeyDelta ?? {})) out[name] = (out[name] ?? 0) + d;
  }
  return out;
}

/** The batch's metrics in CloudWatch embedded metric format (one log line). */
export function emf(
  jobName: string,
  timeMs: number,
  m: BatchMetrics,
): Array<Record<string, unknown>> {
  const values: Record<BatchMetricName, number> = {
    InputRecords: m.recordsIn,
    InputBytes: m.bytesIn,
    ProcessingTime: m.processingMs,
    SchedulingDelay: m.schedulingDelayMs,
    TotalDelay: m.totalDelayMs,
    DeadLetteredRecords: m.deadLettered,
    TaskErrors: m.taskErrors,
    TaskRetries: m.taskRetries,
    MaxMillisBehindLatest: Math.max(0, ...m.shards.map((s) => s.millisBehindLatest)),
    RetentionGaps: m.retentionGaps,
    DynamoDBRequests: m.dynamoRequests,
    ConsumedCapacityUnits: m.consumedCapacityUnits,
  };
  const batch = {
    _aws: {
      Timestamp: timeMs,
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [[METRIC_DIMENSION]],
          Metrics: Object.entries(BATCH_METRICS).map(([Name, Unit]) => ({ Name, Unit })),
        },
      ],
    },
    [METRIC_DIMENSION]: jobName,
    BatchTime: timeMs,
    ...values,
  };
  // A line per shard: an EMF line carries one value per dimension.
  const shards = m.shards.map((s) => ({
    _aws: {
      Timestamp: timeMs,
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [[METRIC_DIMENSION, SHARD_DIMENSION]],
          Metrics: Object.entries(SHARD_METRICS).map(([Name, Unit]) => ({ Name, Unit })),
        },
      ],
    },
    [METRIC_DIMENSION]: jobName,
    [SHARD_DIMENSION]: `${s.source}/${s.shardId}`,
    BatchTime: timeMs,
    MillisBehindLatest: s.millisBehindLatest,
    ShardInputRecords: s.records,
  }));
  return [batch, ...shards];
}
