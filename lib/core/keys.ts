/**
 * Keys and their one canonical encoding.
 *
 * A key is a string, a finite number, a boolean, or an array of keys. Its canonical encoding is
 * its JSON text (with -0 written as 0), so equal keys encode equally in every process and on
 * every machine; the partition of a key is a stable 32-bit hash (murmur3 over the UTF-8 bytes of
 * the encoding) modulo the partition count. The cloud runtime stores keys under this encoding.
 */
import { describe } from './duration.js';
import { SparklessError } from './errors.js';

/** What may be a key: strings, numbers, booleans, or arrays of them. */
export type Key = string | number | boolean | readonly Key[];

/** A value that survives a shuffle or a state store: JSON-like data. */
export type Json =
  | null
  | boolean
  | number
  | string
  | readonly Json[]
  | { readonly [k: string]: Json };

/** A key-value pair, the element type of pair streams. */
export type Pair<K, V> = readonly [K, V];

/** Widens literal key types so that `pair('a', 1)` is `Pair<string, number>`. */
export type Widen<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T;

/**
 * Makes a key-value pair. Use it instead of `[k, v] as const`, which would infer literal types.
 *
 * @example words.map((w) => pair(w, 1)).reduceByKey((a, b) => a + b)
 */
export function pair<K extends Key, V>(key: K, value: V): Pair<Widen<K>, Widen<V>> {
  return [key, value] as unknown as Pair<Widen<K>, Widen<V>>;
}

/** Whether a value is a valid key (see {@link Key}). */
export function isKey(value: unknown): value is Key {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      return Array.isArray(value) && value.every(isKey);
    default:
      return false;
  }
}

/**
 * The canonical encoding of a key. Throws, naming the operator and the value, when the value is not
 * a key.
 */
export function encodeKey(key: unknown, op = 'key'): string {
  switch (typeof key) {
    case 'string':
      return JSON.stringify(key);
    case 'boolean':
      return key ? 'true' : 'false';
    case 'number':
      if (Number.isFinite(key)) return Object.is(key, -0) ? '0' : JSON.stringify(key);
      break;
    case 'object':
      if (Array.isArray(key)) return `[${key.map((k) => encodeKey(k, op)).join(',')}]`;
      break;
  }
  throw new SparklessError(
    'INVALID_KEY',
    `${op}: ${describe(key)} is not a valid key; keys are strings, finite numbers, booleans or arrays of them (map it to one, e.g. JSON.stringify for objects)`,
  );
}

/** Decodes a canonical key encoding back into the key. */
export function decodeKey(encoded: string): Key {
  return JSON.parse(encoded) as Key;
}

/**
 * A canonical encoding of any JSON-like value (object keys sorted), used where values are compared
 * structurally, as `distinct` does.
 */
export function encodeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && Object.is(value, -0)) return '0';
    const s = JSON.stringify(value);
    return s === undefined ? 'undefined' : s;
  }
  if (Array.isArray(value)) return `[${value.map(encodeValue).join(',')}]`;
  const entries = Object.keys(value as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${encodeValue((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

// murmur3's running state, kept at module level so that hashing allocates nothing per call.
let mH = 0;
let mK = 0;
let mN = 0; // bytes gathered in mK
let mLen = 0;

function mixByte(byte: number): void {
  mK |= byte << (8 * mN);
  mN++;
  mLen++;
  if (mN === 4) {
    let k = Math.imul(mK, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let h = mH ^ k;
    h = (h << 13) | (h >>> 19);
    mH = (Math.imul(h, 5) + 0xe6546b64) | 0;
    mK = 0;
    mN = 0;
  }
}

/** murmur3 (x86, 32-bit, seed 0) over the UTF-8 bytes of a string. */
export function hashString(s: string): number {
  mH = 0;
  mK = 0;
  mN = 0;
  mLen = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) mixByte(c);
    else if (c < 0x800) {
      mixByte(0xc0 | (c >> 6));
      mixByte(0x80 | (c & 63));
    } else if (c < 0x10000) {
      mixByte(0xe0 | (c >> 12));
      mixByte(0x80 | ((c >> 6) & 63));
      mixByte(0x80 | (c & 63));
    } else {
      mixByte(0xf0 | (c >> 18));
      mixByte(0x80 | ((c >> 12) & 63));
      mixByte(0x80 | ((c >> 6) & 63));
      mixByte(0x80 | (c & 63));
    }
  }
  let h = mH;
  if (mN > 0) {
    let k = Math.imul(mK, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= mLen;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The partition (0..n-1) of an encoded key among `n` partitions. */
export function partitionOfEncoded(encodedKey: string, n: number): number {
  return n === 1 ? 0 : hashString(encodedKey) % n;
}

/** The partition (0..n-1) of a key among `n` partitions. */
export function partitionOf(key: Key, n: number): number {
  return partitionOfEncoded(encodeKey(key), n);
}
