/**
 * The state a task sees, loaded before its steps run and recording what they change.
 *
 * A reduce task loads the state its stateful steps need (every key of the partition, or the keys
 * of its input and those due to time out; the partials and panes a window step reads) into these
 * views, runs the engine's steps over them synchronously, and then writes the recorded changes
 * into its intent. Nothing is written to DynamoDB before the intent is claimed.
 */
import { SparklessError } from '../core/errors.js';
import type { KeyedState, PaneState, StateEntry } from '../core/operators/store.js';

/** One change to a key's state: its new entry, or null when it was removed. */
export interface StateChange {
  readonly encodedKey: string;
  readonly entry: StateEntry | null;
}

/** Keyed state of one operator partition, over what was loaded, recording changes. */
export class RecordingKeyedState implements KeyedState {
  readonly #loaded: ReadonlyMap<string, StateEntry>;
  readonly #complete: boolean;
  readonly #changes = new Map<string, StateEntry | null>();
  #initialized: boolean;
  #newlyInitialized = false;

  /**
   * @param loaded the entries read from the store
   * @param complete whether `loaded` holds every key of the partition
   * @param initialized whether the operator's initial state was loaded into the partition before
   */
  constructor(loaded: ReadonlyMap<string, StateEntry>, complete: boolean, initialized: boolean) {
    this.#loaded = loaded;
    this.#complete = complete;
    this.#initialized = initialized;
  }

  get(enc: string): StateEntry | undefined {
    if (this.#changes.has(enc)) return this.#changes.get(enc) ?? undefined;
    return this.#loaded.get(enc);
  }

  set(enc: string, entry: StateEntry): void {
    this.#changes.set(enc, entry);
  }

  delete(enc: string): void {
    if (this.get(enc) !== undefined || this.#changes.has(enc)) this.#changes.set(enc, null);
  }

  *#merged(): Iterable<readonly [string, StateEntry]> {
    for (const [enc, e] of this.#loaded) {
      if (!this.#changes.has(enc)) yield [enc, e];
    }
    for (const [enc, e] of this.#changes) if (e) yield [enc, e];
  }

  entries(): Iterable<readonly [string, StateEntry]> {
    if (!this.#complete) {
      throw new SparklessError(
        'PLAN_MISMATCH',
        'state view: every key was read although only some were loaded; the task must load the whole partition for this step',
      );
    }
    return this.#merged();
  }

  *updatedBefore(thresholdMs: number): Iterable<readonly [string, StateEntry]> {
    for (const e of this.#merged()) if (e[1].updatedMs < thresholdMs) yield e;
  }

  get initialized(): boolean {
    return this.#initialized;
  }

  markInitialized(): void {
    if (!this.#initialized) this.#newlyInitialized = true;
    this.#initialized = true;
  }

  /** What the step changed, in the order of the last change of each key. */
  changes(): StateChange[] {
    return [...this.#changes].map(([encodedKey, entry]) => ({ encodedKey, entry }));
  }

  /** Keys added minus keys removed by the step (every changed key was loaded or is new). */
  keyDelta(): number {
    let delta = 0;
    for (const [enc, entry] of this.#changes) {
      const existed = this.#loaded.has(enc);
      if (entry && !existed) delta++;
      else if (!entry && existed) delta--;
    }
    return delta;
  }

  /** Whether this task loaded the initial state into the partition. */
  get newlyInitialized(): boolean {
    return this.#newlyInitialized;
  }
}

/** Changes to the panes of one window operator partition. */
export interface PaneChanges {
  readonly partials: ReadonlyArray<{ readonly timeMs: number; readonly data: unknown }>;
  readonly panes: ReadonlyArray<{ readonly endMs: number; readonly data: unknown }>;
  /** Partials of batches up to this time are no longer needed. */
  readonly dropPartialsUpTo?: number;
  /** Panes ending up to this time are no longer needed. */
  readonly dropPanesUpTo?: number;
}

/** Panes of one window operator partition, over what was loaded, recording changes. */
export class RecordingPaneState implements PaneState {
  readonly #partials = new Map<number, unknown>();
  readonly #panes = new Map<number, unknown>();
  readonly #newPartials: Array<{ timeMs: number; data: unknown }> = [];
  readonly #newPanes: Array<{ endMs: number; data: unknown }> = [];
  #dropPartialsUpTo: number | undefined;
  #dropPanesUpTo: number | undefined;

  constructor(partials: ReadonlyMap<number, unknown>, panes: ReadonlyMap<number, unknown>) {
    for (const [t, d] of partials) this.#partials.set(t, d);
    for (const [t, d] of panes) this.#panes.set(t, d);
  }

  putPartial(timeMs: number, data: unknown): void {
    this.#partials.set(timeMs, data);
    this.#newPartials.push({ timeMs, data });
  }

  partials(fromMs: number, toMs: number): unknown[] {
    return [...this.#partials]
      .filter(([t]) => t > fromMs && t <= toMs)
      .sort((a, b) => a[0] - b[0])
      .map(([, d]) => d);
  }

  dropPartials(upToMs: number): void {
    for (const t of [...this.#partials.keys()]) if (t <= upToMs) this.#partials.delete(t);
    this.#dropPartialsUpTo = Math.max(this.#dropPartialsUpTo ?? -Infinity, upToMs);
  }

  putPane(endMs: number, data: unknown): void {
    this.#panes.set(endMs, data);
    this.#newPanes.push({ endMs, data });
  }

  getPane(endMs: number): unknown {
    return this.#panes.get(endMs);
  }

  dropPanes(upToMs: number): void {
    for (const t of [...this.#panes.keys()]) if (t <= upToMs) this.#panes.delete(t);
    this.#dropPanesUpTo = Math.max(this.#dropPanesUpTo ?? -Infinity, upToMs);
  }

  /** What the step changed. */
  changes(): PaneChanges {
    return {
      partials: this.#newPartials,
      panes: this.#newPanes,
      ...(this.#dropPartialsUpTo !== undefined ? { dropPartialsUpTo: this.#dropPartialsUpTo } : {}),
      ...(this.#dropPanesUpTo !== undefined ? { dropPanesUpTo: this.#dropPanesUpTo } : {}),
    };
  }
}
