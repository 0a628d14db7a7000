/**
 * Running one task of a stage: the code every runtime shares.
 *
 * The in-memory executor runs every task of a batch in one process; the cloud runtime runs each
 * task in a worker, with blocks and state in DynamoDB. Both call {@link runTask} with a
 * {@link TaskIO} that hands over the task's input (a shard's records, or the blocks written for
 * its partition) and loads the state its stateful steps need before they run, so the semantics
 * cannot differ between them.
 */
import type { BatchDag } from './batch.js';
import { SparklessError } from './errors.js';
import type { Key } from './keys.js';
import { encodeKey } from './keys.js';
import type { OpNode, RddNode, StatefulSpec } from './nodes.js';
import { type ChainStep, runElementSteps } from './operators/elements.js';
import { type DeadLetter, type Guard, makeGuard, SKIPPED } from './operators/guard.js';
import { mapWithStateStep } from './operators/mapWithState.js';
import {
  type Block,
  cogroupRead,
  cogroupWrite,
  rangeBounds,
  ShuffleWriter,
  shuffleRead,
} from './operators/shuffle.js';
import type { KeyedState, PaneState } from './operators/store.js';
import { seedInitialState, updateStateByKeyStep } from './operators/updateStateByKey.js';
import { paneNeeds, reduceWindowStep, windowStep } from './operators/window.js';
import type { Stage } from './stages.js';

/** Which keys of a stateful operator's partition a step reads. */
export type KeyNeed =
  | { readonly all: true }
  | { readonly all: false; readonly keys: readonly string[]; readonly updatedBefore?: number };

/** Which partials and panes a window step reads. */
export interface PaneNeed {
  /** Partials of batches in (from, to], when a pane closes in this batch. */
  readonly partials?: readonly [number, number];
  /** Ends of the panes it reads. */
  readonly panes: readonly number[];
}

/** What a task reads, through the runtime that runs it. */
export interface TaskIO {
  /** Map tasks of a source: the (decoded) records of the task's shard slice. */
  readonly records?: readonly unknown[];
  /** Reduce tasks: the blocks every writer task wrote under `writeId` for `partition`, in task order. */
  blocks(writeId: string, partition: number): Promise<readonly Block[]>;
  /** The keyed state of a stateful operator's partition, with at least `need` loaded. */
  keyedState(spec: StatefulSpec, partition: number, need: KeyNeed): Promise<KeyedState>;
  /** The panes of a window operator's partition, with at least `need` loaded. */
  paneState(spec: StatefulSpec, partition: number, need: PaneNeed): Promise<PaneState>;
}

/**
 * A task's share of a node's records. A task holds one part of most nodes; a union holds the parts
 * of each side, each with its side prepended to its path, so that the parts of a batch ordered by
 * path (then by stage and task) list this stream's records before the other's, as Spark's union
 * lists its parents' partitions.
 */
export interface Part {
  readonly path: readonly number[];
  readonly records: unknown[];
}

/** Orders parts of one output from several tasks: by path, then as given (stage, then task). */
export function orderParts<T extends { readonly path: readonly number[] }>(
  parts: readonly T[],
): T[] {
  const cmp = (a: readonly number[], b: readonly number[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return a.length - b.length;
  };
  return parts
    .map((p, i) => [p, i] as const)
    .sort((x, y) => cmp(x[0].path, y[0].path) || x[1] - y[1])
    .map(([p]) => p);
}

/** What one task produced. */
export interface TaskResult {
  /** Blocks per write id, one per target partition. */
  readonly writes: ReadonlyMap<string, Block[]>;
  /** Parts per output operator id, for the outputs this stage feeds. */
  readonly outputs: ReadonlyMap<string, Part[]>;
  readonly deadLetters: readonly DeadLetter[];
  /** Records read per source (map tasks). */
  readonly recordsIn: number;
}

/** Options of a task run. */
export interface TaskOptions {
  readonly onRecordError: 'throw' | 'deadLetter';
  /** Stateful operators whose snapshots some consumer reads (mapWithState.stateSnapshots()). */
  readonly snapshotted: ReadonlySet<OpNode>;
}

type StepResult = { records: unknown[]; mapped?: unknown[]; snapshots?: unknown[] };

const whole = (records: unknown[]): Part[] => [{ path: [], records }];
const flat = (parts: readonly Part[]): unknown[] =>
  parts.length === 1 ? parts[0]!.records : parts.flatMap((p) => p.records);

/** Runs task `task` of `stage` of the batch `dag`. */
export async function runTask(
  dag: BatchDag,
  stage: Stage,
  task: number,
  io: TaskIO,
  opts: TaskOptions,
): Promise<TaskResult> {
  return new TaskRun(dag, stage, task, io, opts).run();
}

class TaskRun {
  readonly #inStage: Set<RddNode>;
  readonly #memo = new Map<RddNode, Promise<Part[]>>();
  readonly #steps = new Map<RddNode, Promise<StepResult>>();
  readonly #consumers = new Map<RddNode, number>();
  readonly #deadLetters: DeadLetter[] = [];
  readonly #mapGuard: Guard;
  readonly #reduceGuard: Guard;
  /** For chains that read the source: which source record is being processed. */
  #sourceIndex = -1;
  readonly #sourceGuard: Guard;

  constructor(
    readonly dag: BatchDag,
    readonly stage: Stage,
    readonly task: number,
    readonly io: TaskIO,
    readonly opts: TaskOptions,
  ) {
    this.#inStage = new Set(stage.nodes);
    const where = { timeMs: dag.timeMs, partition: task };
    const sink = (d: DeadLetter) => this.#deadLetters.push(d);
    this.#mapGuard = makeGuard(opts.onRecordError, { ...where, stage: 'map' }, sink);
    this.#reduceGuard = makeGuard(opts.onRecordError, { ...where, stage: 'reduce' }, sink);
    // Failures while a source record is processed name that record's position in the slice, so
    // the runtime can add its shard and sequence number.
    this.#sourceGuard = makeGuard(opts.onRecordError, { ...where, stage: 'map' }, (d) =>
      sink({ ...d, sourceIndex: this.#sourceIndex }),
    );
    const count = (n: RddNode) => this.#consumers.set(n, (this.#consumers.get(n) ?? 0) + 1);
    for (const n of stage.nodes) for (const p of n.parents) count(p);
    for (const w of stage.writes) count(w.parent);
    for (const o of stage.outputs) count(o.rdd);
  }

  async run(): Promise<TaskResult> {
    // Stateful steps run every batch their input exists, whether or not anything reads them now.
    for (const n of this.stage.nodes) if (n.kind === 'stateful') await this.#step(n);
    const writes = new Map<string, Block[]>();
    for (const w of this.stage.writes)
      writes.set(w.id, await this.#write(w.reader, w.parent, w.id));
    const outputs = new Map<string, Part[]>();
    for (const o of this.stage.outputs) outputs.set(o.op.id, await this.value(o.rdd));
    return {
      writes,
      outputs,
      deadLetters: this.#deadLetters,
      recordsIn: this.stage.source ? (this.io.records?.length ?? 0) : 0,
    };
  }

  /** The parts of `node` in this task (none for nodes of other stages). */
  value(node: RddNode): Promise<Part[]> {
    let v = this.#memo.get(node);
    if (!v) {
      v = this.#compute(node);
      this.#memo.set(node, v);
    }
    return v;
  }

  async #compute(node: RddNode): Promise<Part[]> {
    if (!this.#inStage.has(node)) return [];
    switch (node.kind) {
      case 'source':
        return whole([...(this.io.records ?? [])]);
      case 'parallelize':
        return whole([...(node.data[this.task] ?? [])]);
      case 'element': {
        const { chain, top } = this.#chain(node);
        const fromSource = top.kind === 'source';
        return (await this.value(top)).map((part) => ({
          path: part.path,
          records: fromSource
            ? runElementSteps(chain, part.records, this.#sourceGuard, undefined, this.#track)
            : runElementSteps(chain, part.records, this.#mapGuard),
        }));
      }
      case 'partition':
        return (await this.value(node.parents[0]!)).map((part) => {
          const out = this.#mapGuard.call(node.id, part.records, () =>
            node.fn(part.records, this.task),
          );
          return { path: part.path, records: out === SKIPPED ? [] : out };
        });
      case 'union': {
        const sides = await Promise.all(node.parents.map((p) => this.value(p)));
        return sides.flatMap((parts, side) =>
          parts.map((part) => ({ path: [side, ...part.path], records: part.records })),
        );
      }
      case 'shuffle': {
        if (node.spec.partitioner.kind === 'range') {
          // Range shuffles gather everything in partition 0's blocks; each task takes its range.
          const all = (await this.io.blocks(node.id, 0)).flat();
          const keyOf = node.spec.partitioner.keyOf;
          const bounds = rangeBounds(
            all.map((r) => keyOf(r)),
            node.spec.partitions,
            node.spec.partitioner.ascending,
          );
          const writer = new ShuffleWriter(
            node.spec,
            node.id,
            this.task,
            this.#reduceGuard,
            bounds,
          );
          for (const r of all) writer.add(r);
          const mine = writer.finish()[this.task] ?? [];
          return whole(shuffleRead(node.spec, node.id, [mine], this.#reduceGuard));
        }
        return whole(
          shuffleRead(
            node.spec,
            node.id,
            await this.io.blocks(node.id, this.task),
            this.#reduceGuard,
          ),
        );
      }
      case 'cogroup': {
        const sides = await Promise.all(
          node.parents.map((_, side) => this.io.blocks(`${node.id}#${side}`, this.task)),
        );
        return whole(cogroupRead(sides, node.id));
      }
      case 'stateful':
        return whole((await this.#step(node)).records);
      case 'select': {
        const r = await this.#step(node.parents[0]!);
        return whole((node.part === 'mapped' ? r.mapped : r.snapshots) ?? []);
      }
    }
  }

  /** Whether a node's records are needed only by its one consumer in this task, so they can stream. */
  #fusable(node: RddNode): boolean {
    return this.#consumers.get(node) === 1 && !this.#memo.has(node) && this.#inStage.has(node);
  }

  /** The element-wise steps ending at `node` that can run fused, and the node they read. */
  #chain(node: RddNode & { kind: 'element' }): { chain: ChainStep[]; top: RddNode } {
    const chain: ChainStep[] = [{ step: node.step, label: node.id }];
    let top: RddNode = node.parents[0]!;
    while (top.kind === 'element' && this.#fusable(top)) {
      chain.unshift({ step: top.step, label: top.id });
      top = top.parents[0]!;
    }
    return { chain, top };
  }

  /** The blocks this task writes for a shuffle or a cogroup side. */
  async #write(reader: RddNode, parent: RddNode, id: string): Promise<Block[]> {
    if (reader.kind === 'cogroup')
      return cogroupWrite(flat(await this.value(parent)), reader.id, reader.partitions!);
    if (reader.kind !== 'shuffle')
      throw new SparklessError('INVALID_ARGUMENT', `${id} is not a shuffle`);
    // Range shuffles write everything to partition 0 (bounds need every key; see #compute).
    const spec =
      reader.spec.partitioner.kind === 'range' ? { ...reader.spec, partitions: 1 } : reader.spec;
    if (parent.kind === 'element' && this.#fusable(parent)) {
      // The element-wise chain feeds the writer record by record, as Spark pipelines a task.
      const { chain, top } = this.#chain(parent);
      const fromSource = top.kind === 'source';
      const guard = fromSource ? this.#sourceGuard : this.#mapGuard;
      const writer = new ShuffleWriter(spec, reader.id, this.task, guard);
      const add = (r: unknown) => writer.add(r);
      for (const part of await this.value(top)) {
        runElementSteps(chain, part.records, guard, add, fromSource ? this.#track : undefined);
      }
      return this.#finish(reader, writer);
    }
    const writer = new ShuffleWriter(spec, reader.id, this.task, this.#mapGuard);
    for (const part of await this.value(parent)) for (const r of part.records) writer.add(r);
    return this.#finish(reader, writer);
  }

  readonly #track = (index: number) => {
    this.#sourceIndex = index;
  };

  #finish(reader: RddNode & { kind: 'shuffle' }, writer: ShuffleWriter): Block[] {
    const blocks = writer.finish();
    return reader.spec.partitioner.kind === 'range'
      ? [blocks[0]!, ...Array.from({ length: reader.spec.partitions - 1 }, () => [])]
      : blocks;
  }

  #step(node: RddNode): Promise<StepResult> {
    let r = this.#steps.get(node);
    if (!r) {
      r = this.#runStep(node);
      this.#steps.set(node, r);
    }
    return r;
  }

  async #runStep(node: RddNode): Promise<StepResult> {
    if (node.kind !== 'stateful' || node.op.body.kind !== 'stateful') {
      throw new SparklessError('INVALID_ARGUMENT', `${node.id} is not a stateful operator`);
    }
    const op = node.op;
    const { spec, logic } = node.op.body;
    const p = this.task;
    const t = this.dag.timeMs;
    const input = flat(await this.value(node.parents[0]!));
    const guard = this.#reduceGuard;
    switch (logic.kind) {
      case 'updateStateByKey': {
        const state = await this.io.keyedState(spec, p, { all: true });
        seedInitialState(state, logic.initial, p, spec.partitions, t, op.id);
        return { records: updateStateByKeyStep(input, state, logic, t, op.id, guard) };
      }
      case 'mapWithState': {
        const snapshots = this.opts.snapshotted.has(op);
        const need: KeyNeed =
          snapshots || logic.initial
            ? { all: true }
            : {
                all: false,
                keys: [...new Set(input.map((r) => encodeKey((r as [Key, unknown])[0], op.id)))],
                ...(spec.timeoutMs !== undefined ? { updatedBefore: t - spec.timeoutMs } : {}),
              };
        const state = await this.io.keyedState(spec, p, need);
        seedInitialState(state, logic.initial, p, spec.partitions, t, op.id);
        const r = mapWithStateStep(input, state, logic, spec.timeoutMs, t, op.id, guard, snapshots);
        return { records: r.mapped, mapped: r.mapped, snapshots: r.snapshots };
      }
      case 'window': {
        const panes = await this.io.paneState(spec, p, paneNeeds(spec, false, t));
        return { records: windowStep(input, panes as PaneState<unknown[]>, spec, t) ?? [] };
      }
      case 'reduceByKeyAndWindow': {
        const inverse = logic.inverse !== undefined;
        const panes = await this.io.paneState(spec, p, paneNeeds(spec, inverse, t));
        const emits = t % spec.slideMs! === 0;
        const window = await this.io.keyedState(
          spec,
          p,
          inverse && emits ? { all: true } : { all: false, keys: [] },
        );
        const out = reduceWindowStep(input, panes as never, window, spec, logic, t, op.id, guard);
        return { records: out ?? [] };
      }
    }
  }
}

export type { Block };
