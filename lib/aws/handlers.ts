/**
 * The Lambda handlers' logic: parse and validate the event, build the runtime once per cold
 * start, call the coordinator or the worker. `functions/*.ts` are thin composition roots over
 * these; tests pass their own runtime.
 */
import { randomUUID } from 'node:crypto';
import { SparklessError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import {
  type CoordinatorRun,
  type CoordinatorSettings,
  coordinate,
  type TaskInvoker,
} from './coordinator.js';
import { parseCoordinatorEvent, parseTaskEvent } from './events.js';
import type { ProtocolStores, ShardReader, TaskClaim } from './protocol.js';
import type { RequestCounter } from './stores/counter.js';
import { runWorkerTask } from './worker.js';

/** What the handlers run over. */
export interface Runtime {
  readonly job: Job;
  readonly stores: ProtocolStores;
  readonly reader: ShardReader;
  readonly invoker: TaskInvoker;
  readonly settings: CoordinatorSettings;
  /** Starts the next coordinator (an asynchronous invocation of the coordinator function). */
  readonly handOver?: () => Promise<void>;
  /** Counts the process's DynamoDB requests. */
  readonly counter?: RequestCounter;
}

/** The subset of the Lambda context the handlers use. */
export interface LambdaContext {
  readonly awsRequestId?: string;
  getRemainingTimeInMillis?(): number;
}

const log = (line: string) => {
  process.stdout.write(`${line}\n`);
};

/** The worker handler: runs one task and answers with its claim. */
export function createWorkerHandler(runtime: () => Promise<Runtime>) {
  let built: Promise<Runtime> | undefined;
  return async (event: unknown): Promise<TaskClaim> => {
    built ??= runtime();
    const rt = await built;
    const e = parseTaskEvent(event, rt.job.name);
    return runWorkerTask(
      {
        job: rt.job,
        stores: rt.stores,
        reader: rt.reader,
        now: Date.now,
        attemptId: randomUUID,
        log,
        ...(rt.counter ? { counter: rt.counter } : {}),
      },
      e,
    );
  };
}

/** The coordinator handler: runs batches for most of the invocation, then hands over. */
export function createCoordinatorHandler(runtime: () => Promise<Runtime>) {
  let built: Promise<Runtime> | undefined;
  /** The job's name once the runtime is built, for the error line. */
  let name: string | undefined;
  return async (event: unknown, context?: LambdaContext): Promise<CoordinatorRun> => {
    try {
      return await coordinateOnce(event, context);
    } catch (e) {
      // One JSON line with the error's code and the job, which the construct's log metric
      // filters match (a changed stateful plan is STATE_MISMATCH), before Lambda logs the
      // failure itself. Written raw, as the EMF lines are, so that the line is pure JSON.
      if (SparklessError.is(e)) {
        log(
          JSON.stringify({
            sparkless: 'error',
            code: e.code,
            job: name ?? null,
            message: e.message,
          }),
        );
      }
      throw e;
    }
  };
  async function coordinateOnce(event: unknown, context?: LambdaContext): Promise<CoordinatorRun> {
    built ??= runtime();
    const rt = await built;
    name = rt.job.name;
    const e = parseCoordinatorEvent(event, rt.job.name);
    // Stop at a batch boundary with time to spare: a quarter of the invocation, at least 30s.
    const remaining = context?.getRemainingTimeInMillis?.() ?? rt.settings.runForMs;
    const runForMs = Math.min(rt.settings.runForMs, remaining - Math.max(30_000, remaining / 4));
    const run = await coordinate(
      {
        job: rt.job,
        stores: rt.stores,
        reader: rt.reader,
        invoker: rt.invoker,
        settings: { ...rt.settings, runForMs: Math.max(runForMs, rt.job.batchIntervalMs) },
        owner: context?.awsRequestId ?? randomUUID(),
        now: Date.now,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        log,
        ...(rt.counter ? { counter: rt.counter } : {}),
      },
      {
        ...(e.maxBatches !== undefined ? { maxBatches: e.maxBatches } : {}),
        // A successor polls for the lease its predecessor is about to release.
        ...(e.reason === 'successor' ? { waitForLeaseMs: rt.settings.leaseTtlMs } : {}),
      },
    );
    if (run.acquired && run.reason === 'time-up' && rt.handOver) await rt.handOver();
    return run;
  }
}
