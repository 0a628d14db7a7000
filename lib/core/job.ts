/**
 * Defining a job: a name, a batch interval and a function that builds the pipeline from named
 * sources and ends in outputs.
 *
 * @example
 * export default job('hashtags', { batchInterval: seconds(1) }, (ctx) =>
 *   ctx.kinesis('tweets', { decode: utf8 })
 *     .flatMap((t) => t.split(/\s+/))
 *     .filter((w) => w.startsWith('#'))
 *     .map((w) => pair(w, 1))
 *     .reduceByKeyAndWindow((a, b) => a + b, { inverse: (a, b) => a - b, window: minutes(5) })
 *     .print(10));
 */
import type { Decoder } from './codec.js';
import { utf8 } from './codec.js';
import { DStream } from './dstream.js';
import type { Duration } from './duration.js';
import { describe, requireDuration } from './duration.js';
import { SparklessError } from './errors.js';
import { JobGraph } from './graph.js';
import type { JobPlan } from './plan.js';
import { explainPlan, planJob } from './plan.js';

/** The settings of a job. */
export interface JobOptions {
  /** How often a batch starts; batch times are multiples of it since the epoch. At least 100ms. */
  readonly batchInterval: Duration;
  /** Partitions of shuffles and state when an operator does not say. @default 4 */
  readonly defaultPartitions?: number;
}

/** The options of a Kinesis source. */
export interface KinesisSourceOptions<T> {
  /** Turns a record's bytes (and its partition key, sequence number, arrival time) into a value. @default utf8 */
  readonly decode?: Decoder<T>;
}

/** The options of a queue source. */
export interface QueueSourceOptions<T> {
  /** The batches, in order, when the runner is given none. Spark: `queueStream`. */
  readonly batches?: ReadonlyArray<T[]>;
}

/** What the build function of a job gets: its sources. */
export interface JobContext {
  /** The job's name. */
  readonly name: string;
  /** The batch interval in milliseconds. */
  readonly batchIntervalMs: number;
  /** A stream read from the Kinesis stream that the deployment maps to `name`. */
  kinesis<T = string>(name: string, opts?: KinesisSourceOptions<T>): DStream<T>;
  /** A stream whose batches are given by the runner (tests) or listed here. Spark: `queueStream`. */
  queue<T>(name: string, opts?: QueueSourceOptions<T>): DStream<T>;
}

const JOB = Symbol.for('sparkless.Job');

/** A defined job: its graph, its plan, and how to explain it. */
export interface Job {
  readonly [JOB]: true;
  readonly name: string;
  readonly batchIntervalMs: number;
  /** @internal The operator graph. */
  readonly graph: JobGraph;
  /** The plan: operators, stages, stateful operators and the state hash (plain data). */
  readonly plan: JobPlan;
  /** The plan in a form a person can read. */
  explain(): string;
}

/** Whether a value is a job (works across copies of the module). */
export function isJob(value: unknown): value is Job {
  return typeof value === 'object' && value !== null && (value as Job)[JOB] === true;
}

function requireSourceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `source: the name must start with a letter and have up to 64 letters, digits, _ or -, got ${describe(name)}`,
    );
  }
}

/**
 * Defines a job. The build function runs once, now: it must create every operator and end in at
 * least one output (print, foreachRDD, saveToTable, saveToStream).
 */
export function job(name: string, options: JobOptions, build: (ctx: JobContext) => unknown): Job {
  if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,47}$/.test(name)) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `job: the name must start with a letter and have up to 48 letters, digits or -, got ${describe(name)}`,
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `job '${name}': options with a batchInterval are required, e.g. { batchInterval: seconds(1) }`,
    );
  }
  const batchIntervalMs = requireDuration(`job '${name}'`, 'batchInterval', options.batchInterval);
  if (batchIntervalMs < 100) {
    throw new SparklessError(
      'INVALID_DURATION',
      `job '${name}': batchInterval (${options.batchInterval.toString()}) must be at least 100ms`,
    );
  }
  const defaultPartitions = options.defaultPartitions ?? 4;
  if (!Number.isInteger(defaultPartitions) || defaultPartitions < 1 || defaultPartitions > 10_000) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `job '${name}': defaultPartitions must be a whole number from 1 to 10000, got ${describe(defaultPartitions)}`,
    );
  }
  if (typeof build !== 'function') {
    throw new SparklessError('INVALID_ARGUMENT', `job '${name}': the build function is missing`);
  }
  const graph = new JobGraph({ job: name, batchIntervalMs, defaultPartitions });
  const ctx: JobContext = {
    name,
    batchIntervalMs,
    kinesis<T>(source: string, opts?: KinesisSourceOptions<T>) {
      requireSourceName(source);
      const decode = (opts?.decode ?? utf8) as Decoder<unknown>;
      if (typeof decode !== 'function') {
        throw new SparklessError(
          'INVALID_ARGUMENT',
          `kinesis '${source}': decode must be a function, got ${describe(decode)}`,
        );
      }
      graph.addSource({ name: source, kind: 'kinesis', decode });
      return new DStream<T>(graph, graph.add('kinesis', [], { kind: 'source', source }));
    },
    queue<T>(source: string, opts?: QueueSourceOptions<T>) {
      requireSourceName(source);
      if (opts?.batches !== undefined && !Array.isArray(opts.batches)) {
        throw new SparklessError(
          'INVALID_ARGUMENT',
          `queue '${source}': batches must be an array of arrays, got ${describe(opts.batches)}`,
        );
      }
      graph.addSource({
        name: source,
        kind: 'queue',
        ...(opts?.batches ? { batches: opts.batches as unknown[][] } : {}),
      });
      return new DStream<T>(graph, graph.add('queue', [], { kind: 'source', source }));
    },
  };
  build(ctx);
  graph.seal();
  if (graph.outputs.length === 0) {
    throw new SparklessError(
      'NO_OUTPUT',
      `job '${name}': the pipeline has no output; end it with print(), foreachRDD(), saveToTable() or saveToStream()`,
    );
  }
  if (graph.sources.size === 0) {
    throw new SparklessError(
      'NO_OUTPUT',
      `job '${name}': the pipeline reads no source; start it from ctx.kinesis(...) or ctx.queue(...)`,
    );
  }
  let plan: JobPlan | undefined;
  const result: Job = {
    [JOB]: true,
    name,
    batchIntervalMs,
    graph,
    get plan() {
      plan ??= planJob(graph);
      return plan;
    },
    explain() {
      return explainPlan(this.plan);
    },
  };
  // Plan now, so that a transform that fails to build fails the definition.
  void result.plan;
  return Object.freeze(result);
}
