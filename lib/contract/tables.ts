/**
 * The DynamoDB tables of a job: their key schemas as data, their attribute names, and the
 * functions that build every item key. The construct creates the tables from
 * {@link TABLE_SCHEMAS}; the runtime's stores and applications reading state or results build
 * keys with the functions below, so the two cannot drift apart.
 *
 * Every table but a results table has a string partition key `pk` and a string sort key `sk`.
 * Keys start with the job's name (letters, digits and `-`, never `#`), then a fixed kind, then
 * fixed-width numbers, and end with at most one free-text part (a state name, a write id), so
 * that distinct items never share a key. Batch times in keys are zero-padded to
 * {@link TIME_DIGITS} digits, so that Query order is time order.
 *
 *   table    pk                                       sk                                item
 *   control  <job>                                    lease | head                      lease, head
 *            <job>#plan                               <T>                               plan of T
 *            <job>#claim#<T>                          <stage>#<task>                    claim
 *            <job>#commit                             <T>                               commit
 *   data     <job>#block#<T>#<partition>#<writeId>    <task>#<attempt>#<chunk>          block chunk
 *            <job>#intent#<T>                         <stage>#<task>#<attempt>#<chunk>  intent chunk
 *            <job>#pane#<partition>#<stateName>       <endMs>#<chunk>                   pane chunk
 *            <job>#partial#<partition>#<stateName>    <T>#<chunk>                       partial chunk
 *   state    <job>#s#<partition>#<stateName>          <state key>                       keyed state
 *            <job>#e#<partition>#<stateName>          <updatedMs>#<state key>           expiry
 *            <job>#c#<partition>#<stateName>          <state key>#<T>#<chunk>           value chunk
 *            <job>#m#<partition>#<stateName>          init                              marker
 *   results  <state key> (no sort key; one table per saveToTable sink)                  latest value
 *   dead     <job>#dead                               <T>#<stage>#<task>#<index>        dead letter
 *
 * A state key is the key's canonical encoding (lib/core's encodeKey) when its UTF-8 form fits
 * in {@link MAX_KEY_BYTES}; a longer one is `~` and the SHA-256 of the encoding (no encoding
 * starts with `~`), and the item then holds the whole encoding in attribute `k`.
 *
 * A state item holds its value in `b`; a value too large for one item is written first as
 * chunk items under the batch time that writes it (write-once), and the state item then holds
 * their count in `n` instead.
 */
import { describe } from '../core/duration.js';
import { SparklessError } from '../core/errors.js';
import { sha256Hex } from './sha256.js';

/** The partition key attribute of every table. */
export const PARTITION_KEY = 'pk';
/** The sort key attribute of every table that has one. */
export const SORT_KEY = 'sk';
/**
 * The TTL attribute (epoch seconds) of items that are deleted explicitly: a backstop only,
 * nothing depends on its deletion (the emulators never delete).
 */
export const TTL_ATTRIBUTE = 'ttl';

/** The tables of a job. */
export type TableKind = 'control' | 'data' | 'state' | 'results' | 'deadLetters';

/** A key attribute: name and DynamoDB type (always a string here). */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S';
}

/** One table's key schema and TTL attribute, as data. */
export interface TableSchema {
  readonly kind: TableKind;
  readonly description: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** The attribute DynamoDB's TTL should read, when the table has items deleted explicitly. */
  readonly timeToLiveAttribute?: string;
}

const PK: KeyAttribute = Object.freeze({ name: PARTITION_KEY, type: 'S' });
const SK: KeyAttribute = Object.freeze({ name: SORT_KEY, type: 'S' });

/** The key schema of every table of a job. */
export const TABLE_SCHEMAS: Readonly<Record<TableKind, TableSchema>> = Object.freeze({
  control: {
    kind: 'control',
    description: 'lease, head, plans, claims and commits with metrics, keyed by job',
    partitionKey: PK,
    sortKey: SK,
  },
  data: {
    kind: 'data',
    description: 'shuffle blocks, intents, window panes and partials',
    partitionKey: PK,
    sortKey: SK,
    timeToLiveAttribute: TTL_ATTRIBUTE,
  },
  state: {
    kind: 'state',
    description: 'keyed state (one item per key) and mapWithState expiry items',
    partitionKey: PK,
    sortKey: SK,
  },
  results: {
    kind: 'results',
    description: 'the latest value of each key of a saveToTable sink, with its batch time',
    partitionKey: PK,
  },
  deadLetters: {
    kind: 'deadLetters',
    description: 'records and keys that could not be processed, by batch, stage and task',
    partitionKey: PK,
    sortKey: SK,
    timeToLiveAttribute: TTL_ATTRIBUTE,
  },
} satisfies Record<TableKind, TableSchema>);

/** The names of the non-key attributes, short because every item carries them. */
export const ATTR = Object.freeze({
  /** An encoded payload (see encoding.ts): plan, claim, commit, block, intent, pane, state. */
  payload: 'b',
  /** How many chunks a chunked payload has (on every chunk). */
  chunks: 'n',
  /** Lease: who holds it, its epoch, and when it expires (epoch ms). */
  owner: 'owner',
  epoch: 'epoch',
  expiresAt: 'expiresAt',
  /** Lease: when the job was asked to stop (epoch ms), until it may run again. */
  stopRequested: 'stop',
  /** Head: the time of the last committed batch. */
  head: 't',
  /** State: the batch time that wrote the item (its version). */
  version: 'v',
  /** State: the batch time of the key's last update (StateEntry.updatedMs). */
  updated: 'u',
  /** State: present (true) on a tombstone, which reads as absent. */
  tombstone: 'x',
  /** State and results: the key's whole encoding, when the item's key is its hash. */
  fullKey: 'k',
  /** Results: the key and value as DynamoDB values, and the batch time that wrote them. */
  resultKey: 'key',
  resultValue: 'value',
  resultTime: 'timeMs',
  /** Results: the writer's place within its batch (stage, then task); the later writer wins. */
  resultOrder: 'o',
  /** Dead letters: the letter as JSON text. */
  letter: 'd',
  ttl: TTL_ATTRIBUTE,
});

/** Digits of a zero-padded batch time: epoch milliseconds up to the year 33658. */
export const TIME_DIGITS = 15;
const STAGE_DIGITS = 4;
const TASK_DIGITS = 6;
const CHUNK_DIGITS = 4;
const INDEX_DIGITS = 9;

/** The longest UTF-8 key encoding kept as it is in a key attribute (sort keys hold 1024 bytes). */
export const MAX_KEY_BYTES = 1000;

/** An item's primary key. */
export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

function padded(n: number, digits: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 10 ** digits) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `${what} must be a whole number from 0 to ${10 ** digits - 1} to be part of a table key, got ${describe(n)}`,
    );
  }
  return String(n).padStart(digits, '0');
}

/** A batch time (epoch ms, >= 0) as a sort key part: zero-padded, so string order is time order. */
export function padTime(timeMs: number): string {
  return padded(timeMs, TIME_DIGITS, 'a batch time');
}

/** The time written by {@link padTime}. */
export function parseTime(text: string): number {
  return Number.parseInt(text, 10);
}

/**
 * The smallest padded time at or after `timeMs`, clamped to the representable range, for range
 * conditions whose bounds may be negative (a window reaching before the epoch).
 */
export function timeBound(timeMs: number): string {
  if (timeMs <= 0) return padTime(0);
  if (timeMs >= 10 ** TIME_DIGITS) return '9'.repeat(TIME_DIGITS + 1);
  return padTime(Math.ceil(timeMs));
}

/**
 * The largest padded time at or before `timeMs`, clamped to the representable range, for the
 * upper bound of a range condition (which may be far in the future, or infinite).
 */
export function timeUpperBound(timeMs: number): string {
  if (timeMs >= 10 ** TIME_DIGITS) return '9'.repeat(TIME_DIGITS);
  return padTime(Math.max(0, Math.floor(timeMs)));
}

function requireName(value: string, what: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `${what} must be a non-empty string, got ${describe(value)}`,
    );
  }
  return value;
}

/** Checks a job name as keys need it (the names `job()` accepts); returns it. */
export function requireJobName(job: string): string {
  if (typeof job !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,47}$/.test(job)) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `tables: a job name must start with a letter and have up to 48 letters, digits or -, got ${describe(job)}`,
    );
  }
  return job;
}

function requireAttempt(attempt: string): string {
  if (typeof attempt !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(attempt)) {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `tables: an attempt id must have 1 to 64 letters, digits, _ . : or -, got ${describe(attempt)}`,
    );
  }
  return attempt;
}

// ---------------------------------------------------------------------------------------------
// Keys of the control table

export const controlKeys = {
  lease: (job: string): ItemKey => ({ pk: requireJobName(job), sk: 'lease' }),
  head: (job: string): ItemKey => ({ pk: requireJobName(job), sk: 'head' }),
  /** What the job is (its plan and explain() text), as its latest coordinator wrote it. */
  description: (job: string): ItemKey => ({ pk: requireJobName(job), sk: 'description' }),
  /** The partition of every plan of a job, sorted by batch time. */
  plans: (job: string): string => `${requireJobName(job)}#plan`,
  plan: (job: string, timeMs: number): ItemKey => ({
    pk: controlKeys.plans(job),
    sk: padTime(timeMs),
  }),
  /** The partition of every claim of one batch. */
  claims: (job: string, timeMs: number): string =>
    `${requireJobName(job)}#claim#${padTime(timeMs)}`,
  /** The sort key prefix of the claims of one stage. */
  claimStage: (stage: number): string => `${padded(stage, STAGE_DIGITS, 'a stage')}#`,
  claim: (job: string, timeMs: number, stage: number, task: number): ItemKey => ({
    pk: controlKeys.claims(job, timeMs),
    sk: `${controlKeys.claimStage(stage)}${padded(task, TASK_DIGITS, 'a task')}`,
  }),
  /** The stage and task of a claim's sort key. */
  parseClaim: (sk: string): { stage: number; task: number } => {
    const [stage, task] = sk.split('#');
    return { stage: Number(stage), task: Number(task) };
  },
  /** The partition of every commit of a job, sorted by batch time. */
  commits: (job: string): string => `${requireJobName(job)}#commit`,
  commit: (job: string, timeMs: number): ItemKey => ({
    pk: controlKeys.commits(job),
    sk: padTime(timeMs),
  }),
};

// ---------------------------------------------------------------------------------------------
// Keys of the data table

export const dataKeys = {
  /** The partition of the blocks written for one (batch, shuffle, target partition). */
  blocks: (job: string, timeMs: number, writeId: string, partition: number): string =>
    `${requireJobName(job)}#block#${padTime(timeMs)}#${padded(partition, TASK_DIGITS, 'a partition')}#${requireName(writeId, 'a write id')}`,
  block: (
    job: string,
    timeMs: number,
    writeId: string,
    partition: number,
    task: number,
    attempt: string,
    chunk: number,
  ): ItemKey => ({
    pk: dataKeys.blocks(job, timeMs, writeId, partition),
    sk: `${padded(task, TASK_DIGITS, 'a task')}#${requireAttempt(attempt)}#${padded(chunk, CHUNK_DIGITS, 'a chunk')}`,
  }),
  /** The task, attempt and chunk of a block's sort key. */
  parseBlock: (sk: string): { task: number; attempt: string; chunk: number } => {
    const [task, attempt, chunk] = sk.split('#');
    return { task: Number(task), attempt: attempt ?? '', chunk: Number(chunk) };
  },
  /** The partition of every intent of one batch. */
  intents: (job: string, timeMs: number): string =>
    `${requireJobName(job)}#intent#${padTime(timeMs)}`,
  /** The sort key prefix of the chunks of one intent. */
  intentPrefix: (stage: number, task: number, attempt: string): string =>
    `${padded(stage, STAGE_DIGITS, 'a stage')}#${padded(task, TASK_DIGITS, 'a task')}#${requireAttempt(attempt)}#`,
  intent: (
    job: string,
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
    chunk: number,
  ): ItemKey => ({
    pk: dataKeys.intents(job, timeMs),
    sk: `${dataKeys.intentPrefix(stage, task, attempt)}${padded(chunk, CHUNK_DIGITS, 'a chunk')}`,
  }),
  /** The partition of the panes of one window operator partition, sorted by end time. */
  panes: (job: string, stateName: string, partition: number): string =>
    `${requireJobName(job)}#pane#${padded(partition, TASK_DIGITS, 'a partition')}#${requireName(stateName, 'a state name')}`,
  /** The partition of the partials of one window operator partition, sorted by batch time. */
  partials: (job: string, stateName: string, partition: number): string =>
    `${requireJobName(job)}#partial#${padded(partition, TASK_DIGITS, 'a partition')}#${requireName(stateName, 'a state name')}`,
  /** The sort key of one chunk of a pane (by end time) or a partial (by batch time). */
  timedChunk: (timeMs: number, chunk: number): string =>
    `${padTime(timeMs)}#${padded(chunk, CHUNK_DIGITS, 'a chunk')}`,
  /** The time and chunk of a pane's or partial's sort key. */
  parseTimedChunk: (sk: string): { timeMs: number; chunk: number } => {
    const [time, chunk] = sk.split('#');
    return { timeMs: parseTime(time ?? ''), chunk: Number(chunk) };
  },
};

// ---------------------------------------------------------------------------------------------
// Keys of the state table

/**
 * The key attribute value of a state or result item for a key's canonical encoding: the
 * encoding itself, or `~` and its SHA-256 when it is longer than {@link MAX_KEY_BYTES}.
 */
export function storedKey(encodedKey: string): string {
  if (typeof encodedKey !== 'string' || encodedKey === '') {
    throw new SparklessError(
      'INVALID_ARGUMENT',
      `tables: an encoded key must be a non-empty string, got ${describe(encodedKey)}`,
    );
  }
  // UTF-8 is at most 3 bytes per UTF-16 unit: skip the exact count for short keys.
  if (encodedKey.length * 3 <= MAX_KEY_BYTES) return encodedKey;
  return new TextEncoder().encode(encodedKey).length <= MAX_KEY_BYTES
    ? encodedKey
    : `~${sha256Hex(encodedKey)}`;
}

/** Whether a stored key is a hash, so that the item's `k` attribute holds the encoding. */
export function isHashedKey(stored: string): boolean {
  return stored.startsWith('~');
}

export const stateKeys = {
  /** The partition of the keyed state of one operator partition. */
  items: (job: string, stateName: string, partition: number): string =>
    `${requireJobName(job)}#s#${padded(partition, TASK_DIGITS, 'a partition')}#${requireName(stateName, 'a state name')}`,
  item: (job: string, stateName: string, partition: number, encodedKey: string): ItemKey => ({
    pk: stateKeys.items(job, stateName, partition),
    sk: storedKey(encodedKey),
  }),
  /** The partition of the expiry items of one operator partition, sorted by update time. */
  expiries: (job: string, stateName: string, partition: number): string =>
    `${requireJobName(job)}#e#${padded(partition, TASK_DIGITS, 'a partition')}#${requireName(stateName, 'a state name')}`,
  expiry: (
    job: string,
    stateName: string,
    partition: number,
    updatedMs: number,
    encodedKey: string,
  ): ItemKey => ({
    pk: stateKeys.expiries(job, stateName, partition),
    sk: `${padTime(updatedMs)}#${storedKey(encodedKey)}`,
  }),
  /** The update time and stored key of an expiry item's sort key. */
  parseExpiry: (sk: string): { updatedMs: number; stored: string } => ({
    updatedMs: parseTime(sk.slice(0, TIME_DIGITS)),
    stored: sk.slice(TIME_DIGITS + 1),
  }),
  /** The partition of the chunks of large values of one operator partition. */
  chunks: (job: string, stateName: string, partition: number): string =>
    `${requireJobName(job)}#c#${padded(partition, TASK_DIGITS, 'a partition')}#${requireName(stateName, 'a state name')}`,
  /** The sort key prefix of the chunks of one key's value written by batch `timeMs`. */
  chunkPrefix: (encodedKey: string, timeMs: number): string =>
    `${storedKey(encodedKey)}#${padTime(timeMs)}#`,
  chunk: (
    job: string,
    stateName: string,
    partition: number,
    encodedKey: string,
    timeMs: number,
    chunk: number,
  ): ItemKey => ({
    pk: stateKeys.chunks(job, stateName, partition),
    sk: `${stateKeys.chunkPrefix(encodedKey, timeMs)}${padded(chunk, CHUNK_DIGITS, 'a chunk')}`,
  }),
  /** The marker saying that an operator's initial state was loaded into a partition. */
  initialized: (job: string, stateName: string, partition: number): ItemKey => ({
    pk: `${requireJobName(job)}#m#${padded(partition, TASK_DIGITS, 'a partition')}#${requireName(stateName, 'a state name')}`,
    sk: 'init',
  }),
};

// ---------------------------------------------------------------------------------------------
// Keys of a results table and of the dead-letter table

export const resultKeys = {
  item: (encodedKey: string): { readonly pk: string } => ({ pk: storedKey(encodedKey) }),
};

export const deadLetterKeys = {
  letters: (job: string): string => `${requireJobName(job)}#dead`,
  letter: (job: string, timeMs: number, stage: number, task: number, index: number): ItemKey => ({
    pk: deadLetterKeys.letters(job),
    sk: `${padTime(timeMs)}#${padded(stage, STAGE_DIGITS, 'a stage')}#${padded(task, TASK_DIGITS, 'a task')}#${padded(index, INDEX_DIGITS, 'a dead letter index')}`,
  }),
  parseLetter: (sk: string): { timeMs: number; stage: number; task: number; index: number } => {
    const [time, stage, task, index] = sk.split('#');
    return {
      timeMs: parseTime(time ?? ''),
      stage: Number(stage),
      task: Number(task),
      index: Number(index),
    };
  },
};

/** The TTL attribute's value (epoch seconds) for an item of batch time `timeMs`. */
export function ttlSeconds(timeMs: number, ttlMs: number): number {
  return Math.ceil((timeMs + ttlMs) / 1000);
}
