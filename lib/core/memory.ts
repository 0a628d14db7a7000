/**
 * In-memory implementations of the state ports, used by the in-memory executor.
 */
import type { KeyedState, PaneState, StateEntry } from './operators/store.js';

/** Keyed state of one operator partition, in a Map. */
export class MemoryKeyedState<S = unknown> implements KeyedState<S> {
  readonly #map = new Map<string, StateEntry<S>>();
  #initialized = false;

  get(enc: string) {
    return this.#map.get(enc);
  }
  set(enc: string, entry: StateEntry<S>) {
    this.#map.set(enc, entry);
  }
  delete(enc: string) {
    this.#map.delete(enc);
  }
  entries() {
    return this.#map.entries();
  }
  *updatedBefore(thresholdMs: number) {
    for (const e of this.#map) if (e[1].updatedMs < thresholdMs) yield e;
  }
  get initialized() {
    return this.#initialized;
  }
  markInitialized() {
    this.#initialized = true;
  }
  get size() {
    return this.#map.size;
  }
}

/** Panes of one window operator partition, in Maps keyed by time. */
export class MemoryPaneState<D = unknown> implements PaneState<D> {
  readonly #partials = new Map<number, D>();
  readonly #panes = new Map<number, D>();

  putPartial(timeMs: number, data: D) {
    this.#partials.set(timeMs, data);
  }
  partials(fromMs: number, toMs: number) {
    return [...this.#partials]
      .filter(([t]) => t > fromMs && t <= toMs)
      .sort((a, b) => a[0] - b[0])
      .map(([, d]) => d);
  }
  dropPartials(upToMs: number) {
    for (const t of [...this.#partials.keys()]) if (t <= upToMs) this.#partials.delete(t);
  }
  putPane(endMs: number, data: D) {
    this.#panes.set(endMs, data);
  }
  getPane(endMs: number) {
    return this.#panes.get(endMs);
  }
  dropPanes(upToMs: number) {
    for (const t of [...this.#panes.keys()]) if (t <= upToMs) this.#panes.delete(t);
  }
  /** How many panes and partials are held (tests check that windows do not leak). */
  get held() {
    return this.#panes.size + this.#partials.size;
  }
}

/** All the state of a job in memory: per stateful operator (by its state name) and partition. */
export class MemoryStore {
  readonly keyed = new Map<string, MemoryKeyedState[]>();
  readonly panes = new Map<string, MemoryPaneState[]>();

  keyedState(stateName: string, partition: number, partitions: number): MemoryKeyedState {
    let parts = this.keyed.get(stateName);
    if (!parts) {
      parts = Array.from({ length: partitions }, () => new MemoryKeyedState());
      this.keyed.set(stateName, parts);
    }
    return parts[partition]!;
  }

  paneState(stateName: string, partition: number, partitions: number): MemoryPaneState {
    let parts = this.panes.get(stateName);
    if (!parts) {
      parts = Array.from({ length: partitions }, () => new MemoryPaneState());
      this.panes.set(stateName, parts);
    }
    return parts[partition]!;
  }
}
