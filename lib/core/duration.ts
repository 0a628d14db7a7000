/**
 * Durations are values, never bare numbers: `seconds(10)`, `minutes(5)`.
 * Internally a whole number of milliseconds.
 */
import { SparklessError } from './errors.js';

const DURATION = Symbol.for('sparkless.Duration');

/** A length of time, a whole number of milliseconds. Create it with {@link seconds} and friends. */
export interface Duration {
  readonly [DURATION]: true;
  /** The length in milliseconds. */
  readonly ms: number;
  /** A short human form: `500ms`, `45s`, `5m`, `2h`, `1m30s`. */
  toString(): string;
}

function make(ms: number, what: string): Duration {
  if (!Number.isFinite(ms) || !Number.isInteger(ms)) {
    throw new SparklessError(
      'INVALID_DURATION',
      `${what} must be a whole number of milliseconds, got ${ms}ms; round it, e.g. milliseconds(${Math.round(ms)})`,
    );
  }
  return Object.freeze({ [DURATION]: true as const, ms, toString: () => formatMs(ms) });
}

/** A duration of `n` milliseconds. */
export function milliseconds(n: number): Duration {
  return make(n, `milliseconds(${n})`);
}
/** A duration of `n` seconds. */
export function seconds(n: number): Duration {
  return make(n * 1000, `seconds(${n})`);
}
/** A duration of `n` minutes. */
export function minutes(n: number): Duration {
  return make(n * 60_000, `minutes(${n})`);
}
/** A duration of `n` hours. */
export function hours(n: number): Duration {
  return make(n * 3_600_000, `hours(${n})`);
}

/** Whether a value is a {@link Duration}. Works across copies of the module. */
export function isDuration(value: unknown): value is Duration {
  return typeof value === 'object' && value !== null && (value as Duration)[DURATION] === true;
}

/** Formats milliseconds the way errors and `explain()` show durations. */
export function formatMs(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest % 1000 !== 0) return `${sign}${rest}ms`;
  rest /= 1000;
  const h = Math.floor(rest / 3600);
  const m = Math.floor((rest % 3600) / 60);
  const s = rest % 60;
  return sign + (h ? `${h}h` : '') + (m ? `${m}m` : '') + (s ? `${s}s` : '');
}

/** Greatest common divisor of two non-negative whole numbers. */
export function gcd(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y) [x, y] = [y, x % y];
  return x;
}

/** Least common multiple of two positive whole numbers. */
export function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * Checks a duration argument of an operator: a Duration, positive, and (when `unitMs` is given)
 * a multiple of the batch interval. Throws an error that names the operator, the value and a fix.
 */
export function requireDuration(
  op: string,
  what: string,
  value: unknown,
  batchIntervalMs?: number,
): number {
  if (!isDuration(value)) {
    throw new SparklessError(
      'INVALID_DURATION',
      `${op}: ${what} must be a Duration such as seconds(10), got ${describe(value)}`,
    );
  }
  if (value.ms <= 0) {
    throw new SparklessError(
      'INVALID_DURATION',
      `${op}: ${what} (${formatMs(value.ms)}) must be positive`,
    );
  }
  if (batchIntervalMs !== undefined && value.ms % batchIntervalMs !== 0) {
    const lower = Math.floor(value.ms / batchIntervalMs) * batchIntervalMs;
    const upper = lower + batchIntervalMs;
    const tries = lower > 0 ? `${formatMs(lower)} or ${formatMs(upper)}` : formatMs(upper);
    throw new SparklessError(
      'NOT_A_MULTIPLE_OF_BATCH',
      `${op}: ${what} (${formatMs(value.ms)}) must be a multiple of the batch interval (${formatMs(batchIntervalMs)}); try ${tries}`,
    );
  }
  return value.ms;
}

/** A short description of any value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (isDuration(value)) return value.toString();
  try {
    const s = JSON.stringify(value);
    return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
