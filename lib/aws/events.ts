/**
 * The events the coordinator and the worker functions accept, and their validation: a malformed
 * event is rejected with an error that names what is wrong and what was expected.
 */
import { describe } from '../core/duration.js';
import { SparklessError } from '../core/errors.js';

/** Runs one task of one stage of the batch at `timeMs`. */
export interface TaskEvent {
  readonly kind: 'task';
  readonly job: string;
  readonly timeMs: number;
  readonly stage: number;
  readonly task: number;
  /** For map tasks: the most records to read (halved on each failed attempt). */
  readonly maxRecords?: number;
  /** For a map task that failed at one record: dead-letter that record instead of running it. */
  readonly deadLetterFirst?: boolean;
  /**
   * For a later stage's task: dead-letter the keys a user function fails on instead of failing
   * the task (its last attempts; earlier ones fail and are retried).
   */
  readonly deadLetterFailures?: boolean;
  /** When the coordinator stops waiting, epoch milliseconds. */
  readonly deadlineMs?: number;
}

/** Starts (or continues) the driver of a job. */
export interface CoordinatorEvent {
  readonly kind: 'coordinate';
  readonly job?: string;
  /** Why it was started: the schedule, a predecessor handing over, or a person. */
  readonly reason?: 'schedule' | 'successor' | 'manual';
  /** Stop after this many batches (tests and one-off runs). */
  readonly maxBatches?: number;
}

function fail(handler: string, what: string, got: unknown): never {
  throw new SparklessError('INVALID_EVENT', `${handler}: ${what}, got ${describe(got)}`);
}

function wholeAtLeast(
  handler: string,
  event: Record<string, unknown>,
  name: string,
  min: number,
  optional = false,
): void {
  const v = event[name];
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    fail(handler, `'${name}' must be a whole number >= ${min}`, v);
  }
}

/** Validates a worker event. */
export function parseTaskEvent(event: unknown, job: string): TaskEvent {
  const h = 'worker';
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    fail(h, "the event must be an object like { kind: 'task', job, timeMs, stage, task }", event);
  }
  const e = event as Record<string, unknown>;
  if (e.kind !== 'task') fail(h, "'kind' must be 'task'", e.kind);
  if (e.job !== job) fail(h, `'job' must be '${job}' (the job this function runs)`, e.job);
  wholeAtLeast(h, e, 'timeMs', 0);
  wholeAtLeast(h, e, 'stage', 0);
  wholeAtLeast(h, e, 'task', 0);
  wholeAtLeast(h, e, 'maxRecords', 1, true);
  wholeAtLeast(h, e, 'deadlineMs', 0, true);
  for (const flag of ['deadLetterFirst', 'deadLetterFailures'] as const) {
    if (e[flag] !== undefined && typeof e[flag] !== 'boolean')
      fail(h, `'${flag}' must be a boolean`, e[flag]);
  }
  return e as unknown as TaskEvent;
}

/** Validates a coordinator event (an EventBridge schedule event counts as `{ kind: 'coordinate' }`). */
export function parseCoordinatorEvent(event: unknown, job: string): CoordinatorEvent {
  const h = 'coordinator';
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    fail(h, "the event must be an object like { kind: 'coordinate' }", event);
  }
  const e = event as Record<string, unknown>;
  // The schedule's events come from EventBridge.
  if (e.source === 'aws.events' || e['detail-type'] === 'Scheduled Event') {
    return { kind: 'coordinate', job, reason: 'schedule' };
  }
  if (e.kind !== 'coordinate')
    fail(h, "'kind' must be 'coordinate' (or an EventBridge scheduled event)", e.kind);
  if (e.job !== undefined && e.job !== job)
    fail(h, `'job' must be '${job}' (the job this function runs)`, e.job);
  if (e.reason !== undefined && !['schedule', 'successor', 'manual'].includes(e.reason as string)) {
    fail(h, "'reason' must be 'schedule', 'successor' or 'manual'", e.reason);
  }
  wholeAtLeast(h, e, 'maxBatches', 1, true);
  return { ...(e as unknown as CoordinatorEvent), job };
}
