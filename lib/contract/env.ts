/**
 * The environment variables through which the deploy side (the StreamingJob construct) tells the
 * functions (coordinator and worker) what to run against: the job, its tables, its functions,
 * the physical names of its sources and sinks, and the runtime settings.
 *
 * The construct builds them with {@link runtimeEnv}; a function reads them once per cold start
 * with {@link readRuntimeEnv}. Both sides use these names, never their own string literals.
 */
import { describe } from '../core/duration.js';
import { SparklessError } from '../core/errors.js';

/** The names of the environment variables, by what they hold. */
export const ENV = {
  /** The job's name (as given to `job(name, ...)`). */
  jobName: 'SPARKLESS_JOB_NAME',
  /** The control table: lease, head, plans, claims, commits. */
  controlTable: 'SPARKLESS_CONTROL_TABLE',
  /** The data table: shuffle blocks, intents, window panes and partials. */
  dataTable: 'SPARKLESS_DATA_TABLE',
  /** The state table: keyed state and mapWithState expiry items. */
  stateTable: 'SPARKLESS_STATE_TABLE',
  /** The dead-letter table. */
  deadLetterTable: 'SPARKLESS_DEAD_LETTER_TABLE',
  /** The worker function's name, which the coordinator invokes. */
  workerFunction: 'SPARKLESS_WORKER_FUNCTION',
  /** The coordinator function's name, which a coordinator invokes as its successor. */
  coordinatorFunction: 'SPARKLESS_COORDINATOR_FUNCTION',
  /** JSON: the job's source name -> the Kinesis stream name. */
  sources: 'SPARKLESS_SOURCES',
  /** JSON: the job's sink name -> `{kind:'table', table}` or `{kind:'stream', stream}`. */
  sinks: 'SPARKLESS_SINKS',
  /** JSON: {@link RuntimeSettings}; settings left out take their defaults. */
  settings: 'SPARKLESS_SETTINGS',
  /**
   * The path of the job module the functions load (its default export is the job): a file of
   * the function's bundle on AWS, the job's source on the embedded cloud.
   */
  jobModule: 'SPARKLESS_JOB_MODULE',
} as const;

/** Where a shard is read from before any record of it was read. */
export type StartPosition =
  | { readonly kind: 'trimHorizon' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'atTimestamp'; readonly timestampMs: number };

/** Where a sink's records go. */
export type SinkTarget =
  | { readonly kind: 'table'; readonly table: string }
  | { readonly kind: 'stream'; readonly stream: string };

/** How the runtime reads, plans and keeps things. */
export interface RuntimeSettings {
  /** The most records one map task reads in one batch (per shard). */
  readonly maxRecordsPerBatch: number;
  /** The most bytes one map task reads in one batch (per shard). */
  readonly maxBytesPerBatch: number;
  /**
   * How long after a batch time its plan is written, so that records stamped just before it can
   * become visible. Undefined: min(batch interval, 1 s).
   */
  readonly graceMs?: number;
  /** Where shards are read from before the first record of each is read. */
  readonly startPosition: StartPosition;
  /** How many recent batches keep their intents, for inspection. */
  readonly intentsKept: number;
  /** How long plans, claims and commits are kept after their batch. */
  readonly controlRetentionMs: number;
  /**
   * The TTL backstop of data items (blocks, intents, panes, partials) after their batch time.
   * Data is deleted explicitly; nothing depends on TTL deletion.
   */
  readonly dataTtlMs: number;
  /**
   * How long a coordinator's lease lasts without renewal: how long the job waits for a
   * coordinator that died before another takes over. Undefined: ten batch intervals and at
   * least a minute. A shorter lease resumes sooner, but a coordinator whose batch takes
   * longer than the lease loses it and stops until the schedule starts another; it must be
   * at least three batch intervals.
   */
  readonly leaseTtlMs?: number;
}

/** The settings a deployment gets when it says nothing. */
export const DEFAULT_SETTINGS: RuntimeSettings = Object.freeze({
  maxRecordsPerBatch: 10_000,
  maxBytesPerBatch: 8 * 1024 * 1024,
  startPosition: Object.freeze({ kind: 'trimHorizon' as const }),
  intentsKept: 10,
  controlRetentionMs: 24 * 3_600_000,
  dataTtlMs: 7 * 24 * 3_600_000,
});

/** Everything a function learns from its environment. */
export interface RuntimeConfig {
  readonly jobName: string;
  /**
   * The path of the job module the functions load: a file of the function's bundle on AWS, the
   * job's source on the embedded cloud.
   */
  readonly jobModule: string;
  readonly tables: {
    readonly control: string;
    readonly data: string;
    /** The keyed state table; a job without stateful operators has none. */
    readonly state?: string;
    readonly deadLetters: string;
  };
  readonly functions: { readonly worker: string; readonly coordinator: string };
  /** The job's source name -> the Kinesis stream name. */
  readonly sources: Readonly<Record<string, string>>;
  /** The job's sink name -> where its records go. */
  readonly sinks: Readonly<Record<string, SinkTarget>>;
  readonly settings: RuntimeSettings;
}

/** What the construct gives: a config whose settings may leave out defaults. */
export type RuntimeConfigInput = Omit<RuntimeConfig, 'settings'> & {
  readonly settings?: Partial<RuntimeSettings>;
};

const FIX =
  'the StreamingJob construct sets it on the functions it deploys; when running a function ' +
  'another way, set it as runtimeEnv() in sparkless/contract would';

/**
 * The environment variables of a deployment, ready for a Lambda function's `environment`.
 * Validates the config as {@link readRuntimeEnv} will, so a mistake fails at synth time.
 */
export function runtimeEnv(config: RuntimeConfigInput): Record<string, string> {
  const settings = { ...DEFAULT_SETTINGS, ...stripUndefined(config.settings ?? {}) };
  const env: Record<string, string> = {
    [ENV.jobName]: config.jobName,
    [ENV.jobModule]: config.jobModule,
    [ENV.controlTable]: config.tables.control,
    [ENV.dataTable]: config.tables.data,
    ...(config.tables.state ? { [ENV.stateTable]: config.tables.state } : {}),
    [ENV.deadLetterTable]: config.tables.deadLetters,
    [ENV.workerFunction]: config.functions.worker,
    [ENV.coordinatorFunction]: config.functions.coordinator,
    [ENV.sources]: JSON.stringify(config.sources),
    [ENV.sinks]: JSON.stringify(config.sinks),
    [ENV.settings]: JSON.stringify(settings),
  };
  readRuntimeEnv(env);
  return env;
}

/**
 * Reads and validates the runtime's environment variables. Throws one error (code
 * `INVALID_ENVIRONMENT`) listing every missing or malformed variable with what it should hold.
 */
export function readRuntimeEnv(env: Readonly<Record<string, string | undefined>>): RuntimeConfig {
  const problems: string[] = [];
  const text = (name: string, pattern?: RegExp, shape?: string): string => {
    const value = env[name];
    if (value === undefined || value === '') {
      problems.push(`${name} is not set`);
      return '';
    }
    if (pattern && !pattern.test(value)) {
      problems.push(`${name} must be ${shape}, got ${describe(value)}`);
    }
    return value;
  };
  const json = (name: string, shape: string): unknown => {
    const value = text(name);
    if (value === '') return undefined;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      problems.push(`${name} must be JSON (${shape}), got ${describe(value)}`);
      return undefined;
    }
  };

  const jobName = text(
    ENV.jobName,
    /^[A-Za-z][A-Za-z0-9-]{0,47}$/,
    'a job name (a letter, then up to 47 letters, digits or -)',
  );
  const jobModule = text(ENV.jobModule);
  const state = env[ENV.stateTable];
  const tables = {
    control: text(ENV.controlTable),
    data: text(ENV.dataTable),
    ...(state ? { state } : {}),
    deadLetters: text(ENV.deadLetterTable),
  };
  const functions = {
    worker: text(ENV.workerFunction),
    coordinator: text(ENV.coordinatorFunction),
  };

  const sources: Record<string, string> = {};
  const sourcesShape =
    'an object of job source name -> stream name, e.g. {"tweets":"tweets-stream"}';
  const rawSources = json(ENV.sources, sourcesShape);
  if (rawSources !== undefined) {
    if (!isRecord(rawSources)) problems.push(`${ENV.sources} must be ${sourcesShape}`);
    else {
      for (const [name, stream] of Object.entries(rawSources)) {
        if (typeof stream === 'string' && stream !== '') sources[name] = stream;
        else {
          problems.push(
            `${ENV.sources}: source '${name}' must map to a stream name, got ${describe(stream)}`,
          );
        }
      }
    }
  }

  const sinks: Record<string, SinkTarget> = {};
  const sinksShape =
    'an object of sink name -> {"kind":"table","table":...} or {"kind":"stream","stream":...}';
  const rawSinks = json(ENV.sinks, sinksShape);
  if (rawSinks !== undefined) {
    if (!isRecord(rawSinks)) problems.push(`${ENV.sinks} must be ${sinksShape}`);
    else {
      for (const [name, target] of Object.entries(rawSinks)) {
        if (
          isRecord(target) &&
          target.kind === 'table' &&
          typeof target.table === 'string' &&
          target.table !== ''
        ) {
          sinks[name] = { kind: 'table', table: target.table };
        } else if (
          isRecord(target) &&
          target.kind === 'stream' &&
          typeof target.stream === 'string' &&
          target.stream !== ''
        ) {
          sinks[name] = { kind: 'stream', stream: target.stream };
        } else {
          problems.push(
            `${ENV.sinks}: sink '${name}' must be {"kind":"table","table":...} or {"kind":"stream","stream":...}, got ${describe(target)}`,
          );
        }
      }
    }
  }

  const settings = readSettings(json(ENV.settings, 'runtime settings'), problems);

  if (problems.length > 0) {
    throw new SparklessError(
      'INVALID_ENVIRONMENT',
      `the function's environment is not a sparkless deployment's:\n  ${problems.join('\n  ')}\n${FIX}`,
    );
  }
  return { jobName, jobModule, tables, functions, sources, sinks, settings };
}

function readSettings(raw: unknown, problems: string[]): RuntimeSettings {
  if (raw === undefined) return DEFAULT_SETTINGS;
  const name = ENV.settings;
  if (!isRecord(raw)) {
    problems.push(`${name} must be a JSON object of settings, got ${describe(raw)}`);
    return DEFAULT_SETTINGS;
  }
  const known = new Set([
    'maxRecordsPerBatch',
    'maxBytesPerBatch',
    'graceMs',
    'startPosition',
    'intentsKept',
    'controlRetentionMs',
    'dataTtlMs',
    'leaseTtlMs',
  ]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) {
      problems.push(`${name}: unknown setting '${key}'; known: ${[...known].join(', ')}`);
    }
  }
  const count = (key: keyof RuntimeSettings, min: number): number => {
    const value = raw[key];
    if (value === undefined) return DEFAULT_SETTINGS[key] as number;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      problems.push(
        `${name}: ${key} must be a whole number of at least ${min}, got ${describe(value)}`,
      );
      return DEFAULT_SETTINGS[key] as number;
    }
    return value;
  };
  const settings: { -readonly [K in keyof RuntimeSettings]: RuntimeSettings[K] } = {
    maxRecordsPerBatch: count('maxRecordsPerBatch', 1),
    maxBytesPerBatch: count('maxBytesPerBatch', 1),
    startPosition: DEFAULT_SETTINGS.startPosition,
    intentsKept: count('intentsKept', 0),
    controlRetentionMs: count('controlRetentionMs', 0),
    dataTtlMs: count('dataTtlMs', 1),
  };
  if (raw.graceMs !== undefined) settings.graceMs = count('graceMs', 0);
  if (raw.leaseTtlMs !== undefined) settings.leaseTtlMs = count('leaseTtlMs', 1_000);
  const start = raw.startPosition;
  if (start !== undefined) {
    if (isRecord(start) && (start.kind === 'trimHorizon' || start.kind === 'latest')) {
      settings.startPosition = { kind: start.kind };
    } else if (
      isRecord(start) &&
      start.kind === 'atTimestamp' &&
      typeof start.timestampMs === 'number' &&
      Number.isInteger(start.timestampMs) &&
      start.timestampMs >= 0
    ) {
      settings.startPosition = { kind: 'atTimestamp', timestampMs: start.timestampMs };
    } else {
      problems.push(
        `${name}: startPosition must be {"kind":"trimHorizon"}, {"kind":"latest"} or {"kind":"atTimestamp","timestampMs":<epoch ms>}, got ${describe(start)}`,
      );
    }
  }
  return settings;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
