/**
 * How the command line writes times and tables, and reads batch times back.
 */
import { usageError } from './io.js';

/** A batch time as a clock reading (UTC), with milliseconds when batches are not whole seconds. */
export function clock(timeMs: number, batchIntervalMs = 1000): string {
  const iso = new Date(timeMs).toISOString();
  return batchIntervalMs % 1000 === 0 && timeMs % 1000 === 0
    ? iso.slice(11, 19)
    : iso.slice(11, 23);
}

/** Milliseconds as `230 ms`, or `12.3 s` from ten seconds up. */
export function duration(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/**
 * A batch time as given on the command line: epoch milliseconds (as `batches --json` shows
 * them), an ISO date and time (`2026-11-20T10:11:12Z`), or a UTC clock reading as `batches`
 * shows it (`10:11:12`, the latest such time not after `nowMs`). It must be a batch time: a
 * multiple of the batch interval.
 */
export function parseBatchTime(
  command: string,
  text: string,
  batchIntervalMs: number,
  nowMs: number,
): number {
  let timeMs: number;
  const clockMatch = /^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(text);
  if (/^\d+$/.test(text)) {
    timeMs = Number(text);
  } else if (clockMatch) {
    const [, h, m, s, frac] = clockMatch;
    const day = new Date(nowMs);
    timeMs = Date.UTC(
      day.getUTCFullYear(),
      day.getUTCMonth(),
      day.getUTCDate(),
      Number(h),
      Number(m),
      Number(s),
      Number((frac ?? '0').padEnd(3, '0')),
    );
    if (Number(h) > 23 || Number(m) > 59 || Number(s) > 59) timeMs = Number.NaN;
    else if (timeMs > nowMs) timeMs -= 24 * 3_600_000;
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    timeMs = Date.parse(text);
  } else {
    timeMs = Number.NaN;
  }
  if (!Number.isSafeInteger(timeMs)) {
    throw usageError(
      `${command}: '${text}' is not a batch time; give it as batches shows it (10:11:12, UTC), as epoch milliseconds, or as an ISO time (2026-11-20T10:11:12Z)`,
    );
  }
  if (timeMs % batchIntervalMs !== 0) {
    const before = timeMs - (timeMs % batchIntervalMs);
    throw usageError(
      `${command}: ${text} is not a batch time: batch times are multiples of the batch interval (${batchIntervalMs} ms); the nearest are ${before} (${clock(before, batchIntervalMs)}) and ${before + batchIntervalMs} (${clock(before + batchIntervalMs, batchIntervalMs)})`,
    );
  }
  return timeMs;
}

/** A table with a header row; columns after the first are right-aligned. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `1 record`, `2 records`. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A value for a person: strings as JSON (quoted), the rest as compact JSON. */
export function show(value: unknown, max = 200): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
