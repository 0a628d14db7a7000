/**
 * Element-wise steps (map, flatMap, filter, mapValues, flatMapValues) over one partition.
 *
 * Consecutive steps run fused, record by record, as Spark pipelines narrow operators inside a
 * task: no array is built between two steps. Each record is guarded on its own, so one bad
 * record does not fail the others.
 */
import type { ElementStep } from '../nodes.js';
import type { Guard } from './guard.js';

/** One step of a fused chain, with the operator id its failures are reported under. */
export interface ChainStep {
  readonly step: ElementStep;
  readonly label: string;
}

/**
 * Runs a chain of element-wise steps over the records of one partition, handing each result to
 * `emit` (a shuffle writer, say) or, without it, returning them.
 */
export function runElementSteps(
  chain: readonly ChainStep[],
  records: readonly unknown[],
  guard: Guard,
  emit?: (x: unknown) => void,
  onRecord?: (index: number) => void,
): unknown[] {
  const out: unknown[] = [];
  const sink =
    emit ??
    ((x: unknown) => {
      out.push(x);
    });
  const n = chain.length;
  const each = (x: unknown, i: number): void => {
    if (i === n) {
      sink(x);
      return;
    }
    const { step, label } = chain[i]!;
    switch (step.kind) {
      case 'map': {
        let v: unknown;
        try {
          v = step.fn(x);
        } catch (e) {
          guard.fail(label, x, e);
          return;
        }
        each(v, i + 1);
        return;
      }
      case 'filter': {
        let keep: boolean;
        try {
          keep = step.fn(x);
        } catch (e) {
          guard.fail(label, x, e);
          return;
        }
        if (keep) each(x, i + 1);
        return;
      }
      case 'flatMap': {
        let vs: Iterable<unknown>;
        try {
          vs = step.fn(x);
          if (!Array.isArray(vs)) vs = [...vs];
        } catch (e) {
          guard.fail(label, x, e);
          return;
        }
        for (const v of vs as unknown[]) each(v, i + 1);
        return;
      }
      case 'mapValues': {
        const [k, v] = x as [unknown, unknown];
        let u: unknown;
        try {
          u = step.fn(v);
        } catch (e) {
          guard.fail(label, x, e);
          return;
        }
        each([k, u], i + 1);
        return;
      }
      case 'flatMapValues': {
        const [k, v] = x as [unknown, unknown];
        let us: Iterable<unknown>;
        try {
          us = step.fn(v);
          if (!Array.isArray(us)) us = [...us];
        } catch (e) {
          guard.fail(label, x, e);
          return;
        }
        for (const u of us as unknown[]) each([k, u], i + 1);
        return;
      }
    }
  };
  if (onRecord) {
    for (let i = 0; i < records.length; i++) {
      onRecord(i);
      each(records[i], 0);
    }
  } else for (const r of records) each(r, 0);
  return out;
}
