/**
 * Instantiating the job graph at one batch time: the DAG of RDD nodes of that batch.
 *
 * A DStream generates an RDD at the times that are multiples of its slide. Stateful operators step
 * at every batch their input generates one, even when they emit nothing (a window between two
 * slides still closes panes), so those steps are roots of the batch too.
 */
import { SparklessError } from './errors.js';
import type { JobGraph } from './graph.js';
import type { OpNode, OutputAction, RddNode } from './nodes.js';
import { RDD, type RddScope } from './rdd.js';

/** The RDD DAG of one batch. */
export interface BatchDag {
  readonly timeMs: number;
  /** Output operators that run at this time, with the RDD they consume, in definition order. */
  readonly outputs: ReadonlyArray<{
    readonly op: OpNode;
    readonly action: OutputAction;
    readonly rdd: RddNode;
  }>;
  /** Stateful steps that run at this time. */
  readonly steps: readonly RddNode[];
}

/** Makes the RDD scope of the RDDs a transform or foreachRDD function sees. */
export function rddScope(
  prefix: string,
  defaultPartitions: number,
  extra: Partial<Pick<RddScope, 'run' | 'noActionsIn'>> & { maxCollect?: number },
): RddScope {
  let n = 0;
  return {
    nextId: (label) => `${prefix}/${n++}:${label}`,
    defaultPartitions,
    maxCollect: extra.maxCollect ?? 100_000,
    ...(extra.run ? { run: extra.run } : {}),
    ...(extra.noActionsIn ? { noActionsIn: extra.noActionsIn } : {}),
  };
}

/** Builds the DAG of the batch at `timeMs` (a multiple of the batch interval). */
export function instantiate(graph: JobGraph, timeMs: number): BatchDag {
  const memo = new Map<OpNode, RddNode | undefined>();
  const steps: RddNode[] = [];
  const { defaultPartitions } = graph.settings;

  const at = (op: OpNode): RddNode | undefined => {
    if (memo.has(op)) return memo.get(op);
    const rdd = build(op);
    memo.set(op, rdd);
    return rdd;
  };

  const build = (op: OpNode): RddNode | undefined => {
    const body = op.body;
    const base = { id: op.id, label: op.op };
    // Visit every parent, even when this stream generates nothing now: stateful steps upstream
    // must still run.
    const maybe = op.parents.map(at);
    if (body.kind === 'stateful') {
      // Steps whenever its input exists; emits only at multiples of its own slide.
      const input = maybe[0];
      if (!input) return undefined;
      const n = body.spec.partitions;
      const shuffled: RddNode =
        input.partitioning === n
          ? input
          : {
              id: `${op.id}/shuffle`,
              label: op.op,
              kind: 'shuffle',
              parents: [input],
              partitions: n,
              spec: {
                partitions: n,
                partitioner: body.input === 'byKey' ? { kind: 'hash' } : { kind: 'roundRobin' },
                ...(body.combine ? { aggregator: body.combine, mapSideCombine: true } : {}),
              },
              ...(body.input === 'byKey' ? { partitioning: n } : {}),
            };
      const step: RddNode = {
        ...base,
        kind: 'stateful',
        op,
        emits: timeMs % op.slideMs === 0,
        parents: [shuffled],
        partitions: n,
        ...(body.input === 'byKey' ? { partitioning: n } : {}),
      };
      steps.push(step);
      return step.emits ? step : undefined;
    }
    if (timeMs % op.slideMs !== 0) return undefined;
    const parents: RddNode[] = [];
    for (const r of maybe) {
      if (!r) return undefined;
      parents.push(r);
    }
    const parent = parents[0];
    switch (body.kind) {
      case 'source':
        return { ...base, kind: 'source', source: body.source, parents: [] };
      case 'element': {
        const keeps =
          body.step.kind === 'filter' ||
          body.step.kind === 'mapValues' ||
          body.step.kind === 'flatMapValues';
        return {
          ...base,
          kind: 'element',
          step: body.step,
          parents,
          ...(keeps && parent?.partitioning !== undefined
            ? { partitioning: parent.partitioning }
            : {}),
        };
      }
      case 'partition':
        return {
          ...base,
          kind: 'partition',
          fn: body.fn,
          parents,
          ...(body.preservesPartitioning && parent?.partitioning !== undefined
            ? { partitioning: parent.partitioning }
            : {}),
          ...(parent?.partitions !== undefined ? { partitions: parent.partitions } : {}),
        };
      case 'union':
        return { ...base, kind: 'union', parents };
      case 'shuffle':
        return {
          ...base,
          kind: 'shuffle',
          spec: body.spec,
          parents,
          partitions: body.spec.partitions,
          ...(body.spec.partitioner.kind === 'hash' ? { partitioning: body.spec.partitions } : {}),
        };
      case 'cogroup':
        return {
          ...base,
          kind: 'cogroup',
          parents,
          partitions: body.partitions,
          partitioning: body.partitions,
        };
      case 'select':
        return {
          ...base,
          kind: 'select',
          part: body.part,
          parents,
          ...(parent?.partitioning !== undefined && body.part === 'snapshots'
            ? { partitioning: parent.partitioning }
            : {}),
        };
      case 'transform': {
        const scope = rddScope(op.id, defaultPartitions, { noActionsIn: 'transform' });
        const result = body.fn(parents.map((p) => new RDD(scope, p)) as never[], timeMs);
        if (typeof (result as { then?: unknown })?.then === 'function') {
          (result as Promise<unknown>).then(undefined, () => {});
          throw new SparklessError(
            'INVALID_ARGUMENT',
            `${op.id}: the transform function returned a promise; transform must be synchronous and return an RDD (run actions in foreachRDD)`,
          );
        }
        if (!(result instanceof RDD)) {
          throw new SparklessError(
            'INVALID_ARGUMENT',
            `${op.id}: the transform function must return an RDD, got ${typeof result}; return the transformed rdd`,
          );
        }
        return result.node;
      }
      case 'output':
        return parent;
    }
  };

  const outputs: Array<{ op: OpNode; action: OutputAction; rdd: RddNode }> = [];
  for (const out of graph.outputs) {
    const rdd = at(out);
    if (rdd && out.body.kind === 'output') outputs.push({ op: out, action: out.body.action, rdd });
  }
  return { timeMs, outputs, steps };
}

/** Every node reachable from the given roots, parents before children. */
export function topological(roots: Iterable<RddNode>): RddNode[] {
  const seen = new Set<RddNode>();
  const order: RddNode[] = [];
  const visit = (n: RddNode) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const p of n.parents) visit(p);
    order.push(n);
  };
  for (const r of roots) visit(r);
  return order;
}
