/**
 * Splitting a batch's DAG into stages at shuffle boundaries, as Spark's DAG scheduler does.
 *
 * - A `map` stage has one task per shard of a source (or per slice of constant data) and runs the
 *   narrow operators from the source up to the shuffle writes.
 * - A `reduce` stage has one task per partition of a shuffle (or cogroup); it reads the blocks
 *   every writer task wrote for its partition, runs the stateful steps of that partition and the
 *   narrow operators after them.
 * A node downstream of a union of two stages' outputs belongs to both; in each task it sees only
 * its own stage's part. Stages are listed in an order in which they can run.
 */
import type { BatchDag } from './batch.js';
import { topological } from './batch.js';
import type { OpNode, OutputAction, RddNode } from './nodes.js';

/** Blocks a stage writes: for a shuffle, or for one side of a cogroup. */
export interface StageWrite {
  /** The id the blocks are stored under: the shuffle's node id, or `<cogroup id>#<side>`. */
  readonly id: string;
  /** The shuffle or cogroup node that reads the blocks. */
  readonly reader: RddNode;
  /** The node whose records are written. */
  readonly parent: RddNode;
  /** For cogroups, which side. */
  readonly side?: number;
}

/** One stage of a batch, with references to the nodes it computes. */
export interface Stage {
  readonly id: number;
  readonly kind: 'map' | 'reduce';
  /** Map stages of a source: its name; their tasks are the source's shards. */
  readonly source?: string;
  /** Map stages of constant data: the node; its tasks are the data's slices. */
  readonly constant?: RddNode;
  /** Reduce stages: the shuffle or cogroup node whose partitions are the tasks. */
  readonly root?: RddNode;
  readonly partitions?: number;
  /** The nodes computed in the stage, parents first. */
  readonly nodes: readonly RddNode[];
  readonly writes: readonly StageWrite[];
  /** Output operators fed (in part) by this stage. */
  readonly outputs: ReadonlyArray<{
    readonly op: OpNode;
    readonly action: OutputAction;
    readonly rdd: RddNode;
  }>;
}

/** The id blocks of a write are stored under. */
export function writeId(reader: RddNode, side: number): string {
  return reader.kind === 'cogroup' ? `${reader.id}#${side}` : reader.id;
}

/** Splits the DAG reachable from `roots` (default: the batch's steps and outputs) into stages. */
export function buildStages(dag: BatchDag, roots?: readonly RddNode[]): Stage[] {
  const order = topological(roots ?? [...dag.steps, ...dag.outputs.map((o) => o.rdd)]);
  type Draft = {
    id: number;
    kind: 'map' | 'reduce';
    source?: string;
    constant?: RddNode;
    root?: RddNode;
    partitions?: number;
    nodes: RddNode[];
    writes: StageWrite[];
    outputs: Array<{ op: OpNode; action: OutputAction; rdd: RddNode }>;
  };
  const stages: Draft[] = [];
  const stagesOf = new Map<RddNode, Draft[]>();
  const byKey = new Map<string, Draft>();
  const stage = (key: string, make: () => Omit<Draft, 'id' | 'nodes' | 'writes' | 'outputs'>) => {
    let s = byKey.get(key);
    if (!s) {
      s = { id: stages.length, nodes: [], writes: [], outputs: [], ...make() };
      stages.push(s);
      byKey.set(key, s);
    }
    return s;
  };
  for (const n of order) {
    let own: Draft[];
    if (n.kind === 'source') {
      own = [stage(`map:${n.source}`, () => ({ kind: 'map', source: n.source }))];
    } else if (n.kind === 'parallelize') {
      own = [
        stage(`const:${n.id}`, () => ({ kind: 'map', constant: n, partitions: n.data.length })),
      ];
    } else if (n.kind === 'shuffle' || n.kind === 'cogroup') {
      n.parents.forEach((p, side) => {
        const id = writeId(n, side);
        for (const s of stagesOf.get(p) ?? []) {
          if (!s.writes.some((w) => w.id === id)) {
            s.writes.push({ id, reader: n, parent: p, ...(n.kind === 'cogroup' ? { side } : {}) });
          }
        }
      });
      own = [
        stage(`reduce:${n.id}`, () => ({ kind: 'reduce', root: n, partitions: n.partitions! })),
      ];
    } else {
      own = [...new Set(n.parents.flatMap((p) => stagesOf.get(p) ?? []))];
    }
    stagesOf.set(n, own);
    for (const s of own) s.nodes.push(n);
  }
  for (const o of dag.outputs) {
    for (const s of stagesOf.get(o.rdd) ?? []) s.outputs.push(o);
  }
  return stages;
}
