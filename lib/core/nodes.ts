/**
 * The plain data the engine works on.
 *
 * A job is a graph of DStream operators ({@link OpNode}), built once when the job is defined.
 * At each batch time the graph is instantiated into a DAG of RDD nodes ({@link RddNode}): the
 * lazy, partitioned dataset of that batch. The planner splits that DAG into stages at shuffle
 * boundaries; the in-memory executor evaluates it; the cloud runtime runs its stages as tasks.
 *
 * Functions are held by reference next to the data; everything else is plain, so a plan can be
 * printed, hashed and compared across processes (operator ids are assigned in construction order,
 * which is the same wherever the job module is loaded).
 */
import type { Key, Pair } from './keys.js';

/** One element-wise step of a narrow pipeline. */
export type ElementStep =
  | { readonly kind: 'map'; readonly fn: (x: unknown) => unknown }
  | { readonly kind: 'flatMap'; readonly fn: (x: unknown) => Iterable<unknown> }
  | { readonly kind: 'filter'; readonly fn: (x: unknown) => boolean }
  | { readonly kind: 'mapValues'; readonly fn: (v: unknown) => unknown }
  | { readonly kind: 'flatMapValues'; readonly fn: (v: unknown) => Iterable<unknown> };

/** A whole-partition step of a narrow operator. */
export type PartitionFn = (records: unknown[], partition: number) => unknown[];

/** How a shuffle combines values per key (Spark's Aggregator). */
export interface Aggregator {
  readonly createCombiner: (v: unknown) => unknown;
  readonly mergeValue: (c: unknown, v: unknown) => unknown;
  readonly mergeCombiners: (a: unknown, b: unknown) => unknown;
}

/** How records are routed to partitions in a shuffle. */
export type Partitioner =
  | { readonly kind: 'hash' } // by the canonical key of [key, value] records
  | { readonly kind: 'roundRobin' } // by position, for records that are not pairs
  | { readonly kind: 'single' } // everything to partition 0
  | {
      readonly kind: 'range';
      readonly keyOf: (x: unknown) => Key;
      readonly ascending: boolean;
    };

/** The kinds of stateful operators, whose state outlives a batch. */
export type StatefulKind = 'updateStateByKey' | 'mapWithState' | 'window' | 'reduceByKeyAndWindow';

/** The stored-state description of a stateful operator (what the plan hash covers). */
export interface StatefulSpec {
  readonly id: string;
  readonly kind: StatefulKind;
  readonly name: string;
  readonly partitions: number;
  readonly windowMs?: number;
  readonly slideMs?: number;
  /** Time unit of the operator's input (the parent's slide), whose multiples panes align to. */
  readonly inputSlideMs?: number;
  readonly paneMs?: number;
  readonly timeoutMs?: number;
  readonly inverse?: boolean;
}

/** What a stateful operator computes per partition; see operators/. */
export type StatefulLogic =
  | {
      readonly kind: 'updateStateByKey';
      readonly update: (
        values: unknown[],
        state: unknown,
        info: { key: Key; timeMs: number },
      ) => unknown;
      readonly initial?: ReadonlyArray<Pair<Key, unknown>>;
    }
  | {
      readonly kind: 'mapWithState';
      readonly fn: (key: Key, value: unknown, state: unknown, timeMs: number) => unknown;
      readonly initial?: ReadonlyArray<Pair<Key, unknown>>;
    }
  | { readonly kind: 'window' }
  | {
      readonly kind: 'reduceByKeyAndWindow';
      readonly reduce: (a: unknown, b: unknown) => unknown;
      readonly inverse?: (a: unknown, b: unknown) => unknown;
      readonly filter?: (entry: Pair<Key, unknown>) => boolean;
    };

/** Where an output operator sends each batch's data. */
export type OutputAction =
  | { readonly kind: 'print'; readonly num: number }
  | {
      readonly kind: 'foreachRDD';
      readonly fn: (rdd: never, timeMs: number) => void | Promise<void>;
    }
  | { readonly kind: 'sink'; readonly sink: string }
  | { readonly kind: 'collect'; readonly tag: string };

/** A sink named in the job; the deployment maps the name to a table or stream. */
export interface SinkSpec {
  readonly name: string;
  readonly kind: 'table' | 'stream';
  /** For stream sinks: the partition key of an output record. */
  readonly partitionKey?: (x: unknown) => string;
  /** For stream sinks: the bytes of an output record (default: JSON, UTF-8). */
  readonly encode?: (x: unknown) => Uint8Array | string;
}

/** What a source record looks like to a decoder. */
export interface RecordMeta {
  readonly partitionKey: string;
  readonly sequenceNumber: string;
  /** Approximate arrival time stamped by the stream, epoch milliseconds. */
  readonly arrivalTimeMs: number;
  readonly shardId: string;
}

/** A source named in the job. */
export type SourceSpec =
  | {
      readonly name: string;
      readonly kind: 'kinesis';
      readonly decode: (data: Uint8Array, meta: RecordMeta) => unknown;
    }
  | { readonly name: string; readonly kind: 'queue'; readonly batches?: ReadonlyArray<unknown[]> };

/** A DStream operator: one node of the job graph. */
export interface OpNode {
  /** Stable id: position in construction order, then the operator's name, e.g. `3:reduceByKey`. */
  readonly id: string;
  /** The user-facing operator name. */
  readonly op: string;
  readonly parents: readonly OpNode[];
  /** The interval at which this stream generates an RDD (the batch interval, or a window's slide). */
  readonly slideMs: number;
  readonly body: OpBody;
}

/** What a DStream operator does at each of its batch times. */
export type OpBody =
  | { readonly kind: 'source'; readonly source: string }
  | { readonly kind: 'element'; readonly step: ElementStep }
  | {
      readonly kind: 'partition';
      readonly fn: PartitionFn;
      readonly preservesPartitioning: boolean;
    }
  | { readonly kind: 'union' }
  | { readonly kind: 'shuffle'; readonly spec: ShuffleSpec }
  | { readonly kind: 'cogroup'; readonly partitions: number }
  | {
      readonly kind: 'transform';
      readonly fn: (rdds: never[], timeMs: number) => unknown;
    }
  | {
      readonly kind: 'stateful';
      readonly spec: StatefulSpec;
      readonly logic: StatefulLogic;
      /** Whether the operator's input must be shuffled by key, or by position (window). */
      readonly input: 'byKey' | 'byPosition';
      /** Map-side combine applied when shuffling the input (reduce windows). */
      readonly combine?: Aggregator;
    }
  | { readonly kind: 'select'; readonly part: 'mapped' | 'snapshots' }
  | { readonly kind: 'output'; readonly action: OutputAction };

/** How a shuffle routes and combines. */
export interface ShuffleSpec {
  readonly partitions: number;
  readonly partitioner: Partitioner;
  /** Combine values per key (reduceByKey, combineByKey); records must be pairs. */
  readonly aggregator?: Aggregator;
  /** Group values per key into arrays (groupByKey); records must be pairs. */
  readonly group?: boolean;
  /** Whether the map side combines before writing blocks. */
  readonly mapSideCombine?: boolean;
}

/** What every node of the per-batch RDD DAG has. */
export interface RddCommon {
  readonly id: string;
  /** The user-facing operator this node comes from. */
  readonly label: string;
  readonly parents: readonly RddNode[];
  /** Hash-partitioned by key into this many partitions, when known. */
  readonly partitioning?: number;
  /** Partition count, when fixed by the node itself (shuffles, stateful operators). */
  readonly partitions?: number;
}

export interface SourceRdd extends RddCommon {
  readonly kind: 'source';
  readonly source: string;
}
export interface ParallelizeRdd extends RddCommon {
  readonly kind: 'parallelize';
  readonly data: readonly unknown[][];
}
export interface ElementRdd extends RddCommon {
  readonly kind: 'element';
  readonly step: ElementStep;
}
export interface PartitionRdd extends RddCommon {
  readonly kind: 'partition';
  readonly fn: PartitionFn;
}
export interface UnionRdd extends RddCommon {
  readonly kind: 'union';
}
export interface ShuffleRdd extends RddCommon {
  readonly kind: 'shuffle';
  readonly spec: ShuffleSpec;
}
export interface CogroupRdd extends RddCommon {
  readonly kind: 'cogroup';
}
export interface StatefulRdd extends RddCommon {
  readonly kind: 'stateful';
  readonly op: OpNode;
  /** Whether this batch's step produces output (a window emits only at its slide). */
  readonly emits: boolean;
}
export interface SelectRdd extends RddCommon {
  readonly kind: 'select';
  readonly part: 'mapped' | 'snapshots';
}

/** A node of the per-batch RDD DAG. */
export type RddNode =
  | SourceRdd
  | ParallelizeRdd
  | ElementRdd
  | PartitionRdd
  | UnionRdd
  | ShuffleRdd
  | CogroupRdd
  | StatefulRdd
  | SelectRdd;

export type RddKind = RddNode['kind'];
