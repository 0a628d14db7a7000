/**
 * The protocol's stores in memory: the same write-once and version-conditional rules as the
 * DynamoDB stores, for tests of the protocol that inject faults between its steps.
 */
import { SparklessError } from '../core/errors.js';
import { encodeKey, type Key, partitionOf } from '../core/keys.js';
import type { DeadLetter } from '../core/operators/guard.js';
import type { Block } from '../core/operators/shuffle.js';
import type { StateEntry } from '../core/operators/store.js';
import type { KeyNeed, PaneNeed } from '../core/task.js';
import type {
  BatchCommit,
  BatchPlan,
  Intent,
  JobDescription,
  ProtocolStores,
  TaskClaim,
} from './protocol.js';
import type { PaneChanges, StateChange } from './views.js';

type Versioned<T> = { value: T; v: number };

/** The value under `key`, made first if there is none. */
function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

const clone = <T>(x: T): T => (x === undefined ? x : (JSON.parse(JSON.stringify(x)) as T));

/** Everything in maps; every value is copied in and out, as a store would. */
export class MemoryProtocolStores implements ProtocolStores {
  lease: { owner: string; epoch: number; expiresAtMs: number } | undefined;
  leaseEpoch = 0;
  /** Whether the job was asked to stop (its coordinator ends after the batch in flight). */
  stopRequested = false;
  head: number | undefined;
  readonly plans = new Map<number, BatchPlan>();
  readonly claims = new Map<string, TaskClaim>();
  readonly commits = new Map<number, BatchCommit>();
  readonly blocks = new Map<string, Block>();
  readonly intents = new Map<string, Intent>();
  /** stateName/partition -> encoded key -> versioned entry (null value: a tombstone). */
  readonly state = new Map<string, Map<string, Versioned<StateEntry | null>>>();
  readonly initialized = new Set<string>();
  readonly panes = new Map<string, Map<number, unknown>>();
  readonly partials = new Map<string, Map<number, unknown>>();
  readonly results = new Map<
    string,
    Map<string, { key: unknown; value: unknown; timeMs: number }>
  >();
  /** The writer order of each stored result, by sink and key. */
  readonly #resultOrders = new Map<string, number>();
  readonly streams = new Map<
    string,
    Array<{ timeMs: number; stage: number; partition: number; index: number; record: unknown }>
  >();
  readonly deadLetters = new Map<string, DeadLetter>();
  /** Requests per operation, for cost-shape tests. */
  readonly requests = new Map<string, number>();

  #count(op: string, n = 1) {
    this.requests.set(op, (this.requests.get(op) ?? 0) + n);
  }

  description: JobDescription | undefined;
  async describeJob(description: JobDescription) {
    this.#count('describeJob');
    this.description = description;
  }
  async acquireLease(owner: string, nowMs: number, ttlMs: number) {
    this.#count('acquireLease');
    if (this.lease && this.lease.expiresAtMs >= nowMs && this.lease.owner !== owner) {
      return { acquired: false, epoch: this.lease.epoch, stopRequested: this.stopRequested };
    }
    this.leaseEpoch++;
    this.lease = { owner, epoch: this.leaseEpoch, expiresAtMs: nowMs + ttlMs };
    return { acquired: true, epoch: this.leaseEpoch, stopRequested: this.stopRequested };
  }
  async renewLease(owner: string, epoch: number, nowMs: number, ttlMs: number) {
    this.#count('renewLease');
    if (!this.lease || this.lease.owner !== owner || this.lease.epoch !== epoch) {
      return { renewed: false, stopRequested: this.stopRequested };
    }
    this.lease.expiresAtMs = nowMs + ttlMs;
    return { renewed: true, stopRequested: this.stopRequested };
  }
  async releaseLease(owner: string, epoch: number) {
    this.#count('releaseLease');
    if (this.lease?.owner === owner && this.lease.epoch === epoch) this.lease = undefined;
  }
  async getHead() {
    this.#count('getHead');
    return this.head;
  }
  async advanceHead(timeMs: number) {
    this.#count('advanceHead');
    if (this.head !== undefined && this.head >= timeMs) return false;
    this.head = timeMs;
    return true;
  }
  async putPlan(plan: BatchPlan) {
    this.#count('putPlan');
    if (!this.plans.has(plan.timeMs)) this.plans.set(plan.timeMs, clone(plan));
    return clone(this.plans.get(plan.timeMs)!);
  }
  async getPlan(timeMs: number) {
    this.#count('getPlan');
    return clone(this.plans.get(timeMs));
  }
  async listPlans(afterMs: number, limit: number) {
    this.#count('listPlans');
    return [...this.plans.values()]
      .filter((p) => p.timeMs > afterMs)
      .sort((a, b) => a.timeMs - b.timeMs)
      .slice(0, limit)
      .map(clone);
  }
  async putClaim(claim: TaskClaim) {
    this.#count('putClaim');
    const k = `${claim.timeMs}/${claim.stage}/${claim.task}`;
    if (!this.claims.has(k)) this.claims.set(k, clone(claim));
    return clone(this.claims.get(k)!);
  }
  async getClaim(timeMs: number, stage: number, task: number) {
    this.#count('getClaim');
    return clone(this.claims.get(`${timeMs}/${stage}/${task}`));
  }
  async listClaims(timeMs: number, stage: number) {
    this.#count('listClaims');
    return [...this.claims.values()]
      .filter((c) => c.timeMs === timeMs && c.stage === stage)
      .sort((a, b) => a.task - b.task)
      .map(clone);
  }
  async putCommit(commit: BatchCommit) {
    this.#count('putCommit');
    if (!this.commits.has(commit.timeMs)) this.commits.set(commit.timeMs, clone(commit));
    return clone(this.commits.get(commit.timeMs)!);
  }
  async getCommit(timeMs: number) {
    this.#count('getCommit');
    return clone(this.commits.get(timeMs));
  }
  async putBlocks(
    timeMs: number,
    writeId: string,
    task: number,
    attempt: string,
    blocks: readonly Block[],
  ) {
    return blocks.map((b, partition) => {
      if (b.length === 0) return 0;
      this.#count('putBlock');
      this.blocks.set(`${timeMs}/${writeId}/${partition}/${task}/${attempt}/0`, clone(b));
      return 1;
    });
  }
  async readBlocks(
    timeMs: number,
    writeId: string,
    partition: number,
    writers: ReadonlyArray<{ task: number; attempt: string; chunks: number }>,
  ) {
    // Nothing to read when no writer wrote to this partition (the DynamoDB store sends nothing).
    if (writers.some((w) => w.chunks > 0)) this.#count('readBlocks');
    return writers.map((w) => {
      const out: unknown[] = [];
      for (let c = 0; c < w.chunks; c++) {
        const b = this.blocks.get(`${timeMs}/${writeId}/${partition}/${w.task}/${w.attempt}/${c}`);
        if (!b) {
          throw new SparklessError(
            'MISSING_BLOCK',
            `batch ${timeMs}: chunk ${c} of task ${w.task} (attempt ${w.attempt}) for ${writeId} partition ${partition} is claimed but missing`,
          );
        }
        out.push(...clone(b));
      }
      return out;
    });
  }
  async putIntent(timeMs: number, stage: number, task: number, attempt: string, intent: Intent) {
    this.#count('putIntent');
    this.intents.set(`${timeMs}/${stage}/${task}/${attempt}`, clone(intent));
  }
  async getIntent(timeMs: number, stage: number, task: number, attempt: string) {
    this.#count('getIntent');
    const i = this.intents.get(`${timeMs}/${stage}/${task}/${attempt}`);
    if (!i) {
      throw new SparklessError(
        'MISSING_INTENT',
        `batch ${timeMs}: the claimed intent of stage ${stage} task ${task} (attempt ${attempt}) is missing`,
      );
    }
    return clone(i);
  }
  async loadKeyed(stateName: string, partition: number, need: KeyNeed) {
    const items = this.state.get(`${stateName}/${partition}`) ?? new Map();
    const entries = new Map<string, StateEntry>();
    if (need.all) {
      this.#count('queryState');
      for (const [enc, e] of items) if (e.value) entries.set(enc, clone(e.value));
    } else {
      if (need.keys.length) this.#count('getState', Math.ceil(need.keys.length / 100));
      for (const enc of need.keys) {
        const e = items.get(enc)?.value;
        if (e) entries.set(enc, clone(e));
      }
      if (need.updatedBefore !== undefined) {
        this.#count('queryExpiry');
        for (const [enc, e] of items)
          if (e.value && e.value.updatedMs < need.updatedBefore) entries.set(enc, clone(e.value));
      }
    }
    return {
      entries,
      complete: need.all,
      initialized: this.initialized.has(`${stateName}/${partition}`),
    };
  }
  async loadPanes(stateName: string, partition: number, need: PaneNeed) {
    const k = `${stateName}/${partition}`;
    const partials = new Map<number, unknown>();
    const panes = new Map<number, unknown>();
    if (need.partials) {
      this.#count('queryPartials');
      for (const [t, d] of this.partials.get(k) ?? [])
        if (t > need.partials[0] && t <= need.partials[1]) partials.set(t, clone(d));
    }
    if (need.panes.length) this.#count('getPanes', Math.ceil(need.panes.length / 100));
    for (const end of need.panes) {
      const d = this.panes.get(k)?.get(end);
      if (d !== undefined) panes.set(end, clone(d));
    }
    return { partials, panes };
  }
  async applyState(
    timeMs: number,
    stateName: string,
    partition: number,
    changes: readonly StateChange[],
    initialized: boolean,
  ) {
    const k = `${stateName}/${partition}`;
    const items = getOrCreate(this.state, k, () => new Map());
    for (const c of changes) {
      this.#count('writeState');
      const cur = items.get(c.encodedKey);
      if (cur && cur.v >= timeMs) continue; // already applied by this batch or a later one
      items.set(c.encodedKey, { value: clone(c.entry), v: timeMs });
    }
    if (initialized) this.initialized.add(k);
  }
  async applyPanes(_timeMs: number, stateName: string, partition: number, changes: PaneChanges) {
    const k = `${stateName}/${partition}`;
    const panes = getOrCreate(this.panes, k, () => new Map());
    const partials = getOrCreate(this.partials, k, () => new Map());
    for (const p of changes.partials) {
      if (changes.dropPartialsUpTo !== undefined && p.timeMs <= changes.dropPartialsUpTo) continue;
      this.#count('putPartial');
      partials.set(p.timeMs, clone(p.data));
    }
    for (const p of changes.panes) {
      this.#count('putPane');
      if (!panes.has(p.endMs)) panes.set(p.endMs, clone(p.data));
    }
    if (changes.dropPartialsUpTo !== undefined)
      for (const t of [...partials.keys()]) if (t <= changes.dropPartialsUpTo) partials.delete(t);
    if (changes.dropPanesUpTo !== undefined)
      for (const t of [...panes.keys()]) if (t <= changes.dropPanesUpTo) panes.delete(t);
  }
  async applyResults(
    timeMs: number,
    sink: string,
    entries: ReadonlyArray<{ key: unknown; value: unknown }>,
    order: number,
  ) {
    const table = getOrCreate(this.results, sink, () => new Map());
    for (const e of entries) {
      this.#count('writeResult');
      const enc = encodeKey(e.key, `saveToTable '${sink}'`);
      const cur = table.get(enc);
      // Written by a later batch, or by a later writer of this batch.
      const curOrder = this.#resultOrders.get(`${sink}\u0000${enc}`) ?? -1;
      if (cur && (cur.timeMs > timeMs || (cur.timeMs === timeMs && curOrder >= order))) continue;
      table.set(enc, { key: clone(e.key), value: clone(e.value), timeMs });
      this.#resultOrders.set(`${sink}\u0000${enc}`, order);
    }
  }
  async putStreamRecords(
    timeMs: number,
    sink: string,
    records: ReadonlyArray<{ stage: number; partition: number; index: number; record: unknown }>,
  ) {
    const list = getOrCreate(this.streams, sink, () => []);
    this.#count('putRecords', Math.ceil(records.length / 500));
    for (const r of records) list.push({ timeMs, ...clone(r) });
  }
  async putDeadLetters(
    where: { timeMs: number; stage: number; task: number },
    letters: readonly DeadLetter[],
  ) {
    this.#count('putDeadLetters', Math.ceil(letters.length / 25));
    letters.forEach((d, index) => {
      this.deadLetters.set(`${where.timeMs}/${where.stage}/${where.task}/${index}`, clone(d));
    });
  }

  async housekeep(tombstonesUpTo: number, controlUpTo: number) {
    this.#count('housekeep');
    for (const items of this.state.values()) {
      for (const [k, e] of [...items])
        if (e.value === null && e.v <= tombstonesUpTo) items.delete(k);
    }
    for (const t of [...this.plans.keys()]) if (t <= controlUpTo) this.plans.delete(t);
    for (const t of [...this.commits.keys()]) if (t <= controlUpTo) this.commits.delete(t);
    for (const [k, c] of [...this.claims]) if (c.timeMs <= controlUpTo) this.claims.delete(k);
  }
  async deleteBatchData(timeMs: number) {
    for (const k of [...this.blocks.keys()])
      if (Number(k.split('/')[0]) <= timeMs) this.blocks.delete(k);
    for (const k of [...this.intents.keys()])
      if (Number(k.split('/')[0]) <= timeMs) this.intents.delete(k);
  }

  /** The current state of a stateful operator, for tests: [key, value] pairs. */
  stateOf(stateName: string): Array<[unknown, unknown]> {
    const out: Array<[unknown, unknown]> = [];
    for (const [k, items] of this.state) {
      if (!k.startsWith(`${stateName}/`)) continue;
      for (const e of items.values()) if (e.value) out.push([e.value.key, e.value.value]);
    }
    return out;
  }

  /** Reads one key's state the way applications do: by its partition. */
  readState(stateName: string, partitions: number, key: Key): unknown {
    const items = this.state.get(`${stateName}/${partitionOf(key, partitions)}`);
    return items?.get(encodeKey(key))?.value?.value;
  }
}
