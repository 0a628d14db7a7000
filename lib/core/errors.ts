/**
 * One error hierarchy for the whole project. The brand survives two copies of this module in
 * different bundles, where `instanceof` would not.
 */
const BRAND = Symbol.for('sparkless.Error');

/** Stable codes, one per kind of mistake; tests and callers match on these. */
export type ErrorCode =
  | 'INVALID_DURATION'
  | 'NOT_A_MULTIPLE_OF_BATCH'
  | 'WINDOW_SHORTER_THAN_SLIDE'
  | 'INVALID_ARGUMENT'
  | 'INVALID_KEY'
  | 'NO_OUTPUT'
  | 'DUPLICATE_NAME'
  | 'UNKNOWN_SOURCE'
  | 'FOREIGN_STREAM'
  | 'ACTION_IN_TRANSFORM'
  | 'RESULT_TOO_LARGE'
  | 'STATE_TIMING_OUT'
  | 'STATE_MISSING'
  | 'USER_FUNCTION_FAILED'
  | 'PLAN_MISMATCH'
  | (string & {});

/** The base error of sparkless: a message that says what, the value, and the fix, and a code. */
export class SparklessError extends Error {
  readonly [BRAND] = true;
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SparklessError';
  }

  /** Whether `e` is a sparkless error (optionally of one code), across module copies. */
  static is(e: unknown, code?: ErrorCode): e is SparklessError {
    return (
      typeof e === 'object' &&
      e !== null &&
      (e as { [BRAND]?: unknown })[BRAND] === true &&
      (code === undefined || (e as SparklessError).code === code)
    );
  }
}
