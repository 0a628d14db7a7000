/**
 * DStream: a discretized stream, one RDD per batch. Immutable: every method validates its
 * arguments, adds one operator to the job graph and returns a new DStream; nothing is computed
 * until the job runs.
 *
 * The methods keep Spark Streaming's names. Optional arguments come as one trailing options
 * object; durations are values (`seconds(10)`).
 */

import type { Duration } from './duration.js';
import { describe, formatMs, gcd, requireDuration } from './duration.js';
import { SparklessError } from './errors.js';
import type { JobGraph } from './graph.js';
import type { Json, Key, Pair } from './keys.js';
import type { Aggregator, ElementStep, OpBody, OpNode, StatefulKind } from './nodes.js';
import { type JoinKind, joinStep } from './operators/join.js';
import type { State } from './operators/state.js';
import type { RDD } from './rdd.js';

/** Options of keyed operators that shuffle. */
export interface PartitionOptions {
  /** Partitions of the shuffle. @default the job's `defaultPartitions` */
  readonly partitions?: number;
}

/** Options of stateful operators. */
export interface StatefulOptions extends PartitionOptions {
  /**
   * The name under which the operator's state is stored. Renaming it, like changing its kind,
   * partitions, window, slide or timeout, makes stored state unusable (the plan hash changes).
   * @default the operator's kind and its position among stateful operators, e.g. `updateStateByKey#0`
   */
  readonly name?: string;
}

/** The options of updateStateByKey. */
export interface UpdateStateOptions<K, S> extends StatefulOptions {
  /** State the keys start with before the first batch (Spark's initialRDD). */
  readonly initialState?: ReadonlyArray<Pair<K, S>>;
}

/** What an updateStateByKey function is told besides the values and the state. */
export interface UpdateInfo<K> {
  readonly key: K;
  /** The batch time, epoch milliseconds. */
  readonly timeMs: number;
}

/** The specification of mapWithState (Spark's StateSpec). */
export interface StateSpec<K, V, S, M> extends StatefulOptions {
  /**
   * Called once per record with its key, value and the key's state, and once more with
   * `value === undefined` when the key times out (`state.isTimingOut()` is then true).
   * Whatever it returns, except `undefined`, is emitted on the mapped stream.
   */
  readonly fn: (key: K, value: V | undefined, state: State<S>, timeMs: number) => M | undefined;
  /**
   * A key whose last record came at batch time `u` times out at the first batch `T` with
   * `u < T - timeout`. @default keys never time out
   */
  readonly timeout?: Duration;
  /** State the keys start with before the first batch. */
  readonly initialState?: ReadonlyArray<Pair<K, S>>;
}

/** The options of reduceByKeyAndWindow. */
export interface ReduceWindowOptions<K, V> extends StatefulOptions {
  /** The window's length, a multiple of the stream's slide. */
  readonly window: Duration;
  /** How far the window moves each time. @default the stream's slide (usually the batch interval) */
  readonly slide?: Duration;
  /**
   * Removes a leaving value from the window's value (`(a, b) => a - b` for a sum). With it, each
   * slide reads only the panes entering and leaving the window, whatever the window's length.
   */
  inverse?(a: V, b: V): V;
  /**
   * Keeps the entries for which it returns true. With an inverse, keys whose value went back to
   * zero stay in the window unless this drops them.
   */
  filter?(entry: Pair<K, V>): boolean;
}

/** The options of reduceByWindow. */
export interface WindowOptions<V> {
  readonly window: Duration;
  readonly slide?: Duration;
  inverse?(a: V, b: V): V;
}

// Function-valued options are declared as methods so that a DStream stays covariant in its
// element type (a DStream<[string, number]> is usable as a DStream<Pair<string, number>>).

/** The options of a stream sink. */
export interface StreamSinkOptions<T> {
  /** The partition key of an output record. @default the record's key for pairs, else its JSON */
  partitionKey?(record: T): string;
  /** The bytes of an output record. @default its JSON text */
  encode?(record: T): Uint8Array | string;
}

const add = (a: number, b: number) => a + b;
const subtract = (a: number, b: number) => a - b;

function aggregatorOf<V>(fn: (a: V, b: V) => V): Aggregator {
  return {
    createCombiner: (v) => v,
    mergeValue: fn as (c: unknown, v: unknown) => unknown,
    mergeCombiners: fn as (a: unknown, b: unknown) => unknown,
  };
}

function requireFunction(op: string, what: string, fn: unknown): void {
  if (typeof fn !== 'function') {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `${op}: ${what} must be a function, got ${describe(fn)}`,
    );
  }
}

function requirePartitions(op: string, n: unknown): void {
  if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10_000)) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `${op}: partitions must be a whole number from 1 to 10000, got ${describe(n)}`,
    );
  }
}

function requireName(op: string, name: unknown): void {
  if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z0-9_.#:-]{1,64}$/.test(name))) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `${op}: name must be 1 to 64 letters, digits or _.#:- characters, got ${describe(name)}`,
    );
  }
}

/** A discretized stream of `T`: one RDD of `T` per batch. Spark's `DStream[T]`. */
export class DStream<T> {
  /** @internal */
  readonly node: OpNode;
  /** @internal */
  readonly graph: JobGraph;

  /** @internal Use the job context's sources to make streams. */
  constructor(graph: JobGraph, node: OpNode) {
    this.graph = graph;
    this.node = node;
  }

  /** The stable id of the operator that produces this stream. */
  get id(): string {
    return this.node.id;
  }

  /** How often this stream generates an RDD: the batch interval, or a window's slide. */
  get slideDuration(): number {
    return this.node.slideMs;
  }

  #derive<U>(op: string, body: OpBody, parents: OpNode[] = [this.node], slideMs?: number) {
    return new DStream<U>(this.graph, this.graph.add(op, parents, body, slideMs));
  }

  #element<U>(op: string, step: ElementStep): DStream<U> {
    requireFunction(op, 'the function', step.fn);
    return this.#derive<U>(op, { kind: 'element', step });
  }

  #partitions(op: string, opts?: PartitionOptions): number {
    requirePartitions(op, opts?.partitions);
    return opts?.partitions ?? this.graph.settings.defaultPartitions;
  }

  #other<U>(op: string, other: DStream<U>): void {
    if (!(other instanceof DStream) || other.graph !== this.graph) {
      throw new SparklessError(
        'FOREIGN_STREAM',
        `${op}: the other stream must be a DStream of the same job`,
      );
    }
    if (other.node.slideMs !== this.node.slideMs) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `${op}: both streams must have the same slide, got ${formatMs(this.node.slideMs)} and ${formatMs(other.node.slideMs)}; window them alike first`,
      );
    }
  }

  // ---- element-wise --------------------------------------------------------------------

  /** Applies `fn` to every record. Spark: `map`. @example lines.map((l) => l.length) */
  map<U>(fn: (value: T) => U): DStream<U> {
    return this.#element('map', { kind: 'map', fn: fn as (x: unknown) => unknown });
  }

  /** Applies `fn` to every record and flattens the results. Spark: `flatMap`. */
  flatMap<U>(fn: (value: T) => Iterable<U>): DStream<U> {
    return this.#element('flatMap', {
      kind: 'flatMap',
      fn: fn as (x: unknown) => Iterable<unknown>,
    });
  }

  /** Keeps the records for which `fn` returns true. Spark: `filter`. */
  filter<S extends T>(fn: (value: T) => value is S): DStream<S>;
  filter(fn: (value: T) => boolean): DStream<T>;
  filter(fn: (value: T) => boolean): DStream<T> {
    return this.#element('filter', { kind: 'filter', fn: fn as (x: unknown) => boolean });
  }

  /**
   * Applies `fn` to each partition of each batch's RDD (a shard before any shuffle, a partition
   * after). Spark: `mapPartitions`.
   */
  mapPartitions<U>(
    fn: (records: T[], partition: number) => Iterable<U>,
    opts?: { readonly preservesPartitioning?: boolean },
  ): DStream<U> {
    requireFunction('mapPartitions', 'the function', fn);
    return this.#derive('mapPartitions', {
      kind: 'partition',
      fn: (records, p) => [...fn(records as T[], p)],
      preservesPartitioning: opts?.preservesPartitioning ?? false,
    });
  }

  /** Turns each partition into one array of its records. Spark: `glom`. */
  glom(): DStream<T[]> {
    return this.#derive('glom', {
      kind: 'partition',
      fn: (records) => [records],
      preservesPartitioning: false,
    });
  }

  /** Spreads the records evenly over `partitions` partitions (a shuffle). Spark: `repartition`. */
  repartition(partitions: number): DStream<T> {
    requirePartitions('repartition', partitions);
    return this.#derive('repartition', {
      kind: 'shuffle',
      spec: { partitions, partitioner: { kind: 'roundRobin' } },
    });
  }

  /** This stream's records followed by the other's, batch by batch. Spark: `union`. */
  union(other: DStream<T>): DStream<T> {
    this.#other('union', other);
    return this.#derive('union', { kind: 'union' }, [this.node, other.node]);
  }

  /** The number of records of each batch: one record, 0 for an empty batch. Spark: `count`. */
  count(): DStream<number> {
    const pairs = this.#derive<Pair<number, number>>('count', {
      kind: 'element',
      step: { kind: 'map', fn: () => [0, 1] },
    });
    const summed = pairs.#derive<Pair<number, number>>('count', {
      kind: 'shuffle',
      spec: {
        partitions: 1,
        partitioner: { kind: 'single' },
        aggregator: aggregatorOf(add),
        mapSideCombine: true,
      },
    });
    return summed.#derive<number>('count', {
      kind: 'partition',
      fn: (records) => [records.length ? (records[0] as Pair<number, number>)[1] : 0],
      preservesPartitioning: false,
    });
  }

  /** The count of each distinct value in each batch, as [value, count] pairs. Spark: `countByValue`. */
  countByValue<K extends Key>(this: DStream<K>, opts?: PartitionOptions): DStream<Pair<K, number>> {
    const n = this.#partitions('countByValue', opts);
    return this.#derive<Pair<K, number>>('countByValue', {
      kind: 'element',
      step: { kind: 'map', fn: (x) => [x, 1] },
    }).#derive('countByValue', {
      kind: 'shuffle',
      spec: {
        partitions: n,
        partitioner: { kind: 'hash' },
        aggregator: aggregatorOf(add),
        mapSideCombine: true,
      },
    });
  }

  /** Combines each batch's records into one with `fn`; an empty batch gives nothing. Spark: `reduce`. */
  reduce(fn: (a: T, b: T) => T): DStream<T> {
    requireFunction('reduce', 'the function', fn);
    return this.#derive<Pair<number, T>>('reduce', {
      kind: 'element',
      step: { kind: 'map', fn: (x) => [0, x] },
    })
      .#derive<Pair<number, T>>('reduce', {
        kind: 'shuffle',
        spec: {
          partitions: 1,
          partitioner: { kind: 'single' },
          aggregator: aggregatorOf(fn),
          mapSideCombine: true,
        },
      })
      .#derive<T>('reduce', {
        kind: 'element',
        step: { kind: 'map', fn: (r) => (r as Pair<number, T>)[1] },
      });
  }

  /**
   * Runs `fn` on each batch's RDD to make the batch's RDD of the new stream; shuffles inside
   * become stages of the batch. `fn` must only transform (actions belong in foreachRDD).
   * Spark: `transform`.
   */
  transform<U>(fn: (rdd: RDD<T>, timeMs: number) => RDD<U>): DStream<U> {
    requireFunction('transform', 'the function', fn);
    return this.#derive('transform', {
      kind: 'transform',
      fn: (rdds, time) => fn(rdds[0] as unknown as RDD<T>, time),
    });
  }

  /** Like transform, over this stream's and another stream's RDDs. Spark: `transformWith`. */
  transformWith<U, R>(
    other: DStream<U>,
    fn: (rdd: RDD<T>, other: RDD<U>, timeMs: number) => RDD<R>,
  ): DStream<R> {
    this.#other('transformWith', other);
    requireFunction('transformWith', 'the function', fn);
    return this.#derive(
      'transformWith',
      {
        kind: 'transform',
        fn: (rdds, time) => fn(rdds[0] as unknown as RDD<T>, rdds[1] as unknown as RDD<U>, time),
      },
      [this.node, other.node],
    );
  }

  // ---- windowed ------------------------------------------------------------------------

  /**
   * Checks a window and slide. A window shorter than its slide is refused: the records of the
   * batches between two windows would be in no window, silently left out of every result (Spark
   * allows it; here a window must be at least as long as its slide).
   */
  #window(op: string, windowD: unknown, slideD: unknown) {
    const unit = this.node.slideMs;
    const check = (what: string, d: unknown) => {
      const ms = requireDuration(op, what, d);
      if (ms % unit !== 0) {
        const lower = Math.floor(ms / unit) * unit;
        const tries =
          lower > 0 ? `${formatMs(lower)} or ${formatMs(lower + unit)}` : formatMs(unit);
        throw new SparklessError(
          'NOT_A_MULTIPLE_OF_BATCH',
          `${op}: ${what} (${formatMs(ms)}) must be a multiple of ${this.graph.describeSlide(unit)}; try ${tries}`,
        );
      }
      return ms;
    };
    const windowMs = check('window', windowD);
    const slideMs = slideD === undefined ? unit : check('slide', slideD);
    if (windowMs < slideMs) {
      throw new SparklessError(
        'WINDOW_SHORTER_THAN_SLIDE',
        `${op}: window (${formatMs(windowMs)}) must not be shorter than the slide (${formatMs(slideMs)}) (the batches between windows would be in none); make the window at least ${formatMs(slideMs)} or slide by at most ${formatMs(windowMs)}`,
      );
    }
    return { windowMs, slideMs, paneMs: gcd(windowMs, slideMs), inputSlideMs: unit };
  }

  #stateName(op: string, kind: StatefulKind | string, name: string | undefined): string {
    requireName(op, name);
    return this.graph.stateName(kind, name);
  }

  /**
   * The records of the last `window` of batches, every `slide` (default: the stream's slide).
   * Both must be multiples of the stream's slide. Spark: `window`.
   */
  window(window: Duration, slide?: Duration, opts?: StatefulOptions): DStream<T> {
    const w = this.#window('window', window, slide);
    const partitions = this.#partitions('window', opts);
    return this.#derive(
      'window',
      {
        kind: 'stateful',
        spec: {
          id: '',
          kind: 'window',
          name: this.#stateName('window', 'window', opts?.name),
          partitions,
          ...w,
        },
        logic: { kind: 'window' },
        input: 'byPosition',
      },
      [this.node],
      w.slideMs,
    );
  }

  /** The number of records in each window. Spark: `countByWindow`. */
  countByWindow(window: Duration, slide?: Duration): DStream<number> {
    return this.#derive<number>('countByWindow', {
      kind: 'element',
      step: { kind: 'map', fn: () => 1 },
    }).#reduceByWindow('countByWindow', add, {
      window,
      ...(slide ? { slide } : {}),
      inverse: subtract,
    });
  }

  /**
   * Combines the records of each window into one with `fn` (with `inverse`, incrementally).
   * Spark: `reduceByWindow`.
   */
  reduceByWindow(fn: (a: T, b: T) => T, opts: WindowOptions<T>): DStream<T> {
    return this.#reduceByWindow('reduceByWindow', fn, opts);
  }

  #reduceByWindow(op: string, fn: (a: T, b: T) => T, opts: WindowOptions<T>): DStream<T> {
    requireFunction(op, 'the function', fn);
    const keyed = this.#derive<Pair<number, T>>(op, {
      kind: 'element',
      step: { kind: 'map', fn: (x) => [0, x] },
    });
    return keyed.#reduceWindow(op, fn, { ...opts, partitions: 1 }).#derive<T>(op, {
      kind: 'element',
      step: { kind: 'map', fn: (r) => (r as Pair<number, T>)[1] },
    });
  }

  /** The count of each distinct value in each window. Spark: `countByValueAndWindow`. */
  countByValueAndWindow<K extends Key>(
    this: DStream<K>,
    window: Duration,
    slide?: Duration,
    opts?: StatefulOptions,
  ): DStream<Pair<K, number>> {
    return this.#derive<Pair<K, number>>('countByValueAndWindow', {
      kind: 'element',
      step: { kind: 'map', fn: (x) => [x, 1] },
    }).#reduceWindow('countByValueAndWindow', add, {
      window,
      ...(slide ? { slide } : {}),
      ...opts,
      inverse: subtract,
      filter: (e: Pair<unknown, number>) => e[1] !== 0,
    }) as DStream<Pair<K, number>>;
  }

  #reduceWindow<V>(
    op: string,
    fn: (a: V, b: V) => V,
    opts: ReduceWindowOptions<unknown, V>,
  ): DStream<T> {
    requireFunction(op, 'the function', fn);
    if (opts === undefined || typeof opts !== 'object') {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `${op}: options with a window are required, e.g. { window: minutes(5), slide: seconds(10) }`,
      );
    }
    if (opts.inverse !== undefined) requireFunction(op, 'inverse', opts.inverse);
    if (opts.filter !== undefined) requireFunction(op, 'filter', opts.filter);
    const w = this.#window(op, opts.window, opts.slide);
    const partitions = this.#partitions(op, opts);
    const agg = aggregatorOf(fn);
    return this.#derive(
      op,
      {
        kind: 'stateful',
        spec: {
          id: '',
          kind: 'reduceByKeyAndWindow',
          name: this.#stateName(op, op, opts.name),
          partitions,
          ...w,
          inverse: opts.inverse !== undefined,
        },
        logic: {
          kind: 'reduceByKeyAndWindow',
          reduce: fn as (a: unknown, b: unknown) => unknown,
          ...(opts.inverse ? { inverse: opts.inverse as (a: unknown, b: unknown) => unknown } : {}),
          ...(opts.filter ? { filter: opts.filter as (e: Pair<Key, unknown>) => boolean } : {}),
        },
        input: 'byKey',
        combine: agg,
      },
      [this.node],
      w.slideMs,
    );
  }

  // ---- keyed (pairs) ---------------------------------------------------------------------

  /** Applies `fn` to the value of every pair, keeping the key. Spark: `mapValues`. */
  mapValues<K extends Key, V, U>(
    this: DStream<Pair<K, V>>,
    fn: (value: V) => U,
  ): DStream<Pair<K, U>> {
    return this.#element('mapValues', { kind: 'mapValues', fn: fn as (v: unknown) => unknown });
  }

  /** Applies `fn` to the value of every pair and pairs each result with the key. Spark: `flatMapValues`. */
  flatMapValues<K extends Key, V, U>(
    this: DStream<Pair<K, V>>,
    fn: (value: V) => Iterable<U>,
  ): DStream<Pair<K, U>> {
    return this.#element('flatMapValues', {
      kind: 'flatMapValues',
      fn: fn as (v: unknown) => Iterable<unknown>,
    });
  }

  /**
   * Combines the values of each key in each batch with `fn` (combining on the map side first).
   * Spark: `reduceByKey`.
   * @example words.map((w) => pair(w, 1)).reduceByKey((a, b) => a + b)
   */
  reduceByKey<K extends Key, V>(
    this: DStream<Pair<K, V>>,
    fn: (a: V, b: V) => V,
    opts?: PartitionOptions,
  ): DStream<Pair<K, V>> {
    requireFunction('reduceByKey', 'the function', fn);
    return this.#derive('reduceByKey', {
      kind: 'shuffle',
      spec: {
        partitions: this.#partitions('reduceByKey', opts),
        partitioner: { kind: 'hash' },
        aggregator: aggregatorOf(fn),
        mapSideCombine: true,
      },
    });
  }

  /** Groups the values of each key in each batch, in arrival order. Spark: `groupByKey`. */
  groupByKey<K extends Key, V>(
    this: DStream<Pair<K, V>>,
    opts?: PartitionOptions,
  ): DStream<Pair<K, V[]>> {
    return this.#derive('groupByKey', {
      kind: 'shuffle',
      spec: {
        partitions: this.#partitions('groupByKey', opts),
        partitioner: { kind: 'hash' },
        group: true,
      },
    });
  }

  /** Combines the values of each key with three functions. Spark: `combineByKey`. */
  combineByKey<K extends Key, V, C>(
    this: DStream<Pair<K, V>>,
    createCombiner: (value: V) => C,
    mergeValue: (combiner: C, value: V) => C,
    mergeCombiners: (a: C, b: C) => C,
    opts?: PartitionOptions & { readonly mapSideCombine?: boolean },
  ): DStream<Pair<K, C>> {
    requireFunction('combineByKey', 'createCombiner', createCombiner);
    requireFunction('combineByKey', 'mergeValue', mergeValue);
    requireFunction('combineByKey', 'mergeCombiners', mergeCombiners);
    return this.#derive('combineByKey', {
      kind: 'shuffle',
      spec: {
        partitions: this.#partitions('combineByKey', opts),
        partitioner: { kind: 'hash' },
        aggregator: {
          createCombiner: createCombiner as (v: unknown) => unknown,
          mergeValue: mergeValue as (c: unknown, v: unknown) => unknown,
          mergeCombiners: mergeCombiners as (a: unknown, b: unknown) => unknown,
        },
        mapSideCombine: opts?.mapSideCombine ?? true,
      },
    });
  }

  /** For each key of either stream, the values of this and of the other. Spark: `cogroup`. */
  cogroup<K extends Key, V, W>(
    this: DStream<Pair<K, V>>,
    other: DStream<Pair<K, W>>,
    opts?: PartitionOptions,
  ): DStream<Pair<K, [V[], W[]]>> {
    this.#other('cogroup', other);
    return this.#derive(
      'cogroup',
      { kind: 'cogroup', partitions: this.#partitions('cogroup', opts) },
      [this.node, other.node],
    );
  }

  #join<K extends Key, V, W, R>(
    kind: JoinKind,
    self: DStream<Pair<K, V>>,
    other: DStream<Pair<K, W>>,
    opts: PartitionOptions | undefined,
  ): DStream<R> {
    this.#other(kind, other);
    return this.#derive<Pair<K, [V[], W[]]>>(
      kind,
      { kind: 'cogroup', partitions: this.#partitions(kind, opts) },
      [self.node, other.node],
    ).#derive(kind, { kind: 'element', step: joinStep(kind) });
  }

  /** Pairs every value of a key in this stream with every value of it in the other. Spark: `join`. */
  join<K extends Key, V, W>(
    this: DStream<Pair<K, V>>,
    other: DStream<Pair<K, W>>,
    opts?: PartitionOptions,
  ): DStream<Pair<K, [V, W]>> {
    return this.#join('join', this, other, opts);
  }

  /** Like join, keeping this stream's keys missing from the other with `null`. Spark: `leftOuterJoin`. */
  leftOuterJoin<K extends Key, V, W>(
    this: DStream<Pair<K, V>>,
    other: DStream<Pair<K, W>>,
    opts?: PartitionOptions,
  ): DStream<Pair<K, [V, W | null]>> {
    return this.#join('leftOuterJoin', this, other, opts);
  }

  /** Like join, keeping the other stream's keys missing here with `null`. Spark: `rightOuterJoin`. */
  rightOuterJoin<K extends Key, V, W>(
    this: DStream<Pair<K, V>>,
    other: DStream<Pair<K, W>>,
    opts?: PartitionOptions,
  ): DStream<Pair<K, [V | null, W]>> {
    return this.#join('rightOuterJoin', this, other, opts);
  }

  /** Like join, keeping keys of either side with `null` for the missing one. Spark: `fullOuterJoin`. */
  fullOuterJoin<K extends Key, V, W>(
    this: DStream<Pair<K, V>>,
    other: DStream<Pair<K, W>>,
    opts?: PartitionOptions,
  ): DStream<Pair<K, [V | null, W | null]>> {
    return this.#join('fullOuterJoin', this, other, opts);
  }

  /**
   * Keeps a running state per key. Each batch, `fn` is called for every key that has new values
   * or state, with the batch's values (in arrival order; empty when there are none) and the
   * previous state (undefined for a new key); its result is the new state, and `undefined`
   * removes the key. The stream holds every (key, state) pair after each batch.
   * Spark: `updateStateByKey`.
   *
   * @example counts.updateStateByKey((vs, total: number | undefined) => (total ?? 0) + vs.length)
   */
  updateStateByKey<K extends Key, V, S>(
    this: DStream<Pair<K, V>>,
    fn: (values: V[], state: S | undefined, info: UpdateInfo<K>) => S | undefined,
    opts?: UpdateStateOptions<K, S>,
  ): DStream<Pair<K, S>> {
    requireFunction('updateStateByKey', 'the function', fn);
    if (opts?.initialState !== undefined && !Array.isArray(opts.initialState)) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `updateStateByKey: initialState must be an array of [key, state] pairs, got ${describe(opts.initialState)}`,
      );
    }
    const partitions = this.#partitions('updateStateByKey', opts);
    return this.#derive('updateStateByKey', {
      kind: 'stateful',
      spec: {
        id: '',
        kind: 'updateStateByKey',
        name: this.#stateName('updateStateByKey', 'updateStateByKey', opts?.name),
        partitions,
      },
      logic: {
        kind: 'updateStateByKey',
        update: fn as (
          values: unknown[],
          state: unknown,
          info: { key: Key; timeMs: number },
        ) => unknown,
        ...(opts?.initialState
          ? { initial: opts.initialState as unknown as Pair<Key, unknown>[] }
          : {}),
      },
      input: 'byKey',
    });
  }

  /**
   * Calls `spec.fn` once per record with the key's State, which it may read, update or remove,
   * and emits what it returns; keys time out after `spec.timeout` without records. The state of
   * all keys is available as {@link MapWithStateDStream.stateSnapshots}. Spark: `mapWithState`.
   *
   * @example
   * clicks.mapWithState({
   *   fn: (user, page, state: State<number>) => { state.update((state.getOption() ?? 0) + 1); return state.get(); },
   *   timeout: minutes(30),
   * })
   */
  mapWithState<K extends Key, V, S, M>(
    this: DStream<Pair<K, V>>,
    spec: StateSpec<K, V, S, M>,
  ): MapWithStateDStream<K, S, M> {
    if (spec === null || typeof spec !== 'object') {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        'mapWithState: give a spec object, e.g. { fn: (key, value, state) => ..., timeout: minutes(30) }',
      );
    }
    requireFunction('mapWithState', 'spec.fn', spec.fn);
    const timeoutMs =
      spec.timeout === undefined
        ? undefined
        : requireDuration('mapWithState', 'timeout', spec.timeout, this.node.slideMs);
    const partitions = this.#partitions('mapWithState', spec);
    const fn = spec.fn;
    const inner = this.#derive<never>('mapWithState', {
      kind: 'stateful',
      spec: {
        id: '',
        kind: 'mapWithState',
        name: this.#stateName('mapWithState', 'mapWithState', spec.name),
        partitions,
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      },
      logic: {
        kind: 'mapWithState',
        fn: (key, value, state, time) => fn(key as K, value as V, state as State<S>, time),
        ...(spec.initialState
          ? { initial: spec.initialState as unknown as Pair<Key, unknown>[] }
          : {}),
      },
      input: 'byKey',
    });
    const mapped = this.graph.add('mapWithState', [inner.node], { kind: 'select', part: 'mapped' });
    return new MapWithStateDStream<K, S, M>(this.graph, mapped, inner.node);
  }

  /** Counts or combines per key over a sliding window. Spark: `reduceByKeyAndWindow`. */
  reduceByKeyAndWindow<K extends Key, V>(
    this: DStream<Pair<K, V>>,
    fn: (a: V, b: V) => V,
    opts: ReduceWindowOptions<K, V>,
  ): DStream<Pair<K, V>> {
    return this.#reduceWindow(
      'reduceByKeyAndWindow',
      fn,
      opts as ReduceWindowOptions<unknown, V>,
    ) as DStream<Pair<K, V>>;
  }

  /** Groups the values of each key over a sliding window, in time order. Spark: `groupByKeyAndWindow`. */
  groupByKeyAndWindow<K extends Key, V>(
    this: DStream<Pair<K, V>>,
    window: Duration,
    slide?: Duration,
    opts?: StatefulOptions,
  ): DStream<Pair<K, V[]>> {
    return this.#derive<Pair<K, V[]>>('groupByKeyAndWindow', {
      kind: 'element',
      step: { kind: 'mapValues', fn: (v) => [v] },
    }).#reduceWindow('groupByKeyAndWindow', (a: V[], b: V[]) => a.concat(b), {
      window,
      ...(slide ? { slide } : {}),
      ...opts,
    }) as DStream<Pair<K, V[]>>;
  }

  // ---- output ----------------------------------------------------------------------------

  /** Prints the first `num` records of each batch to the job's log. Spark: `print`. */
  print(num = 10): void {
    if (!Number.isInteger(num) || num < 1) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        `print: num must be a positive whole number, got ${describe(num)}`,
      );
    }
    this.#derive('print', { kind: 'output', action: { kind: 'print', num } });
  }

  /**
   * Runs `fn` with each batch's RDD and batch time, on the driver; actions on the RDD (collect,
   * count, take) run the batch's tasks. At-least-once: after a failure a batch's `fn` may run
   * again. Spark: `foreachRDD`.
   */
  foreachRDD(fn: (rdd: RDD<T>, timeMs: number) => void | Promise<void>): void {
    requireFunction('foreachRDD', 'the function', fn);
    this.#derive('foreachRDD', {
      kind: 'output',
      action: { kind: 'foreachRDD', fn: fn as (rdd: never, time: number) => void },
    });
  }

  /**
   * Writes each batch's pairs to the named results table: the latest value per key with its batch
   * time, exactly once in effect. The deployment maps the name to a table.
   */
  saveToTable<K extends Key, V extends Json>(this: DStream<Pair<K, V>>, name: string): void {
    requireSinkName('saveToTable', name);
    this.graph.addSink({ name, kind: 'table' });
    this.#derive('saveToTable', { kind: 'output', action: { kind: 'sink', sink: name } });
  }

  /**
   * Writes each batch's records to the named output stream, at least once; each record carries
   * its batch time, partition and index so that readers can drop repeats.
   */
  saveToStream(name: string, opts?: StreamSinkOptions<T>): void {
    requireSinkName('saveToStream', name);
    if (opts?.partitionKey !== undefined)
      requireFunction('saveToStream', 'partitionKey', opts.partitionKey);
    if (opts?.encode !== undefined) requireFunction('saveToStream', 'encode', opts.encode);
    this.graph.addSink({
      name,
      kind: 'stream',
      ...(opts?.partitionKey ? { partitionKey: opts.partitionKey as (x: unknown) => string } : {}),
      ...(opts?.encode ? { encode: opts.encode as (x: unknown) => Uint8Array | string } : {}),
    });
    this.#derive('saveToStream', { kind: 'output', action: { kind: 'sink', sink: name } });
  }
}

function requireSinkName(op: string, name: unknown): void {
  if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `${op}: the sink name must start with a letter and have up to 64 letters, digits, _ or -, got ${describe(name)}`,
    );
  }
}

/** The stream of what a mapWithState function emitted, with access to the state. */
export class MapWithStateDStream<K, S, M> extends DStream<M> {
  readonly #inner: OpNode;

  /** @internal */
  constructor(graph: JobGraph, node: OpNode, inner: OpNode) {
    super(graph, node);
    this.#inner = inner;
  }

  /** Every (key, state) pair after each batch. Spark: `stateSnapshots`. */
  stateSnapshots(): DStream<Pair<K, S>> {
    return new DStream(
      this.graph,
      this.graph.add('stateSnapshots', [this.#inner], { kind: 'select', part: 'snapshots' }),
    );
  }
}
