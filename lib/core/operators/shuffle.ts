/**
 * Shuffles: the map side writes one block per target partition, combining per key first where the
 * operator allows it; the reduce side merges the blocks of every map task in task order.
 *
 *   map task 0: [a,1] [b,1] [a,1]  --combine-->  block(p0) = [a,2]   block(p1) = [b,1]
 *   map task 1: [a,1]              --combine-->  block(p0) = [a,1]
 *   reduce p0: merge(block 0, block 1) = [a,3]        reduce p1: [b,1]
 *
 * Values keep their arrival order within a task, and tasks are read in order, so grouped values
 * are in arrival order within a shard.
 */
import type { Key, Pair } from '../keys.js';
import { encodeKey, partitionOfEncoded } from '../keys.js';
import type { ShuffleSpec } from '../nodes.js';
import { type Guard, SKIPPED } from './guard.js';

/** One map task's output for one target partition. */
export type Block = unknown[];

function asPair(r: unknown, label: string): Pair<Key, unknown> {
  if (!Array.isArray(r) || r.length !== 2) {
    // encodeKey names the operator and the value.
    encodeKey(
      undefined,
      `${label} (records must be [key, value] pairs, got ${JSON.stringify(r) ?? String(r)})`,
    );
  }
  return r as unknown as Pair<Key, unknown>;
}

/**
 * The map side of a shuffle for one task: takes the task's records one at a time and splits them
 * into blocks by target partition, combining per key first where the operator allows it.
 * `bounds` are the range partitioner's upper bounds (range shuffles only).
 */
export class ShuffleWriter {
  readonly #spec: ShuffleSpec;
  readonly #label: string;
  readonly #task: number;
  readonly #guard: Guard;
  readonly #bounds: readonly Key[];
  readonly #blocks: unknown[][];
  readonly #keyed: boolean;
  readonly #combine: boolean;
  // One entry per distinct key of the task: the key is encoded and hashed once, however many
  // records carry it. Primitive keys are looked up as they are (a Map tells 1 from '1' and
  // treats -0 as 0, as the canonical encoding does); arrays by their encoding.
  readonly #primitives = new Map<unknown, Entry>();
  readonly #arrays = new Map<string, Entry>();
  #count = 0;

  constructor(
    spec: ShuffleSpec,
    label: string,
    task: number,
    guard: Guard,
    bounds?: readonly Key[],
  ) {
    this.#spec = spec;
    this.#label = label;
    this.#task = task;
    this.#guard = guard;
    this.#bounds = bounds ?? [];
    this.#blocks = Array.from({ length: spec.partitions }, () => []);
    const kind = spec.partitioner.kind;
    this.#combine = spec.aggregator !== undefined && spec.mapSideCombine === true;
    this.#keyed =
      kind === 'hash' ||
      (kind === 'single' && (spec.aggregator !== undefined || spec.group === true));
  }

  #entry(k: Key): Entry {
    const byValue = typeof k !== 'object';
    let e = byValue ? this.#primitives.get(k) : this.#arrays.get(encodeKey(k, this.#label));
    if (!e) {
      const enc = encodeKey(k, this.#label);
      const target =
        this.#spec.partitioner.kind === 'single'
          ? 0
          : partitionOfEncoded(enc, this.#spec.partitions);
      e = { key: k, value: undefined, target, fresh: true };
      if (byValue) this.#primitives.set(k, e);
      else this.#arrays.set(enc, e);
    }
    return e;
  }

  /** Adds one record. */
  add(r: unknown): void {
    const spec = this.#spec;
    const p = spec.partitioner;
    if (!this.#keyed) {
      if (p.kind === 'roundRobin') {
        this.#blocks[(this.#task + this.#count++) % spec.partitions]!.push(r);
      } else if (p.kind === 'range') {
        let k: Key;
        try {
          k = p.keyOf(r);
          encodeKey(k, this.#label);
        } catch (err) {
          this.#guard.fail(this.#label, r, err);
          return;
        }
        this.#blocks[rangePartition(k, this.#bounds, p.ascending)]!.push(r);
      } else this.#blocks[0]!.push(r);
      return;
    }
    if (!Array.isArray(r) || r.length !== 2) asPair(r, this.#label);
    const k = (r as unknown[])[0] as Key;
    const v = (r as unknown[])[1];
    const e = (typeof k !== 'object' && this.#primitives.get(k)) || this.#entry(k);
    if (!this.#combine && !spec.group) {
      this.#blocks[e.target]!.push(r);
      return;
    }
    if (spec.group) {
      if (e.fresh) {
        e.fresh = false;
        e.value = [v];
        this.#blocks[e.target]!.push(e);
      } else (e.value as unknown[]).push(v);
      return;
    }
    const agg = spec.aggregator!;
    try {
      if (e.fresh) {
        e.value = agg.createCombiner(v);
        e.fresh = false;
        this.#blocks[e.target]!.push(e);
      } else e.value = agg.mergeValue(e.value, v);
    } catch (err) {
      this.#guard.fail(this.#label, r, err);
    }
  }

  /** The blocks, one per target partition (empty ones included). */
  finish(): Block[] {
    if (this.#keyed && (this.#combine || this.#spec.group)) {
      return this.#blocks.map((b) => (b as Entry[]).map((e) => [e.key, e.value]));
    }
    return this.#blocks;
  }
}

/** The map side of a shuffle over a task's records at once; see {@link ShuffleWriter}. */
export function shuffleWrite(
  spec: ShuffleSpec,
  label: string,
  records: readonly unknown[],
  task: number,
  guard: Guard,
  bounds?: readonly Key[],
): Block[] {
  const w = new ShuffleWriter(spec, label, task, guard, bounds);
  for (const r of records) w.add(r);
  return w.finish();
}

/** A key's combined value in one map task, and the partition it goes to. */
interface Entry {
  readonly key: Key;
  value: unknown;
  readonly target: number;
  fresh: boolean;
}

/** The reduce side of a shuffle: merges the blocks of every map task, in task order. */
export function shuffleRead(
  spec: ShuffleSpec,
  label: string,
  blocks: readonly Block[],
  guard: Guard,
): unknown[] {
  const p = spec.partitioner;
  if (!spec.aggregator && !spec.group) {
    const out = blocks.flat();
    if (p.kind === 'range') {
      const keyed = out.map((r) => [p.keyOf(r), r] as const);
      keyed.sort((a, b) => (p.ascending ? compareKeys(a[0], b[0]) : compareKeys(b[0], a[0])));
      return keyed.map((e) => e[1]);
    }
    return out;
  }
  // Gather each key's inputs from every block first, then combine them in one guarded call, so
  // that a function failing on a key dead-letters the key with all its inputs.
  const m = new Map<string, [Key, unknown[]]>();
  for (const block of blocks) {
    for (const r of block) {
      const [k, v] = r as [Key, unknown];
      const enc = encodeKey(k, label);
      const cur = m.get(enc);
      if (spec.group) {
        if (cur) for (const x of v as unknown[]) cur[1].push(x);
        else m.set(enc, [k, [...(v as unknown[])]]);
      } else if (cur) cur[1].push(v);
      else m.set(enc, [k, [v]]);
    }
  }
  if (spec.group) return [...m.values()];
  const agg = spec.aggregator!;
  const out: unknown[] = [];
  for (const [k, inputs] of m.values()) {
    const c = guard.call(label, [k, inputs], () => {
      if (spec.mapSideCombine) return inputs.reduce((a, b) => agg.mergeCombiners(a, b));
      let acc = agg.createCombiner(inputs[0]);
      for (let i = 1; i < inputs.length; i++) acc = agg.mergeValue(acc, inputs[i]);
      return acc;
    });
    if (c !== SKIPPED) out.push([k, c]);
  }
  return out;
}

/** The map side of a cogroup: one block per target partition, per-key value lists of one side. */
export function cogroupWrite(records: readonly unknown[], label: string, n: number): Block[] {
  const maps: Array<Map<string, [Key, unknown[]]>> = Array.from({ length: n }, () => new Map());
  for (const r of records) {
    const [k, v] = asPair(r, label);
    const enc = encodeKey(k, label);
    const m = maps[partitionOfEncoded(enc, n)]!;
    const cur = m.get(enc);
    if (cur) cur[1].push(v);
    else m.set(enc, [k, [v]]);
  }
  return maps.map((m) => [...m.values()]);
}

/** The reduce side of a cogroup: for each key, the values of each side, in side order. */
export function cogroupRead(sides: ReadonlyArray<readonly Block[]>, label: string): unknown[] {
  const m = new Map<string, [Key, unknown[][]]>();
  sides.forEach((blocks, side) => {
    for (const block of blocks) {
      for (const r of block) {
        const [k, vs] = r as [Key, unknown[]];
        const enc = encodeKey(k, label);
        let cur = m.get(enc);
        if (!cur) {
          cur = [k, sides.map(() => [])];
          m.set(enc, cur);
        }
        cur[1][side]!.push(...vs);
      }
    }
  });
  return [...m.values()];
}

const TYPE_RANK: Record<string, number> = { boolean: 0, number: 1, string: 2, object: 3 };

/** A total order on keys: booleans, then numbers, then strings, then arrays (lexicographic). */
export function compareKeys(a: Key, b: Key): number {
  const ta = TYPE_RANK[typeof a]!;
  const tb = TYPE_RANK[typeof b]!;
  if (ta !== tb) return ta - tb;
  if (Array.isArray(a)) {
    const bb = b as readonly Key[];
    for (let i = 0; i < Math.min(a.length, bb.length); i++) {
      const c = compareKeys(a[i]!, bb[i]!);
      if (c !== 0) return c;
    }
    return a.length - bb.length;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The upper bounds of `n` range partitions that split the sorted `keys` evenly. */
export function rangeBounds(keys: Key[], n: number, ascending: boolean): Key[] {
  const sorted = [...keys].sort((a, b) => (ascending ? compareKeys(a, b) : compareKeys(b, a)));
  const bounds: Key[] = [];
  for (let i = 1; i < n; i++) {
    const k = sorted[Math.floor((i * sorted.length) / n) - 1];
    if (
      k !== undefined &&
      (bounds.length === 0 || compareKeys(bounds[bounds.length - 1]!, k) !== 0)
    )
      bounds.push(k);
  }
  return bounds;
}

function rangePartition(k: Key, bounds: readonly Key[], ascending: boolean): number {
  let i = 0;
  while (
    i < bounds.length &&
    (ascending ? compareKeys(k, bounds[i]!) > 0 : compareKeys(k, bounds[i]!) < 0)
  )
    i++;
  return i;
}
