/**
 * The stores of the cloud runtime on DynamoDB, with the key schemas of lib/contract/tables.ts.
 *
 * Request costs (what the cost-shape tests count; N = items or keys; a page is 1 MB):
 *   acquire/renew/release lease 1 UpdateItem (+1 GetItem when another holds the lease)
 *   advanceHead, getHead        1 UpdateItem, 1 GetItem
 *   putPlan/Claim/Commit        1 PutItem (+1 GetItem when another writer won)
 *   getPlan/Claim/Commit        1 GetItem
 *   listPlans/Claims/Commits    1 Query per page
 *   deleteBatch (control)       1 Query + ceil((claims + 1) / 25) BatchWriteItem + 1 DeleteItem
 *   putBlocks                   ceil(chunk items / 25) BatchWriteItem (0 for no blocks)
 *   listBlocks                  1 Query per page of the partition's chunks
 *   putIntent, putPartial       ceil(chunks / 25) BatchWriteItem
 *   putPane                     1 conditional PutItem per chunk
 *   getIntent, getPane          1 Query; listPartials 1 Query per page
 *   deleteBlocks                1 Query per (shuffle, partition) + ceil(N / 25) BatchWriteItem
 *   deleteIntents/Panes/...     1 Query per page + ceil(N / 25) BatchWriteItem
 *   state apply (N changes)     N conditional PutItem, and with expiry: ceil(sets / 25)
 *                               BatchWriteItem for the new expiry items before, ceil(moved / 25)
 *                               for the old ones after; a skipped set costs 1 GetItem more
 *                               (expiry or chunked only); a value over ~350 KB costs
 *                               ceil(chunks / 25) BatchWriteItem more
 *   state get / getMany         1 GetItem / ceil(N / 100) BatchGetItem
 *   state list                  1 Query per page
 *   state listExpiring          1 Query per page + ceil(N / 100) BatchGetItem
 *   (each chunked value read)   1 Query more
 *   results apply (N keys)      N conditional PutItem
 *   dead letters put / list     ceil(N / 25) BatchWriteItem / 1 Query per page
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CHUNK_BYTES,
  decodePayload,
  decodeStateValue,
  encodePayload,
  encodeStateValue,
  joinChunks,
  splitChunks,
} from '../../contract/encoding.js';
import { DEFAULT_SETTINGS } from '../../contract/env.js';
import {
  ATTR,
  controlKeys,
  dataKeys,
  deadLetterKeys,
  type ItemKey,
  isHashedKey,
  PARTITION_KEY,
  padTime,
  requireJobName,
  resultKeys,
  SORT_KEY,
  stateKeys,
  storedKey,
  timeBound,
  timeUpperBound,
  ttlSeconds,
} from '../../contract/tables.js';
import { SparklessError } from '../../core/errors.js';
import type { Key } from '../../core/keys.js';
import { decodeKey, encodeKey, partitionOf } from '../../core/keys.js';
import type { DeadLetter } from '../../core/operators/guard.js';
import type { StateEntry } from '../../core/operators/store.js';
import type { RequestCounter } from './counter.js';
import { checkResultSize } from './limits.js';
import type {
  ApplyResult,
  BlockChunk,
  BlockPayload,
  ControlStore,
  DataStore,
  DeadLetterStore,
  LeaseRenewal,
  LeaseState,
  ResultEntry,
  ResultsStore,
  ShuffleLayout,
  StateChange,
  StateStore,
  StoredDeadLetter,
  StoredResult,
  Timed,
} from './ports.js';
import { DynamoRequests, type Item, mapLimit, PARALLEL_WRITES } from './requests.js';

/** What every DynamoDB store of a job needs. */
export interface DynamoStoreOptions {
  readonly client: DynamoDBClient;
  /** The table's physical name. */
  readonly table: string;
  /** The job's name, which starts every key. */
  readonly job: string;
  /** Where requests and consumed capacity are counted. */
  readonly counter?: RequestCounter;
}

const KEY_NAMES = { '#pk': PARTITION_KEY, '#sk': SORT_KEY } as const;
/** A partition key equality, for Query. */
const PK_IS = '#pk = :pk';
/** Whether an item does not exist yet (write-once). */
const NOT_EXISTS = {
  expression: 'attribute_not_exists(#pk)',
  names: { '#pk': PARTITION_KEY },
} as const;

/** A sort key upper bound above every chunk or key suffix after `prefix#`. */
const AFTER_ALL = '#\uffff';

function payloadOf(item: Item | undefined, what: string): Uint8Array {
  const payload = item?.[ATTR.payload];
  if (!(payload instanceof Uint8Array)) {
    throw new SparklessError(
      'CORRUPT_PAYLOAD',
      `${what}: the stored item has no binary payload attribute '${ATTR.payload}'; was the table written by something else?`,
    );
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Control

/** Lease, head, plans, claims and commits of one job in its control table. */
export class DynamoControlStore<Plan = unknown, Claim = unknown, Commit = unknown>
  implements ControlStore<Plan, Claim, Commit>
{
  readonly #db: DynamoRequests;
  readonly #table: string;
  readonly #job: string;

  constructor(options: DynamoStoreOptions) {
    this.#db = new DynamoRequests(options.client, options.counter);
    this.#table = options.table;
    this.#job = options.job;
    requireJobName(options.job);
  }

  async acquireLease(owner: string, nowMs: number, ttlMs: number): Promise<LeaseState> {
    const key = controlKeys.lease(this.#job);
    const taken = await this.#db.update(
      this.#table,
      key,
      'SET #owner = :owner, #exp = :exp ADD #epoch :one',
      {
        // A lease item with only a stop request on it has never been held.
        expression: 'attribute_not_exists(#pk) OR attribute_not_exists(#exp) OR #exp < :now',
        names: { '#pk': PARTITION_KEY },
      },
      { '#owner': ATTR.owner, '#exp': ATTR.expiresAt, '#epoch': ATTR.epoch },
      { ':owner': owner, ':exp': nowMs + ttlMs, ':one': 1, ':now': nowMs },
    );
    if (taken) return { ...leaseOf(taken), acquired: true };
    const held = await this.#db.get(this.#table, key);
    return { ...leaseOf(held ?? {}), acquired: false };
  }

  async renewLease(
    owner: string,
    epoch: number,
    nowMs: number,
    ttlMs: number,
  ): Promise<LeaseRenewal> {
    const updated = await this.#setExpiry(owner, epoch, nowMs + ttlMs);
    return { renewed: updated !== undefined, stopRequested: leaseOf(updated ?? {}).stopRequested };
  }

  async releaseLease(owner: string, epoch: number): Promise<boolean> {
    // Kept, expired, so that the next holder's epoch is higher.
    return (await this.#setExpiry(owner, epoch, 0)) !== undefined;
  }

  async requestStop(atMs: number): Promise<void> {
    await this.#db.update(
      this.#table,
      controlKeys.lease(this.#job),
      'SET #stop = :at',
      {},
      { '#stop': ATTR.stopRequested },
      { ':at': atMs },
    );
  }

  async clearStop(): Promise<void> {
    await this.#db.update(
      this.#table,
      controlKeys.lease(this.#job),
      'REMOVE #stop',
      { expression: 'attribute_exists(#pk)', names: { '#pk': PARTITION_KEY } },
      { '#stop': ATTR.stopRequested },
      {},
    );
  }

  async putDescription(description: unknown): Promise<void> {
    await this.#db.put(this.#table, {
      ...controlKeys.description(this.#job),
      [ATTR.payload]: encodePayload(description),
    });
  }

  async getDescription<T = unknown>(): Promise<T | undefined> {
    return this.#read<T>(controlKeys.description(this.#job), 'job description');
  }

  async #setExpiry(owner: string, epoch: number, expiresAtMs: number): Promise<Item | undefined> {
    const updated = await this.#db.update(
      this.#table,
      controlKeys.lease(this.#job),
      'SET #exp = :exp',
      { expression: '#owner = :owner AND #epoch = :epoch' },
      { '#owner': ATTR.owner, '#exp': ATTR.expiresAt, '#epoch': ATTR.epoch },
      { ':owner': owner, ':epoch': epoch, ':exp': expiresAtMs },
    );
    return updated;
  }

  async getHead(): Promise<number | undefined> {
    const item = await this.#db.get(this.#table, controlKeys.head(this.#job));
    const t = item?.[ATTR.head];
    return typeof t === 'number' ? t : undefined;
  }

  async advanceHead(timeMs: number): Promise<boolean> {
    const moved = await this.#db.update(
      this.#table,
      controlKeys.head(this.#job),
      'SET #t = :t',
      { expression: 'attribute_not_exists(#t) OR #t < :t' },
      { '#t': ATTR.head },
      { ':t': timeMs },
    );
    return moved !== undefined;
  }

  async #writeOnce<T>(key: ItemKey, value: T, what: string): Promise<T> {
    const payload = encodePayload(value);
    const { written } = await this.#db.put(
      this.#table,
      { ...key, [ATTR.payload]: payload },
      NOT_EXISTS,
    );
    if (written) return decodePayload<T>(payload, what);
    return decodePayload<T>(payloadOf(await this.#db.get(this.#table, key), what), what);
  }

  async #read<T>(key: ItemKey, what: string): Promise<T | undefined> {
    const item = await this.#db.get(this.#table, key);
    return item === undefined ? undefined : decodePayload<T>(payloadOf(item, what), what);
  }

  async putPlan(timeMs: number, plan: Plan): Promise<Plan> {
    return this.#writeOnce(controlKeys.plan(this.#job, timeMs), plan, `plan of ${timeMs}`);
  }

  async getPlan(timeMs: number): Promise<Plan | undefined> {
    return this.#read(controlKeys.plan(this.#job, timeMs), `plan of ${timeMs}`);
  }

  async listPlans(afterMs: number, limit: number): Promise<Array<Timed<Plan>>> {
    if (limit <= 0) return [];
    const items = await this.#db.query(
      {
        TableName: this.#table,
        KeyConditionExpression: `${PK_IS} AND #sk >= :from`,
        ExpressionAttributeNames: KEY_NAMES,
        ExpressionAttributeValues: {
          ':pk': controlKeys.plans(this.#job),
          ':from': timeBound(Math.floor(afterMs) + 1),
        },
      },
      limit,
    );
    return items.map((item) => timed<Plan>(item, 'plan'));
  }

  async putClaim(timeMs: number, stage: number, task: number, claim: Claim): Promise<Claim> {
    return this.#writeOnce(
      controlKeys.claim(this.#job, timeMs, stage, task),
      claim,
      `claim of task ${task} of stage ${stage} at ${timeMs}`,
    );
  }

  async getClaim(timeMs: number, stage: number, task: number): Promise<Claim | undefined> {
    return this.#read(
      controlKeys.claim(this.#job, timeMs, stage, task),
      `claim of task ${task} of stage ${stage} at ${timeMs}`,
    );
  }

  async listClaims(
    timeMs: number,
    stage?: number,
  ): Promise<Array<{ stage: number; task: number; claim: Claim }>> {
    const items = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: stage === undefined ? PK_IS : `${PK_IS} AND begins_with(#sk, :stage)`,
      ExpressionAttributeNames: stage === undefined ? { '#pk': PARTITION_KEY } : KEY_NAMES,
      ExpressionAttributeValues: {
        ':pk': controlKeys.claims(this.#job, timeMs),
        ...(stage === undefined ? {} : { ':stage': controlKeys.claimStage(stage) }),
      },
    });
    return items.map((item) => {
      const { stage: s, task } = controlKeys.parseClaim(item[SORT_KEY] as string);
      return { stage: s, task, claim: decodePayload<Claim>(payloadOf(item, 'claim'), 'claim') };
    });
  }

  async putCommit(timeMs: number, commit: Commit): Promise<Commit> {
    return this.#writeOnce(controlKeys.commit(this.#job, timeMs), commit, `commit of ${timeMs}`);
  }

  async getCommit(timeMs: number): Promise<Commit | undefined> {
    return this.#read(controlKeys.commit(this.#job, timeMs), `commit of ${timeMs}`);
  }

  async listCommits(
    fromMs: number,
    toMs: number,
    limit: number,
    options?: { readonly newestFirst?: boolean },
  ): Promise<Array<Timed<Commit>>> {
    if (limit <= 0 || toMs < 0 || toMs < fromMs) return [];
    const items = await this.#db.query(
      {
        TableName: this.#table,
        KeyConditionExpression: `${PK_IS} AND #sk BETWEEN :from AND :to`,
        ExpressionAttributeNames: KEY_NAMES,
        ExpressionAttributeValues: {
          ':pk': controlKeys.commits(this.#job),
          ':from': timeBound(fromMs),
          ':to': timeUpperBound(toMs),
        },
        ScanIndexForward: options?.newestFirst !== true,
      },
      limit,
    );
    return items.map((item) => timed<Commit>(item, 'commit'));
  }

  async deleteBatch(timeMs: number): Promise<void> {
    const claims = await keysOf(this.#db, this.#table, controlKeys.claims(this.#job, timeMs));
    await this.#db.batchWrite(this.#table, [], [...claims, controlKeys.commit(this.#job, timeMs)]);
    // The plan last, so that a batch whose deletion was cut short is still found by its plan.
    await this.#db.delete(this.#table, controlKeys.plan(this.#job, timeMs));
  }

  async deleteUpTo(upToMs: number, limit: number): Promise<number[]> {
    if (upToMs < 0 || limit <= 0) return [];
    const plans = await this.#db.query(
      {
        TableName: this.#table,
        KeyConditionExpression: `${PK_IS} AND #sk <= :to`,
        ExpressionAttributeNames: KEY_NAMES,
        ExpressionAttributeValues: {
          ':pk': controlKeys.plans(this.#job),
          ':to': timeUpperBound(upToMs),
        },
        ProjectionExpression: '#pk, #sk',
      },
      limit,
    );
    const times = plans.map((p) => Number.parseInt(p[SORT_KEY] as string, 10));
    for (const t of times) await this.deleteBatch(t);
    return times;
  }
}

function leaseOf(item: Item): Omit<LeaseState, 'acquired'> {
  return {
    epoch: typeof item[ATTR.epoch] === 'number' ? (item[ATTR.epoch] as number) : 0,
    holder: typeof item[ATTR.owner] === 'string' ? (item[ATTR.owner] as string) : undefined,
    expiresAtMs: typeof item[ATTR.expiresAt] === 'number' ? (item[ATTR.expiresAt] as number) : 0,
    stopRequested: item[ATTR.stopRequested] !== undefined,
  };
}

function timed<T>(item: Item, what: string): Timed<T> {
  const timeMs = Number.parseInt(item[SORT_KEY] as string, 10);
  return { timeMs, value: decodePayload<T>(payloadOf(item, what), `${what} of ${timeMs}`) };
}

/** The keys of a partition's items (optionally in a sort key range), page by page. */
async function keysOf(
  db: DynamoRequests,
  table: string,
  pk: string,
  range?: { readonly condition: string; readonly values: Record<string, unknown> },
): Promise<ItemKey[]> {
  const items = await db.query({
    TableName: table,
    KeyConditionExpression: range ? `${PK_IS} AND ${range.condition}` : PK_IS,
    ExpressionAttributeNames: KEY_NAMES,
    ExpressionAttributeValues: { ':pk': pk, ...range?.values },
    ProjectionExpression: '#pk, #sk',
  });
  return items.map((item) => ({ pk: item[PARTITION_KEY] as string, sk: item[SORT_KEY] as string }));
}

// ---------------------------------------------------------------------------------------------
// Data

/** Options of the data store: the TTL backstop of its items. */
export interface DynamoDataStoreOptions extends DynamoStoreOptions {
  /** The TTL attribute is set this long after an item's batch time (default 7 days). */
  readonly ttlMs?: number;
}

/** Blocks, intents, panes and partials of one job in its data table. */
export class DynamoDataStore implements DataStore {
  readonly #db: DynamoRequests;
  readonly #table: string;
  readonly #job: string;
  readonly #ttlMs: number;

  constructor(options: DynamoDataStoreOptions) {
    this.#db = new DynamoRequests(options.client, options.counter);
    this.#table = options.table;
    this.#job = options.job;
    this.#ttlMs = options.ttlMs ?? DEFAULT_SETTINGS.dataTtlMs;
    requireJobName(options.job);
  }

  #ttl(timeMs: number): number {
    return ttlSeconds(timeMs, this.#ttlMs);
  }

  async putBlock(
    timeMs: number,
    writeId: string,
    partition: number,
    task: number,
    attempt: string,
    chunk: number,
    bytes: Uint8Array,
  ): Promise<void> {
    await this.#db.put(this.#table, {
      ...dataKeys.block(this.#job, timeMs, writeId, partition, task, attempt, chunk),
      [ATTR.payload]: bytes,
      [ATTR.ttl]: this.#ttl(timeMs),
    });
  }

  /** The items of a payload split into chunks under the item limit, each under its own key. */
  #chunkItems(payload: Uint8Array, keyOf: (chunk: number) => ItemKey, timeMs: number): Item[] {
    const chunks = splitChunks(payload, CHUNK_BYTES);
    return chunks.map((bytes, chunk) => ({
      ...keyOf(chunk),
      [ATTR.payload]: bytes,
      [ATTR.chunks]: chunks.length,
      [ATTR.ttl]: this.#ttl(timeMs),
    }));
  }

  async putBlocks(
    timeMs: number,
    writeId: string,
    task: number,
    attempt: string,
    blocks: readonly BlockPayload[],
  ): Promise<number[]> {
    const items: Item[] = [];
    const counts = blocks.map(({ partition, payload }) => {
      const chunks = this.#chunkItems(
        payload,
        (chunk) => dataKeys.block(this.#job, timeMs, writeId, partition, task, attempt, chunk),
        timeMs,
      );
      items.push(...chunks);
      return chunks.length;
    });
    await this.#db.batchWrite(this.#table, items);
    return counts;
  }

  async listBlocks(timeMs: number, writeId: string, partition: number): Promise<BlockChunk[]> {
    const items = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: PK_IS,
      ExpressionAttributeNames: { '#pk': PARTITION_KEY },
      ExpressionAttributeValues: { ':pk': dataKeys.blocks(this.#job, timeMs, writeId, partition) },
    });
    return items.map((item) => ({
      ...dataKeys.parseBlock(item[SORT_KEY] as string),
      bytes: payloadOf(item, 'block'),
    }));
  }

  async putIntent(
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
    payload: Uint8Array,
  ): Promise<void> {
    await this.#db.batchWrite(
      this.#table,
      this.#chunkItems(
        payload,
        (chunk) => dataKeys.intent(this.#job, timeMs, stage, task, attempt, chunk),
        timeMs,
      ),
    );
  }

  async getIntent(
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
  ): Promise<Uint8Array | undefined> {
    const items = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: `${PK_IS} AND begins_with(#sk, :prefix)`,
      ExpressionAttributeNames: KEY_NAMES,
      ExpressionAttributeValues: {
        ':pk': dataKeys.intents(this.#job, timeMs),
        ':prefix': dataKeys.intentPrefix(stage, task, attempt),
      },
    });
    if (items.length === 0) return undefined;
    return joinItems(
      items,
      (sk) => Number(sk.slice(sk.lastIndexOf('#') + 1)),
      `intent of task ${task} of stage ${stage} (attempt ${attempt}) at ${timeMs}`,
    );
  }

  async putPane(
    stateName: string,
    partition: number,
    endMs: number,
    payload: Uint8Array,
  ): Promise<void> {
    const pk = dataKeys.panes(this.#job, stateName, partition);
    // Write-once, chunk by chunk: every writer of a pane writes the same bytes (from a claimed
    // intent), so a chunk that exists already is the one this writer would write.
    for (const item of this.#chunkItems(
      payload,
      (chunk) => ({ pk, sk: dataKeys.timedChunk(endMs, chunk) }),
      endMs,
    )) {
      await this.#db.put(this.#table, item, NOT_EXISTS);
    }
  }

  async getPane(
    stateName: string,
    partition: number,
    endMs: number,
  ): Promise<Uint8Array | undefined> {
    const items = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: `${PK_IS} AND begins_with(#sk, :prefix)`,
      ExpressionAttributeNames: KEY_NAMES,
      ExpressionAttributeValues: {
        ':pk': dataKeys.panes(this.#job, stateName, partition),
        ':prefix': `${padTime(endMs)}#`,
      },
    });
    if (items.length === 0) return undefined;
    return joinItems(
      items,
      (sk) => dataKeys.parseTimedChunk(sk).chunk,
      `pane of ${stateName} ending at ${endMs} in partition ${partition}`,
    );
  }

  async putPartial(
    stateName: string,
    partition: number,
    timeMs: number,
    payload: Uint8Array,
  ): Promise<void> {
    const pk = dataKeys.partials(this.#job, stateName, partition);
    await this.#db.batchWrite(
      this.#table,
      this.#chunkItems(
        payload,
        (chunk) => ({ pk, sk: dataKeys.timedChunk(timeMs, chunk) }),
        timeMs,
      ),
    );
  }

  async listPartials(
    stateName: string,
    partition: number,
    fromExclusiveMs: number,
    toInclusiveMs: number,
  ): Promise<Array<Timed<Uint8Array>>> {
    if (toInclusiveMs < 0 || toInclusiveMs <= fromExclusiveMs) return [];
    const items = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: `${PK_IS} AND #sk BETWEEN :from AND :to`,
      ExpressionAttributeNames: KEY_NAMES,
      ExpressionAttributeValues: {
        ':pk': dataKeys.partials(this.#job, stateName, partition),
        ':from': timeBound(Math.floor(fromExclusiveMs) + 1),
        ':to': `${timeUpperBound(toInclusiveMs)}${AFTER_ALL}`,
      },
    });
    const byTime = new Map<number, Item[]>();
    for (const item of items) {
      const { timeMs } = dataKeys.parseTimedChunk(item[SORT_KEY] as string);
      const group = byTime.get(timeMs);
      if (group) group.push(item);
      else byTime.set(timeMs, [item]);
    }
    return [...byTime].map(([timeMs, group]) => ({
      timeMs,
      value: joinItems(
        group,
        (sk) => dataKeys.parseTimedChunk(sk).chunk,
        `partial of ${stateName} at ${timeMs} in partition ${partition}`,
      ),
    }));
  }

  async deleteBlocks(timeMs: number, shuffles: readonly ShuffleLayout[]): Promise<number> {
    const pks = shuffles.flatMap(({ writeId, partitions }) =>
      Array.from({ length: partitions }, (_, p) => dataKeys.blocks(this.#job, timeMs, writeId, p)),
    );
    const keys = (
      await mapLimit(pks, PARALLEL_WRITES, (pk) => keysOf(this.#db, this.#table, pk))
    ).flat();
    await this.#db.batchWrite(this.#table, [], keys);
    return keys.length;
  }

  async deleteIntents(timeMs: number): Promise<number> {
    const keys = await keysOf(this.#db, this.#table, dataKeys.intents(this.#job, timeMs));
    await this.#db.batchWrite(this.#table, [], keys);
    return keys.length;
  }

  async deleteBatch(timeMs: number, shuffles: readonly ShuffleLayout[]): Promise<number> {
    const [blocks, intents] = await Promise.all([
      this.deleteBlocks(timeMs, shuffles),
      this.deleteIntents(timeMs),
    ]);
    return blocks + intents;
  }

  async deletePanes(stateName: string, partition: number, upToMs: number): Promise<number> {
    return this.#deleteUpTo(dataKeys.panes(this.#job, stateName, partition), upToMs);
  }

  async deletePartials(stateName: string, partition: number, upToMs: number): Promise<number> {
    return this.#deleteUpTo(dataKeys.partials(this.#job, stateName, partition), upToMs);
  }

  async #deleteUpTo(pk: string, upToMs: number): Promise<number> {
    if (upToMs < 0) return 0;
    const keys = await keysOf(this.#db, this.#table, pk, {
      condition: '#sk < :below',
      values: { ':below': timeBound(Math.floor(upToMs) + 1) },
    });
    await this.#db.batchWrite(this.#table, [], keys);
    return keys.length;
  }
}

/** Joins the chunk items of one payload (each carrying the count); a missing chunk throws. */
function joinItems(items: readonly Item[], chunkOf: (sk: string) => number, what: string) {
  const chunks = new Map<number, Uint8Array>();
  let count = 0;
  for (const item of items) {
    chunks.set(chunkOf(item[SORT_KEY] as string), payloadOf(item, what));
    count = Math.max(count, Number(item[ATTR.chunks] ?? 1));
  }
  return joinChunks(chunks, count, what);
}

// ---------------------------------------------------------------------------------------------
// State

const VERSION_CONDITION = {
  expression: 'attribute_not_exists(#v) OR #v < :t',
  names: { '#v': ATTR.version },
} as const;

/** The largest encoded state value kept in the state item itself; larger ones are chunked. */
const INLINE_STATE_BYTES = CHUNK_BYTES;

/** The encoded key of a state or result item: its key attribute, or its `k` when that is a hash. */
function encodedKeyOf(item: Item, keyAttribute: string): string {
  const stored = item[keyAttribute] as string;
  return isHashedKey(stored) ? (item[ATTR.fullKey] as string) : stored;
}

/**
 * The entries of state items, by encoded key: tombstones left out, chunked values read from
 * their chunk items (one Query each; a missing chunk is an error).
 */
async function stateEntries(
  db: DynamoRequests,
  table: string,
  job: string,
  stateName: string,
  partition: number,
  items: readonly Item[],
): Promise<Map<string, StateEntry>> {
  const out = new Map<string, StateEntry>();
  const chunked: Array<{ enc: string; item: Item }> = [];
  for (const item of items) {
    if (item[ATTR.tombstone] !== undefined) continue;
    const enc = encodedKeyOf(item, SORT_KEY);
    if (item[ATTR.payload] === undefined && item[ATTR.chunks] !== undefined) {
      chunked.push({ enc, item });
      continue;
    }
    out.set(enc, {
      key: decodeKey(enc),
      value: decodeStateValue(payloadOf(item, 'state'), `state of key ${enc}`),
      updatedMs: item[ATTR.updated] as number,
    });
  }
  await mapLimit(chunked, PARALLEL_WRITES, async ({ enc, item }) => {
    const version = item[ATTR.version] as number;
    const what = `state of key ${enc} in partition ${partition} of ${stateName} (written at ${version})`;
    const chunks = await db.query({
      TableName: table,
      KeyConditionExpression: `${PK_IS} AND begins_with(#sk, :prefix)`,
      ExpressionAttributeNames: KEY_NAMES,
      ExpressionAttributeValues: {
        ':pk': stateKeys.chunks(job, stateName, partition),
        ':prefix': stateKeys.chunkPrefix(enc, version),
      },
    });
    const byIndex = new Map<number, Uint8Array>();
    for (const c of chunks) {
      const sk = c[SORT_KEY] as string;
      byIndex.set(Number(sk.slice(sk.lastIndexOf('#') + 1)), payloadOf(c, what));
    }
    const payload = joinChunks(byIndex, item[ATTR.chunks] as number, what);
    out.set(enc, {
      key: decodeKey(enc),
      value: decodeStateValue(payload, what),
      updatedMs: item[ATTR.updated] as number,
    });
  });
  return out;
}

/** Keyed state of one job in its state table. */
export class DynamoStateStore implements StateStore {
  readonly #db: DynamoRequests;
  readonly #table: string;
  readonly #job: string;

  constructor(options: DynamoStoreOptions) {
    this.#db = new DynamoRequests(options.client, options.counter);
    this.#table = options.table;
    this.#job = options.job;
    requireJobName(options.job);
  }

  #entries(stateName: string, partition: number, items: readonly Item[]) {
    return stateEntries(this.#db, this.#table, this.#job, stateName, partition, items);
  }

  async get(
    stateName: string,
    partition: number,
    encodedKey: string,
  ): Promise<StateEntry | undefined> {
    const item = await this.#db.get(
      this.#table,
      stateKeys.item(this.#job, stateName, partition, encodedKey),
    );
    if (item === undefined || !isItemOf(item, encodedKey)) return undefined;
    return (await this.#entries(stateName, partition, [item])).get(encodedKey);
  }

  async getMany(
    stateName: string,
    partition: number,
    encodedKeys: readonly string[],
  ): Promise<Map<string, StateEntry>> {
    const unique = [...new Set(encodedKeys)];
    const items = await this.#db.batchGet(
      this.#table,
      unique.map((enc) => stateKeys.item(this.#job, stateName, partition, enc)),
    );
    return this.#entries(stateName, partition, items);
  }

  async list(stateName: string, partition: number): Promise<Map<string, StateEntry>> {
    const items = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: PK_IS,
      ExpressionAttributeNames: { '#pk': PARTITION_KEY },
      ExpressionAttributeValues: { ':pk': stateKeys.items(this.#job, stateName, partition) },
    });
    return this.#entries(stateName, partition, items);
  }

  /**
   * Reads the expiry items below `beforeMs`, then the state items they name, keeping those
   * whose update time still matches. Expiry items left behind (by a crash between the state
   * write and the expiry delete, or by a stale write) are skipped, and deleted when the state
   * item shows that a later batch rewrote the key: such an item can never match again.
   */
  async listExpiring(
    stateName: string,
    partition: number,
    beforeMs: number,
  ): Promise<Map<string, StateEntry>> {
    if (beforeMs <= 0) return new Map();
    const expiries = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: `${PK_IS} AND #sk < :before`,
      ExpressionAttributeNames: KEY_NAMES,
      ExpressionAttributeValues: {
        ':pk': stateKeys.expiries(this.#job, stateName, partition),
        ':before': timeBound(beforeMs),
      },
    });
    if (expiries.length === 0) return new Map();
    const pk = stateKeys.items(this.#job, stateName, partition);
    const stored = [
      ...new Set(expiries.map((e) => stateKeys.parseExpiry(e[SORT_KEY] as string).stored)),
    ];
    const items = await this.#db.batchGet(
      this.#table,
      stored.map((sk) => ({ pk, sk })),
    );
    const byStored = new Map(items.map((item) => [item[SORT_KEY] as string, item]));
    const current: Item[] = [];
    const stale: ItemKey[] = [];
    for (const expiry of expiries) {
      const { updatedMs, stored: sk } = stateKeys.parseExpiry(expiry[SORT_KEY] as string);
      const item = byStored.get(sk);
      if (item === undefined) continue;
      if (item[ATTR.tombstone] === undefined && item[ATTR.updated] === updatedMs) {
        current.push(item);
      } else if ((item[ATTR.version] as number) >= (expiry[ATTR.version] as number)) {
        stale.push({ pk: expiry[PARTITION_KEY] as string, sk: expiry[SORT_KEY] as string });
      }
    }
    if (stale.length > 0) await this.#db.batchWrite(this.#table, [], stale);
    return this.#entries(stateName, partition, current);
  }

  /**
   * Writes each change with one conditional PutItem (in parallel), returning the item it
   * replaced so that what the old item referred to (its expiry item, its value's chunks) can
   * be deleted. What a write refers to is written before it, so a crash between the two
   * leaves only items that nothing refers to.
   */
  async apply(
    stateName: string,
    partition: number,
    changes: readonly StateChange[],
    timeMs: number,
    options?: { readonly expiry?: boolean },
  ): Promise<ApplyResult> {
    const expiry = options?.expiry === true;
    const job = this.#job;
    const table = this.#table;
    const expiryItem = (enc: string, updatedMs: number): Item => ({
      ...stateKeys.expiry(job, stateName, partition, updatedMs, enc),
      [ATTR.version]: timeMs,
      ...(isHashedKey(storedKey(enc)) ? { [ATTR.fullKey]: enc } : {}),
    });
    const chunkKeys = (enc: string, version: number, count: number): ItemKey[] =>
      Array.from({ length: count }, (_, i) =>
        stateKeys.chunk(job, stateName, partition, enc, version, i),
      );
    if (expiry) {
      await this.#db.batchWrite(
        table,
        changes.flatMap((c) => (c.entry ? [expiryItem(c.encodedKey, c.entry.updatedMs)] : [])),
      );
    }
    const obsolete: ItemKey[] = [];
    const outcomes = await mapLimit(changes, PARALLEL_WRITES, async ({ encodedKey, entry }) => {
      const key = stateKeys.item(job, stateName, partition, encodedKey);
      const payload = entry ? encodeStateValue(entry.value) : undefined;
      // A hashed key's item also holds the whole key encoding.
      const keyBytes = isHashedKey(key.sk) ? Buffer.byteLength(encodedKey, 'utf8') : 0;
      const chunks =
        payload && payload.length + keyBytes > INLINE_STATE_BYTES ? splitChunks(payload) : [];
      if (chunks.length > 0) {
        await this.#db.batchWrite(
          table,
          chunks.map((bytes, i) => ({
            ...stateKeys.chunk(job, stateName, partition, encodedKey, timeMs, i),
            [ATTR.payload]: bytes,
            [ATTR.chunks]: chunks.length,
          })),
        );
      }
      const item: Item = {
        ...key,
        [ATTR.version]: timeMs,
        ...(isHashedKey(key.sk) ? { [ATTR.fullKey]: encodedKey } : {}),
        ...(entry === null
          ? { [ATTR.tombstone]: true }
          : chunks.length > 0
            ? { [ATTR.updated]: entry.updatedMs, [ATTR.chunks]: chunks.length }
            : { [ATTR.updated]: entry.updatedMs, [ATTR.payload]: payload }),
      };
      const { written, old } = await this.#db.put(
        table,
        item,
        { ...VERSION_CONDITION, values: { ':t': timeMs } },
        true,
      );
      if (written) {
        if (old === undefined) return true;
        const oldVersion = old[ATTR.version] as number;
        const oldChunks = old[ATTR.chunks];
        if (typeof oldChunks === 'number' && old[ATTR.payload] === undefined) {
          obsolete.push(...chunkKeys(encodedKey, oldVersion, oldChunks));
        }
        const oldUpdated = old[ATTR.updated];
        if (
          expiry &&
          old[ATTR.tombstone] === undefined &&
          typeof oldUpdated === 'number' &&
          oldUpdated !== entry?.updatedMs
        ) {
          obsolete.push(stateKeys.expiry(job, stateName, partition, oldUpdated, encodedKey));
        }
        return true;
      }
      // Already applied by this batch (keep what it refers to) or stale (drop what this write
      // wrote first).
      if (chunks.length > 0 || (expiry && entry)) {
        const stored = await this.#db.get(table, key);
        const appliedHere = stored !== undefined && stored[ATTR.version] === timeMs;
        if (chunks.length > 0 && !appliedHere) {
          obsolete.push(...chunkKeys(encodedKey, timeMs, chunks.length));
        }
        if (
          expiry &&
          entry &&
          (stored === undefined ||
            stored[ATTR.tombstone] !== undefined ||
            stored[ATTR.updated] !== entry.updatedMs)
        ) {
          obsolete.push(stateKeys.expiry(job, stateName, partition, entry.updatedMs, encodedKey));
        }
      }
      return false;
    });
    if (obsolete.length > 0) await this.#db.batchWrite(table, [], obsolete);
    const written = outcomes.filter(Boolean).length;
    return { written, skipped: changes.length - written };
  }

  async isInitialized(stateName: string, partition: number): Promise<boolean> {
    const item = await this.#db.get(
      this.#table,
      stateKeys.initialized(this.#job, stateName, partition),
    );
    return item !== undefined;
  }

  async markInitialized(stateName: string, partition: number, timeMs: number): Promise<void> {
    await this.#db.put(
      this.#table,
      { ...stateKeys.initialized(this.#job, stateName, partition), [ATTR.version]: timeMs },
      NOT_EXISTS,
    );
  }

  async purgeTombstones(stateName: string, partition: number, upToMs: number): Promise<number> {
    const tombstones = await this.#db.query({
      TableName: this.#table,
      KeyConditionExpression: PK_IS,
      FilterExpression: 'attribute_exists(#x) AND #v <= :upTo',
      ProjectionExpression: '#pk, #sk, #v',
      ExpressionAttributeNames: { ...KEY_NAMES, '#x': ATTR.tombstone, '#v': ATTR.version },
      ExpressionAttributeValues: {
        ':pk': stateKeys.items(this.#job, stateName, partition),
        ':upTo': upToMs,
      },
    });
    // Conditional on the version, so that a key written again since is kept.
    const deleted = await mapLimit(tombstones, PARALLEL_WRITES, (t) =>
      this.#db.delete(
        this.#table,
        { pk: t[PARTITION_KEY], sk: t[SORT_KEY] },
        {
          expression: '#v = :v AND attribute_exists(#x)',
          names: { '#v': ATTR.version, '#x': ATTR.tombstone },
          values: { ':v': t[ATTR.version] },
        },
      ),
    );
    return deleted.filter(Boolean).length;
  }

  async countKeys(stateName: string, partition: number): Promise<number> {
    return this.#db.count({
      TableName: this.#table,
      KeyConditionExpression: PK_IS,
      FilterExpression: 'attribute_not_exists(#x)',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#x': ATTR.tombstone },
      ExpressionAttributeValues: { ':pk': stateKeys.items(this.#job, stateName, partition) },
    });
  }
}

/** Whether an item read by key is that key's (a hashed key's item names its key in `k`). */
function isItemOf(item: Item, encodedKey: string): boolean {
  return !isHashedKey(item[SORT_KEY] as string) || item[ATTR.fullKey] === encodedKey;
}

/**
 * Reads one key of a stateful operator's state, as an application would: the partition from
 * lib/core's `partitionOf` over the operator's partition count, then one consistent GetItem
 * (and one Query if the value is chunked). Returns the key's value, or undefined when it has
 * none (never set, or removed).
 *
 * State reflects every batch up to the job's head, and possibly some keys of the batch after
 * it (each key's item is written atomically, the keys of a batch one by one).
 *
 * @example
 *   const n = await readState<number>(dynamoClient(), 'tags-state', 'tags', 'counts', 4, '#aws');
 */
export async function readState<S = unknown>(
  client: DynamoDBClient,
  tableName: string,
  job: string,
  stateName: string,
  partitions: number,
  key: Key,
): Promise<S | undefined> {
  const db = new DynamoRequests(client);
  const encodedKey = encodeKey(key, 'readState');
  const partition = partitionOf(key, partitions);
  const item = await db.get(tableName, stateKeys.item(job, stateName, partition, encodedKey));
  if (item === undefined || !isItemOf(item, encodedKey)) return undefined;
  const entries = await stateEntries(db, tableName, job, stateName, partition, [item]);
  return entries.get(encodedKey)?.value as S | undefined;
}

// ---------------------------------------------------------------------------------------------
// Results

/** The JSON view of a value, as DynamoDB can store it (undefined stays undefined). */
function jsonView(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

/** The results tables of saveToTable sinks (one table per sink, named per call). */
export class DynamoResultsStore implements ResultsStore {
  readonly #db: DynamoRequests;

  constructor(options: { readonly client: DynamoDBClient; readonly counter?: RequestCounter }) {
    this.#db = new DynamoRequests(options.client, options.counter);
  }

  async apply(
    table: string,
    entries: readonly ResultEntry[],
    timeMs: number,
    order = 0,
  ): Promise<ApplyResult> {
    // Checked before any write, so that a batch's results are not written in part.
    for (const entry of entries) checkResultSize(table, entry);
    const outcomes = await mapLimit(entries, PARALLEL_WRITES, async (entry) => {
      const key = resultKeys.item(entry.encodedKey);
      const { written } = await this.#db.put(
        table,
        {
          ...key,
          [ATTR.resultKey]: jsonView(entry.key),
          [ATTR.resultValue]: jsonView(entry.value),
          [ATTR.resultTime]: timeMs,
          [ATTR.resultOrder]: order,
          ...(isHashedKey(key.pk) ? { [ATTR.fullKey]: entry.encodedKey } : {}),
        },
        {
          // A newer batch, or a later writer of this batch, keeps its value; the same writer
          // applying again changes nothing.
          expression:
            'attribute_not_exists(#t) OR #t < :t OR (#t = :t AND (attribute_not_exists(#o) OR #o < :o))',
          names: { '#t': ATTR.resultTime, '#o': ATTR.resultOrder },
          values: { ':t': timeMs, ':o': order },
        },
      );
      return written;
    });
    const written = outcomes.filter(Boolean).length;
    return { written, skipped: entries.length - written };
  }

  async get(table: string, encodedKey: string): Promise<StoredResult | undefined> {
    const key = resultKeys.item(encodedKey);
    const item = await this.#db.get(table, key);
    if (item === undefined) return undefined;
    if (isHashedKey(key.pk) && item[ATTR.fullKey] !== encodedKey) return undefined;
    return {
      key: item[ATTR.resultKey],
      value: item[ATTR.resultValue],
      timeMs: item[ATTR.resultTime] as number,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Dead letters

/** The most JSON text of one dead letter kept in its item; longer subjects are cut. */
const MAX_LETTER_CHARS = 300_000;

/** Options of the dead-letter store. */
export interface DynamoDeadLetterStoreOptions extends DynamoStoreOptions {
  /** The TTL attribute is set this long after a letter's batch time (default: none). */
  readonly ttlMs?: number;
}

/** Dead letters of one job in its dead-letter table. */
export class DynamoDeadLetterStore implements DeadLetterStore {
  readonly #db: DynamoRequests;
  readonly #table: string;
  readonly #job: string;
  readonly #ttlMs: number | undefined;

  constructor(options: DynamoDeadLetterStoreOptions) {
    this.#db = new DynamoRequests(options.client, options.counter);
    this.#table = options.table;
    this.#job = options.job;
    this.#ttlMs = options.ttlMs;
    requireJobName(options.job);
  }

  async put(letters: readonly StoredDeadLetter[]): Promise<void> {
    await this.#db.batchWrite(
      this.#table,
      letters.map((l) => ({
        ...deadLetterKeys.letter(this.#job, l.timeMs, l.stage, l.task, l.index),
        [ATTR.letter]: letterText(l.letter),
        ...(this.#ttlMs === undefined ? {} : { [ATTR.ttl]: ttlSeconds(l.timeMs, this.#ttlMs) }),
      })),
    );
  }

  async list(fromMs: number, toMs: number, limit?: number): Promise<StoredDeadLetter[]> {
    if (toMs < 0 || toMs < fromMs) return [];
    const items = await this.#db.query(
      {
        TableName: this.#table,
        KeyConditionExpression: `${PK_IS} AND #sk BETWEEN :from AND :to`,
        ExpressionAttributeNames: KEY_NAMES,
        ExpressionAttributeValues: {
          ':pk': deadLetterKeys.letters(this.#job),
          ':from': timeBound(fromMs),
          ':to': `${timeUpperBound(toMs)}${AFTER_ALL}`,
        },
      },
      limit,
    );
    return items.map((item) => ({
      ...deadLetterKeys.parseLetter(item[SORT_KEY] as string),
      letter: JSON.parse(item[ATTR.letter] as string) as DeadLetter,
    }));
  }
}

/** A dead letter as JSON text, its subject cut to fit in one item. */
function letterText(letter: DeadLetter): string {
  const text = JSON.stringify(letter);
  if (text.length <= MAX_LETTER_CHARS) return text;
  const subject = JSON.stringify(letter.subject) ?? '';
  return JSON.stringify({
    ...letter,
    subject: `${subject.slice(0, MAX_LETTER_CHARS - 10_000)}...`,
    subjectTruncated: true,
    subjectLength: subject.length,
  });
}
