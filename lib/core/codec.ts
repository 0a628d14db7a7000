/**
 * Decoders for source records and the UTF-8 codec the engine uses (lib/core has no TextDecoder).
 */
import { SparklessError } from './errors.js';
import type { RecordMeta } from './nodes.js';

/** The platform's UTF-8 decoder, where there is one (lib/core does not assume a platform). */
interface PlatformDecoder {
  decode(bytes: Uint8Array): string;
}
const platform = (
  globalThis as { TextDecoder?: new (label: string, opts: { fatal: boolean }) => PlatformDecoder }
).TextDecoder;
const fast: PlatformDecoder | undefined = platform
  ? new platform('utf-8', { fatal: true })
  : undefined;

/** Decodes UTF-8 bytes; throws on malformed input, so the record goes to the dead-letter store. */
export function decodeUtf8(bytes: Uint8Array): string {
  if (fast) {
    try {
      return fast.decode(bytes);
    } catch {
      // Fall through: the decoder below says where the input is malformed.
    }
  }
  return decodeUtf8Slow(bytes);
}

function decodeUtf8Slow(bytes: Uint8Array): string {
  let out = '';
  let chunk: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    let cp: number;
    let need: number;
    if (b < 0x80) {
      cp = b;
      need = 0;
    } else if (b >= 0xc2 && b < 0xe0) {
      cp = b & 0x1f;
      need = 1;
    } else if (b >= 0xe0 && b < 0xf0) {
      cp = b & 0x0f;
      need = 2;
    } else if (b >= 0xf0 && b < 0xf5) {
      cp = b & 0x07;
      need = 3;
    } else {
      throw new SparklessError(
        'INVALID_UTF8',
        `utf8: byte 0x${b.toString(16)} at offset ${i} is not valid UTF-8`,
      );
    }
    if (i + need >= bytes.length && need > 0) {
      throw new SparklessError('INVALID_UTF8', `utf8: truncated sequence at offset ${i}`);
    }
    for (let j = 1; j <= need; j++) {
      const c = bytes[i + j];
      if (c === undefined || (c & 0xc0) !== 0x80) {
        throw new SparklessError('INVALID_UTF8', `utf8: bad continuation byte at offset ${i + j}`);
      }
      cp = (cp << 6) | (c & 0x3f);
    }
    if (
      (need === 2 && cp < 0x800) ||
      (need === 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff)
    ) {
      throw new SparklessError('INVALID_UTF8', `utf8: invalid code point at offset ${i}`);
    }
    i += need + 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else chunk.push(cp);
    if (chunk.length > 4096) {
      out += String.fromCharCode(...chunk);
      chunk = [];
    }
  }
  return out + String.fromCharCode(...chunk);
}

/** Encodes a string as UTF-8 bytes. */
export function encodeUtf8(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** A decoder of source records: the record's bytes and what the stream says about it. */
export type Decoder<T> = (data: Uint8Array, meta: RecordMeta) => T;

/** Decodes a record as UTF-8 text. */
export const utf8: Decoder<string> = (data) => decodeUtf8(data);

/** Decodes a record as JSON text. */
export function json<T = unknown>(): Decoder<T> {
  return (data) => JSON.parse(decodeUtf8(data)) as T;
}

/** Passes a record's bytes through unchanged. */
export const bytes: Decoder<Uint8Array> = (data) => data;
