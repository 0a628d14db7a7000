/**
 * The table assertion the operator tests rely on must be able to fail: on order (when ordered),
 * on multiplicity, on a missing or extra batch, and on a batch's time.
 */
import { describe, expect, it } from 'vitest';
import { canonical, expectBatches, multiset, sortValues } from '../helpers.js';

const at = (...batches: [number, unknown[]][]) =>
  batches.map(([timeMs, records]) => ({ timeMs, records }));

describe('expectBatches', () => {
  it('compares each batch as a multiset when not ordered', () => {
    expectBatches(at([1000, ['b', 'a', 'a']], [2000, []]), [['a', 'b', 'a'], []], {
      ordered: false,
    });
    expect(() =>
      expectBatches(at([1000, ['a', 'b']]), [['a', 'b', 'b']], { ordered: false }),
    ).toThrow();
    expect(() =>
      expectBatches(at([1000, ['a', 'a', 'b']]), [['a', 'b']], { ordered: false }),
    ).toThrow();
  });

  it('compares each batch in order when ordered', () => {
    expectBatches(at([1000, [1, 2, 3]]), [[1, 2, 3]], { ordered: true });
    expect(() => expectBatches(at([1000, [1, 3, 2]]), [[1, 2, 3]], { ordered: true })).toThrow();
  });

  it('fails on a missing, an extra or an empty-instead-of-missing batch', () => {
    const expected = [['a'], []];
    expect(() => expectBatches(at([1000, ['a']]), expected, { ordered: true })).toThrow();
    expect(() =>
      expectBatches(at([1000, ['a']], [2000, []], [3000, []]), expected, { ordered: true }),
    ).toThrow();
    expect(() =>
      expectBatches(at([1000, ['a']], [2000, []]), [['a']], { ordered: true }),
    ).toThrow();
  });

  it('checks the batch times, every second by default or every `everyMs`', () => {
    expect(() =>
      expectBatches(at([1000, [1]], [3000, [2]]), [[1], [2]], { ordered: true }),
    ).toThrow();
    expectBatches(at([2000, [1]], [4000, [2]]), [[1], [2]], { ordered: true, everyMs: 2000 });
    expectBatches(at([500, [1]]), [[1]], { ordered: true, timesMs: [500] });
  });

  it('tells nested values apart and normalizes both sides alike', () => {
    expect(() =>
      expectBatches(at([1000, [['a', [1, 2]]]]), [[['a', [2, 1]]]], { ordered: false }),
    ).toThrow();
    expectBatches(at([1000, [['a', [2, 1]]]]), [[['a', [1, 2]]]], {
      ordered: false,
      normalize: sortValues,
    });
    expect(() =>
      expectBatches(at([1000, [['a', null]]]), [[['a', undefined]]], { ordered: true }),
    ).toThrow();
  });

  it('orders a multiset canonically, keeping duplicates', () => {
    expect(multiset([3, 1, 2, 1])).toEqual([1, 1, 2, 3]);
    expect(canonical({ b: 1, a: [null, -0] })).toBe('{"a":[null,-0],"b":1}');
  });
});
