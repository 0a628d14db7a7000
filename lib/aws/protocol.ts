/**
 * The batch protocol's records and the ports it runs over.
 *
 * Plans, claims, intents and commits are written once; the lease and the head change only by
 * conditional writes that move them forward; every data write is idempotent by its own version.
 * Correctness never depends on the lease, the clock or on who is alive (DESIGN: the batch
 * protocol on AWS). The ports below say what the coordinator and the workers need; the DynamoDB
 * stores implement them for the cloud, and {@link MemoryProtocolStores} in memory for tests.
 */
import type { DeadLetter } from '../core/operators/guard.js';
import type { Block } from '../core/operators/shuffle.js';
import type { StateEntry } from '../core/operators/store.js';
import type { JobPlan } from '../core/plan.js';
import type { KeyNeed, PaneNeed, Part } from '../core/task.js';
import type { PaneChanges, StateChange } from './views.js';

/** Where a map task starts reading its shard. */
export type StartPosition =
  | { readonly kind: 'trimHorizon' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'atTimestamp'; readonly timestampMs: number };

/**
 * A position in a shard that is not "after a record": at a record, at the trim horizon, or at the
 * first record stamped at or after a time (carried until a record is read).
 */
export type ResolvedPosition =
  | { readonly afterSequence: string }
  | { readonly atSequence: string }
  | { readonly atTrimHorizon: true }
  | { readonly atTimestampMs: number };

/** One map task of a batch: a shard and where its slice starts. */
export interface ShardTask {
  readonly shardId: string;
  /** The sequence number of the last record read before this batch. */
  readonly after?: string;
  /** Where to start while no record was read yet, resolved once into the first plan. */
  readonly position?: ResolvedPosition;
  /** Where to start, when the reader cannot resolve positions (in-memory shards). */
  readonly start?: StartPosition;
}

/** The plan of one batch, written once before any of its tasks run. */
export interface BatchPlan {
  readonly timeMs: number;
  /** The hash of the batch's stages, which every worker checks against its own. */
  readonly planHash: string;
  /** The hash of the job's stateful operators (state shape). */
  readonly stateHash: string;
  /** The lease epoch of the coordinator that wrote it. */
  readonly epoch: number;
  /** Per source, the map tasks in order. */
  readonly sources: Readonly<Record<string, readonly ShardTask[]>>;
  /** Shards that ended and are still listed, as `<source>/<shardId>` (children wait on them). */
  readonly ended: readonly string[];
  /** The most records a map task reads. */
  readonly maxRecords: number;
  /** When the coordinator planned it, epoch milliseconds. */
  readonly plannedAtMs: number;
}

/** What a map task read. */
export interface SliceSummary {
  readonly shardId: string;
  /** The last record read, or the previous position when none was. */
  readonly endSequence?: string;
  readonly shardEnded: boolean;
  readonly childShards: readonly string[];
  readonly millisBehindLatest: number;
  readonly records: number;
  readonly bytes: number;
  readonly capped?: 'records' | 'bytes';
  /** Records lost to retention between the requested position and where reading resumed. */
  readonly trimmedGap?: { readonly requestedAfter: string; readonly resumedAt?: string };
  /** Where the next batch starts, when it is not after `endSequence`. */
  readonly next?: ResolvedPosition;
}

/** The claim of one task: written once, the winner's attempt is the task's result. */
export interface TaskClaim {
  readonly timeMs: number;
  readonly stage: number;
  readonly task: number;
  readonly attempt: string;
  /** Chunks written per write id, per target partition (0 for an empty block). */
  readonly blocks: Readonly<Record<string, readonly number[]>>;
  /** Whether an intent under the same attempt holds state changes, outputs or dead letters. */
  readonly intent: boolean;
  readonly slice?: SliceSummary;
  readonly deadLettered: number;
  readonly durationMs: number;
  /** Records each output operator of the task's stage received from it, by operator id. */
  readonly recordsOut?: Readonly<Record<string, number>>;
  /** Keys added minus keys removed, per stateful operator (state name). */
  readonly stateKeyDelta?: Readonly<Record<string, number>>;
  /** DynamoDB requests the task made and the capacity units they consumed. */
  readonly requests?: { readonly count: number; readonly capacityUnits: number };
}

/**
 * What a worker answers: the task's claim, and what applying the claimed intent took. The
 * claim is written before the intent is applied, so that part reaches the coordinator's
 * metrics only through this answer (an answer lost to a timeout leaves it out).
 */
export interface TaskResult extends TaskClaim {
  readonly applied?: {
    readonly ms: number;
    readonly requests?: { readonly count: number; readonly capacityUnits: number };
  };
}

/** What a task will do to state and outputs, recorded before it is claimed and applied. */
export interface Intent {
  readonly state: ReadonlyArray<{
    readonly stateName: string;
    readonly partition: number;
    readonly changes: readonly StateChange[];
    readonly initialized: boolean;
  }>;
  readonly panes: ReadonlyArray<{
    readonly stateName: string;
    readonly partition: number;
    readonly changes: PaneChanges;
  }>;
  /** Parts per output operator id. */
  readonly outputs: Readonly<Record<string, readonly Part[]>>;
  readonly deadLetters: readonly DeadLetter[];
}

/** The commit of a batch, with its metrics. */
export interface BatchCommit {
  readonly timeMs: number;
  readonly epoch: number;
  readonly metrics: BatchMetrics;
}

/** What a batch did, stored with its commit and logged as CloudWatch metrics. */
export interface BatchMetrics {
  readonly recordsIn: number;
  readonly bytesIn: number;
  /** Per shard: records, bytes and lag (MillisBehindLatest). */
  readonly shards: ReadonlyArray<{
    readonly source: string;
    readonly shardId: string;
    readonly records: number;
    readonly bytes: number;
    readonly millisBehindLatest: number;
  }>;
  readonly recordsOut: Readonly<Record<string, number>>;
  /** Time each stage took, and each of its tasks. */
  readonly stages: ReadonlyArray<{
    readonly stage: number;
    readonly kind: string;
    readonly ms: number;
    readonly taskMs: readonly number[];
  }>;
  /** From the batch time to the start of processing. */
  readonly schedulingDelayMs: number;
  readonly processingMs: number;
  /** From the batch time to the commit. */
  readonly totalDelayMs: number;
  readonly deadLettered: number;
  readonly taskErrors: number;
  readonly taskRetries: number;
  /**
   * Shards whose slice resumed past records already trimmed by retention (Kinesis does not say
   * how many records were lost; the gap's positions are in the map task's claim).
   */
  readonly retentionGaps: number;
  /** Keys held per stateful operator (state name) after the batch. */
  readonly keysInState: Readonly<Record<string, number>>;
  /** DynamoDB requests of the batch (tasks and coordinator) and the capacity units consumed. */
  readonly dynamoRequests: number;
  readonly consumedCapacityUnits: number;
}

/**
 * What a job is, as the coordinator that runs it wrote it when it took the lease: for tools
 * (the command line, the streaming UI) that show a job without loading its code.
 */
export interface JobDescription {
  readonly job: string;
  readonly batchIntervalMs: number;
  /** The text of `job.explain()`. */
  readonly explain: string;
  /** The plan (plain data: sources, sinks, operators, stateful operators, stages). */
  readonly plan: JobPlan;
  /** When it was written (epoch ms). */
  readonly writtenAtMs: number;
}

/** The stores the protocol runs over. */
export interface ProtocolStores {
  /** Records what the job is (replacing an older description). */
  describeJob(description: JobDescription): Promise<void>;
  /** Takes the lease; says too whether the job was asked to stop. */
  acquireLease(
    owner: string,
    nowMs: number,
    ttlMs: number,
  ): Promise<{ acquired: boolean; epoch: number; stopRequested?: boolean }>;
  /** Extends the lease; says whether it still was the caller's and whether to stop. */
  renewLease(
    owner: string,
    epoch: number,
    nowMs: number,
    ttlMs: number,
  ): Promise<{ renewed: boolean; stopRequested: boolean }>;
  releaseLease(owner: string, epoch: number): Promise<void>;
  getHead(): Promise<number | undefined>;
  /** Moves the head to `timeMs` if it is behind; returns whether it moved. */
  advanceHead(timeMs: number): Promise<boolean>;
  /** Writes the plan once; returns the stored plan (the first writer's). */
  putPlan(plan: BatchPlan): Promise<BatchPlan>;
  getPlan(timeMs: number): Promise<BatchPlan | undefined>;
  /** Plans after `afterMs`, oldest first. */
  listPlans(afterMs: number, limit: number): Promise<BatchPlan[]>;
  /** Writes the claim once; returns the stored claim (the winner's). */
  putClaim(claim: TaskClaim): Promise<TaskClaim>;
  getClaim(timeMs: number, stage: number, task: number): Promise<TaskClaim | undefined>;
  /** The claims of a stage, by task. */
  listClaims(timeMs: number, stage: number): Promise<TaskClaim[]>;
  putCommit(commit: BatchCommit): Promise<BatchCommit>;
  getCommit(timeMs: number): Promise<BatchCommit | undefined>;

  /** Writes a task's blocks (one item per non-empty partition and chunk); returns chunk counts. */
  putBlocks(
    timeMs: number,
    writeId: string,
    task: number,
    attempt: string,
    blocks: readonly Block[],
  ): Promise<number[]>;
  /**
   * The blocks the given writers claimed for one partition, in the order given; a claimed chunk
   * that is missing is an error, never an empty input.
   */
  readBlocks(
    timeMs: number,
    writeId: string,
    partition: number,
    writers: ReadonlyArray<{
      readonly task: number;
      readonly attempt: string;
      readonly chunks: number;
    }>,
  ): Promise<Block[]>;
  putIntent(
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
    intent: Intent,
  ): Promise<void>;
  getIntent(timeMs: number, stage: number, task: number, attempt: string): Promise<Intent>;

  loadKeyed(
    stateName: string,
    partition: number,
    need: KeyNeed,
  ): Promise<{ entries: Map<string, StateEntry>; complete: boolean; initialized: boolean }>;
  loadPanes(
    stateName: string,
    partition: number,
    need: PaneNeed,
  ): Promise<{ partials: Map<number, unknown>; panes: Map<number, unknown> }>;
  /** Applies state changes, each conditional on its key's version being older than `timeMs`. */
  applyState(
    timeMs: number,
    stateName: string,
    partition: number,
    changes: readonly StateChange[],
    initialized: boolean,
  ): Promise<void>;
  applyPanes(
    timeMs: number,
    stateName: string,
    partition: number,
    changes: PaneChanges,
  ): Promise<void>;
  /**
   * Writes the latest value of each key to a results sink, unless a newer batch wrote it, or a
   * writer later in the same batch (a higher `order`: stage, then task) did.
   */
  applyResults(
    timeMs: number,
    sink: string,
    entries: ReadonlyArray<{ readonly key: unknown; readonly value: unknown }>,
    order: number,
  ): Promise<void>;
  /** Sends records to a stream sink (at least once). */
  putStreamRecords(
    timeMs: number,
    sink: string,
    records: ReadonlyArray<{
      readonly stage: number;
      readonly partition: number;
      readonly index: number;
      readonly record: unknown;
    }>,
  ): Promise<void>;
  /** Stores a task's dead letters (idempotent: keyed by batch, stage, task and position). */
  putDeadLetters(
    where: { readonly timeMs: number; readonly stage: number; readonly task: number },
    letters: readonly DeadLetter[],
  ): Promise<void>;
  /** Deletes what no batch needs any more: blocks and intents of batches at or before `timeMs`. */
  deleteBatchData(timeMs: number): Promise<void>;
  /**
   * Housekeeping that is not needed every batch: deletes the tombstones of state removed by
   * batches at or before `tombstonesUpTo`, and plans, claims and commits of batches at or before
   * `controlUpTo`.
   */
  housekeep(tombstonesUpTo: number, controlUpTo: number): Promise<void>;
}

/** A raw source record of a slice. */
export interface SliceRecord {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly sequenceNumber: string;
  readonly arrivalTimeMs: number;
}

/** Reads shard slices (the receivers). */
export interface ShardReader {
  /** The shards of a source's stream with their parents, for planning. */
  listShards(
    source: string,
  ): Promise<ReadonlyArray<{ readonly shardId: string; readonly parents: readonly string[] }>>;
  /** Resolves a start position once, for the first plan (readers of real streams do). */
  resolveStart?(source: string, shardId: string, start: StartPosition): Promise<ResolvedPosition>;
  readSlice(
    source: string,
    task: ShardTask,
    batchTimeMs: number,
    maxRecords: number,
  ): Promise<{ records: SliceRecord[]; summary: SliceSummary }>;
}
