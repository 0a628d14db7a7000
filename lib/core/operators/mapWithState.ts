/**
 * mapWithState: a function called once per record with the key's state, plus timeouts.
 *
 * A key whose last record came at batch time u times out at the first batch T with
 * u < T - timeout, with one more call whose state says isTimingOut(). Spark looks for timed-out
 * keys only on checkpoint batches; this looks every batch, so keys time out at the first batch the
 * rule allows.
 *
 *   u=3s, timeout=2s:   T=4s (3 < 2? no)   T=5s (3 < 3? no)   T=6s (3 < 4: times out)
 */
import type { Key, Pair } from '../keys.js';
import { encodeKey } from '../keys.js';
import { type Guard, SKIPPED } from './guard.js';
import { State } from './state.js';
import type { KeyedState } from './store.js';

export interface MapWithStateLogic {
  readonly fn: (key: Key, value: unknown, state: unknown, timeMs: number) => unknown;
}

/** One batch of mapWithState in one partition. */
export function mapWithStateStep(
  input: readonly unknown[],
  state: KeyedState,
  logic: MapWithStateLogic,
  timeoutMs: number | undefined,
  timeMs: number,
  label: string,
  guard: Guard,
  wantSnapshots: boolean,
): { mapped: unknown[]; snapshots: Pair<Key, unknown>[] } {
  const mapped: unknown[] = [];
  for (const r of input) {
    const [k, v] = r as Pair<Key, unknown>;
    const enc = encodeKey(k, label);
    const entry = state.get(enc);
    const st = new State<unknown>(entry ? { value: entry.value } : undefined);
    const out = guard.call(label, r, () => logic.fn(k, v, st, timeMs));
    if (out === SKIPPED) continue;
    if (st.isRemoved) state.delete(enc);
    else if (st.isUpdated) state.set(enc, { key: k, value: st.get(), updatedMs: timeMs });
    else if (entry && timeoutMs !== undefined) state.set(enc, { ...entry, updatedMs: timeMs });
    if (out !== undefined) mapped.push(out);
  }
  if (timeoutMs !== undefined) {
    for (const [enc, entry] of [...state.updatedBefore(timeMs - timeoutMs)]) {
      const st = new State<unknown>({ value: entry.value }, true);
      const out = guard.call(label, [entry.key, entry.value], () =>
        logic.fn(entry.key, undefined, st, timeMs),
      );
      state.delete(enc);
      if (out !== SKIPPED && out !== undefined) mapped.push(out);
    }
  }
  const snapshots = wantSnapshots
    ? [...state.entries()].map(([, e]) => [e.key, e.value] as const)
    : [];
  return { mapped, snapshots };
}
