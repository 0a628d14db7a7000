/**
 * The protocol's stores over the DynamoDB stores (or their in-memory twins) and a Kinesis sink:
 * the one place where protocol records become table items.
 */
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import {
  decodeBlock,
  decodeIntent,
  decodePayload,
  encodeBlock,
  encodeIntent,
  encodePayload,
} from '../contract/encoding.js';
import type { SinkTarget } from '../contract/env.js';
import { SparklessError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { encodeKey } from '../core/keys.js';
import type { DeadLetter } from '../core/operators/guard.js';
import type { Block } from '../core/operators/shuffle.js';
import type { KeyNeed, PaneNeed } from '../core/task.js';
import type {
  BatchCommit,
  BatchPlan,
  Intent,
  JobDescription,
  ProtocolStores,
  TaskClaim,
} from './protocol.js';
import { claimedBlocks } from './stores/blocks.js';
import type {
  ControlStore,
  DataStore,
  DeadLetterStore,
  ResultsStore,
  StateStore,
} from './stores/ports.js';
import type { PaneChanges, StateChange } from './views.js';
import { batchLayout } from './worker.js';

/** The stores of one job. */
export interface JobStores {
  readonly control: ControlStore<BatchPlan, TaskClaim, BatchCommit>;
  readonly data: DataStore;
  readonly state: StateStore;
  readonly results: ResultsStore;
  readonly deadLetters: DeadLetterStore;
}

/** Implements the protocol's port over a job's stores. */
export class StoreProtocol implements ProtocolStores {
  readonly #job: Job;
  readonly #s: JobStores;
  readonly #sinks: Readonly<Record<string, SinkTarget>>;
  readonly #kinesis: KinesisClient | undefined;
  /** State names whose keys time out (mapWithState with a timeout): their expiry items are kept. */
  readonly #expiring: ReadonlySet<string>;

  constructor(
    job: Job,
    stores: JobStores,
    sinks: Readonly<Record<string, SinkTarget>>,
    kinesis?: KinesisClient,
  ) {
    this.#job = job;
    this.#s = stores;
    this.#sinks = sinks;
    this.#kinesis = kinesis;
    this.#expiring = new Set(
      job.plan.stateful.filter((s) => s.timeoutMs !== undefined).map((s) => s.name),
    );
  }

  async describeJob(description: JobDescription) {
    await this.#s.control.putDescription(description);
  }
  async acquireLease(owner: string, nowMs: number, ttlMs: number) {
    const l = await this.#s.control.acquireLease(owner, nowMs, ttlMs);
    return { acquired: l.acquired, epoch: l.epoch, stopRequested: l.stopRequested };
  }
  renewLease(owner: string, epoch: number, nowMs: number, ttlMs: number) {
    return this.#s.control.renewLease(owner, epoch, nowMs, ttlMs);
  }
  async releaseLease(owner: string, epoch: number) {
    await this.#s.control.releaseLease(owner, epoch);
  }
  getHead() {
    return this.#s.control.getHead();
  }
  advanceHead(timeMs: number) {
    return this.#s.control.advanceHead(timeMs);
  }
  putPlan(plan: BatchPlan) {
    return this.#s.control.putPlan(plan.timeMs, plan);
  }
  getPlan(timeMs: number) {
    return this.#s.control.getPlan(timeMs);
  }
  async listPlans(afterMs: number, limit: number) {
    return (await this.#s.control.listPlans(afterMs, limit)).map((t) => t.value);
  }
  putClaim(claim: TaskClaim) {
    return this.#s.control.putClaim(claim.timeMs, claim.stage, claim.task, claim);
  }
  getClaim(timeMs: number, stage: number, task: number) {
    return this.#s.control.getClaim(timeMs, stage, task);
  }
  async listClaims(timeMs: number, stage: number) {
    const claims = await this.#s.control.listClaims(timeMs, stage);
    return claims.map((c) => c.claim).sort((a, b) => a.task - b.task);
  }
  putCommit(commit: BatchCommit) {
    return this.#s.control.putCommit(commit.timeMs, commit);
  }
  getCommit(timeMs: number) {
    return this.#s.control.getCommit(timeMs);
  }

  async putBlocks(
    timeMs: number,
    writeId: string,
    task: number,
    attempt: string,
    blocks: readonly Block[],
  ) {
    const payloads = blocks.flatMap((b, partition) =>
      b.length ? [{ partition, payload: encodeBlock(b) }] : [],
    );
    const counts = payloads.length
      ? await this.#s.data.putBlocks(timeMs, writeId, task, attempt, payloads)
      : [];
    const out = blocks.map(() => 0);
    payloads.forEach((p, i) => {
      out[p.partition] = counts[i]!;
    });
    return out;
  }
  async readBlocks(
    timeMs: number,
    writeId: string,
    partition: number,
    writers: ReadonlyArray<{ task: number; attempt: string; chunks: number }>,
  ) {
    if (writers.every((w) => w.chunks === 0)) return writers.map(() => []);
    const listing = await this.#s.data.listBlocks(timeMs, writeId, partition);
    const payloads = claimedBlocks(listing, writers, { timeMs, writeId, partition });
    let i = 0;
    return writers.map((w) =>
      w.chunks === 0 ? [] : decodeBlock(payloads[i++]!, `block of ${writeId}`),
    );
  }
  async putIntent(timeMs: number, stage: number, task: number, attempt: string, intent: Intent) {
    await this.#s.data.putIntent(timeMs, stage, task, attempt, encodeIntent(intent));
  }
  async getIntent(timeMs: number, stage: number, task: number, attempt: string) {
    const payload = await this.#s.data.getIntent(timeMs, stage, task, attempt);
    if (!payload) {
      throw new SparklessError(
        'MISSING_INTENT',
        `batch ${timeMs}: the claimed intent of stage ${stage} task ${task} (attempt ${attempt}) is missing`,
      );
    }
    return decodeIntent<Intent>(payload);
  }

  async loadKeyed(stateName: string, partition: number, need: KeyNeed) {
    const st = this.#s.state;
    const initialized = await st.isInitialized(stateName, partition);
    if (need.all)
      return { entries: await st.list(stateName, partition), complete: true, initialized };
    const entries = need.keys.length
      ? await st.getMany(stateName, partition, need.keys)
      : new Map();
    if (need.updatedBefore !== undefined) {
      for (const [k, e] of await st.listExpiring(stateName, partition, need.updatedBefore))
        entries.set(k, e);
    }
    return { entries, complete: false, initialized };
  }
  async loadPanes(stateName: string, partition: number, need: PaneNeed) {
    const partials = new Map<number, unknown>();
    const panes = new Map<number, unknown>();
    if (need.partials) {
      for (const p of await this.#s.data.listPartials(
        stateName,
        partition,
        need.partials[0],
        need.partials[1],
      )) {
        partials.set(p.timeMs, decodePayload(p.value, 'partial'));
      }
    }
    await Promise.all(
      need.panes.map(async (end) => {
        const p = await this.#s.data.getPane(stateName, partition, end);
        if (p) panes.set(end, decodePayload(p, 'pane'));
      }),
    );
    return { partials, panes };
  }
  async applyState(
    timeMs: number,
    stateName: string,
    partition: number,
    changes: readonly StateChange[],
    initialized: boolean,
  ) {
    if (changes.length)
      await this.#s.state.apply(stateName, partition, changes, timeMs, {
        expiry: this.#expiring.has(stateName),
      });
    if (initialized) await this.#s.state.markInitialized(stateName, partition, timeMs);
  }
  async applyPanes(_timeMs: number, stateName: string, partition: number, c: PaneChanges) {
    const data = this.#s.data;
    for (const p of c.partials) {
      if (c.dropPartialsUpTo !== undefined && p.timeMs <= c.dropPartialsUpTo) continue;
      await data.putPartial(stateName, partition, p.timeMs, encodePayload(p.data));
    }
    for (const p of c.panes)
      await data.putPane(stateName, partition, p.endMs, encodePayload(p.data));
    if (c.dropPartialsUpTo !== undefined)
      await data.deletePartials(stateName, partition, c.dropPartialsUpTo);
    if (c.dropPanesUpTo !== undefined)
      await data.deletePanes(stateName, partition, c.dropPanesUpTo);
  }
  async applyResults(
    timeMs: number,
    sink: string,
    entries: ReadonlyArray<{ key: unknown; value: unknown }>,
    order: number,
  ) {
    const target = this.#sinks[sink];
    if (target?.kind !== 'table') {
      throw new SparklessError(
        'UNKNOWN_SINK',
        `sink '${sink}' is not mapped to a table; map it in the deployment`,
      );
    }
    await this.#s.results.apply(
      target.table,
      entries.map((e) => ({
        encodedKey: encodeKey(e.key, `saveToTable '${sink}'`),
        key: e.key,
        value: e.value,
      })),
      timeMs,
      order,
    );
  }
  async putStreamRecords(
    timeMs: number,
    sink: string,
    records: ReadonlyArray<{ stage: number; partition: number; index: number; record: unknown }>,
  ) {
    const target = this.#sinks[sink];
    const spec = this.#job.graph.sinks.get(sink);
    if (target?.kind !== 'stream' || !spec || !this.#kinesis) {
      throw new SparklessError(
        'UNKNOWN_SINK',
        `sink '${sink}' is not mapped to a stream; map it in the deployment`,
      );
    }
    const enc = new TextEncoder();
    for (let i = 0; i < records.length; i += 500) {
      const page = records.slice(i, i + 500);
      const entries = page.map((r) => {
        const body = spec.encode ? spec.encode(r.record) : JSON.stringify(r.record);
        const partitionKey = spec.partitionKey
          ? spec.partitionKey(r.record)
          : Array.isArray(r.record) && r.record.length === 2
            ? encodeKey(r.record[0], `saveToStream '${sink}'`)
            : JSON.stringify(r.record);
        // Each record carries its batch time, stage, partition and index, so readers drop repeats.
        const data =
          typeof body === 'string'
            ? enc.encode(
                JSON.stringify({
                  timeMs,
                  stage: r.stage,
                  partition: r.partition,
                  index: r.index,
                  record: JSON.parse(body) as unknown,
                }),
              )
            : body;
        return { Data: data, PartitionKey: partitionKey.slice(0, 256) || '-' };
      });
      let pending = entries;
      for (let attempt = 0; pending.length; attempt++) {
        const out = await this.#kinesis.send(
          new PutRecordsCommand({ StreamName: target.stream, Records: pending }),
        );
        if (!out.FailedRecordCount) break;
        if (attempt >= 8) {
          throw new SparklessError(
            'SINK_FAILED',
            `saveToStream '${sink}': ${out.FailedRecordCount} records still failed after ${attempt + 1} attempts`,
          );
        }
        pending = pending.filter((_, i) => out.Records?.[i]?.ErrorCode);
        await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
    }
  }
  async putDeadLetters(
    where: { timeMs: number; stage: number; task: number },
    letters: readonly DeadLetter[],
  ) {
    await this.#s.deadLetters.put(letters.map((letter, index) => ({ ...where, index, letter })));
  }

  async housekeep(tombstonesUpTo: number, controlUpTo: number) {
    for (const spec of this.#job.plan.stateful) {
      if (spec.kind === 'window') continue; // windows keep panes, not keyed state
      for (let p = 0; p < spec.partitions; p++)
        await this.#s.state.purgeTombstones(spec.name, p, tombstonesUpTo);
    }
    // A bounded number per call, so that a long backlog is worked off over several calls.
    if (controlUpTo > 0) await this.#s.control.deleteUpTo(controlUpTo, 25);
  }
  async deleteBatchData(timeMs: number) {
    const layout = batchLayout(this.#job, timeMs);
    const shuffles = layout.stages.flatMap((s) =>
      s.writes.map((w) => ({ writeId: w.id, partitions: w.reader.partitions ?? 1 })),
    );
    await this.#s.data.deleteBatch(timeMs, shuffles);
  }
}
