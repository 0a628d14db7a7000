/**
 * The ports through which stateful operators see their stored state, one view per operator and
 * partition for one batch. Synchronous: the in-memory executor implements them over maps; the
 * cloud runtime reads what a task needs first, then records the changes as the task's intent.
 */
import type { Key } from '../keys.js';

/** The stored state of one key. */
export interface StateEntry<S = unknown> {
  readonly key: Key;
  readonly value: S;
  /** The batch time of the key's last update (mapWithState: of its last record). */
  readonly updatedMs: number;
}

/** The keyed state of one operator in one partition. */
export interface KeyedState<S = unknown> {
  get(encodedKey: string): StateEntry<S> | undefined;
  set(encodedKey: string, entry: StateEntry<S>): void;
  delete(encodedKey: string): void;
  /** Every key of the partition. */
  entries(): Iterable<readonly [string, StateEntry<S>]>;
  /** The keys last updated before `thresholdMs` (mapWithState timeouts). */
  updatedBefore(thresholdMs: number): Iterable<readonly [string, StateEntry<S>]>;
  /** Whether the operator's initial state was loaded into this partition. */
  readonly initialized: boolean;
  markInitialized(): void;
}

/**
 * The panes of one window operator in one partition: per-batch partials until the pane they
 * belong to closes, then one pane per `paneMs` of time, written once.
 */
export interface PaneState<D = unknown> {
  putPartial(timeMs: number, data: D): void;
  /** Partials of batches in (fromMs, toMs], in time order. */
  partials(fromMs: number, toMs: number): D[];
  dropPartials(upToMs: number): void;
  putPane(endMs: number, data: D): void;
  getPane(endMs: number): D | undefined;
  /** Drops the panes ending at or before `upToMs`. */
  dropPanes(upToMs: number): void;
}
