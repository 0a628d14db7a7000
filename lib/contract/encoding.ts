/**
 * How blocks, intents, panes, state values and protocol records are stored: as a payload of one
 * format byte followed by the UTF-8 JSON text of the value, in a binary attribute; and how a
 * payload over DynamoDB's item limit (400 KB) is split into write-once chunk items that each
 * carry the chunk count, and put back together.
 *
 *   payload = [FORMAT_JSON] utf8(JSON.stringify(value))      (empty text: undefined)
 *   chunks  = payload[0, CHUNK_BYTES), payload[CHUNK_BYTES, 2 * CHUNK_BYTES), ...
 *
 * Values are JSON-like (lib/core's Json): what JSON cannot say is lost as JSON loses it
 * (undefined inside arrays reads back as null, inside objects it disappears; NaN and Infinity
 * read back as null). The format byte lets a later format (a compressed one) be read alongside.
 */
import { describe } from '../core/duration.js';
import { SparklessError } from '../core/errors.js';

/** The format byte of a payload holding UTF-8 JSON text. */
export const FORMAT_JSON = 1;

/**
 * The largest chunk of a payload in one item: DynamoDB's 400 KB item limit less room for the
 * keys and the other attributes.
 */
export const CHUNK_BYTES = 350 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a JSON-like value as a payload. */
export function encodePayload(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new SparklessError(
      'UNENCODABLE_VALUE',
      `encoding: ${describe(value)} cannot be stored: ${e instanceof Error ? e.message : String(e)}; stored values must be JSON-like (strings, numbers, booleans, null, arrays and plain objects)`,
      { cause: e },
    );
  }
  const body = text === undefined ? new Uint8Array(0) : encoder.encode(text);
  const out = new Uint8Array(body.length + 1);
  out[0] = FORMAT_JSON;
  out.set(body, 1);
  return out;
}

/** Decodes a payload written by {@link encodePayload}; `what` names it in errors. */
export function decodePayload<T = unknown>(payload: Uint8Array, what: string): T {
  const format = payload[0];
  if (format !== FORMAT_JSON) {
    throw new SparklessError(
      'UNKNOWN_FORMAT',
      `${what}: stored with format ${format === undefined ? '(empty payload)' : format}, which this version of sparkless cannot read (it reads format ${FORMAT_JSON}); deploy the version that wrote it, or reset the job's tables`,
    );
  }
  if (payload.length === 1) return undefined as T;
  try {
    return JSON.parse(decoder.decode(payload.subarray(1))) as T;
  } catch (e) {
    throw new SparklessError(
      'CORRUPT_PAYLOAD',
      `${what}: the stored payload (${payload.length} bytes) is not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/** A shuffle block: one map task's records for one target partition. */
export function encodeBlock(records: readonly unknown[]): Uint8Array {
  return encodePayload(records);
}

export function decodeBlock(payload: Uint8Array, what = 'block'): unknown[] {
  const records = decodePayload<unknown>(payload, what);
  if (!Array.isArray(records)) {
    throw new SparklessError(
      'CORRUPT_PAYLOAD',
      `${what}: a block must hold an array of records, got ${describe(records)}`,
    );
  }
  return records;
}

/** A task's intent (state changes, panes, outputs, dead letters), whatever its shape. */
export const encodeIntent: (intent: unknown) => Uint8Array = encodePayload;
export const decodeIntent = <T = unknown>(payload: Uint8Array, what = 'intent'): T =>
  decodePayload<T>(payload, what);

/** The value of one key's state. */
export const encodeStateValue: (value: unknown) => Uint8Array = encodePayload;
export const decodeStateValue = <T = unknown>(payload: Uint8Array, what = 'state value'): T =>
  decodePayload<T>(payload, what);

/**
 * Splits a payload into chunks of at most `maxBytes` (views, not copies). Always at least one
 * chunk, so that an empty payload is still one item.
 */
export function splitChunks(payload: Uint8Array, maxBytes = CHUNK_BYTES): Uint8Array[] {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `splitChunks: maxBytes must be a whole number of at least 1, got ${describe(maxBytes)}`,
    );
  }
  if (payload.length <= maxBytes) return [payload];
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += maxBytes) {
    chunks.push(payload.subarray(at, at + maxBytes));
  }
  return chunks;
}

/**
 * Puts chunks `0..count-1` back together. A missing chunk is an error, never a shorter payload:
 * the chunk count was written with every chunk (or claimed), so a reader that finds fewer read
 * from a store that lost a write, and must not go on with partial input.
 *
 * @param chunks the chunks found, by index
 * @param count how many chunks the payload has
 * @param what names the payload in the error (e.g. `block of task 3 (attempt a1) for partition 2`)
 */
export function joinChunks(
  chunks: ReadonlyMap<number, Uint8Array>,
  count: number,
  what: string,
): Uint8Array {
  if (!Number.isInteger(count) || count < 1) {
    throw new SparklessError(
      'CHUNK_MISSING',
      `${what}: a chunked payload must have at least one chunk, but its count is ${describe(count)}`,
    );
  }
  const missing: number[] = [];
  let length = 0;
  for (let i = 0; i < count; i++) {
    const chunk = chunks.get(i);
    if (chunk === undefined) missing.push(i);
    else length += chunk.length;
  }
  if (missing.length > 0) {
    throw new SparklessError(
      'CHUNK_MISSING',
      `${what}: chunk ${missing.join(', ')} of ${count} is missing; a claimed chunk that cannot be read is an error, never an empty input (was it deleted before its batch committed?)`,
    );
  }
  if (count === 1) return chunks.get(0)!;
  const out = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const chunk = chunks.get(i)!;
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
