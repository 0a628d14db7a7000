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
 * The map side of a shuffle: splits one task's records into blocks by target partition.
 * `bounds` are the range partitioner's upper bounds (range shuffles only).
 */
export function shuffleWrite(
  spec: ShuffleSpec,
  label: string,
  records: readonly unknown[],
  task: number,
  guard: Guard,
  bounds?: readonly Key[],
): Block[] {
  const n = spec.partitions;
  const blocks: Block[] = Array.from({ length: n }, () => []);
  const p = spec.partitioner;
  if (p.kind === 'single') {
    if (!spec.aggregator && !spec.group) {
      blocks[0] = [...records];
      return blocks;
    }
  } else if (p.kind === 'roundRobin') {
    records.forEach((r, i) => {
      blocks[(task + i) % n]!.push(r);
    });
    return blocks;
  } else if (p.kind === 'range') {
    for (const r of records) {
      const k = guard.call(label, r, () => p.keyOf(r));
      if (k === SKIPPED) continue;
      encodeKey(k, label);
      blocks[rangePartition(k, bounds ?? [], p.ascending)]!.push(r);
    }
    return blocks;
  }
  const agg = spec.aggregator;
  const combine = agg && spec.mapSideCombine;
  const maps: Array<Map<string, [Key, unknown]>> = Array.from({ length: n }, () => new Map());
  for (const r of records) {
    const [k, v] = asPair(r, label);
    const enc = encodeKey(k, label);
    const target = p.kind === 'single' ? 0 : partitionOfEncoded(enc, n);
    if (!combine && !spec.group) {
      blocks[target]!.push(r);
      continue;
    }
    const m = maps[target]!;
    const cur = m.get(enc);
    if (spec.group) {
      if (cur) (cur[1] as unknown[]).push(v);
      else m.set(enc, [k, [v]]);
    } else if (cur) {
      const c = guard.call(label, r, () => agg!.mergeValue(cur[1], v));
      if (c !== SKIPPED) cur[1] = c;
    } else {
      const c = guard.call(label, r, () => agg!.createCombiner(v));
      if (c !== SKIPPED) m.set(enc, [k, c]);
    }
  }
  if (combine || spec.group) {
    maps.forEach((m, i) => {
      blocks[i] = [...m.values()];
    });
  }
  return blocks;
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
