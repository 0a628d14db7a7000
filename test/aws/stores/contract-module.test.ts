/**
 * lib/contract: the environment both sides agree on, the table keys, and the encoding of
 * stored values with its chunking.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CHUNK_BYTES,
  decodeBlock,
  decodePayload,
  encodeBlock,
  encodePayload,
  FORMAT_JSON,
  joinChunks,
  splitChunks,
} from '../../../lib/contract/encoding.js';
import {
  DEFAULT_SETTINGS,
  ENV,
  type RuntimeConfigInput,
  readRuntimeEnv,
  runtimeEnv,
} from '../../../lib/contract/env.js';
import { sha256Hex } from '../../../lib/contract/sha256.js';
import {
  controlKeys,
  dataKeys,
  deadLetterKeys,
  isHashedKey,
  MAX_KEY_BYTES,
  padTime,
  stateKeys,
  storedKey,
  TABLE_SCHEMAS,
  timeBound,
} from '../../../lib/contract/tables.js';
import { SparklessError } from '../../../lib/core/errors.js';
import { encodeKey } from '../../../lib/core/keys.js';

const config: RuntimeConfigInput = {
  jobName: 'hashtags',
  jobModule: '/var/task/job.mjs',
  tables: { control: 'ctl', data: 'data', state: 'state', deadLetters: 'dead' },
  functions: { worker: 'worker-fn', coordinator: 'coordinator-fn' },
  sources: { tweets: 'tweets-stream' },
  sinks: {
    counts: { kind: 'table', table: 'counts-table' },
    alerts: { kind: 'stream', stream: 'alerts-stream' },
  },
  settings: { maxRecordsPerBatch: 500, startPosition: { kind: 'atTimestamp', timestampMs: 5 } },
};

describe('contract: environment', () => {
  it('reads back what the deploy side wrote, with defaults for the settings left out', () => {
    const env = runtimeEnv(config);
    expect(Object.keys(env).sort()).toEqual(Object.values(ENV).sort());
    expect(readRuntimeEnv(env)).toEqual({
      ...config,
      settings: {
        ...DEFAULT_SETTINGS,
        maxRecordsPerBatch: 500,
        startPosition: { kind: 'atTimestamp', timestampMs: 5 },
      },
    });
  });

  it('names every missing or malformed variable and says how to fix it', () => {
    const env: Record<string, string | undefined> = { ...runtimeEnv(config) };
    delete env[ENV.dataTable];
    env[ENV.sources] = '{not json';
    env[ENV.sinks] = JSON.stringify({ out: { kind: 'queue', queue: 'q' } });
    env[ENV.settings] = JSON.stringify({ maxRecordsPerBatch: 0, maxRecords: 5 });
    let error: unknown;
    try {
      readRuntimeEnv(env);
    } catch (e) {
      error = e;
    }
    expect(SparklessError.is(error, 'INVALID_ENVIRONMENT')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('SPARKLESS_DATA_TABLE is not set');
    expect(message).toContain('SPARKLESS_SOURCES must be JSON');
    expect(message).toContain(`SPARKLESS_SINKS: sink 'out' must be {"kind":"table"`);
    expect(message).toContain(
      'SPARKLESS_SETTINGS: maxRecordsPerBatch must be a whole number of at least 1, got 0',
    );
    expect(message).toContain("SPARKLESS_SETTINGS: unknown setting 'maxRecords'");
    expect(message).toContain('the StreamingJob construct sets it');
    expect(message).not.toContain('SPARKLESS_CONTROL_TABLE');
  });

  it('fails at deploy time on a config the functions would refuse', () => {
    expect(() => runtimeEnv({ ...config, jobName: 'no spaces' })).toThrow(
      /SPARKLESS_JOB_NAME must be a job name.*"no spaces"/,
    );
    expect(() =>
      runtimeEnv({ ...config, settings: { startPosition: { kind: 'earliest' } as never } }),
    ).toThrow(/startPosition must be/);
    expect(() => runtimeEnv({ ...config, settings: { leaseTtlMs: 999 } })).toThrow(
      /SPARKLESS_SETTINGS: leaseTtlMs must be a whole number of at least 1000, got 999/,
    );
    expect(
      readRuntimeEnv(runtimeEnv({ ...config, settings: { leaseTtlMs: 5_000 } })).settings,
    ).toEqual({
      ...DEFAULT_SETTINGS,
      leaseTtlMs: 5_000,
    });
  });
});

describe('contract: tables', () => {
  it('gives every table a string pk, a string sk except results, and TTL where data is deleted', () => {
    for (const schema of Object.values(TABLE_SCHEMAS)) {
      expect(schema.partitionKey).toEqual({ name: 'pk', type: 'S' });
      if (schema.kind === 'results') expect(schema.sortKey).toBeUndefined();
      else expect(schema.sortKey).toEqual({ name: 'sk', type: 'S' });
    }
    expect(TABLE_SCHEMAS.data.timeToLiveAttribute).toBe('ttl');
    expect(TABLE_SCHEMAS.state.timeToLiveAttribute).toBeUndefined();
  });

  it('pads batch times so that string order is time order', () => {
    const times = [0, 5, 999, 1_000, 10_000, 1_700_000_000_000, 999_999_999_999_999];
    const padded = times.map(padTime);
    expect(padded.every((p) => p.length === 15)).toBe(true);
    expect([...padded].sort()).toEqual(padded);
    expect(() => padTime(-1)).toThrow(/batch time must be a whole number from 0/);
    expect(() => padTime(1.5)).toThrow(SparklessError);
    expect(timeBound(-500)).toBe(padTime(0));
    expect(timeBound(1_000)).toBe(padTime(1_000));
  });

  it('keeps free text last so that different names never share a key', () => {
    // A state name may contain '#': the partition comes before it, so these differ.
    expect(stateKeys.items('j', 'a#1', 2)).not.toBe(stateKeys.items('j', 'a', 12));
    expect(stateKeys.items('j', 'x', 1)).not.toBe(stateKeys.expiries('j', 'x', 1));
    expect(stateKeys.items('j', 'x', 1)).not.toBe(stateKeys.chunks('j', 'x', 1));
    expect(dataKeys.panes('j', 'w', 0)).not.toBe(dataKeys.partials('j', 'w', 0));
    expect(controlKeys.claim('j', 1_000, 1, 20).sk).toBe('0001#000020');
    expect(controlKeys.parseClaim(controlKeys.claim('j', 1_000, 1, 20).sk)).toEqual({
      stage: 1,
      task: 20,
    });
    expect(dataKeys.parseBlock(dataKeys.block('j', 1_000, 'w#1', 3, 4, 'att-1', 2).sk)).toEqual({
      task: 4,
      attempt: 'att-1',
      chunk: 2,
    });
    expect(deadLetterKeys.parseLetter(deadLetterKeys.letter('j', 7_000, 2, 3, 4).sk)).toEqual({
      timeMs: 7_000,
      stage: 2,
      task: 3,
      index: 4,
    });
    expect(() => controlKeys.plan('bad#job', 0)).toThrow(/job name/);
    expect(() => dataKeys.intent('j', 0, 0, 0, 'a#b', 0)).toThrow(/attempt id/);
  });

  it('keeps short key encodings as they are and hashes long ones', () => {
    expect(storedKey(encodeKey('a'))).toBe('"a"');
    expect(storedKey(encodeKey(['a', 1]))).toBe('["a",1]');
    const long = encodeKey('é'.repeat(600)); // 1202 UTF-8 bytes
    expect(long.length).toBeLessThan(MAX_KEY_BYTES);
    const stored = storedKey(long);
    expect(isHashedKey(stored)).toBe(true);
    expect(stored).toBe(`~${createHash('sha256').update(long, 'utf8').digest('hex')}`);
    expect(storedKey(encodeKey('e'.repeat(MAX_KEY_BYTES - 2)))).not.toMatch(/^~/);
    expect(isHashedKey(storedKey(encodeKey('e'.repeat(MAX_KEY_BYTES - 1))))).toBe(true);
  });

  it('computes SHA-256 as node:crypto does', () => {
    for (const s of [
      '',
      'abc',
      'a'.repeat(55),
      'a'.repeat(56),
      'a'.repeat(64),
      '😀é'.repeat(999),
    ]) {
      expect(sha256Hex(s)).toBe(createHash('sha256').update(s, 'utf8').digest('hex'));
    }
  });
});

describe('contract: encoding', () => {
  it('stores a value as a format byte and its JSON text, as JSON sees it', () => {
    const payload = encodePayload({ a: [1, 'x', null], b: undefined });
    expect(payload[0]).toBe(FORMAT_JSON);
    expect(new TextDecoder().decode(payload.subarray(1))).toBe('{"a":[1,"x",null]}');
    expect(decodePayload(payload, 'test')).toEqual({ a: [1, 'x', null] });
    expect(decodePayload(encodePayload(undefined), 'test')).toBeUndefined();
    expect(decodePayload(encodePayload([undefined, Number.NaN]), 'test')).toEqual([null, null]);
    expect(decodeBlock(encodeBlock([['k', 1]]))).toEqual([['k', 1]]);
  });

  it('refuses values JSON cannot hold and payloads of an unknown format', () => {
    expect(() => encodePayload({ n: 10n })).toThrow(/cannot be stored.*JSON-like/);
    const future = Uint8Array.from([9, 123, 125]);
    expect(() => decodePayload(future, 'state of key "a"')).toThrow(
      /state of key "a": stored with format 9, which this version of sparkless cannot read/,
    );
    expect(() => decodeBlock(encodePayload({ not: 'an array' }))).toThrow(/must hold an array/);
  });

  it('splits a payload over the item limit into chunks and joins them back', () => {
    const value = { text: 'z'.repeat(900 * 1024) };
    const payload = encodePayload(value);
    const chunks = splitChunks(payload);
    expect(chunks).toHaveLength(3);
    expect(chunks.every((c) => c.length <= CHUNK_BYTES)).toBe(true);
    const joined = joinChunks(new Map(chunks.map((c, i) => [i, c])), chunks.length, 'x');
    expect(decodePayload(joined, 'x')).toEqual(value);
    expect(splitChunks(new Uint8Array(0))).toHaveLength(1);
  });

  it('fails clearly on a missing chunk instead of returning a shorter payload', () => {
    const chunks = splitChunks(encodePayload('y'.repeat(1_000)), 100);
    const found = new Map(chunks.map((c, i) => [i, c]));
    found.delete(4);
    found.delete(7);
    expect(() => joinChunks(found, chunks.length, 'pane of w ending at 1000')).toThrow(
      /pane of w ending at 1000: chunk 4, 7 of 11 is missing; a claimed chunk that cannot be read is an error, never an empty input/,
    );
    expect(() => joinChunks(new Map(), 0, 'x')).toThrow(
      expect.objectContaining({ code: 'CHUNK_MISSING' }),
    );
  });
});
