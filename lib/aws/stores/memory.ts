/**
 * In-memory stores with the semantics of the DynamoDB ones (the contract suites check both):
 * write-once plans, claims, commits and panes; a lease and a head that move only forward;
 * version-conditional state and results; tombstones; blocks chunked as DynamoDB stores them.
 *
 * Values go through the same encoding as in DynamoDB, so what a test reads back is what the
 * cloud would give (a copy, with JSON's view of the value).
 */

import {
  decodePayload,
  decodeStateValue,
  encodePayload,
  encodeStateValue,
  splitChunks,
} from '../../contract/encoding.js';
import { storedKey } from '../../contract/tables.js';
import { decodeKey } from '../../core/keys.js';
import type { StateEntry } from '../../core/operators/store.js';
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

const copy = (bytes: Uint8Array): Uint8Array => bytes.slice();

/** Entries of a map sorted by a numeric key. */
function byTime<V>(map: ReadonlyMap<number, V>): Array<[number, V]> {
  return [...map].sort((a, b) => a[0] - b[0]);
}

/** Plans, claims, commits, the lease and the head of one job, in memory. */
export class MemoryControlStore<Plan = unknown, Claim = unknown, Commit = unknown>
  implements ControlStore<Plan, Claim, Commit>
{
  #lease: { owner: string; epoch: number; expiresAtMs: number } | undefined;
  #head: number | undefined;
  #stopRequested = false;
  readonly #plans = new Map<number, Uint8Array>();
  readonly #claims = new Map<number, Map<string, Uint8Array>>();
  readonly #commits = new Map<number, Uint8Array>();

  async acquireLease(owner: string, nowMs: number, ttlMs: number): Promise<LeaseState> {
    const lease = this.#lease;
    if (lease === undefined || lease.expiresAtMs < nowMs) {
      this.#lease = { owner, epoch: (lease?.epoch ?? 0) + 1, expiresAtMs: nowMs + ttlMs };
      return {
        acquired: true,
        epoch: this.#lease.epoch,
        holder: owner,
        expiresAtMs: nowMs + ttlMs,
        stopRequested: this.#stopRequested,
      };
    }
    return {
      acquired: false,
      epoch: lease.epoch,
      holder: lease.owner,
      expiresAtMs: lease.expiresAtMs,
      stopRequested: this.#stopRequested,
    };
  }

  async renewLease(
    owner: string,
    epoch: number,
    nowMs: number,
    ttlMs: number,
  ): Promise<LeaseRenewal> {
    const lease = this.#lease;
    const renewed = lease?.owner === owner && lease.epoch === epoch;
    if (renewed) lease.expiresAtMs = nowMs + ttlMs;
    return { renewed, stopRequested: this.#stopRequested };
  }

  #description: Uint8Array | undefined;

  async putDescription(description: unknown): Promise<void> {
    this.#description = encodePayload(description);
  }

  async getDescription<T = unknown>(): Promise<T | undefined> {
    return this.#description && decodePayload<T>(this.#description, 'job description');
  }

  async requestStop(_atMs: number): Promise<void> {
    this.#stopRequested = true;
  }

  async clearStop(): Promise<void> {
    this.#stopRequested = false;
  }

  async releaseLease(owner: string, epoch: number): Promise<boolean> {
    const lease = this.#lease;
    if (lease?.owner !== owner || lease.epoch !== epoch) return false;
    lease.expiresAtMs = 0;
    return true;
  }

  async getHead(): Promise<number | undefined> {
    return this.#head;
  }

  async advanceHead(timeMs: number): Promise<boolean> {
    if (this.#head !== undefined && this.#head >= timeMs) return false;
    this.#head = timeMs;
    return true;
  }

  async putPlan(timeMs: number, plan: Plan): Promise<Plan> {
    return writeOnce(this.#plans, timeMs, plan, 'plan');
  }

  async getPlan(timeMs: number): Promise<Plan | undefined> {
    return readOptional<Plan>(this.#plans.get(timeMs), 'plan');
  }

  async listPlans(afterMs: number, limit: number): Promise<Array<Timed<Plan>>> {
    return byTime(this.#plans)
      .filter(([t]) => t > afterMs)
      .slice(0, Math.max(0, limit))
      .map(([timeMs, b]) => ({ timeMs, value: decodePayload<Plan>(b, 'plan') }));
  }

  async putClaim(timeMs: number, stage: number, task: number, claim: Claim): Promise<Claim> {
    let claims = this.#claims.get(timeMs);
    if (!claims) {
      claims = new Map();
      this.#claims.set(timeMs, claims);
    }
    return writeOnce(claims, `${stage}#${task}`, claim, 'claim');
  }

  async getClaim(timeMs: number, stage: number, task: number): Promise<Claim | undefined> {
    return readOptional<Claim>(this.#claims.get(timeMs)?.get(`${stage}#${task}`), 'claim');
  }

  async listClaims(
    timeMs: number,
    stage?: number,
  ): Promise<Array<{ stage: number; task: number; claim: Claim }>> {
    return [...(this.#claims.get(timeMs) ?? new Map<string, Uint8Array>())]
      .map(([id, b]) => {
        const [s, t] = id.split('#').map(Number) as [number, number];
        return { stage: s, task: t, claim: decodePayload<Claim>(b, 'claim') };
      })
      .filter((c) => stage === undefined || c.stage === stage)
      .sort((a, b) => a.stage - b.stage || a.task - b.task);
  }

  async putCommit(timeMs: number, commit: Commit): Promise<Commit> {
    return writeOnce(this.#commits, timeMs, commit, 'commit');
  }

  async getCommit(timeMs: number): Promise<Commit | undefined> {
    return readOptional<Commit>(this.#commits.get(timeMs), 'commit');
  }

  async listCommits(
    fromMs: number,
    toMs: number,
    limit: number,
    options?: { readonly newestFirst?: boolean },
  ): Promise<Array<Timed<Commit>>> {
    const inRange = byTime(this.#commits).filter(([t]) => t >= fromMs && t <= toMs);
    if (options?.newestFirst) inRange.reverse();
    return inRange
      .slice(0, Math.max(0, limit))
      .map(([timeMs, b]) => ({ timeMs, value: decodePayload<Commit>(b, 'commit') }));
  }

  async deleteBatch(timeMs: number): Promise<void> {
    this.#plans.delete(timeMs);
    this.#claims.delete(timeMs);
    this.#commits.delete(timeMs);
  }

  async deleteUpTo(upToMs: number, limit: number): Promise<number[]> {
    const times = byTime(this.#plans)
      .map(([t]) => t)
      .filter((t) => t <= upToMs)
      .slice(0, Math.max(0, limit));
    for (const t of times) await this.deleteBatch(t);
    return times;
  }
}

function writeOnce<K, V>(map: Map<K, Uint8Array>, key: K, value: V, what: string): V {
  const existing = map.get(key);
  if (existing) return decodePayload<V>(existing, what);
  const payload = encodePayload(value);
  map.set(key, payload);
  return decodePayload<V>(payload, what);
}

function readOptional<V>(payload: Uint8Array | undefined, what: string): V | undefined {
  return payload === undefined ? undefined : decodePayload<V>(payload, what);
}

/** Blocks, intents, panes and partials of one job, in memory. */
export class MemoryDataStore implements DataStore {
  /** Per (time, writeId, partition): chunks by `task#attempt#chunk`. */
  readonly #blocks = new Map<string, Map<string, BlockChunk>>();
  /** Per time: payloads by `stage#task#attempt`. */
  readonly #intents = new Map<number, Map<string, Uint8Array>>();
  /** Per (stateName, partition): payloads by end time. */
  readonly #panes = new Map<string, Map<number, Uint8Array>>();
  /** Per (stateName, partition): payloads by batch time. */
  readonly #partials = new Map<string, Map<number, Uint8Array>>();

  #blockMap(timeMs: number, writeId: string, partition: number): Map<string, BlockChunk> {
    const id = `${timeMs}\u0000${writeId}\u0000${partition}`;
    let chunks = this.#blocks.get(id);
    if (!chunks) {
      chunks = new Map();
      this.#blocks.set(id, chunks);
    }
    return chunks;
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
    this.#blockMap(timeMs, writeId, partition).set(`${task}#${attempt}#${chunk}`, {
      task,
      attempt,
      chunk,
      bytes: copy(bytes),
    });
  }

  async putBlocks(
    timeMs: number,
    writeId: string,
    task: number,
    attempt: string,
    blocks: readonly BlockPayload[],
  ): Promise<number[]> {
    const counts: number[] = [];
    for (const { partition, payload } of blocks) {
      const chunks = splitChunks(payload);
      for (const [chunk, bytes] of chunks.entries()) {
        await this.putBlock(timeMs, writeId, partition, task, attempt, chunk, bytes);
      }
      counts.push(chunks.length);
    }
    return counts;
  }

  async listBlocks(timeMs: number, writeId: string, partition: number): Promise<BlockChunk[]> {
    return [...this.#blockMap(timeMs, writeId, partition).values()]
      .map((c) => ({ ...c, bytes: copy(c.bytes) }))
      .sort(
        (a, b) =>
          a.task - b.task ||
          (a.attempt < b.attempt ? -1 : a.attempt > b.attempt ? 1 : 0) ||
          a.chunk - b.chunk,
      );
  }

  async putIntent(
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
    payload: Uint8Array,
  ): Promise<void> {
    let intents = this.#intents.get(timeMs);
    if (!intents) {
      intents = new Map();
      this.#intents.set(timeMs, intents);
    }
    intents.set(`${stage}#${task}#${attempt}`, copy(payload));
  }

  async getIntent(
    timeMs: number,
    stage: number,
    task: number,
    attempt: string,
  ): Promise<Uint8Array | undefined> {
    const payload = this.#intents.get(timeMs)?.get(`${stage}#${task}#${attempt}`);
    return payload && copy(payload);
  }

  #timed(
    maps: Map<string, Map<number, Uint8Array>>,
    stateName: string,
    partition: number,
  ): Map<number, Uint8Array> {
    const id = `${stateName}\u0000${partition}`;
    let map = maps.get(id);
    if (!map) {
      map = new Map();
      maps.set(id, map);
    }
    return map;
  }

  async putPane(
    stateName: string,
    partition: number,
    endMs: number,
    payload: Uint8Array,
  ): Promise<void> {
    const panes = this.#timed(this.#panes, stateName, partition);
    if (!panes.has(endMs)) panes.set(endMs, copy(payload));
  }

  async getPane(
    stateName: string,
    partition: number,
    endMs: number,
  ): Promise<Uint8Array | undefined> {
    const payload = this.#timed(this.#panes, stateName, partition).get(endMs);
    return payload && copy(payload);
  }

  async putPartial(
    stateName: string,
    partition: number,
    timeMs: number,
    payload: Uint8Array,
  ): Promise<void> {
    this.#timed(this.#partials, stateName, partition).set(timeMs, copy(payload));
  }

  async listPartials(
    stateName: string,
    partition: number,
    fromExclusiveMs: number,
    toInclusiveMs: number,
  ): Promise<Array<Timed<Uint8Array>>> {
    return byTime(this.#timed(this.#partials, stateName, partition))
      .filter(([t]) => t > fromExclusiveMs && t <= toInclusiveMs)
      .map(([timeMs, b]) => ({ timeMs, value: copy(b) }));
  }

  async deleteBlocks(timeMs: number, shuffles: readonly ShuffleLayout[]): Promise<number> {
    let deleted = 0;
    for (const { writeId, partitions } of shuffles) {
      for (let p = 0; p < partitions; p++) {
        const id = `${timeMs}\u0000${writeId}\u0000${p}`;
        deleted += this.#blocks.get(id)?.size ?? 0;
        this.#blocks.delete(id);
      }
    }
    return deleted;
  }

  async deleteIntents(timeMs: number): Promise<number> {
    const deleted = this.#intents.get(timeMs)?.size ?? 0;
    this.#intents.delete(timeMs);
    return deleted;
  }

  async deleteBatch(timeMs: number, shuffles: readonly ShuffleLayout[]): Promise<number> {
    return (await this.deleteBlocks(timeMs, shuffles)) + (await this.deleteIntents(timeMs));
  }

  async deletePanes(stateName: string, partition: number, upToMs: number): Promise<number> {
    return deleteUpTo(this.#timed(this.#panes, stateName, partition), upToMs);
  }

  async deletePartials(stateName: string, partition: number, upToMs: number): Promise<number> {
    return deleteUpTo(this.#timed(this.#partials, stateName, partition), upToMs);
  }
}

function deleteUpTo(map: Map<number, unknown>, upToMs: number): number {
  let deleted = 0;
  for (const t of [...map.keys()]) {
    if (t <= upToMs) {
      map.delete(t);
      deleted++;
    }
  }
  return deleted;
}

interface MemoryStateItem {
  /** The batch that wrote it. */
  readonly v: number;
  readonly u: number;
  /** The encoded value; undefined on a tombstone. */
  readonly payload: Uint8Array | undefined;
  readonly expiry: boolean;
}

/** Keyed state of one job, in memory. */
export class MemoryStateStore implements StateStore {
  readonly #partitions = new Map<string, Map<string, MemoryStateItem>>();
  readonly #initialized = new Set<string>();

  #items(stateName: string, partition: number): Map<string, MemoryStateItem> {
    const id = `${stateName}\u0000${partition}`;
    let items = this.#partitions.get(id);
    if (!items) {
      items = new Map();
      this.#partitions.set(id, items);
    }
    return items;
  }

  #entry(encodedKey: string, item: MemoryStateItem | undefined): StateEntry | undefined {
    if (item?.payload === undefined) return undefined;
    return {
      key: decodeKey(encodedKey),
      value: decodeStateValue(item.payload),
      updatedMs: item.u,
    };
  }

  async get(
    stateName: string,
    partition: number,
    encodedKey: string,
  ): Promise<StateEntry | undefined> {
    storedKey(encodedKey);
    return this.#entry(encodedKey, this.#items(stateName, partition).get(encodedKey));
  }

  async getMany(
    stateName: string,
    partition: number,
    encodedKeys: readonly string[],
  ): Promise<Map<string, StateEntry>> {
    const items = this.#items(stateName, partition);
    const out = new Map<string, StateEntry>();
    for (const enc of encodedKeys) {
      const entry = this.#entry(enc, items.get(enc));
      if (entry) out.set(enc, entry);
    }
    return out;
  }

  async list(stateName: string, partition: number): Promise<Map<string, StateEntry>> {
    const out = new Map<string, StateEntry>();
    for (const [enc, item] of this.#items(stateName, partition)) {
      const entry = this.#entry(enc, item);
      if (entry) out.set(enc, entry);
    }
    return out;
  }

  async listExpiring(
    stateName: string,
    partition: number,
    beforeMs: number,
  ): Promise<Map<string, StateEntry>> {
    const out = new Map<string, StateEntry>();
    const sorted = [...this.#items(stateName, partition)].sort((a, b) => a[1].u - b[1].u);
    for (const [enc, item] of sorted) {
      if (!item.expiry || item.u >= beforeMs) continue;
      const entry = this.#entry(enc, item);
      if (entry) out.set(enc, entry);
    }
    return out;
  }

  async apply(
    stateName: string,
    partition: number,
    changes: readonly StateChange[],
    timeMs: number,
    options?: { readonly expiry?: boolean },
  ): Promise<ApplyResult> {
    const items = this.#items(stateName, partition);
    let written = 0;
    let skipped = 0;
    for (const { encodedKey, entry } of changes) {
      storedKey(encodedKey);
      const existing = items.get(encodedKey);
      if (existing !== undefined && existing.v >= timeMs) {
        skipped++;
        continue;
      }
      items.set(encodedKey, {
        v: timeMs,
        u: entry?.updatedMs ?? existing?.u ?? timeMs,
        payload: entry ? encodeStateValue(entry.value) : undefined,
        expiry: options?.expiry === true,
      });
      written++;
    }
    return { written, skipped };
  }

  async isInitialized(stateName: string, partition: number): Promise<boolean> {
    return this.#initialized.has(`${stateName}\u0000${partition}`);
  }

  async markInitialized(stateName: string, partition: number, _timeMs: number): Promise<void> {
    this.#initialized.add(`${stateName}\u0000${partition}`);
  }

  async purgeTombstones(stateName: string, partition: number, upToMs: number): Promise<number> {
    const items = this.#items(stateName, partition);
    let purged = 0;
    for (const [enc, item] of [...items]) {
      if (item.payload === undefined && item.v <= upToMs) {
        items.delete(enc);
        purged++;
      }
    }
    return purged;
  }

  async countKeys(stateName: string, partition: number): Promise<number> {
    let n = 0;
    for (const item of this.#items(stateName, partition).values()) {
      if (item.payload !== undefined) n++;
    }
    return n;
  }
}

/** The JSON view of a value, as stored and read back (undefined stays undefined). */
function jsonView(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

/** Results tables, in memory. */
export class MemoryResultsStore implements ResultsStore {
  readonly #tables = new Map<string, Map<string, StoredResult>>();
  /** The writer order of each stored result, by table and key. */
  readonly #orders = new Map<string, number>();

  #table(table: string): Map<string, StoredResult> {
    let items = this.#tables.get(table);
    if (!items) {
      items = new Map();
      this.#tables.set(table, items);
    }
    return items;
  }

  async apply(
    table: string,
    entries: readonly ResultEntry[],
    timeMs: number,
    order = 0,
  ): Promise<ApplyResult> {
    const items = this.#table(table);
    let written = 0;
    let skipped = 0;
    for (const entry of entries) checkResultSize(table, entry);
    for (const { encodedKey, key, value } of entries) {
      const existing = this.#orders.get(`${table}\u0000${storedKey(encodedKey)}`);
      const stored = items.get(storedKey(encodedKey));
      if (
        stored !== undefined &&
        (stored.timeMs > timeMs || (stored.timeMs === timeMs && (existing ?? -1) >= order))
      ) {
        skipped++;
        continue;
      }
      items.set(storedKey(encodedKey), { key: jsonView(key), value: jsonView(value), timeMs });
      this.#orders.set(`${table}\u0000${storedKey(encodedKey)}`, order);
      written++;
    }
    return { written, skipped };
  }

  async get(table: string, encodedKey: string): Promise<StoredResult | undefined> {
    const item = this.#table(table).get(storedKey(encodedKey));
    return item && { key: jsonView(item.key), value: jsonView(item.value), timeMs: item.timeMs };
  }

  /** Every stored result of a table (tests). */
  all(table: string): Map<string, StoredResult> {
    return new Map(this.#table(table));
  }
}

/** Dead letters of one job, in memory. */
export class MemoryDeadLetterStore implements DeadLetterStore {
  readonly #letters = new Map<string, StoredDeadLetter>();

  async put(letters: readonly StoredDeadLetter[]): Promise<void> {
    for (const letter of letters) {
      const id = [letter.timeMs, letter.stage, letter.task, letter.index].join('#');
      this.#letters.set(id, jsonView(letter) as StoredDeadLetter);
    }
  }

  async list(
    fromMs: number,
    toMs: number,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<StoredDeadLetter[]> {
    return [...this.#letters.values()]
      .filter((l) => l.timeMs >= fromMs && l.timeMs <= toMs)
      .sort(
        (a, b) => a.timeMs - b.timeMs || a.stage - b.stage || a.task - b.task || a.index - b.index,
      )
      .slice(0, limit)
      .map((l) => jsonView(l) as StoredDeadLetter);
  }
}
