/**
 * What the streaming UI's server sends its page: the JSON of its `/api/` endpoints and of its
 * event stream. Types only, shared by the server (lib/ui/server.ts) and the page
 * (lib/ui/client), so that the two cannot drift apart.
 *
 *   GET /api/jobs                         JobSummary[]
 *   GET /api/jobs/:job                    JobView
 *   GET /api/jobs/:job/batches            BatchWindow (the recent batches, oldest first)
 *   GET /api/jobs/:job/batches/:timeMs    BatchView (404 when nothing is recorded of it)
 *   GET /api/jobs/:job/events             server-sent events: `snapshot` (a BatchWindow), then
 *                                         one `batch` (a BatchCommit) per new commit, and
 *                                         `problem` ({ message }) while the tables cannot be read
 */
import type { BatchCommit, BatchPlan, SliceSummary } from '../aws/protocol.js';
import type { StoredDeadLetter } from '../aws/stores/ports.js';
import type { PlanStage } from '../core/plan.js';
import type { Prices } from './cost.js';

/** A job as the job list shows it. */
export interface JobSummary {
  readonly name: string;
  readonly batchIntervalMs: number;
  /** The stateful operators: state name, kind, partitions. */
  readonly stateful: ReadonlyArray<{
    readonly name: string;
    readonly kind: string;
    readonly partitions: number;
  }>;
  /** Source name -> stream name. */
  readonly sources: Readonly<Record<string, string>>;
  /** Sink name -> where it writes. */
  readonly sinks: Readonly<Record<string, string>>;
}

/** One job, with what its coordinator recorded of it. */
export interface JobView extends JobSummary {
  /** The last committed batch (undefined before the first commit). */
  readonly head: number | undefined;
  /** What the coordinator wrote when it took the lease; undefined before one ever ran. */
  readonly description:
    | {
        /** The text of `job.explain()`. */
        readonly explain: string;
        readonly writtenAtMs: number;
        /** The stages of a batch, as planned (a transform may change them at run time). */
        readonly stages: readonly PlanStage[];
      }
    | undefined;
  /** How many recent batches the server keeps and sends. */
  readonly windowSize: number;
  /** The prices the cost estimate uses. */
  readonly prices: Prices;
}

/** The recent batches of a job, oldest first: at most `windowSize`, ending at the head. */
export interface BatchWindow {
  readonly job: string;
  readonly windowSize: number;
  readonly batchIntervalMs: number;
  readonly batches: readonly BatchCommit[];
}

/** One task of a batch, as its claim records it. */
export interface TaskView {
  readonly stage: number;
  readonly task: number;
  readonly attempt: string;
  readonly durationMs: number;
  readonly deadLettered: number;
  /** For a map task: its shard's slice (records, bytes, lag, where it ended). */
  readonly slice?: SliceSummary;
  /** For a map task: the shard it read and where it started (from the batch's plan). */
  readonly shard?: { readonly source: string; readonly shardId: string; readonly start: string };
  readonly recordsOut?: Readonly<Record<string, number>>;
  readonly stateKeyDelta?: Readonly<Record<string, number>>;
  readonly requests?: { readonly count: number; readonly capacityUnits: number };
}

/** Everything recorded of one batch. */
export interface BatchView {
  readonly job: string;
  readonly timeMs: number;
  readonly batchIntervalMs: number;
  readonly head: number | undefined;
  /** Undefined while the batch is not committed (or after its control items were removed). */
  readonly commit: BatchCommit | undefined;
  readonly plan: BatchPlan | undefined;
  /** The claims of its tasks, by stage then task. */
  readonly tasks: readonly TaskView[];
  /** The job's plan as text (`explain()`), when a coordinator recorded it. */
  readonly explain: string | undefined;
  /** Stage id -> the planned stage, when the job's description has it. */
  readonly stages: Readonly<Record<number, PlanStage>>;
  /** The batch's dead letters, the first `deadLetterLimit` of them. */
  readonly deadLetters: readonly StoredDeadLetter[];
  readonly deadLetterLimit: number;
  readonly prices: Prices;
}

/** An error as the endpoints send it. */
export interface ApiError {
  readonly error: string;
}
