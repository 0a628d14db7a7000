/**
 * The worker: runs one task of one batch, exactly as DESIGN's protocol says.
 *
 * 1. A task that is already claimed is never run again: its claimed intent is re-applied.
 * 2. Otherwise the worker makes its own attempt id, reads its input (a shard slice, or the blocks
 *    the claimed writers wrote for its partition), loads the state its steps need, and runs the
 *    engine's task code.
 * 3. It writes its blocks and its intent under its attempt id, then claims the task once. A worker
 *    that loses the claim returns the winner's claim; its own writes are never read.
 * 4. The winner applies its intent: state and results writes conditional on each item's version,
 *    panes written once, dead letters and stream records (at least once).
 */
import type { BatchDag } from '../core/batch.js';
import { instantiate } from '../core/batch.js';
import { SparklessError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { encodeKey } from '../core/keys.js';
import type { OpNode, RecordMeta } from '../core/nodes.js';
import { type DeadLetter, makeGuard, SKIPPED } from '../core/operators/guard.js';
import type { Block } from '../core/operators/shuffle.js';
import { batchPlanHash } from '../core/plan.js';
import { buildStages, type Stage } from '../core/stages.js';
import { type Part, runTask, type TaskIO } from '../core/task.js';
import type { TaskEvent } from './events.js';
import type {
  BatchPlan,
  Intent,
  ProtocolStores,
  ShardReader,
  SliceRecord,
  SliceSummary,
  TaskClaim,
  TaskResult,
} from './protocol.js';
import type { RequestCounter } from './stores/counter.js';
import { RecordingKeyedState, RecordingPaneState } from './views.js';

/** What a worker needs. */
export interface WorkerContext {
  readonly job: Job;
  readonly stores: ProtocolStores;
  readonly reader: ShardReader;
  readonly now: () => number;
  /** A fresh attempt id. */
  readonly attemptId: () => string;
  /** Where print() and logs go. */
  readonly log?: (line: string) => void;
  /** Counts this process's DynamoDB requests (one task at a time, as Lambda runs them). */
  readonly counter?: RequestCounter;
}

/** A batch's DAG and stages, built the same way in every process. */
export interface BatchLayout {
  readonly dag: BatchDag;
  readonly stages: readonly Stage[];
  readonly planHash: string;
  readonly snapshotted: ReadonlySet<OpNode>;
}

/** Builds the layout of the batch at `timeMs`. */
export function batchLayout(job: Job, timeMs: number): BatchLayout {
  const dag = instantiate(job.graph, timeMs);
  const snapshotted = new Set(
    job.graph.nodes
      .filter((n) => n.body.kind === 'select' && n.body.part === 'snapshots')
      .map((n) => n.parents[0]!),
  );
  return { dag, stages: buildStages(dag), planHash: batchPlanHash(dag), snapshotted };
}

/** The stages that write blocks under `writeId`, in stage order. */
function writersOf(stages: readonly Stage[], writeId: string): Stage[] {
  return stages.filter((s) => s.writes.some((w) => w.id === writeId));
}

/** Runs (or finishes) one task; returns the task's claim and what applying it took. */
export async function runWorkerTask(ctx: WorkerContext, event: TaskEvent): Promise<TaskResult> {
  const { stores } = ctx;
  const started = ctx.now();
  const before = ctx.counter?.snapshot();
  const existing = await stores.getClaim(event.timeMs, event.stage, event.task);
  if (existing) return applying(ctx, existing, () => applyClaimed(ctx, existing));
  const plan = await stores.getPlan(event.timeMs);
  if (!plan) {
    throw new SparklessError(
      'PLAN_MISSING',
      `worker: batch ${event.timeMs} has no plan; the coordinator writes it before it starts any task`,
    );
  }
  const layout = batchLayout(ctx.job, event.timeMs);
  if (layout.planHash !== plan.planHash) {
    throw new SparklessError(
      'PLAN_MISMATCH',
      `worker: batch ${event.timeMs} was planned as ${plan.planHash} but this worker's job plans it as ${layout.planHash}; deploy the same job to the coordinator and the workers`,
    );
  }
  const stage = layout.stages[event.stage];
  if (!stage) {
    throw new SparklessError(
      'INVALID_EVENT',
      `worker: batch ${event.timeMs} has no stage ${event.stage} (it has ${layout.stages.length})`,
    );
  }
  const attempt = ctx.attemptId();
  const deadLetters: DeadLetter[] = [];

  // The task's input: a shard slice, decoded.
  let records: unknown[] | undefined;
  let slice: SliceSummary | undefined;
  /** The sequence number of each decoded record, to name a record that fails later. */
  let sequences: string[] = [];
  let shardId: string | undefined;
  if (stage.source !== undefined) {
    const shardTask = plan.sources[stage.source]?.[event.task];
    if (!shardTask) {
      throw new SparklessError(
        'INVALID_EVENT',
        `worker: batch ${event.timeMs} has no task ${event.task} for source '${stage.source}'`,
      );
    }
    const read = await ctx.reader.readSlice(
      stage.source,
      shardTask,
      event.timeMs,
      event.deadLetterFirst ? 1 : (event.maxRecords ?? plan.maxRecords),
    );
    slice = read.summary;
    if (event.deadLetterFirst) {
      // This shard's task failed at every record cap down to one record: that record goes to the
      // dead-letter store and the shard moves past it.
      for (const r of read.records) {
        deadLetters.push({
          operator: `source '${stage.source}'`,
          stage: 'map',
          timeMs: event.timeMs,
          partition: event.task,
          subject: safeText(r.data),
          error: 'the task failed on this record at every attempt',
          shardId: shardTask.shardId,
          sequenceNumber: r.sequenceNumber,
        });
      }
      records = [];
    } else {
      const decoded = decode(
        ctx.job,
        stage.source,
        read.records,
        shardTask.shardId,
        event,
        deadLetters,
      );
      records = decoded.values;
      sequences = decoded.sequences;
      shardId = shardTask.shardId;
    }
  }

  // State views, loaded on demand and kept to collect their changes.
  const keyed: Array<{ stateName: string; partition: number; view: RecordingKeyedState }> = [];
  const panes: Array<{ stateName: string; partition: number; view: RecordingPaneState }> = [];
  const io: TaskIO = {
    ...(records ? { records } : {}),
    blocks: async (writeId, partition) => {
      const out: Block[] = [];
      for (const writer of writersOf(layout.stages, writeId)) {
        const claims = await stores.listClaims(event.timeMs, writer.id);
        const expected =
          writer.source !== undefined
            ? (plan.sources[writer.source]?.length ?? 0)
            : (writer.partitions ?? 0);
        if (claims.length !== expected) {
          throw new SparklessError(
            'MISSING_CLAIM',
            `worker: stage ${writer.id} of batch ${event.timeMs} has ${claims.length} of ${expected} claims; its tasks must all be claimed before stage ${stage.id} runs`,
          );
        }
        const writers = claims
          .sort((a, b) => a.task - b.task)
          .map((c) => ({
            task: c.task,
            attempt: c.attempt,
            chunks: c.blocks[writeId]?.[partition] ?? 0,
          }));
        out.push(...(await stores.readBlocks(event.timeMs, writeId, partition, writers)));
      }
      return out;
    },
    keyedState: async (spec, partition, need) => {
      const found = keyed.find((k) => k.stateName === spec.name && k.partition === partition);
      if (found) return found.view;
      const loaded = await stores.loadKeyed(spec.name, partition, need);
      const view = new RecordingKeyedState(loaded.entries, loaded.complete, loaded.initialized);
      keyed.push({ stateName: spec.name, partition, view });
      return view;
    },
    paneState: async (spec, partition, need) => {
      const found = panes.find((k) => k.stateName === spec.name && k.partition === partition);
      if (found) return found.view;
      const loaded = await stores.loadPanes(spec.name, partition, need);
      const view = new RecordingPaneState(loaded.partials, loaded.panes);
      panes.push({ stateName: spec.name, partition, view });
      return view;
    },
  };
  const result = await runTask(layout.dag, stage, event.task, io, {
    // Map tasks dead-letter a failing record at once; later stages fail the task on a user
    // function's error until the coordinator's last attempts.
    onRecordError: stage.kind === 'map' || event.deadLetterFailures ? 'deadLetter' : 'throw',
    snapshotted: layout.snapshotted,
  });
  // A map task's failed records came from its shard; those that failed while a source record
  // was processed are named by its sequence number.
  for (const d of result.deadLetters) {
    const seq = d.sourceIndex !== undefined ? sequences[d.sourceIndex] : undefined;
    if (shardId !== undefined && d.stage === 'map' && !d.shardId) {
      const { sourceIndex: _, ...letter } = d;
      deadLetters.push({
        ...letter,
        shardId,
        ...(seq !== undefined ? { sequenceNumber: seq } : {}),
      });
    } else deadLetters.push(d);
  }

  // Blocks, then the intent, then the claim.
  const blocks: Record<string, number[]> = {};
  for (const [writeId, written] of result.writes) {
    blocks[writeId] = await stores.putBlocks(event.timeMs, writeId, event.task, attempt, written);
  }
  const outputs: Record<string, Part[]> = {};
  for (const [opId, parts] of result.outputs) outputs[opId] = parts;
  const intent: Intent = {
    state: keyed
      .map((k) => ({
        stateName: k.stateName,
        partition: k.partition,
        changes: k.view.changes(),
        initialized: k.view.newlyInitialized,
      }))
      .filter((s) => s.changes.length > 0 || s.initialized),
    panes: panes.map((p) => ({
      stateName: p.stateName,
      partition: p.partition,
      changes: p.view.changes(),
    })),
    outputs,
    deadLetters,
  };
  const hasIntent =
    intent.state.length > 0 ||
    intent.panes.some(
      (p) =>
        p.changes.panes.length ||
        p.changes.partials.length ||
        p.changes.dropPanesUpTo !== undefined,
    ) ||
    Object.values(outputs).some((parts) => parts.some((p) => p.records.length > 0)) ||
    deadLetters.length > 0;
  if (hasIntent) await stores.putIntent(event.timeMs, event.stage, event.task, attempt, intent);
  const claim = await stores.putClaim({
    timeMs: event.timeMs,
    stage: event.stage,
    task: event.task,
    attempt,
    blocks,
    intent: hasIntent,
    ...(slice ? { slice } : {}),
    deadLettered: deadLetters.length,
    durationMs: ctx.now() - started,
    recordsOut: Object.fromEntries(
      [...result.outputs].map(([opId, parts]) => [
        opId,
        parts.reduce((n, p) => n + p.records.length, 0),
      ]),
    ),
    ...stateKeyDelta(keyed),
    ...(ctx.counter && before
      ? {
          requests: {
            count: ctx.counter.requests() - before.total + 1, // + the claim itself
            capacityUnits:
              ctx.counter.capacity() - Object.values(before.capacity).reduce((a, b) => a + b, 0),
          },
        }
      : {}),
  });
  if (claim.attempt !== attempt) {
    // Another attempt claimed the task first: its result stands, ours is never read.
    return applying(ctx, claim, () => applyClaimed(ctx, claim));
  }
  return applying(ctx, claim, () => applyIntent(ctx, plan, layout, claim, intent));
}

/** Applies a claim's intent and answers the claim with the time and requests that took. */
async function applying(
  ctx: WorkerContext,
  claim: TaskClaim,
  apply: () => Promise<void>,
): Promise<TaskResult> {
  const started = ctx.now();
  const requests = ctx.counter?.requests();
  const capacity = ctx.counter?.capacity();
  await apply();
  return {
    ...claim,
    applied: {
      ms: ctx.now() - started,
      ...(ctx.counter && requests !== undefined && capacity !== undefined
        ? {
            requests: {
              count: ctx.counter.requests() - requests,
              capacityUnits: ctx.counter.capacity() - capacity,
            },
          }
        : {}),
    },
  };
}

function stateKeyDelta(keyed: ReadonlyArray<{ stateName: string; view: RecordingKeyedState }>) {
  const delta: Record<string, number> = {};
  for (const k of keyed) delta[k.stateName] = (delta[k.stateName] ?? 0) + k.view.keyDelta();
  return keyed.length ? { stateKeyDelta: delta } : {};
}

/** Re-applies a claimed task's intent (idempotent: every write is conditional on its version). */
async function applyClaimed(ctx: WorkerContext, claim: TaskClaim): Promise<void> {
  if (!claim.intent) return;
  const plan = await ctx.stores.getPlan(claim.timeMs);
  const intent = await ctx.stores.getIntent(claim.timeMs, claim.stage, claim.task, claim.attempt);
  await applyIntent(ctx, plan, batchLayout(ctx.job, claim.timeMs), claim, intent);
}

async function applyIntent(
  ctx: WorkerContext,
  _plan: BatchPlan | undefined,
  layout: BatchLayout,
  claim: TaskClaim,
  intent: Intent,
): Promise<void> {
  const { stores } = ctx;
  const t = claim.timeMs;
  for (const s of intent.state)
    await stores.applyState(t, s.stateName, s.partition, s.changes, s.initialized);
  for (const p of intent.panes) await stores.applyPanes(t, p.stateName, p.partition, p.changes);
  const stage = layout.stages[claim.stage]!;
  for (const o of stage.outputs) {
    if (o.action.kind !== 'sink') continue;
    const sink = ctx.job.graph.sinks.get(o.action.sink)!;
    const parts = intent.outputs[o.op.id] ?? [];
    if (sink.kind === 'table') {
      // A key's latest value in the task's order; across the batch's tasks, the later writer
      // (stage, then task) wins, as in the batch's output order, whatever order tasks apply in.
      const latest = new Map<string, { key: unknown; value: unknown }>();
      for (const p of parts) {
        for (const r of p.records) {
          const [key, value] = r as [unknown, unknown];
          const enc = encodeKey(key, `saveToTable '${sink.name}'`);
          latest.delete(enc);
          latest.set(enc, { key, value });
        }
      }
      if (latest.size) {
        const order = claim.stage * 1_000_000 + claim.task;
        await stores.applyResults(t, sink.name, [...latest.values()], order);
      }
    } else {
      // Stage, partition (the task) and index identify a record within its batch, so that readers
      // can drop the repeats a retried task sends.
      const records = parts
        .flatMap((p) => p.records)
        .map((record, index) => ({ stage: claim.stage, partition: claim.task, index, record }));
      if (records.length) await stores.putStreamRecords(t, sink.name, records);
    }
  }
  if (intent.deadLetters.length) {
    await stores.putDeadLetters(
      { timeMs: t, stage: claim.stage, task: claim.task },
      intent.deadLetters,
    );
  }
}

function safeText(data: Uint8Array): string {
  let s = '';
  for (const b of data.subarray(0, 1024)) s += b < 0x80 ? String.fromCharCode(b) : '?';
  return s;
}

function decode(
  job: Job,
  source: string,
  raw: readonly SliceRecord[],
  shardId: string,
  event: TaskEvent,
  deadLetters: DeadLetter[],
): { values: unknown[]; sequences: string[] } {
  const spec = job.graph.sources.get(source)!;
  if (spec.kind !== 'kinesis') {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `worker: source '${source}' is a ${spec.kind} source, which only runs in memory`,
    );
  }
  const out: unknown[] = [];
  const sequences: string[] = [];
  const guard = makeGuard(
    'deadLetter',
    { timeMs: event.timeMs, partition: event.task, stage: 'map' },
    (d) => deadLetters.push(d),
  );
  for (const r of raw) {
    const meta: RecordMeta = {
      partitionKey: r.partitionKey,
      sequenceNumber: r.sequenceNumber,
      arrivalTimeMs: r.arrivalTimeMs,
      shardId,
    };
    const before = deadLetters.length;
    // The subject's text is made only for a record that fails to decode.
    let v: unknown;
    try {
      v = spec.decode(r.data, meta);
    } catch (e) {
      guard.fail(`source '${source}'`, safeText(r.data), e);
      v = SKIPPED;
    }
    if (v === SKIPPED) {
      const d = deadLetters[before]!;
      deadLetters[before] = { ...d, shardId, sequenceNumber: r.sequenceNumber };
    } else {
      out.push(v);
      sequences.push(r.sequenceNumber);
    }
  }
  return { values: out, sequences };
}
