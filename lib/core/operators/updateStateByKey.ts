/**
 * updateStateByKey: a running state per key.
 *
 *   batch:   values of k this batch (maybe none)  +  state of k (maybe none)
 *   update:  fn(values, state) -> new state, or undefined to remove k
 *
 * Every key with state is visited every batch (Spark does the same), so the cost of a batch grows
 * with the number of keys in state, not only with the keys touched.
 */
import type { Key, Pair } from '../keys.js';
import { encodeKey, partitionOfEncoded } from '../keys.js';
import { type Guard, SKIPPED } from './guard.js';
import type { KeyedState } from './store.js';

export interface UpdateStateLogic {
  readonly update: (
    values: unknown[],
    state: unknown,
    info: { key: Key; timeMs: number },
  ) => unknown;
  readonly initial?: ReadonlyArray<Pair<Key, unknown>>;
}

/** Loads the initial state of one partition, once. */
export function seedInitialState(
  state: KeyedState,
  initial: ReadonlyArray<Pair<Key, unknown>> | undefined,
  partition: number,
  partitions: number,
  timeMs: number,
  label: string,
): void {
  if (state.initialized) return;
  for (const [key, value] of initial ?? []) {
    const enc = encodeKey(key, `${label} initialState`);
    if (partitionOfEncoded(enc, partitions) === partition)
      state.set(enc, { key, value, updatedMs: timeMs });
  }
  state.markInitialized();
}

/** One batch of updateStateByKey in one partition; returns every (key, state) pair after it. */
export function updateStateByKeyStep(
  input: readonly unknown[],
  state: KeyedState,
  logic: UpdateStateLogic,
  timeMs: number,
  label: string,
  guard: Guard,
): Pair<Key, unknown>[] {
  const grouped = new Map<string, [Key, unknown[]]>();
  for (const r of input) {
    const [k, v] = r as Pair<Key, unknown>;
    const enc = encodeKey(k, label);
    const g = grouped.get(enc);
    if (g) g[1].push(v);
    else grouped.set(enc, [k, [v]]);
  }
  const apply = (enc: string, key: Key, values: unknown[], prev: unknown) => {
    const next = guard.call(label, [key, values], () =>
      logic.update(values, prev, { key, timeMs }),
    );
    if (next === SKIPPED) return; // the key keeps its state; its inputs are dead-lettered
    if (next === undefined) state.delete(enc);
    else state.set(enc, { key, value: next, updatedMs: timeMs });
  };
  for (const [enc, entry] of [...state.entries()]) {
    const g = grouped.get(enc);
    apply(enc, entry.key, g ? g[1] : [], entry.value);
    grouped.delete(enc);
  }
  for (const [enc, [key, values]] of grouped) apply(enc, key, values, undefined);
  return [...state.entries()].map(([, e]) => [e.key, e.value] as const);
}
