/**
 * The plan: the job's operators, its stages split at shuffle boundaries (as Spark's DAG scheduler
 * splits them), its stateful operators and the hash of their stored-state shape. Plain data.
 *
 * Stage kinds:
 * - `map`: one task per shard of a source; runs the narrow operators from the source up to the
 *   shuffle writes, combining per key on the map side where the operator allows it.
 * - `reduce`: one task per partition of a shuffle; reads the blocks of every map task, runs the
 *   stateful step of its operator (state, panes) and the narrow operators after it.
 * A union of streams from different stages runs in each of them.
 */

import type { BatchDag } from './batch.js';
import { instantiate } from './batch.js';
import { formatMs, lcm } from './duration.js';
import type { JobGraph } from './graph.js';
import { hashString } from './keys.js';
import type { RddNode, StatefulSpec } from './nodes.js';
import { buildStages } from './stages.js';

/** One operator of the plan. */
export interface PlanOperator {
  readonly id: string;
  readonly op: string;
  readonly parents: readonly string[];
  readonly slideMs: number;
}

/** One stage of a batch. */
export interface PlanStage {
  readonly id: number;
  readonly kind: 'map' | 'reduce';
  /** For map stages: the source whose shards are the tasks. */
  readonly source?: string;
  /** For reduce stages: the shuffle (node id) whose partitions are the tasks, and how many. */
  readonly shuffle?: string;
  readonly partitions?: number;
  /** The nodes computed in the stage, parents first. */
  readonly nodes: ReadonlyArray<{
    readonly id: string;
    readonly kind: string;
    readonly detail: string;
  }>;
  /** Shuffles this stage writes blocks for. */
  readonly writes: readonly string[];
  /** Output operators fed by this stage. */
  readonly outputs: readonly string[];
}

/** The plan of a job. */
export interface JobPlan {
  readonly job: string;
  readonly batchIntervalMs: number;
  readonly defaultPartitions: number;
  readonly sources: ReadonlyArray<{ readonly name: string; readonly kind: string }>;
  readonly sinks: ReadonlyArray<{ readonly name: string; readonly kind: string }>;
  readonly operators: readonly PlanOperator[];
  readonly stateful: readonly StatefulSpec[];
  /** The stages of a batch at which every window emits. */
  readonly stages: readonly PlanStage[];
  /** Whether a batch's stages can differ from these (a transform decides them at run time). */
  readonly dynamic: boolean;
  /** The hash of the stateful operators' kinds, names, partitions, windows, slides and timeouts. */
  readonly stateHash: string;
}

/** The hash of the shape of stored state; never of function source. */
export function stateHashOf(stateful: readonly StatefulSpec[]): string {
  const text = JSON.stringify(
    stateful.map((s) => [
      s.kind,
      s.name,
      s.partitions,
      s.windowMs ?? null,
      s.slideMs ?? null,
      s.timeoutMs ?? null,
      s.inverse ?? null,
    ]),
  );
  return (
    hashString(text).toString(16).padStart(8, '0') +
    hashString(`${text}#`).toString(16).padStart(8, '0')
  );
}

/** Plans a job from its graph. */
export function planJob(graph: JobGraph): JobPlan {
  const { job, batchIntervalMs, defaultPartitions } = graph.settings;
  const stateful = graph.nodes.flatMap((n) => (n.body.kind === 'stateful' ? [n.body.spec] : []));
  // A time at which every stream generates, so that every stage shows.
  const time = graph.nodes.reduce((t, n) => lcm(t, n.slideMs), batchIntervalMs);
  return {
    job,
    batchIntervalMs,
    defaultPartitions,
    sources: [...graph.sources.values()].map((s) => ({ name: s.name, kind: s.kind })),
    sinks: [...graph.sinks.values()].map((s) => ({ name: s.name, kind: s.kind })),
    operators: graph.nodes.map((n) => ({
      id: n.id,
      op: n.op,
      parents: n.parents.map((p) => p.id),
      slideMs: n.slideMs,
    })),
    stateful,
    stages: planStages(instantiate(graph, time)),
    dynamic: graph.nodes.some(
      (n) =>
        n.body.kind === 'transform' ||
        (n.body.kind === 'output' && n.body.action.kind === 'foreachRDD'),
    ),
    stateHash: stateHashOf(stateful),
  };
}

function detailOf(n: RddNode): string {
  switch (n.kind) {
    case 'source':
      return `read '${n.source}'`;
    case 'element':
      return n.step.kind;
    case 'partition':
      return 'per partition';
    case 'union':
      return `union of ${n.parents.map((p) => p.id).join(', ')}`;
    case 'shuffle': {
      const s = n.spec;
      const how = s.aggregator
        ? s.mapSideCombine
          ? 'combine per key, map-side combine'
          : 'combine per key'
        : s.group
          ? 'group per key'
          : s.partitioner.kind === 'range'
            ? 'sort'
            : 'move records';
      return `shuffle into ${s.partitions} partition${s.partitions === 1 ? '' : 's'} by ${s.partitioner.kind}, ${how}`;
    }
    case 'cogroup':
      return `cogroup of ${n.parents.length} into ${n.partitions} partitions`;
    case 'stateful': {
      const b = n.op.body;
      if (b.kind !== 'stateful') return 'state';
      const s = b.spec;
      const parts = [`state '${s.name}'`];
      if (s.windowMs)
        parts.push(
          `window ${formatMs(s.windowMs)}`,
          `slide ${formatMs(s.slideMs!)}`,
          `pane ${formatMs(s.paneMs!)}`,
        );
      if (s.inverse) parts.push('inverse');
      if (s.timeoutMs) parts.push(`timeout ${formatMs(s.timeoutMs)}`);
      return parts.join(', ');
    }
    case 'select':
      return n.part;
    case 'parallelize':
      return 'constant data';
  }
}

/** The stages of a batch's DAG as plain data (see stages.ts). */
export function planStages(dag: BatchDag): PlanStage[] {
  return buildStages(dag).map((s) => ({
    id: s.id,
    kind: s.kind,
    ...(s.source !== undefined ? { source: s.source } : {}),
    ...(s.root !== undefined ? { shuffle: s.root.id } : {}),
    ...(s.partitions !== undefined ? { partitions: s.partitions } : {}),
    nodes: s.nodes.map((n) => ({ id: n.id, kind: n.kind, detail: detailOf(n) })),
    writes: [...new Set(s.writes.map((w) => w.reader.id))],
    outputs: s.outputs.map((o) => o.op.id),
  }));
}

/** The plan in a form a person can read. */
export function explainPlan(plan: JobPlan): string {
  const lines: string[] = [];
  lines.push(
    `Job '${plan.job}': batch interval ${formatMs(plan.batchIntervalMs)}, ${plan.defaultPartitions} partitions by default`,
  );
  lines.push(`Sources: ${plan.sources.map((s) => `${s.name} (${s.kind})`).join(', ')}`);
  if (plan.sinks.length)
    lines.push(`Sinks: ${plan.sinks.map((s) => `${s.name} (${s.kind})`).join(', ')}`);
  lines.push('');
  for (const s of plan.stages) {
    const tasks =
      s.kind === 'map'
        ? s.source
          ? `one task per shard of '${s.source}'`
          : `${s.partitions} tasks`
        : `one task per partition (${s.partitions}) of ${s.shuffle}`;
    lines.push(`Stage ${s.id} (${s.kind}): ${tasks}`);
    for (const n of s.nodes) lines.push(`  ${n.id.padEnd(28)} ${n.detail}`);
    for (const w of s.writes) lines.push(`  -> writes blocks for ${w}`);
    for (const o of s.outputs) lines.push(`  -> output ${o}`);
  }
  if (plan.stateful.length) {
    lines.push('');
    lines.push(`Stateful operators (state hash ${plan.stateHash}):`);
    for (const s of plan.stateful) {
      const extra = [
        `${s.partitions} partitions`,
        ...(s.windowMs
          ? [
              `window ${formatMs(s.windowMs)}`,
              `slide ${formatMs(s.slideMs!)}`,
              `pane ${formatMs(s.paneMs!)}`,
            ]
          : []),
        ...(s.inverse ? ['inverse'] : []),
        ...(s.timeoutMs ? [`timeout ${formatMs(s.timeoutMs)}`] : []),
      ];
      lines.push(`  ${s.name} (${s.kind}, ${s.id}): ${extra.join(', ')}`);
    }
  }
  if (plan.dynamic)
    lines.push(
      '',
      'Stages shown for one batch; transform and foreachRDD may add stages at run time.',
    );
  return lines.join('\n');
}

/**
 * The hash of a batch's stages (their kinds, nodes and partitions): a worker that builds a
 * different plan from the same batch time than the coordinator did runs a different job.
 */
export function batchPlanHash(dag: BatchDag): string {
  const text = JSON.stringify(planStages(dag));
  return (
    hashString(text).toString(16).padStart(8, '0') +
    hashString(`${text}#`).toString(16).padStart(8, '0')
  );
}
