/**
 * RDD: the lazy, partitioned dataset of one batch, as `transform` and `foreachRDD` see it.
 *
 * Transformations add nodes to the batch's DAG and compute nothing; a shuffle among them becomes
 * a stage of the batch's plan. Actions (`collect`, `count`, `take`, `reduce`, `isEmpty`) run the
 * DAG and resolve with the result; they are allowed in `foreachRDD`, not in `transform`.
 */
import { describe } from './duration.js';
import { SparklessError } from './errors.js';
import type { Key, Pair } from './keys.js';
import { encodeValue } from './keys.js';
import type { Aggregator, ElementStep, RddNode, ShuffleSpec } from './nodes.js';
import { type JoinKind, joinStep } from './operators/join.js';

/** What an RDD needs from the batch it belongs to. */
export interface RddScope {
  /** A stable id for the next node of this batch's DAG. */
  nextId(label: string): string;
  readonly defaultPartitions: number;
  /** Runs a DAG and returns the partitions of `node`; absent where actions are not allowed. */
  readonly run?: (node: RddNode) => Promise<unknown[][]>;
  /** Where actions are not allowed, why (named in the error). */
  readonly noActionsIn?: string;
  /** The most records an action may bring back to the caller. */
  readonly maxCollect: number;
}

const identity = (v: unknown) => v;

/** A partitioned, lazy dataset of one batch. Spark's `RDD[T]`. */
export class RDD<T> {
  /** @internal */
  readonly node: RddNode;
  /** @internal */
  readonly scope: RddScope;

  /** @internal */
  constructor(scope: RddScope, node: RddNode) {
    this.scope = scope;
    this.node = node;
  }

  #make<U>(
    label: string,
    body: Record<string, unknown> & { kind: RddNode['kind'] },
    parents: RddNode[],
    extra?: { partitioning?: number; partitions?: number },
  ): RDD<U> {
    const node = {
      ...body,
      id: this.scope.nextId(label),
      label,
      parents,
      ...(extra?.partitioning !== undefined ? { partitioning: extra.partitioning } : {}),
      ...(extra?.partitions !== undefined ? { partitions: extra.partitions } : {}),
    } as RddNode;
    return new RDD<U>(this.scope, node);
  }

  #element<U>(label: string, step: ElementStep, keepsPartitioning = false): RDD<U> {
    if (typeof step.fn !== 'function') {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `RDD.${label}: the function must be a function, got ${describe(step.fn)}`,
      );
    }
    return this.#make<U>(
      label,
      { kind: 'element', step },
      [this.node],
      keepsPartitioning && this.node.partitioning !== undefined
        ? { partitioning: this.node.partitioning }
        : undefined,
    );
  }

  #partitions(label: string, n: unknown): number {
    if (n === undefined) return this.scope.defaultPartitions;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10_000) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `RDD.${label}: partitions must be a whole number from 1 to 10000, got ${describe(n)}`,
      );
    }
    return n;
  }

  #shuffle<U>(label: string, spec: ShuffleSpec): RDD<U> {
    return this.#make<U>(label, { kind: 'shuffle', spec }, [this.node], {
      partitions: spec.partitions,
      ...(spec.partitioner.kind === 'hash' ? { partitioning: spec.partitions } : {}),
    });
  }

  #other(label: string, other: RDD<unknown>): void {
    if (!(other instanceof RDD) || other.scope !== this.scope) {
      throw new SparklessError(
        'FOREIGN_STREAM',
        `RDD.${label}: the other RDD must belong to the same batch`,
      );
    }
  }

  // ---- transformations --------------------------------------------------------------------

  /** Applies `fn` to every record. */
  map<U>(fn: (value: T) => U): RDD<U> {
    return this.#element('map', { kind: 'map', fn: fn as (x: unknown) => unknown });
  }

  /** Applies `fn` to every record and flattens the results. */
  flatMap<U>(fn: (value: T) => Iterable<U>): RDD<U> {
    return this.#element('flatMap', {
      kind: 'flatMap',
      fn: fn as (x: unknown) => Iterable<unknown>,
    });
  }

  /** Keeps the records for which `fn` returns true. */
  filter<S extends T>(fn: (value: T) => value is S): RDD<S>;
  filter(fn: (value: T) => boolean): RDD<T>;
  filter(fn: (value: T) => boolean): RDD<T> {
    return this.#element('filter', { kind: 'filter', fn: fn as (x: unknown) => boolean }, true);
  }

  /** Applies `fn` to each partition. */
  mapPartitions<U>(fn: (records: T[], partition: number) => Iterable<U>): RDD<U> {
    if (typeof fn !== 'function') {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `RDD.mapPartitions: the function must be a function, got ${describe(fn)}`,
      );
    }
    return this.#make<U>(
      'mapPartitions',
      { kind: 'partition', fn: (r: unknown[], p: number) => [...fn(r as T[], p)] },
      [this.node],
    );
  }

  /** Applies `fn` to the value of every pair. */
  mapValues<K extends Key, V, U>(this: RDD<Pair<K, V>>, fn: (value: V) => U): RDD<Pair<K, U>> {
    return this.#element(
      'mapValues',
      { kind: 'mapValues', fn: fn as (v: unknown) => unknown },
      true,
    );
  }

  /** This RDD's records followed by the other's. */
  union(other: RDD<T>): RDD<T> {
    this.#other('union', other as RDD<unknown>);
    return this.#make<T>('union', { kind: 'union' }, [this.node, other.node]);
  }

  /** Combines the values of each key with `fn`. */
  reduceByKey<K extends Key, V>(
    this: RDD<Pair<K, V>>,
    fn: (a: V, b: V) => V,
    partitions?: number,
  ): RDD<Pair<K, V>> {
    const agg: Aggregator = {
      createCombiner: identity,
      mergeValue: fn as (a: unknown, b: unknown) => unknown,
      mergeCombiners: fn as (a: unknown, b: unknown) => unknown,
    };
    return this.#shuffle('reduceByKey', {
      partitions: this.#partitions('reduceByKey', partitions),
      partitioner: { kind: 'hash' },
      aggregator: agg,
      mapSideCombine: true,
    });
  }

  /** Groups the values of each key, in arrival order. */
  groupByKey<K extends Key, V>(this: RDD<Pair<K, V>>, partitions?: number): RDD<Pair<K, V[]>> {
    return this.#shuffle('groupByKey', {
      partitions: this.#partitions('groupByKey', partitions),
      partitioner: { kind: 'hash' },
      group: true,
    });
  }

  /** For each key of either RDD, the values of this and of the other. */
  cogroup<K extends Key, V, W>(
    this: RDD<Pair<K, V>>,
    other: RDD<Pair<K, W>>,
    partitions?: number,
  ): RDD<Pair<K, [V[], W[]]>> {
    this.#other('cogroup', other as RDD<unknown>);
    const n = this.#partitions('cogroup', partitions);
    return this.#make('cogroup', { kind: 'cogroup' }, [this.node, other.node], {
      partitions: n,
      partitioning: n,
    });
  }

  #join<K extends Key, V, W, R>(
    kind: JoinKind,
    other: RDD<Pair<K, W>>,
    partitions: number | undefined,
  ): RDD<R> {
    const grouped = (this as unknown as RDD<Pair<K, V>>).cogroup(other, partitions);
    return grouped.#element<R>(kind, joinStep(kind));
  }

  /** Pairs every value of a key here with every value of it in the other. */
  join<K extends Key, V, W>(
    this: RDD<Pair<K, V>>,
    other: RDD<Pair<K, W>>,
    partitions?: number,
  ): RDD<Pair<K, [V, W]>> {
    return this.#join('join', other, partitions);
  }

  /** Like join, keeping keys missing from the other with `null`. */
  leftOuterJoin<K extends Key, V, W>(
    this: RDD<Pair<K, V>>,
    other: RDD<Pair<K, W>>,
    partitions?: number,
  ): RDD<Pair<K, [V, W | null]>> {
    return this.#join('leftOuterJoin', other, partitions);
  }

  /** Like join, keeping the other's keys missing here with `null`. */
  rightOuterJoin<K extends Key, V, W>(
    this: RDD<Pair<K, V>>,
    other: RDD<Pair<K, W>>,
    partitions?: number,
  ): RDD<Pair<K, [V | null, W]>> {
    return this.#join('rightOuterJoin', other, partitions);
  }

  /** Like join, keeping keys of either side with `null` for the missing one. */
  fullOuterJoin<K extends Key, V, W>(
    this: RDD<Pair<K, V>>,
    other: RDD<Pair<K, W>>,
    partitions?: number,
  ): RDD<Pair<K, [V | null, W | null]>> {
    return this.#join('fullOuterJoin', other, partitions);
  }

  /** The distinct records, compared as JSON values (object keys in any order). */
  distinct(partitions?: number): RDD<T> {
    const keyed = this.#element<Pair<string, T>>('distinct', {
      kind: 'map',
      fn: (x) => [encodeValue(x), x],
    });
    const first: Aggregator = {
      createCombiner: identity,
      mergeValue: (a) => a,
      mergeCombiners: (a) => a,
    };
    return keyed
      .#shuffle<Pair<string, T>>('distinct', {
        partitions: this.#partitions('distinct', partitions),
        partitioner: { kind: 'hash' },
        aggregator: first,
        mapSideCombine: true,
      })
      .#element<T>('distinct', { kind: 'map', fn: (r) => (r as Pair<string, T>)[1] });
  }

  /**
   * Sorts by `keyOf` into `partitions` range partitions (default 1), each sorted, so that the
   * partitions read in order are sorted as a whole.
   */
  sortBy(
    keyOf: (value: T) => Key,
    opts?: { readonly ascending?: boolean; readonly partitions?: number },
  ): RDD<T> {
    if (typeof keyOf !== 'function') {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `RDD.sortBy: keyOf must be a function, got ${describe(keyOf)}`,
      );
    }
    const n = opts?.partitions === undefined ? 1 : this.#partitions('sortBy', opts.partitions);
    return this.#shuffle('sortBy', {
      partitions: n,
      partitioner: {
        kind: 'range',
        keyOf: keyOf as (x: unknown) => Key,
        ascending: opts?.ascending ?? true,
      },
    });
  }

  /** Sorts pairs by key. */
  sortByKey<K extends Key, V>(
    this: RDD<Pair<K, V>>,
    opts?: { readonly ascending?: boolean; readonly partitions?: number },
  ): RDD<Pair<K, V>> {
    return this.sortBy((r) => r[0], opts);
  }

  /** Every pair of a record of this RDD and a record of the other. */
  cartesian<U>(other: RDD<U>): RDD<[T, U]> {
    this.#other('cartesian', other as RDD<unknown>);
    const left = this.#element<Pair<number, T>>('cartesian', { kind: 'map', fn: (x) => [0, x] });
    const right = other.#element<Pair<number, U>>('cartesian', { kind: 'map', fn: (x) => [0, x] });
    return left
      .#make<Pair<number, [T[], U[]]>>('cartesian', { kind: 'cogroup' }, [left.node, right.node], {
        partitions: 1,
      })
      .#element<[T, U]>('cartesian', {
        kind: 'flatMap',
        fn: (r) => {
          const [, [ts, us]] = r as Pair<number, [T[], U[]]>;
          const out: [T, U][] = [];
          for (const t of ts) for (const u of us) out.push([t, u]);
          return out;
        },
      });
  }

  // ---- actions ---------------------------------------------------------------------------

  /** Starts running the DAG; throws at once (not in the promise) where actions are not allowed. */
  #run(action: string): Promise<unknown[][]> {
    const run = this.scope.run;
    if (!run) {
      throw new SparklessError(
        'ACTION_IN_TRANSFORM',
        `RDD.${action}: actions are not allowed in ${this.scope.noActionsIn ?? 'this function'}; transform must return an RDD without running it (use foreachRDD to act on a batch)`,
      );
    }
    return run(this.node);
  }

  /** All records, partition by partition. Fails when there are more than the collect limit. */
  collect(): Promise<T[]> {
    return this.#collect(this.#run('collect'));
  }

  async #collect(running: Promise<unknown[][]>): Promise<T[]> {
    const parts = await running;
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total > this.scope.maxCollect) {
      throw new SparklessError(
        'RESULT_TOO_LARGE',
        `RDD.collect: ${total} records exceed the limit of ${this.scope.maxCollect}; use take(n), reduce first, or write to a sink`,
      );
    }
    return parts.flat() as T[];
  }

  /** The first `n` records, in partition order. */
  take(n: number): Promise<T[]> {
    if (!Number.isInteger(n) || n < 0) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `RDD.take: n must be a whole number >= 0, got ${describe(n)}`,
      );
    }
    if (n > this.scope.maxCollect) {
      throw new SparklessError(
        'RESULT_TOO_LARGE',
        `RDD.take: ${n} exceeds the limit of ${this.scope.maxCollect} records`,
      );
    }
    return this.#run('take').then((parts) => {
      const out: unknown[] = [];
      for (const p of parts) {
        for (const r of p) {
          if (out.length >= n) return out as T[];
          out.push(r);
        }
      }
      return out as T[];
    });
  }

  /** The number of records. */
  count(): Promise<number> {
    return this.#run('count').then((parts) => parts.reduce((n, p) => n + p.length, 0));
  }

  /** Combines all records with `fn`; fails on an empty RDD, as Spark does. */
  reduce(fn: (a: T, b: T) => T): Promise<T> {
    return this.#reduce(this.#run('reduce'), fn);
  }

  async #reduce(running: Promise<unknown[][]>, fn: (a: T, b: T) => T): Promise<T> {
    const all = (await running).flat() as T[];
    if (all.length === 0) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        'RDD.reduce: the RDD is empty; check isEmpty() first',
      );
    }
    return all.reduce(fn);
  }

  /** Whether the RDD has no records. */
  isEmpty(): Promise<boolean> {
    return this.count().then((n) => n === 0);
  }

  /** The number of partitions, when it is fixed before running. */
  get partitions(): number | undefined {
    return this.node.partitions;
  }
}
