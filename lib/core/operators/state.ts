/**
 * The State object a mapWithState function sees (Spark's `State[S]`).
 */
import { SparklessError } from '../errors.js';

/** The state of one key, as seen by a mapWithState function during one call. */
export class State<S> {
  #exists: boolean;
  #value: S | undefined;
  #timingOut: boolean;
  #updated = false;
  #removed = false;

  /** @internal */
  constructor(value: { value: S } | undefined, timingOut = false) {
    this.#exists = value !== undefined;
    this.#value = value?.value;
    this.#timingOut = timingOut;
  }

  /** Whether the key has state. */
  exists(): boolean {
    return this.#exists;
  }

  /** The state; throws when there is none (use getOption or exists first). */
  get(): S {
    if (!this.#exists) {
      throw new SparklessError(
        'STATE_MISSING',
        'State.get: the key has no state; check exists() first or use getOption()',
      );
    }
    return this.#value as S;
  }

  /** The state, or undefined when there is none. */
  getOption(): S | undefined {
    return this.#exists ? this.#value : undefined;
  }

  /** Sets the key's state. Not allowed while the key is timing out or after remove(). */
  update(value: S): void {
    if (this.#removed) {
      throw new SparklessError(
        'STATE_TIMING_OUT',
        'State.update: the state was removed in this call; update it before removing, or not at all',
      );
    }
    if (this.#timingOut) {
      throw new SparklessError(
        'STATE_TIMING_OUT',
        'State.update: the key is timing out and its state is being removed; check isTimingOut() before updating',
      );
    }
    if (value === undefined) {
      throw new SparklessError(
        'INVALID_ARGUMENT',
        'State.update: the new state is undefined; call remove() to drop a key',
      );
    }
    this.#value = value;
    this.#exists = true;
    this.#updated = true;
  }

  /** Removes the key's state. Not allowed while the key is timing out (it is removed anyway). */
  remove(): void {
    if (this.#timingOut) {
      throw new SparklessError(
        'STATE_TIMING_OUT',
        'State.remove: the key is timing out and is removed anyway; do not call remove() when isTimingOut() is true',
      );
    }
    if (this.#removed) {
      throw new SparklessError('INVALID_ARGUMENT', 'State.remove: the state was already removed');
    }
    // As Spark's StateImpl.remove: a removed state is no longer updated, whatever came before.
    this.#removed = true;
    this.#updated = false;
    this.#exists = false;
    this.#value = undefined;
  }

  /** Whether this call is the last one for the key, made because it timed out. */
  isTimingOut(): boolean {
    return this.#timingOut;
  }

  /** @internal */
  get isUpdated(): boolean {
    return this.#updated;
  }
  /** @internal */
  get isRemoved(): boolean {
    return this.#removed;
  }
}
