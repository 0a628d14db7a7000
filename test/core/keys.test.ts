/**
 * The canonical key encoding and the stable hash. Both are part of what is stored: the cloud
 * runtime keeps state under encodeKey's text and routes keys to partitions by hashString, so a
 * change to either is a breaking change to every deployed job's state.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import {
  decodeKey,
  encodeKey,
  encodeValue,
  hashString,
  isKey,
  type Key,
  partitionOf,
  SparklessError,
} from 'sparkless';
import { runBatches } from 'sparkless/testing';
import { describe, expect, it } from 'vitest';

/**
 * murmur3 x86 32-bit written from the algorithm's definition (Austin Appleby's MurmurHash3.cpp,
 * MurmurHash3_x86_32) over bytes, with a seed, independently of the engine's string-walking
 * version. Checked below against published vectors before it is used as a reference.
 */
function murmur3(bytes: Uint8Array, seed = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
  const scramble = (k: number) => Math.imul(rotl(Math.imul(k, c1), 15), c2);
  let h = seed | 0;
  const blocks = Math.floor(bytes.length / 4);
  for (let i = 0; i < blocks; i++) {
    const o = i * 4;
    const k = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
    h ^= scramble(k);
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let tail = 0;
  const rest = bytes.length & 3;
  for (let i = rest - 1; i >= 0; i--) tail = (tail << 8) | bytes[blocks * 4 + i]!;
  if (rest > 0) h ^= scramble(tail);
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

/** Keys of every shape, nested up to a few levels. */
const anyKey: fc.Arbitrary<Key> = fc.letrec<{ key: Key }>((tie) => ({
  key: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.array(tie('key'), { maxLength: 4 }),
  ),
})).key;

/** The key with every -0 written as 0, which is what an encoding round trip gives back. */
function withoutNegativeZero(k: Key): Key {
  if (Array.isArray(k)) return k.map(withoutNegativeZero);
  return Object.is(k, -0) ? 0 : k;
}

describe('the murmur3 reference in this file', () => {
  // Published vectors for MurmurHash3_x86_32 (SMHasher's verification values, as listed with the
  // algorithm's description), including non-zero seeds, so that the reference is checked on its
  // own before it judges the engine.
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ])('murmur3(%j, seed %i) is %i', (input, seed, expected) => {
    expect(murmur3(ascii(input), seed)).toBe(expected);
  });
});

describe('hashString', () => {
  // Seed 0, over the UTF-8 bytes; the ASCII values agree with the reference above and with other
  // implementations of murmur3_32 (e.g. Guava's Hashing.murmur3_32_fixed()).
  it.each([
    ['', 0],
    ['a', 0x3c2569b2],
    ['abc', 0xb3dd93fa],
    ['test', 0xba6bd213],
    ['hello', 0x248bfa47],
    ['hello, world', 0x149bbb7f],
    ['The quick brown fox jumps over the lazy dog', 0x2e4ff723],
    // Non-ASCII: two-, three- and four-byte UTF-8 sequences (the last from a surrogate pair).
    ['ü', 0x7840e6aa],
    ['日本語', 0xa5a47297],
    ['😀', 0xbeb42efa],
  ])('hashString(%j) is %i', (input, expected) => {
    expect(hashString(input)).toBe(expected);
    expect(murmur3(utf8(input))).toBe(expected);
  });

  it('equals murmur3 over the UTF-8 bytes that Node encodes, for any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        expect(hashString(s)).toBe(murmur3(utf8(s)));
      }),
      { numRuns: 500 },
    );
  });

  it('covers every tail length (0 to 3 bytes after the 4-byte blocks)', () => {
    for (const s of ['abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh', 'ab€', 'a€', '€€€€']) {
      expect(hashString(s)).toBe(murmur3(utf8(s)));
    }
  });

  it('returns an unsigned 32-bit whole number', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => {
        const h = hashString(s);
        expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
      }),
    );
  });

  it('only ever sees well-formed text from encodeKey: a lone surrogate is escaped', () => {
    // JSON.stringify escapes lone surrogates, so the encoding of any string key is valid UTF-16
    // and its UTF-8 bytes are unambiguous.
    expect(encodeKey('\ud800')).toBe('"\\ud800"');
    expect(encodeKey('x\udc00y')).toBe('"x\\udc00y"');
    expect(hashString(encodeKey('\ud800'))).toBe(murmur3(utf8('"\\ud800"')));
  });
});

describe('encodeKey', () => {
  it.each<[Key, string]>([
    ['a', '"a"'],
    ['', '""'],
    ['say "hi"\n', '"say \\"hi\\"\\n"'],
    ['日本', '"日本"'],
    [1, '1'],
    [-3, '-3'],
    [1.5, '1.5'],
    [0, '0'],
    [-0, '0'],
    [1e21, '1e+21'],
    [true, 'true'],
    [false, 'false'],
    [[], '[]'],
    [['a', 1], '["a",1]'],
    [['a', [1, [true, []]], -0], '["a",[1,[true,[]]],0]'],
  ])('encodes %j as %s', (key, expected) => {
    expect(encodeKey(key)).toBe(expected);
  });

  it('writes -0 as 0 so that 0 and -0 are one key', () => {
    expect(encodeKey(-0)).toBe(encodeKey(0));
    expect(encodeKey([-0, ['x', -0]])).toBe(encodeKey([0, ['x', 0]]));
    expect(partitionOf(-0, 7)).toBe(partitionOf(0, 7));
  });

  it('gives different keys different encodings', () => {
    expect(encodeKey('1')).not.toBe(encodeKey(1));
    expect(encodeKey('true')).not.toBe(encodeKey(true));
    expect(encodeKey(['a', 'b'])).not.toBe(encodeKey(['a,b']));
    expect(encodeKey([['a'], 'b'])).not.toBe(encodeKey(['a', ['b']]));
  });

  it.each<[string, unknown, string]>([
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['-Infinity', Number.NEGATIVE_INFINITY, '-Infinity'],
    ['an object', { a: 1 }, '{"a":1}'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['a function', () => 1, 'a function'],
    ['an array holding NaN', ['a', Number.NaN], 'NaN'],
    ['an array holding an object', [1, { b: 2 }], '{"b":2}'],
  ])('rejects %s, naming the operator and the value', (_what, value, shown) => {
    let error: unknown;
    try {
      encodeKey(value, 'reduceByKey');
    } catch (e) {
      error = e;
    }
    expect(SparklessError.is(error, 'INVALID_KEY')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('reduceByKey');
    expect(message).toContain(shown);
    expect(message).toMatch(/not a valid key/);
    expect(isKey(value)).toBe(false);
  });

  it('agrees with isKey on any value', () => {
    fc.assert(
      fc.property(fc.oneof(anyKey, fc.anything()), (value) => {
        let encoded: string | undefined;
        try {
          encoded = encodeKey(value);
        } catch (e) {
          expect(SparklessError.is(e, 'INVALID_KEY')).toBe(true);
        }
        expect(encoded !== undefined).toBe(isKey(value));
      }),
      { numRuns: 300 },
    );
  });

  it.each([1, 3])(
    'an invalid key in a job fails the batch with INVALID_KEY naming the operator (%i partitions)',
    async (partitions) => {
      const run = runBatches(
        [[['a']]],
        (s) =>
          s
            .map((w) => [{ w }, 1] as unknown as readonly [Key, number])
            .reduceByKey((a, b) => a + b),
        { defaultPartitions: partitions },
      );
      await expect(run).rejects.toSatisfy(
        (e) =>
          SparklessError.is(e, 'INVALID_KEY') &&
          /reduceByKey/.test(e.message) &&
          e.message.includes('{"w":"a"}'),
      );
    },
  );
});

describe('decodeKey', () => {
  it('round-trips every key (with -0 read back as 0)', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        const encoded = encodeKey(key);
        const decoded = decodeKey(encoded);
        expect(decoded).toStrictEqual(withoutNegativeZero(key));
        expect(encodeKey(decoded)).toBe(encoded);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes nested keys', () => {
    expect(decodeKey('["a",[1,[true,[]]],0]')).toEqual(['a', [1, [true, []]], 0]);
    expect(decodeKey('"日本"')).toBe('日本');
  });
});

describe('partitionOf', () => {
  it('is hashString of the encoding modulo the partition count, and 0 for one partition', () => {
    // "a" encodes as the three bytes `"a"`, whose murmur3 (seed 0) is 0x74ec327a = 1961636474.
    expect(murmur3(utf8('"a"'))).toBe(0x74ec327a);
    expect(partitionOf('a', 4)).toBe(1961636474 % 4);
    expect(partitionOf('a', 7)).toBe(1961636474 % 7);
    expect(partitionOf(['a', 1], 5)).toBe(0x44714762 % 5);
    expect(partitionOf('a', 1)).toBe(0);
  });

  it('is a whole number in 0..n-1, the same on every call and for equal keys', () => {
    fc.assert(
      fc.property(anyKey, fc.integer({ min: 1, max: 10_000 }), (key, n) => {
        const p = partitionOf(key, n);
        expect(Number.isInteger(p) && p >= 0 && p < n).toBe(true);
        expect(partitionOf(key, n)).toBe(p);
        expect(partitionOf(decodeKey(encodeKey(key)), n)).toBe(p);
        expect(p).toBe(murmur3(utf8(encodeKey(key))) % n);
      }),
      { numRuns: 500 },
    );
  });

  it('spreads many keys over all partitions', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[partitionOf(`key-${i}`, 8)]! += 1;
    // Each partition expects 1000; a stable hash with this spread is far inside these bounds.
    for (const c of counts) expect(c).toBeGreaterThan(850);
    for (const c of counts) expect(c).toBeLessThan(1150);
  });
});

describe('encodeValue', () => {
  it('sorts object keys at every level', () => {
    expect(encodeValue({ b: 1, a: [{ d: 2, c: 1 }], c: { z: null, y: 'x' } })).toBe(
      '{"a":[{"c":1,"d":2}],"b":1,"c":{"y":"x","z":null}}',
    );
  });

  it('encodes equal objects equally whatever the insertion order', () => {
    const record = fc.dictionary(
      fc.string({ maxLength: 4 }),
      fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null)),
      { maxKeys: 6 },
    );
    fc.assert(
      fc.property(record, (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(encodeValue(reversed)).toBe(encodeValue(obj));
        expect(encodeValue({ outer: reversed })).toBe(encodeValue({ outer: obj }));
      }),
    );
  });

  it('writes scalars as JSON, -0 as 0, and undefined as undefined', () => {
    expect(encodeValue('a')).toBe('"a"');
    expect(encodeValue(2)).toBe('2');
    expect(encodeValue(-0)).toBe('0');
    expect(encodeValue(null)).toBe('null');
    expect(encodeValue(true)).toBe('true');
    expect(encodeValue(undefined)).toBe('undefined');
    expect(encodeValue([1, 'a', [null]])).toBe('[1,"a",[null]]');
  });

  it('agrees with encodeKey on keys', () => {
    fc.assert(
      fc.property(anyKey, (key) => {
        expect(encodeValue(key)).toBe(encodeKey(key));
      }),
      { numRuns: 300 },
    );
  });
});
