/**
 * Element-wise steps (map, flatMap, filter, mapValues, flatMapValues) over one partition, each
 * record guarded on its own so that one bad record does not fail the others.
 */
import type { ElementStep } from '../nodes.js';
import { type Guard, SKIPPED } from './guard.js';

export function runElementStep(
  step: ElementStep,
  label: string,
  records: readonly unknown[],
  guard: Guard,
): unknown[] {
  const out: unknown[] = [];
  switch (step.kind) {
    case 'map':
      for (const r of records) {
        const v = guard.call(label, r, () => step.fn(r));
        if (v !== SKIPPED) out.push(v);
      }
      return out;
    case 'filter':
      for (const r of records) {
        const keep = guard.call(label, r, () => step.fn(r));
        if (keep !== SKIPPED && keep) out.push(r);
      }
      return out;
    case 'flatMap':
      for (const r of records) {
        const vs = guard.call(label, r, () => [...step.fn(r)]);
        if (vs !== SKIPPED) for (const v of vs) out.push(v);
      }
      return out;
    case 'mapValues':
      for (const r of records) {
        const [k, v] = r as [unknown, unknown];
        const u = guard.call(label, r, () => step.fn(v));
        if (u !== SKIPPED) out.push([k, u]);
      }
      return out;
    case 'flatMapValues':
      for (const r of records) {
        const [k, v] = r as [unknown, unknown];
        const us = guard.call(label, r, () => [...step.fn(v)]);
        if (us !== SKIPPED) for (const u of us) out.push([k, u]);
      }
      return out;
  }
}
