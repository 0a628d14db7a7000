/**
 * The in-memory executor: runs a job batch by batch on a manual clock, with the same operator
 * code the cloud runtime runs per task (shuffle blocks, state steps, panes), over in-memory stores.
 * It is the oracle the cloud runtime is tested against.
 */

import type { BatchDag } from './batch.js';
import { instantiate, rddScope } from './batch.js';
import { encodeUtf8 } from './codec.js';
import { describe } from './duration.js';
import { SparklessError } from './errors.js';
import type { Job } from './job.js';
import type { Key, Pair } from './keys.js';
import { encodeKey } from './keys.js';
import { MemoryStore } from './memory.js';
import type { OpNode, RddNode, RecordMeta, SinkSpec } from './nodes.js';
import { type DeadLetter, makeGuard, SKIPPED } from './operators/guard.js';
import type { Block } from './operators/shuffle.js';
import { RDD } from './rdd.js';
import { buildStages, type Stage } from './stages.js';
import { orderParts, type Part, runTask, type TaskIO } from './task.js';

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

/** What {@link runStagesInMemory} needs besides the DAG. */
export interface InMemoryRun {
  /** The records of each shard of a source, decoded. */
  readonly sources?: (name: string) => unknown[][];
  /** Where stateful operators keep their state. @default a fresh store */
  readonly store?: MemoryStore;
  readonly onRecordError: 'throw' | 'deadLetter';
  readonly snapshotted?: ReadonlySet<OpNode>;
  /** Where dead letters go, with the stage whose task produced them. */
  readonly onDeadLetter?: (d: DeadLetter, stage: Stage) => void;
}

/**
 * Runs the stages of `dag` (or of the DAG under `roots`) task by task in this process, with
 * blocks kept in memory, and returns each output's records, one array per part in order.
 */
export async function runStagesInMemory(
  dag: BatchDag,
  run: InMemoryRun,
  roots?: readonly RddNode[],
): Promise<Map<string, unknown[][]>> {
  const blocks = new Map<string, Block[][]>();
  const outputs = new Map<string, Part[]>();
  const store = run.store ?? new MemoryStore();
  const snapshotted = run.snapshotted ?? new Set<OpNode>();
  for (const stage of buildStages(dag, roots)) {
    const shards = stage.source !== undefined ? (run.sources?.(stage.source) ?? []) : undefined;
    const tasks = shards ? shards.length : (stage.partitions ?? 0);
    for (let task = 0; task < tasks; task++) {
      const io: TaskIO = {
        ...(shards ? { records: shards[task]! } : {}),
        blocks: async (id, partition) =>
          (blocks.get(id) ?? []).map((perTask) => perTask[partition] ?? []),
        keyedState: async (spec, p) => store.keyedState(spec.name, p, spec.partitions),
        paneState: async (spec, p) => store.paneState(spec.name, p, spec.partitions),
      };
      const result = await runTask(dag, stage, task, io, {
        onRecordError: run.onRecordError,
        snapshotted,
      });
      for (const [id, written] of result.writes) {
        const list = blocks.get(id) ?? [];
        blocks.set(id, list);
        list.push(written);
      }
      for (const [id, parts] of result.outputs) {
        const list = outputs.get(id) ?? [];
        outputs.set(id, list);
        list.push(...parts);
      }
      for (const d of result.deadLetters) run.onDeadLetter?.(d, stage);
    }
  }
  return new Map([...outputs].map(([id, parts]) => [id, orderParts(parts).map((p) => p.records)]));
}

/**
 * Runs the job an action on an RDD asks for (on the driver, over records already computed) and
 * returns the RDD's records, one array per part.
 */
export async function runRddJob(
  node: RddNode,
  timeMs: number,
  run: Pick<InMemoryRun, 'onRecordError' | 'onDeadLetter'>,
): Promise<unknown[][]> {
  const action = { kind: 'collect', tag: 'action' } as const;
  const op: OpNode = {
    id: `${node.id}/action`,
    op: 'action',
    parents: [],
    slideMs: 1,
    body: { kind: 'output', action },
  };
  const dag: BatchDag = { timeMs, outputs: [{ op, action, rdd: node }], steps: [] };
  return (await runStagesInMemory(dag, run)).get(op.id) ?? [];
}

class BatchRun {
  readonly #deadLetters: DeadLetter[] = [];
  /** Per source, per shard: what the stream said of each decoded record. */
  readonly #metas = new Map<string, RecordMeta[][]>();
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
  }

  #letter(d: DeadLetter) {
    this.#deadLetters.push(d);
    this.exec.recordDeadLetter(d);
  }

  /**
   * Runs the stages of `dag` (or of the DAG under `roots`) task by task, as the cloud runtime
   * would, with blocks kept in memory; returns each output's records, one array per task.
   */
  #runStages(dag: BatchDag): Promise<Map<string, unknown[][]>> {
    const decoded = new Map<string, unknown[][]>();
    return runStagesInMemory(dag, {
      sources: (name) => {
        if (!decoded.has(name)) decoded.set(name, this.#source(name));
        return decoded.get(name)!;
      },
      store: this.exec.store,
      onRecordError: this.#mode,
      snapshotted: this.snapshotted,
      onDeadLetter: (d, stage) => {
        // A record that failed while a source record was processed is named by that record.
        const meta =
          stage.source !== undefined && d.sourceIndex !== undefined
            ? this.#metas.get(stage.source)?.[d.partition]?.[d.sourceIndex]
            : undefined;
        if (!meta) return this.#letter(d);
        const { sourceIndex: _, ...letter } = d;
        this.#letter({ ...letter, shardId: meta.shardId, sequenceNumber: meta.sequenceNumber });
      },
    });
  }

  async run(): Promise<BatchResult> {
    const t = this.dag.timeMs;
    const outputs = await this.#runStages(this.dag);
    for (const { op, action } of this.dag.outputs) {
      const parts = outputs.get(op.id) ?? [];
      const count = parts.reduce((n, p) => n + p.length, 0);
      switch (action.kind) {
        case 'print': {
          const first = parts.flat().slice(0, action.num + 1);
          const lines = [
            '-------------------------------------------',
            `Time: ${t} ms`,
            '-------------------------------------------',
          ];
          for (const r of first.slice(0, action.num)) {
            lines.push(typeof r === 'string' ? r : JSON.stringify(r));
          }
          if (first.length > action.num) lines.push('...');
          lines.push('');
          for (const l of lines) {
            this.#printed.push(l);
            this.opts.log?.(l);
          }
          this.#recordsOut[op.id] = count;
          break;
        }
        case 'collect':
          this.#collected.set(action.tag, parts.flat());
          this.#recordsOut[op.id] = count;
          break;
        case 'sink':
          this.#sink(this.exec.job.graph.sinks.get(action.sink)!, parts);
          this.#recordsOut[op.id] = count;
          break;
        case 'foreachRDD': {
          // The function runs on the driver over the batch's records of the stream, as they were
          // computed by the tasks; what it does with them runs as a job of its own.
          const scope = rddScope(`${op.id}@${t}`, this.exec.job.graph.settings.defaultPartitions, {
            run: (node) => this.#action(node),
            ...(this.opts.maxCollect !== undefined ? { maxCollect: this.opts.maxCollect } : {}),
          });
          const data: RddNode = {
            id: `${op.id}@${t}/records`,
            label: op.op,
            kind: 'parallelize',
            data: parts,
            parents: [],
          };
          await action.fn(new RDD(scope, data) as never, t);
          this.#recordsOut[op.id] = count;
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

  #action(node: RddNode): Promise<unknown[][]> {
    return runRddJob(node, this.dag.timeMs, {
      onRecordError: this.#mode,
      onDeadLetter: (d) => this.#letter(d),
    });
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

  #source(name: string): unknown[][] {
    const spec = this.exec.job.graph.sources.get(name)!;
    const shards = this.input[name] ?? [];
    this.#recordsIn[name] = shards.reduce((n, s) => n + s.length, 0);
    if (spec.kind === 'queue') return shards.map((s) => [...s]);
    const metas: RecordMeta[][] = [];
    this.#metas.set(name, metas);
    return shards.map((records, shard) => {
      const out: unknown[] = [];
      const kept: RecordMeta[] = [];
      metas.push(kept);
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
        if (v !== SKIPPED) {
          out.push(v);
          kept.push(meta);
        }
      });
      return out;
    });
  }
}
