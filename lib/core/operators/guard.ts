/**
 * How a user function's failure on one record or key is handled: thrown (tests, by default) or
 * turned into a dead letter so that the batch goes on (the runtimes).
 */
import { describe } from '../duration.js';
import { SparklessError } from '../errors.js';

/** Returned by {@link Guard.call} when the function failed and the subject was dead-lettered. */
export const SKIPPED: unique symbol = Symbol('sparkless.skipped');

/** A record or key that could not be processed. */
export interface DeadLetter {
  /** The operator whose function failed (its stable id), or the source whose decoder failed. */
  readonly operator: string;
  /** `map` for single records before a shuffle, `reduce` for a key and its inputs after one. */
  readonly stage: 'map' | 'reduce';
  readonly timeMs: number;
  readonly partition: number;
  /** The record (map) or the key with its inputs (reduce). */
  readonly subject: unknown;
  readonly error: string;
  /** Where the record came from, for source records. */
  readonly shardId?: string;
  readonly sequenceNumber?: string;
  /** For failures while processing a source record: its position in the task's slice. */
  readonly sourceIndex?: number;
}

export interface Guard {
  /** Runs `fn` for one subject; a failure is thrown or dead-lettered (then SKIPPED is returned). */
  call<R>(operator: string, subject: unknown, fn: () => R): R | typeof SKIPPED;
  /** Handles a failure caught by the caller: throws it (with context) or dead-letters the subject. */
  fail(operator: string, subject: unknown, error: unknown): void;
}

/** A guard for one task. */
export function makeGuard(
  mode: 'throw' | 'deadLetter',
  where: { timeMs: number; partition: number; stage: 'map' | 'reduce' },
  sink: (d: DeadLetter) => void,
): Guard {
  const fail = (operator: string, subject: unknown, e: unknown): void => {
    if (mode === 'throw' || SparklessError.is(e, 'PLAN_MISMATCH')) {
      if (SparklessError.is(e)) throw e;
      throw new SparklessError(
        'USER_FUNCTION_FAILED',
        `${operator}: the function threw on ${describe(subject)}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    sink({
      operator,
      stage: where.stage,
      timeMs: where.timeMs,
      partition: where.partition,
      subject,
      error: e instanceof Error ? e.message : String(e),
    });
  };
  return {
    fail,
    call(operator, subject, fn) {
      try {
        return fn();
      } catch (e) {
        fail(operator, subject, e);
        return SKIPPED;
      }
    },
  };
}
