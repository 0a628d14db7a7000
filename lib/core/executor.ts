/**
 * The in-memory executor: runs a job batch by batch on a manual clock, with the same operator
 * code the cloud runtime runs per task (shuffle blocks, state steps, panes), over in-memory stores.
 * It is the oracle the cloud runtime is tested against.
 */

import type { BatchDag } from './batch.js';
import { instantiate, rddScope, topological } from './batch.js';
import { encodeUtf8 } from './codec.js';
import { describe } from './duration.js';
import { SparklessError } from './errors.js';
import type { Job } from './job.js';
import type { Key, Pair } from './keys.js';
import { encodeKey } from './keys.js';
import { MemoryStore } from './memory.js';
import type { OpNode, RddNode, RecordMeta, SinkSpec } from './nodes.js';
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
  shuffleWrite,
} from './operators/shuffle.js';
import { seedInitialState, updateStateByKeyStep } from './operators/updateStateByKey.js';
import { reduceWindowStep, windowStep } from './operators/window.js';
import { RDD } from './rdd.js';

/** A record as a Kinesis source receives it, before decoding. */
export interface SourceRecord {
  readonly data: Uint8Array | string;
  readonly partitionKey?: string;
  readonly sequenceNumber?: string;
  readonly arrivalTimeMs?: number;
}

/** The input of one batch: per source name, per shard, the records. */
export type BatchInput = Readonly<Record<string, ReadonlyArray<readonly unknown[]>>>;

/** One record written to a stream sink, with what readers need to drop repeats. */
export interface StreamSinkRecord {
  readonly timeMs: number;
  readonly partition: number;
  readonly index: number;
  readonly record: unknown;
}

/** The latest value of a key in a table sink. */
export interface TableSinkEntry {
  readonly key: Key;
  readonly value: unknown;
  readonly timeMs: number;
}

/** What one batch did. */
export interface BatchResult {
  readonly timeMs: number;
  /** Records read per source. */
  readonly recordsIn: Readonly<Record<string, number>>;
  /** Records each output operator received (by operator id), for outputs that ran. */
  readonly recordsOut: Readonly<Record<string, number>>;
  /** Lines printed by print(). */
  readonly printed: readonly string[];
  readonly deadLetters: readonly DeadLetter[];
  /** Records gathered by collecting outputs, by tag. */
  readonly collected: ReadonlyMap<string, unknown[]>;
}

/** Options of the in-memory executor. */
export interface LocalExecutorOptions {
  /**
   * What a user function that throws on one record or key does: `throw` fails the batch (tests),
   * `deadLetter` records it and goes on (as the cloud runtime does). @default 'throw'
   */
  readonly onRecordError?: 'throw' | 'deadLetter';
  /** Where print() lines go. @default nowhere (they are in each BatchResult) */
  readonly log?: (line: string) => void;
  /** The most records an action may bring back. @default 100000 */
  readonly maxCollect?: number;
}

type StepResult = { parts: unknown[][]; mapped?: unknown[][]; snapshots?: unknown[][] };

/** Runs a job in memory, batch by batch, at the batch times it is given. */
export class LocalExecutor {
  readonly job: Job;
  readonly store = new MemoryStore();
  /** Latest value per key of every table sink. */
  readonly tables = new Map<string, Map<string, TableSinkEntry>>();
  /** Everything written to every stream sink. */
  readonly streams = new Map<string, StreamSinkRecord[]>();
  readonly deadLetters: DeadLetter[] = [];
  readonly #opts: LocalExecutorOptions;
  readonly #snapshotted: Set<OpNode>;
  #lastTimeMs = -Infinity;
  /** How many listed batches each queue source has handed out. */
  readonly #queued = new Map<string, number>();

  constructor(job: Job, opts: LocalExecutorOptions = {}) {
    this.job = job;
    this.#opts = opts;
    this.#snapshotted = new Set(
      job.graph.nodes
        .filter((n) => n.body.kind === 'select' && n.body.part === 'snapshots')
        .map((n) => n.parents[0]!),
    );
    for (const sink of job.graph.sinks.values()) {
      if (sink.kind === 'table') this.tables.set(sink.name, new Map());
      else this.streams.set(sink.name, []);
    }
  }

  /** The current state of a keyed stateful operator (by id or name), as [key, state] pairs. */
  state(operator: string): Pair<Key, unknown>[] {
    const op = this.job.graph.nodes.find(
      (n) => n.body.kind === 'stateful' && (n.id === operator || n.body.spec.name === operator),
    );
    if (!op) {
      const names = this.job.plan.stateful.map((s) => s.name).join(', ');
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `state: no stateful operator '${operator}'; the job has: ${names || 'none'}`,
      );
    }
    const name = op.body.kind === 'stateful' ? op.body.spec.name : operator;
    return (this.store.keyed.get(name) ?? []).flatMap((p) =>
      [...p.entries()].map(([, e]) => [e.key, e.value] as const),
    );
  }

  /** Runs the batch at `timeMs` (a multiple of the batch interval, after the previous one). */
  async runBatch(timeMs: number, input: BatchInput): Promise<BatchResult> {
    const { batchIntervalMs } = this.job;
    if (!Number.isInteger(timeMs) || timeMs % batchIntervalMs !== 0 || timeMs <= this.#lastTimeMs) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `runBatch: batch time ${describe(timeMs)} must be a multiple of the batch interval (${batchIntervalMs}ms) after the previous batch (${this.#lastTimeMs}ms)`,
      );
    }
    for (const name of Object.keys(input)) {
      if (!this.job.graph.sources.has(name)) {
        throw new SparklessError(
          'UNKNOWN_SOURCE',
          `runBatch: the job has no source '${name}'; its sources are ${[...this.job.graph.sources.keys()].join(', ')}`,
        );
      }
    }
    this.#lastTimeMs = timeMs;
    const full: Record<string, ReadonlyArray<readonly unknown[]>> = { ...input };
    for (const source of this.job.graph.sources.values()) {
      // A queue source with listed batches hands out one per batch when the caller gives none.
      if (source.kind === 'queue' && source.batches && !(source.name in input)) {
        const i = this.#queued.get(source.name) ?? 0;
        this.#queued.set(source.name, i + 1);
        full[source.name] = [source.batches[i] ?? []];
      }
    }
    const dag = instantiate(this.job.graph, timeMs);
    const batch = new BatchRun(this, dag, full, this.#opts, this.#snapshotted);
    return batch.run();
  }

  /** @internal */
  recordDeadLetter(d: DeadLetter): void {
    this.deadLetters.push(d);
  }
}

class BatchRun {
  readonly #memo = new Map<RddNode, unknown[][]>();
  /** How many nodes and outputs consume each node of the DAG. */
  readonly #consumers = new Map<RddNode, number>();
  readonly #steps = new Map<RddNode, StepResult>();
  readonly #deadLetters: DeadLetter[] = [];
  readonly #printed: string[] = [];
  readonly #recordsIn: Record<string, number> = {};
  readonly #recordsOut: Record<string, number> = {};
  readonly #collected = new Map<string, unknown[]>();
  readonly #mode: 'throw' | 'deadLetter';

  constructor(
    readonly exec: LocalExecutor,
    readonly dag: BatchDag,
    readonly input: BatchInput,
    readonly opts: LocalExecutorOptions,
    readonly snapshotted: Set<OpNode>,
  ) {
    this.#mode = opts.onRecordError ?? 'throw';
    const roots = [...dag.steps, ...dag.outputs.map((o) => o.rdd)];
    for (const n of topological(roots)) {
      for (const p of n.parents) this.#consumers.set(p, (this.#consumers.get(p) ?? 0) + 1);
    }
    for (const r of roots) this.#consumers.set(r, (this.#consumers.get(r) ?? 0) + 1);
  }

  #guard(stage: 'map' | 'reduce', partition: number): Guard {
    return makeGuard(this.#mode, { timeMs: this.dag.timeMs, partition, stage }, (d) => {
      this.#deadLetters.push(d);
      this.exec.recordDeadLetter(d);
    });
  }

  async run(): Promise<BatchResult> {
    const t = this.dag.timeMs;
    for (const step of this.dag.steps) this.compute(step);
    for (const { op, action, rdd } of this.dag.outputs) {
      switch (action.kind) {
        case 'print': {
          const parts = this.compute(rdd);
          const first = parts.flat().slice(0, action.num + 1);
          const lines = [
            '-------------------------------------------',
            `Time: ${t} ms`,
            '-------------------------------------------',
          ];
          for (const r of first.slice(0, action.num))
            lines.push(typeof r === 'string' ? r : JSON.stringify(r));
          if (first.length > action.num) lines.push('...');
          lines.push('');
          for (const l of lines) {
            this.#printed.push(l);
            this.opts.log?.(l);
          }
          this.#recordsOut[op.id] = parts.reduce((n, p) => n + p.length, 0);
          break;
        }
        case 'collect': {
          const parts = this.compute(rdd);
          this.#collected.set(action.tag, parts.flat());
          this.#recordsOut[op.id] = parts.reduce((n, p) => n + p.length, 0);
          break;
        }
        case 'sink': {
          const parts = this.compute(rdd);
          this.#sink(this.exec.job.graph.sinks.get(action.sink)!, parts);
          this.#recordsOut[op.id] = parts.reduce((n, p) => n + p.length, 0);
          break;
        }
        case 'foreachRDD': {
          const scope = rddScope(`${op.id}@${t}`, this.exec.job.graph.settings.defaultPartitions, {
            run: async (node) => this.compute(node),
            ...(this.opts.maxCollect !== undefined ? { maxCollect: this.opts.maxCollect } : {}),
          });
          await action.fn(new RDD(scope, rdd) as never, t);
          break;
        }
      }
    }
    return {
      timeMs: t,
      recordsIn: this.#recordsIn,
      recordsOut: this.#recordsOut,
      printed: this.#printed,
      deadLetters: this.#deadLetters,
      collected: this.#collected,
    };
  }

  #sink(sink: SinkSpec, parts: unknown[][]) {
    const t = this.dag.timeMs;
    if (sink.kind === 'table') {
      const table = this.exec.tables.get(sink.name)!;
      for (const p of parts) {
        for (const r of p) {
          if (!Array.isArray(r) || r.length !== 2) {
            throw new SparklessError(
              'INVALID_KEY',
              `saveToTable '${sink.name}': records must be [key, value] pairs, got ${describe(r)}`,
            );
          }
          const [key, value] = r as unknown as Pair<Key, unknown>;
          table.set(encodeKey(key, `saveToTable '${sink.name}'`), { key, value, timeMs: t });
        }
      }
    } else {
      const out = this.exec.streams.get(sink.name)!;
      parts.forEach((p, partition) => {
        p.forEach((record, index) => {
          out.push({ timeMs: t, partition, index, record });
        });
      });
    }
  }

  /** The partitions of a node in this batch, computed once. */
  compute(node: RddNode): unknown[][] {
    let parts = this.#memo.get(node);
    if (!parts) {
      parts = this.#compute(node);
      this.#memo.set(node, parts);
    }
    return parts;
  }

  #compute(node: RddNode): unknown[][] {
    switch (node.kind) {
      case 'source':
        return this.#source(node.source);
      case 'parallelize':
        return node.data.map((p) => [...p]);
      case 'element': {
        const { chain, top } = this.#chain(node);
        return this.compute(top).map((p, i) => runElementSteps(chain, p, this.#guard('map', i)));
      }
      case 'partition':
        return this.compute(node.parents[0]!).map((p, i) => {
          const out = this.#guard('map', i).call(node.id, p, () => node.fn(p, i));
          return out === SKIPPED ? [] : out;
        });
      case 'union':
        return node.parents.flatMap((p) => this.compute(p));
      case 'shuffle': {
        const parent = node.parents[0]!;
        let blocks: Block[][];
        if (node.spec.partitioner.kind === 'range') {
          const input = this.compute(parent);
          const keyOf = node.spec.partitioner.keyOf;
          const bounds = rangeBounds(
            input.flat().map((r) => keyOf(r)),
            node.spec.partitions,
            node.spec.partitioner.ascending,
          );
          blocks = input.map((p, task) =>
            shuffleWrite(node.spec, node.id, p, task, this.#guard('map', task), bounds),
          );
        } else if (parent.kind === 'element' && this.#fusable(parent)) {
          // The element-wise chain feeds the writer record by record, as a map task does.
          const { chain, top } = this.#chain(parent);
          blocks = this.compute(top).map((p, task) => {
            const guard = this.#guard('map', task);
            const writer = new ShuffleWriter(node.spec, node.id, task, guard);
            runElementSteps(chain, p, guard, (r) => writer.add(r));
            return writer.finish();
          });
        } else {
          blocks = this.compute(parent).map((p, task) =>
            shuffleWrite(node.spec, node.id, p, task, this.#guard('map', task)),
          );
        }
        return Array.from({ length: node.spec.partitions }, (_, target) =>
          shuffleRead(
            node.spec,
            node.id,
            blocks.map((b) => b[target]!),
            this.#guard('reduce', target),
          ),
        );
      }
      case 'cogroup': {
        const n = node.partitions!;
        const sides = node.parents.map((parent) =>
          this.compute(parent).map((p) => cogroupWrite(p, node.id, n)),
        );
        return Array.from({ length: n }, (_, target) =>
          cogroupRead(
            sides.map((tasks) => tasks.map((b) => b[target] as Block)),
            node.id,
          ),
        );
      }
      case 'stateful':
        return this.#step(node).parts;
      case 'select': {
        const r = this.#step(node.parents[0]!);
        return (node.part === 'mapped' ? r.mapped : r.snapshots) ?? [];
      }
    }
  }

  /** Whether a node's records are needed only by its one consumer, so they can stream. */
  #fusable(node: RddNode): boolean {
    return this.#consumers.get(node) === 1 && !this.#memo.has(node);
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

  #step(node: RddNode): StepResult {
    if (node.kind !== 'stateful')
      throw new SparklessError('INVALID_ARGUMENT', `${node.id} is not a stateful operator`);
    const done = this.#steps.get(node);
    if (done) return done;
    const op = node.op;
    const body = op.body;
    if (body.kind !== 'stateful')
      throw new SparklessError('INVALID_ARGUMENT', `${op.id} is not a stateful operator`);
    const { spec, logic } = body;
    const n = spec.partitions;
    const t = this.dag.timeMs;
    const input = this.compute(node.parents[0]!);
    const result: StepResult = { parts: [], mapped: [], snapshots: [] };
    const store = this.exec.store;
    for (let p = 0; p < n; p++) {
      const records = input[p] ?? [];
      const guard = this.#guard('reduce', p);
      switch (logic.kind) {
        case 'updateStateByKey': {
          const state = store.keyedState(spec.name, p, n);
          seedInitialState(state, logic.initial, p, n, t, op.id);
          result.parts.push(updateStateByKeyStep(records, state, logic, t, op.id, guard));
          break;
        }
        case 'mapWithState': {
          const state = store.keyedState(spec.name, p, n);
          seedInitialState(state, logic.initial, p, n, t, op.id);
          const r = mapWithStateStep(
            records,
            state,
            logic,
            spec.timeoutMs,
            t,
            op.id,
            guard,
            this.snapshotted.has(op),
          );
          result.mapped!.push(r.mapped);
          result.snapshots!.push(r.snapshots);
          result.parts.push(r.mapped);
          break;
        }
        case 'window': {
          const out = windowStep(records, store.paneState(spec.name, p, n) as never, spec, t);
          result.parts.push(out ?? []);
          break;
        }
        case 'reduceByKeyAndWindow': {
          const out = reduceWindowStep(
            records,
            store.paneState(spec.name, p, n) as never,
            store.keyedState(spec.name, p, n),
            spec,
            logic,
            t,
            op.id,
            guard,
          );
          result.parts.push(out ?? []);
          break;
        }
      }
    }
    this.#steps.set(node, result);
    return result;
  }

  #source(name: string): unknown[][] {
    const spec = this.exec.job.graph.sources.get(name)!;
    const shards = this.input[name] ?? [];
    this.#recordsIn[name] = shards.reduce((n, s) => n + s.length, 0);
    if (spec.kind === 'queue') return shards.map((s) => [...s]);
    return shards.map((records, shard) => {
      const out: unknown[] = [];
      records.forEach((raw, i) => {
        const r: SourceRecord =
          typeof raw === 'string' || raw instanceof Uint8Array
            ? { data: raw }
            : (raw as SourceRecord);
        const meta: RecordMeta = {
          partitionKey: r.partitionKey ?? '',
          sequenceNumber: r.sequenceNumber ?? String(i),
          arrivalTimeMs: r.arrivalTimeMs ?? this.dag.timeMs,
          shardId: `shard-${shard}`,
        };
        const data = typeof r.data === 'string' ? encodeUtf8(r.data) : r.data;
        const guard = makeGuard(
          this.#mode,
          { timeMs: this.dag.timeMs, partition: shard, stage: 'map' },
          (d) => {
            const letter = { ...d, shardId: meta.shardId, sequenceNumber: meta.sequenceNumber };
            this.#deadLetters.push(letter);
            this.exec.recordDeadLetter(letter);
          },
        );
        const v = guard.call(`source '${name}'`, r.data, () => spec.decode(data, meta));
        if (v !== SKIPPED) out.push(v);
      });
      return out;
    });
  }
}
