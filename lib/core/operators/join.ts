/**
 * Joins over a cogroup: for each key, the values of this side and of the other.
 *
 *   inner: every (v, w)        left: also (v, null) when there is no w
 *   right: also (null, w)      full: both, as Spark's fullOuterJoin
 */
import type { Key, Pair } from '../keys.js';
import type { ElementStep } from '../nodes.js';

export type JoinKind = 'join' | 'leftOuterJoin' | 'rightOuterJoin' | 'fullOuterJoin';

/** The joined records of one key. */
export function joinValues(kind: JoinKind, k: Key, vs: unknown[], ws: unknown[]): unknown[] {
  const out: unknown[] = [];
  const both = () => {
    for (const v of vs) for (const w of ws) out.push([k, [v, w]]);
  };
  switch (kind) {
    case 'join':
      both();
      break;
    case 'leftOuterJoin':
      if (ws.length === 0) for (const v of vs) out.push([k, [v, null]]);
      else both();
      break;
    case 'rightOuterJoin':
      if (vs.length === 0) for (const w of ws) out.push([k, [null, w]]);
      else both();
      break;
    case 'fullOuterJoin':
      if (vs.length === 0) for (const w of ws) out.push([k, [null, w]]);
      else if (ws.length === 0) for (const v of vs) out.push([k, [v, null]]);
      else both();
      break;
  }
  return out;
}

/** The element step that turns cogrouped [key, [vs, ws]] records into joined ones. */
export function joinStep(kind: JoinKind): ElementStep {
  return {
    kind: 'flatMap',
    fn: (r) => {
      const [k, [vs, ws]] = r as Pair<Key, [unknown[], unknown[]]>;
      return joinValues(kind, k, vs, ws);
    },
  };
}
