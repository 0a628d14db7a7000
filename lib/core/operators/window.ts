/**
 * Windows over panes.
 *
 * A window of length W sliding by S emits at batch times T that are multiples of S, covering
 * (T - W, T]. Time is cut into panes of g = gcd(W, S); each batch's input is kept as a partial
 * until the batch that closes its pane (T a multiple of g) combines the partials into the pane,
 * written once. A window is then W/g panes, and consecutive windows differ by S/g panes at each end:
 *
 *   |<------- previous window ------->|
 *          |<------- current window ------->|
 *   [ leaving ]                       [ entering ]
 *   next = (previous - leaving) + entering, when an inverse is given
 *
 * With an inverse, the window's value per key is kept as state and a slide reads only the S/g
 * panes entering and the S/g leaving, whatever W is. Without one, a slide combines all W/g panes.
 * Near the start of a stream, panes before the first batch are simply absent.
 */
import type { Key, Pair } from '../keys.js';
import { encodeKey } from '../keys.js';
import type { StatefulSpec } from '../nodes.js';
import { type Guard, SKIPPED } from './guard.js';
import type { KeyedState, PaneState } from './store.js';

export interface ReduceWindowLogic {
  readonly reduce: (a: unknown, b: unknown) => unknown;
  readonly inverse?: (a: unknown, b: unknown) => unknown;
  readonly filter?: (entry: Pair<Key, unknown>) => boolean;
}

type Entries = Pair<Key, unknown>[];

function paneGeometry(spec: StatefulSpec) {
  const windowMs = spec.windowMs!;
  const slideMs = spec.slideMs!;
  const paneMs = spec.paneMs!;
  return { windowMs, slideMs, paneMs };
}

/** Closes the pane ending at `timeMs` when it ends now. */
function closePane<D>(
  panes: PaneState<D>,
  timeMs: number,
  paneMs: number,
  merge: (parts: D[]) => D | undefined,
) {
  if (timeMs % paneMs !== 0) return;
  const parts = panes.partials(timeMs - paneMs, timeMs);
  const pane = merge(parts);
  if (pane !== undefined) panes.putPane(timeMs, pane);
  panes.dropPartials(timeMs);
}

/** The ends of the panes in (fromMs, toMs], oldest first. */
function paneEnds(fromMs: number, toMs: number, paneMs: number): number[] {
  const ends: number[] = [];
  for (let e = Math.floor(fromMs / paneMs) * paneMs + paneMs; e <= toMs; e += paneMs) ends.push(e);
  return ends;
}

/** One batch of `window` (records) in one partition; returns the window's records at a slide. */
export function windowStep(
  input: readonly unknown[],
  panes: PaneState<unknown[]>,
  spec: StatefulSpec,
  timeMs: number,
): unknown[] | undefined {
  const { windowMs, slideMs, paneMs } = paneGeometry(spec);
  if (input.length) panes.putPartial(timeMs, [...input]);
  closePane(panes, timeMs, paneMs, (parts) => (parts.length ? parts.flat() : undefined));
  if (timeMs % slideMs !== 0) return undefined;
  const out: unknown[] = [];
  for (const end of paneEnds(timeMs - windowMs, timeMs, paneMs)) {
    const pane = panes.getPane(end);
    if (pane) for (const r of pane) out.push(r);
  }
  panes.dropPanes(timeMs - windowMs);
  return out;
}

function reduceInto(
  acc: Map<string, [Key, unknown]>,
  entries: Entries,
  logic: ReduceWindowLogic,
  label: string,
  guard: Guard,
) {
  for (const [k, v] of entries) {
    const enc = encodeKey(k, label);
    const cur = acc.get(enc);
    if (!cur) {
      acc.set(enc, [k, v]);
      continue;
    }
    const r = guard.call(label, [k, [cur[1], v]], () => logic.reduce(cur[1], v));
    if (r !== SKIPPED) cur[1] = r;
  }
}

/**
 * One batch of reduceByKeyAndWindow in one partition; returns the window's (key, value) pairs at a
 * slide. `window` holds the previous window's value per key (used only with an inverse).
 */
export function reduceWindowStep(
  input: readonly unknown[],
  panes: PaneState<Entries>,
  window: KeyedState,
  spec: StatefulSpec,
  logic: ReduceWindowLogic,
  timeMs: number,
  label: string,
  guard: Guard,
): Entries | undefined {
  const { windowMs, slideMs, paneMs } = paneGeometry(spec);
  const reduceAll = (parts: Entries[]): Map<string, [Key, unknown]> => {
    const acc = new Map<string, [Key, unknown]>();
    for (const p of parts) reduceInto(acc, p, logic, label, guard);
    return acc;
  };
  if (input.length) panes.putPartial(timeMs, [...reduceAll([input as Entries]).values()]);
  closePane(panes, timeMs, paneMs, (parts) => {
    const merged = reduceAll(parts);
    return merged.size ? [...merged.values()] : undefined;
  });
  if (timeMs % slideMs !== 0) return undefined;

  const panesIn = (from: number, to: number) =>
    paneEnds(from, to, paneMs)
      .map((e) => panes.getPane(e))
      .filter((p): p is Entries => p !== undefined);

  let result: Map<string, [Key, unknown]>;
  if (!logic.inverse) {
    result = reduceAll(panesIn(timeMs - windowMs, timeMs));
  } else {
    const inverse = logic.inverse;
    const entering = reduceAll(panesIn(timeMs - slideMs, timeMs));
    const leaving = reduceAll(panesIn(timeMs - slideMs - windowMs, timeMs - windowMs));
    result = new Map();
    for (const [enc, prev] of window.entries()) {
      let v = prev.value;
      const out = leaving.get(enc);
      if (out) {
        const r = guard.call(label, [prev.key, [v, out[1]]], () => inverse(v, out[1]));
        if (r !== SKIPPED) v = r;
      }
      const inc = entering.get(enc);
      if (inc) {
        const r = guard.call(label, [prev.key, [v, inc[1]]], () => logic.reduce(v, inc[1]));
        if (r !== SKIPPED) v = r;
        entering.delete(enc);
      }
      result.set(enc, [prev.key, v]);
    }
    for (const [enc, e] of entering) result.set(enc, e);
  }
  if (logic.filter) {
    const filter = logic.filter;
    for (const [enc, e] of [...result]) {
      const keep = guard.call(label, e, () => filter(e));
      if (keep !== true) result.delete(enc);
    }
  }
  if (logic.inverse) {
    for (const [enc] of [...window.entries()]) if (!result.has(enc)) window.delete(enc);
    for (const [enc, [key, value]] of result) window.set(enc, { key, value, updatedMs: timeMs });
  }
  panes.dropPanes(timeMs - windowMs);
  return [...result.values()];
}

/**
 * What a window step at `timeMs` reads from storage: the partials of earlier batches of the pane
 * it closes, and the panes of the window (without an inverse) or only those entering and leaving
 * it (with one) — but never this batch's own partial or the pane it closes, which the step
 * computes itself and which cannot be stored yet (they are written from its claimed intent).
 */
export function paneNeeds(
  spec: StatefulSpec,
  inverse: boolean,
  timeMs: number,
): { partials?: readonly [number, number]; panes: number[] } {
  const { windowMs, slideMs, paneMs, inputSlideMs } = {
    ...paneGeometry(spec),
    inputSlideMs: spec.inputSlideMs ?? 1,
  };
  const closes = timeMs % paneMs === 0;
  // Earlier batches of the closing pane: (timeMs - paneMs, timeMs - inputSlideMs].
  const earlier = paneMs > inputSlideMs;
  let panes: number[] = [];
  if (timeMs % slideMs === 0) {
    panes = inverse
      ? [
          ...paneEnds(timeMs - slideMs - windowMs, timeMs - windowMs, paneMs),
          ...paneEnds(timeMs - slideMs, timeMs, paneMs),
        ]
      : paneEnds(timeMs - windowMs, timeMs, paneMs);
  }
  panes = panes.filter((end) => end !== timeMs);
  return closes && earlier
    ? { partials: [timeMs - paneMs, timeMs - inputSlideMs], panes }
    : { panes };
}
