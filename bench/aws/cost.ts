/**
 * DynamoDB requests and write units per batch of the cloud runtime, on the real DynamoDB stores.
 *
 * Jobs run through the coordinator and the workers in one process (coordinate, runWorkerTask)
 * over StoreProtocol on the DynamoDB stores, on dynalite from one local cloud (startLocalCloud),
 * with one RequestCounter shared by every store. The shards are in memory (bench/aws/shards.ts):
 * Kinesis is not what is measured here, so no Kinesis request is made or counted. The clock is
 * manual, as in the protocol tests: a batch runs as soon as the previous one committed.
 *
 * Jobs, over lines that are keys (each batch holds every key, cycling, spread round robin over
 * the shards):
 *   totals   map(pair(k, 1)) -> reduceByKey(+) -> updateStateByKey(running total) -> saveToTable
 *   window   map(pair(k, 1)) -> reduceByKeyAndWindow(+, inverse -, W batches) -> saveToTable
 *
 * Measured against (a) records per batch, (b) distinct keys, (c) shards, (d) window length. Tasks
 * run one at a time (as one Lambda environment runs them), so that every request can be put down
 * to the protocol call that made it: a batch's requests are counted from one coordinator sleep
 * (the wait before a batch) to the next, and reported for steady-state batches (after the state
 * holds every key and old batches' data is being deleted; after a window is full). The
 * coordinator housekeeps (tombstones, old control items) every few batches: one such cycle is
 * measured, and its housekeeping reported apart and spread over the cycle. The batches of the
 * cycle must make the same requests but for the housekeeping, the calls' requests must add up to
 * the counter's, and the state (or the last window) read back must be the counts of the input, or
 * the suite throws.
 *
 * Capacity units are what dynalite reports with ReturnConsumedCapacity (it does, per item as
 * DynamoDB computes them); if it reported none, write units would be printed as n/a.
 *
 * Shape checks (DESIGN: cost shape): block writes flat in records; state writes ~ keys touched;
 * pane reads flat in window length.
 */

import { encodeKey, encodeUtf8, type Job, job, pair, seconds, utf8 } from 'sparkless';
import { dynamoClient } from '../../lib/aws/clients.js';
import {
  type CoordinatorSettings,
  coordinate,
  type TaskInvoker,
} from '../../lib/aws/coordinator.js';
import type { ProtocolStores } from '../../lib/aws/protocol.js';
import { StoreProtocol } from '../../lib/aws/store-protocol.js';
import { RequestCounter } from '../../lib/aws/stores/counter.js';
import {
  DynamoControlStore,
  DynamoDataStore,
  DynamoDeadLetterStore,
  DynamoResultsStore,
  DynamoStateStore,
} from '../../lib/aws/stores/dynamo.js';
import { runWorkerTask, type WorkerContext } from '../../lib/aws/worker.js';
import { type LocalCloud, startLocalCloud } from '../../lib/local/index.js';
import { createTable } from '../../lib/local/tables.js';
import { type Check, fmt, fmtMs, now, type Suite, type Table } from '../harness.js';
import { MemoryShards } from './shards.js';

const B = 1000;
/** The first batch time: far from zero, as on a real clock. */
const T0 = 1_000_000_000_000;
const PARTITIONS = 4;
/** Batches whose blocks and intents are kept (the coordinator deletes older ones each batch). */
const BATCHES_KEPT = 3;

const WRITE_OPS = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'] as const;
const READ_OPS = ['GetItem', 'Query', 'BatchGetItem'] as const;
const OPS = [...READ_OPS, ...WRITE_OPS];

// ---- configurations --------------------------------------------------------------------------

interface Config {
  readonly shards: number;
  readonly records: number;
  readonly keys: number;
  /** Window length in batches: the window job; none: the totals job. */
  readonly window?: number;
}

const BASE = { shards: 2, records: 1000, keys: 50 } as const;
const WINDOW_BASE = { shards: 1, records: 100, keys: 20 } as const;

const DIMENSIONS: ReadonlyArray<{
  readonly id: string;
  readonly title: string;
  readonly column: string;
  readonly configs: ReadonlyArray<{ readonly value: number; readonly config: Config }>;
}> = [
  {
    id: 'records',
    title: `(a) records per batch (${BASE.keys} keys, ${BASE.shards} shards, totals job)`,
    column: 'records',
    configs: [100, 1000, 10_000].map((records) => ({
      value: records,
      config: { ...BASE, records },
    })),
  },
  {
    id: 'keys',
    title: `(b) distinct keys (2,000 records, ${BASE.shards} shards, totals job)`,
    column: 'keys',
    configs: [10, 100, 1000].map((keys) => ({
      value: keys,
      config: { ...BASE, records: 2000, keys },
    })),
  },
  {
    id: 'shards',
    title: `(c) shards (${fmt(BASE.records)} records, ${BASE.keys} keys, totals job)`,
    column: 'shards',
    configs: [1, 2, 4].map((shards) => ({ value: shards, config: { ...BASE, shards } })),
  },
  {
    id: 'window',
    title: `(d) window length, reduceByKeyAndWindow with an inverse (${WINDOW_BASE.records} records, ${WINDOW_BASE.keys} keys, ${WINDOW_BASE.shards} shard, slide 1 batch)`,
    column: 'window',
    configs: [10, 60, 300].map((window) => ({
      value: window,
      config: { ...WINDOW_BASE, window },
    })),
  },
];

const configId = (c: Config) =>
  `${c.window !== undefined ? `w${c.window}` : 't'}-s${c.shards}-r${c.records}-k${c.keys}`;

/**
 * The batches measured: the data of batch k is read at T0 + k*B (batch 0 reads nothing). A batch
 * is steady once old batches' data is being deleted (k > BATCHES_KEPT) and, for a window, once
 * batches leave it (k > W + 1). The coordinator housekeeps (tombstones, old control items) every
 * BATCHES_KEPT batches, so one such cycle is measured; the last batch run is never measured (it
 * shares its count with the coordinator's release of the lease).
 */
function measuredBatches(c: Config): number[] {
  const first = Math.max(BATCHES_KEPT + 1, (c.window ?? 0) + 2);
  return Array.from({ length: BATCHES_KEPT }, (_, i) => first + i);
}

/** Batches run: through the last measured one, and one more. */
const batchesFor = (c: Config) => measuredBatches(c).at(-1)! + 2;

/** The protocol call that the coordinator makes only every BATCHES_KEPT batches. */
const HOUSEKEEPING = 'housekeep';

const keyName = (i: number) => `key-${i}`;

/** The keys of a batch's records, shard by shard (record i of the batch goes to shard i % S). */
function batchKeys(c: Config): string[][] {
  const shards: string[][] = Array.from({ length: c.shards }, () => []);
  for (let i = 0; i < c.records; i++)
    shards[i % c.shards]!.push(keyName(Math.floor(i / c.shards) % c.keys));
  return shards;
}

const add = (a: number, b: number) => a + b;
const sub = (a: number, b: number) => a - b;

function makeJob(name: string, c: Config): Job {
  return job(name, { batchInterval: seconds(1), defaultPartitions: PARTITIONS }, (ctx) => {
    const pairs = ctx.kinesis('lines', { decode: utf8 }).map((k) => pair(k, 1));
    if (c.window === undefined) {
      pairs
        .reduceByKey(add)
        .updateStateByKey((vs: number[], s: number | undefined) => (s ?? 0) + vs.reduce(add, 0), {
          name: 'totals',
        })
        .saveToTable('out');
    } else {
      pairs
        .reduceByKeyAndWindow(add, { window: seconds(c.window), inverse: sub, name: 'window' })
        .saveToTable('out');
    }
  });
}

// ---- counting --------------------------------------------------------------------------------

/** Requests and capacity units per DynamoDB operation, and items of one kind. */
interface Cost {
  requests: Record<string, number>;
  capacity: Record<string, number>;
  calls: number;
  /**
   * What the call moved: block items written, state or result items written, state entries
   * loaded, pane ends read.
   */
  items: number;
  /** Pane reads: panes and partials that were there. */
  found: number;
}

const emptyCost = (): Cost => ({ requests: {}, capacity: {}, calls: 0, items: 0, found: 0 });

function addInto(to: Record<string, number>, from: Readonly<Record<string, number>>, k = 1) {
  for (const [op, n] of Object.entries(from)) to[op] = (to[op] ?? 0) + k * n;
}

const sumOf = (r: Readonly<Record<string, number>>, ops: readonly string[] = Object.keys(r)) =>
  ops.reduce((n, op) => n + (r[op] ?? 0), 0);

/** Items a protocol call moved, from its arguments and result. */
function itemsOf(method: string, args: readonly unknown[], result: unknown): number {
  switch (method) {
    case 'putBlocks':
      return (result as number[]).reduce(add, 0);
    case 'applyState':
      return (args[3] as unknown[]).length;
    case 'applyResults':
      return (args[2] as unknown[]).length;
    case 'loadPanes':
      return (args[2] as { panes: readonly number[] }).panes.length;
    case 'loadKeyed':
      return (result as { entries: Map<string, unknown> }).entries.size;
    default:
      return 0;
  }
}

/**
 * The stores, with every call's requests (the counter's change over the call) put down to the
 * call, in the batch `current()` gives. Calls never overlap: tasks run one at a time.
 */
function metered(
  stores: ProtocolStores,
  counter: RequestCounter,
  current: () => Map<string, Cost>,
): ProtocolStores {
  return new Proxy(stores, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      const method = v as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        const before = counter.snapshot();
        let result: unknown;
        try {
          result = await method.apply(target, args);
          return result;
        } finally {
          const after = counter.snapshot();
          const batch = current();
          const cost = batch.get(prop) ?? emptyCost();
          batch.set(prop, cost);
          cost.calls++;
          addInto(cost.requests, after.requests);
          addInto(cost.requests, before.requests, -1);
          addInto(cost.capacity, after.capacity);
          addInto(cost.capacity, before.capacity, -1);
          if (result !== undefined || prop === 'applyState' || prop === 'applyResults')
            cost.items += itemsOf(prop, args, result);
          if (prop === 'loadPanes' && result !== undefined) {
            const r = result as { panes: Map<number, unknown>; partials: Map<number, unknown> };
            cost.found += r.panes.size + r.partials.size;
          }
        }
      };
    },
  });
}

/** What one steady-state batch cost. */
interface BatchCost {
  readonly batch: number;
  readonly methods: ReadonlyMap<string, Cost>;
}

function total(b: BatchCost): Cost {
  const t = emptyCost();
  for (const c of b.methods.values()) {
    addInto(t.requests, c.requests);
    addInto(t.capacity, c.capacity);
    t.calls += c.calls;
  }
  return t;
}

/** The numbers a configuration is reported with, per steady-state batch. */
interface Measured {
  readonly config: Config;
  readonly jobName: string;
  readonly batches: number;
  readonly measuredBatches: readonly number[];
  readonly ms: number;
  /** A steady-state batch without the housekeeping. */
  readonly requests: number;
  readonly byOperation: Record<string, number>;
  /** Capacity units DynamoDB reported, or undefined when it reported none. */
  readonly writeUnits: number | undefined;
  readonly readUnits: number | undefined;
  readonly byCall: Record<
    string,
    { requests: Record<string, number>; writeUnits?: number; items: number; found: number }
  >;
  /** Distinct keys in each batch's input. */
  readonly keysTouched: number;
  readonly conditionFailures: number;
  /** What housekeeping costs, once every BATCHES_KEPT batches. */
  readonly housekeeping: {
    readonly every: number;
    readonly requests: number;
    readonly byOperation: Record<string, number>;
    readonly writeUnits: number | undefined;
  };
  /** Requests and write units per batch, housekeeping spread over its batches. */
  readonly meanRequests: number;
  readonly meanWriteUnits: number | undefined;
}

function callCost(m: Measured, method: string) {
  return m.byCall[method] ?? { requests: {}, items: 0, found: 0 };
}

// ---- running one configuration -----------------------------------------------------------

interface Env {
  readonly tables: Readonly<Record<'control' | 'data' | 'state' | 'deadLetters', string>>;
}

const settings: CoordinatorSettings = {
  maxRecords: 100_000,
  startPosition: { kind: 'trimHorizon' },
  runForMs: 7 * 24 * 3_600_000,
  leaseTtlMs: 60_000,
  maxTaskAttempts: 3,
  batchesKept: BATCHES_KEPT,
  // One batch at a time, so that every request counted between two commits is that batch's.
  pipeline: false,
};

async function runConfig(env: Env, c: Config, log: (line: string) => void): Promise<Measured> {
  const id = configId(c);
  const jobName = `bench-${id}`;
  const j = makeJob(jobName, c);
  const resultsTable = `bench-${id}-out`;
  await createTable(dynamoClient(), resultsTable, 'results');
  const client = dynamoClient();
  const counter = new RequestCounter();
  const options = { client, job: jobName, counter };
  const protocol = new StoreProtocol(
    j,
    {
      control: new DynamoControlStore({ ...options, table: env.tables.control }),
      data: new DynamoDataStore({ ...options, table: env.tables.data }),
      state: new DynamoStateStore({ ...options, table: env.tables.state }),
      results: new DynamoResultsStore({ client, counter }),
      deadLetters: new DynamoDeadLetterStore({ ...options, table: env.tables.deadLetters }),
    },
    { out: { kind: 'table', table: resultsTable } },
  );

  // The input: every batch the same keys, arriving just before the batch that reads them.
  const batches = batchesFor(c);
  const shards = new MemoryShards();
  const ids = shards.addSource('lines', c.shards);
  const perShard = batchKeys(c).map((keys) => keys.map((k) => encodeUtf8(k)));
  for (let k = 1; k < batches; k++)
    perShard.forEach((records, s) => {
      for (const data of records) shards.put('lines', ids[s]!, data, T0 + k * B - 1);
    });

  // Per batch, the cost of each protocol call; a new batch starts at each coordinator sleep.
  const buckets: Array<Map<string, Cost>> = [];
  let current = new Map<string, Cost>();
  const stores = metered(protocol, counter, () => current);
  let clock = T0;
  let attempts = 0;
  const logs: string[] = [];
  const worker: WorkerContext = {
    job: j,
    stores,
    reader: shards,
    now: () => clock,
    attemptId: () => `a${++attempts}`,
    log: (l) => logs.push(l),
    counter,
  };
  let queue: Promise<unknown> = Promise.resolve();
  const invoker: TaskInvoker = {
    runTask: (event) => {
      const p = queue.then(() => runWorkerTask(worker, event));
      queue = p.catch(() => undefined);
      return p;
    },
  };
  const started = now();
  let lastProgress = started;
  const run = await coordinate(
    {
      job: j,
      stores,
      reader: shards,
      invoker,
      settings,
      owner: 'bench',
      now: () => clock,
      sleep: async (ms) => {
        buckets.push(current);
        current = new Map();
        clock += Math.max(0, ms);
        if (now() - lastProgress > 10_000) {
          lastProgress = now();
          log(`  ... batch ${buckets.length - 1} of ${batches} (${fmtMs(now() - started)})`);
        }
      },
      log: (l) => logs.push(l),
      counter,
    },
    { maxBatches: batches },
  );
  buckets.push(current);
  const ms = now() - started;
  const failures = logs.filter((l) => / failed: /.test(l));
  if (run.committed.length !== batches || failures.length) {
    throw new Error(
      `aws/cost ${id}: committed ${run.committed.length} of ${batches} batches${failures.length ? `; ${failures[0]}` : ''}`,
    );
  }
  // buckets[0]: taking the lease; buckets[k + 1]: batch k; the last also releases the lease.
  const measured: BatchCost[] = measuredBatches(c).map((k) => ({
    batch: k,
    methods: buckets[k + 1]!,
  }));

  // The calls' requests add up to the counter's; the measured batches make the same requests
  // but for housekeeping, which one of them does.
  let all = 0;
  for (const b of buckets) for (const m of b.values()) all += sumOf(m.requests);
  if (all !== counter.requests())
    throw new Error(
      `aws/cost ${id}: calls made ${all} requests, the counter counted ${counter.requests()}`,
    );
  const withoutHousekeeping = measured.map((b) => ({
    batch: b.batch,
    methods: new Map([...b.methods].filter(([m]) => m !== HOUSEKEEPING)),
  }));
  const shape = (b: BatchCost) =>
    [...b.methods]
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([m, v]) => `${m} ${JSON.stringify(sorted(v.requests))}`);
  const first = shape(withoutHousekeeping[0]!);
  for (const b of withoutHousekeeping.slice(1)) {
    const other = shape(b);
    const diff = [...new Set([...first, ...other])].filter(
      (x) => !first.includes(x) || !other.includes(x),
    );
    if (diff.length) {
      throw new Error(
        `aws/cost ${id}: steady-state batches ${withoutHousekeeping[0]!.batch} and ${b.batch} made different requests: ${diff.join('; ')}`,
      );
    }
  }
  const housekeeps = measured.filter((b) => b.methods.has(HOUSEKEEPING));
  if (housekeeps.length !== 1) {
    throw new Error(
      `aws/cost ${id}: ${housekeeps.length} of the ${measured.length} measured batches housekept; expected one (every ${BATCHES_KEPT} batches)`,
    );
  }
  await verify(j, c, env, resultsTable, batches);

  const b = withoutHousekeeping[0]!;
  const t = total(b);
  const reported = WRITE_OPS.some((op) => (t.capacity[op] ?? 0) > 0);
  const byCall: Measured['byCall'] = {};
  for (const [method, m] of b.methods) {
    byCall[method] = {
      requests: sorted(m.requests),
      ...(reported ? { writeUnits: sumOf(m.capacity, WRITE_OPS) } : {}),
      items: m.items,
      found: m.found,
    };
  }
  const hk = housekeeps[0]!.methods.get(HOUSEKEEPING)!;
  const hkWrites = reported ? sumOf(hk.capacity, WRITE_OPS) : undefined;
  const requests = sumOf(t.requests);
  const writeUnits = reported ? sumOf(t.capacity, WRITE_OPS) : undefined;
  const conditionFailures = Object.values(counter.snapshot().conditionFailures).reduce(add, 0);
  return {
    config: c,
    jobName,
    batches,
    measuredBatches: measured.map((m) => m.batch),
    ms,
    requests,
    byOperation: sorted(t.requests),
    writeUnits,
    readUnits: READ_OPS.some((op) => (t.capacity[op] ?? 0) > 0)
      ? sumOf(t.capacity, READ_OPS)
      : undefined,
    byCall,
    keysTouched: Math.min(c.keys, c.records),
    conditionFailures,
    housekeeping: {
      every: BATCHES_KEPT,
      requests: sumOf(hk.requests),
      byOperation: sorted(hk.requests),
      writeUnits: hkWrites,
    },
    meanRequests: requests + sumOf(hk.requests) / BATCHES_KEPT,
    meanWriteUnits:
      writeUnits === undefined ? undefined : writeUnits + (hkWrites ?? 0) / BATCHES_KEPT,
  };
}

function sorted(r: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(r)
      .filter(([, n]) => n !== 0)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** Throws unless what the job stored is the count of its input (read without counting). */
async function verify(j: Job, c: Config, env: Env, resultsTable: string, batches: number) {
  const client = dynamoClient();
  const perBatch = new Map<string, number>();
  for (const keys of batchKeys(c))
    for (const k of keys) perBatch.set(k, (perBatch.get(k) ?? 0) + 1);
  // Batches 1 .. batches-1 read data; a window's last value covers its last W batches.
  const times = c.window === undefined ? batches - 1 : c.window;
  const id = configId(c);
  if (c.window === undefined) {
    const state = new DynamoStateStore({ client, table: env.tables.state, job: j.name });
    const got = new Map<string, unknown>();
    for (let p = 0; p < PARTITIONS; p++)
      for (const e of (await state.list('totals', p)).values()) got.set(e.key as string, e.value);
    if (got.size !== perBatch.size)
      throw new Error(
        `aws/cost ${id}: the state holds ${got.size} keys, the input has ${perBatch.size}`,
      );
    for (const [k, n] of perBatch)
      if (got.get(k) !== n * times)
        throw new Error(
          `aws/cost ${id}: state of ${k} is ${got.get(k)}, the input counts ${n * times}`,
        );
  } else {
    const results = new DynamoResultsStore({ client });
    for (const [k, n] of perBatch) {
      const r = await results.get(resultsTable, encodeKey(k));
      if (r?.value !== n * times || r.timeMs !== T0 + (batches - 1) * B)
        throw new Error(
          `aws/cost ${id}: the last window of ${k} is ${r?.value} at ${r?.timeMs}, the input counts ${n * times} at ${T0 + (batches - 1) * B}`,
        );
    }
  }
}

// ---- reporting -------------------------------------------------------------------------------

const units = (n: number | undefined) => (n === undefined ? 'n/a' : fmt(n, 1));
const req = (m: Measured, method: string, ops?: readonly string[]) =>
  sumOf(callCost(m, method).requests, ops);
const wu = (m: Measured, method: string) =>
  m.writeUnits === undefined ? undefined : (callCost(m, method).writeUnits ?? 0);

/** A check of a ratio that should be 1 (within `tolerance`). */
function aboutOne(name: string, value: number, tolerance: number): Check {
  return {
    name,
    value,
    target: `1 ± ${tolerance}`,
    pass: Math.abs(value - 1) <= tolerance,
  };
}

function ratio(xs: readonly number[]): number {
  const max = Math.max(...xs);
  const min = Math.min(...xs);
  return min === 0 ? (max === 0 ? 1 : Number.POSITIVE_INFINITY) : max / min;
}

export const cost: Suite = {
  group: 'aws',
  name: 'cost',
  title: 'DynamoDB requests and write units per batch (real DynamoDB stores on dynalite)',
  async run(log) {
    const saved = { ...process.env };
    log(
      'starting the local cloud (dynalite is what is measured; shards are in memory, no Kinesis requests)...',
    );
    let cloud: LocalCloud | undefined;
    try {
      const t0 = now();
      cloud = await startLocalCloud();
      delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
      Object.assign(process.env, cloud.env());
      log(`local cloud up in ${fmtMs(now() - t0)} (dynalite pid ${cloud.dynamodb.pid})`);
      const env: Env = {
        tables: {
          control: 'bench-control',
          data: 'bench-data',
          state: 'bench-state',
          deadLetters: 'bench-dead',
        },
      };
      await createTable(dynamoClient(), env.tables.control, 'control');
      await createTable(dynamoClient(), env.tables.data, 'data');
      await createTable(dynamoClient(), env.tables.state, 'state');
      await createTable(dynamoClient(), env.tables.deadLetters, 'deadLetters');

      const results = new Map<string, Measured>();
      const configs = DIMENSIONS.flatMap((d) => d.configs.map((x) => x.config));
      for (const c of configs) {
        const id = configId(c);
        if (results.has(id)) continue;
        const batches = batchesFor(c);
        const m = await runConfig(env, c, log);
        results.set(id, m);
        log(
          `${id}: ${batches} batches in ${fmtMs(m.ms)} (${fmtMs(m.ms / batches)}/batch); steady state ${fmt(m.requests)} requests, ${units(m.writeUnits)} WCU per batch; ${m.conditionFailures} conditional writes failed`,
        );
      }
      const measured = [...results.values()];
      log(
        measured.some((m) => m.writeUnits !== undefined)
          ? 'capacity units are what dynalite reports (ReturnConsumedCapacity TOTAL: per item, 1 WCU per started KB written, the larger of old and new item; consistent reads 1 RCU per 4 KB); dynalite reports none for a conditional write whose condition failed, which DynamoDB charges'
          : 'dynalite reported no consumed capacity: WCU are n/a',
      );
      return report(
        DIMENSIONS.map((d) => ({
          ...d,
          rows: d.configs.map((x) => ({ value: x.value, m: results.get(configId(x.config))! })),
        })),
      );
    } finally {
      await cloud?.stop();
      process.env = saved;
    }
  },
};

/** Where one steady-state batch's requests go, call by call. */
function callsTable(m: Measured, what: string): { title: string; rows: Table } {
  const line = (
    name: string,
    requests: Record<string, number>,
    wcu: number | undefined,
    items: string,
  ) => [
    name,
    fmt(sumOf(requests)),
    Object.entries(requests)
      .map(([op, n]) => `${op} ${n}`)
      .join(', '),
    units(m.writeUnits === undefined ? undefined : (wcu ?? 0)),
    items,
  ];
  return {
    title: `requests per protocol call, one steady-state batch of ${configId(m.config)} (${what}); items: blocks written, state or result items written, state entries loaded, pane ends asked for`,
    rows: [
      ['call', 'requests', 'by operation', 'WCU', 'items'],
      ...Object.entries(m.byCall)
        .sort(([, a], [, b]) => sumOf(b.requests) - sumOf(a.requests))
        .map(([method, c]) =>
          line(
            method,
            c.requests,
            c.writeUnits,
            method === 'loadPanes'
              ? `${fmt(c.items)} (${fmt(c.found)} found)`
              : c.items
                ? fmt(c.items)
                : '',
          ),
        ),
      line(
        `${HOUSEKEEPING} (every ${m.housekeeping.every} batches)`,
        m.housekeeping.byOperation,
        m.housekeeping.writeUnits,
        '',
      ),
    ],
  };
}

function report(
  dims: ReadonlyArray<{
    id: string;
    title: string;
    column: string;
    rows: ReadonlyArray<{ value: number; m: Measured }>;
  }>,
) {
  const tables: Array<{ title: string; rows: Table }> = [];
  const checks: Check[] = [];
  const byId = new Map(dims.map((d) => [d.id, d.rows]));
  const anyUnits = dims.some((d) => d.rows.some((r) => r.m.writeUnits !== undefined));

  for (const d of dims) {
    const isWindow = d.id === 'window';
    const head = [
      d.column,
      'requests',
      `housekeep/${BATCHES_KEPT}`,
      'mean req',
      'WCU',
      'RCU',
      'block req',
      'block items',
      'block WCU',
      'state PutItem',
      'state WCU',
      'result PutItem',
      ...(isWindow ? ['pane req', 'pane ends', 'found'] : ['keys touched']),
    ];
    tables.push({
      title: `${d.title}: per steady-state batch (housekeeping every ${BATCHES_KEPT} batches apart)`,
      rows: [
        head,
        ...d.rows.map(({ value, m }) => [
          fmt(value),
          fmt(m.requests),
          fmt(m.housekeeping.requests),
          fmt(m.meanRequests, 1),
          units(m.writeUnits),
          units(m.readUnits),
          fmt(req(m, 'putBlocks')),
          fmt(callCost(m, 'putBlocks').items),
          units(wu(m, 'putBlocks')),
          fmt(req(m, 'applyState', ['PutItem'])),
          units(wu(m, 'applyState')),
          fmt(req(m, 'applyResults', ['PutItem'])),
          ...(isWindow
            ? [
                fmt(req(m, 'loadPanes')),
                fmt(callCost(m, 'loadPanes').items),
                fmt(callCost(m, 'loadPanes').found),
              ]
            : [fmt(m.keysTouched)]),
        ]),
      ],
    });
    tables.push({
      title: `${d.title}: requests by operation`,
      rows: [
        [d.column, ...OPS, 'total'],
        ...d.rows.map(({ value, m }) => [
          fmt(value),
          ...OPS.map((op) => fmt(m.byOperation[op] ?? 0)),
          fmt(m.requests),
        ]),
      ],
    });
  }

  // Where a batch's requests go, for the base configuration and the longest window.
  const base = byId.get('records')!.find((r) => r.value === BASE.records)!.m;
  const longest = byId.get('window')!.at(-1)!.m;
  tables.push(callsTable(base, 'totals job'), callsTable(longest, 'window job'));

  // Shape checks.
  const recordsRows = byId.get('records')!;
  const keysRows = byId.get('keys')!;
  const shardsRows = byId.get('shards')!;
  const windowRows = byId.get('window')!;
  const blockReq = recordsRows.map((r) => req(r.m, 'putBlocks'));
  const blockItems = recordsRows.map((r) => callCost(r.m, 'putBlocks').items);
  checks.push(
    aboutOne('block write requests, max/min over 100..10,000 records', ratio(blockReq), 0),
    aboutOne('block items written, max/min over 100..10,000 records', ratio(blockItems), 0),
  );
  if (anyUnits) {
    checks.push(
      aboutOne(
        'block WCU, max/min over 100..10,000 records',
        ratio(recordsRows.map((r) => wu(r.m, 'putBlocks')!)),
        0.25,
      ),
    );
  }
  const perKey = keysRows.map((r) => req(r.m, 'applyState', ['PutItem']) / r.m.keysTouched);
  checks.push(
    aboutOne(
      'state PutItem per key touched, worst over 10..1,000 keys',
      perKey.reduce((w, x) => (Math.abs(x - 1) > Math.abs(w - 1) ? x : w), 1),
      0.05,
    ),
  );
  const maxBlocks = shardsRows.map(
    (r) => callCost(r.m, 'putBlocks').items / (r.m.config.shards * PARTITIONS),
  );
  checks.push({
    name: 'block items / (shards x partitions), most over 1..4 shards',
    value: Math.max(...maxBlocks),
    target: '<= 1',
    pass: Math.max(...maxBlocks) <= 1,
  });
  checks.push(
    aboutOne(
      'pane read requests, max/min over windows of 10..300 batches',
      ratio(windowRows.map((r) => req(r.m, 'loadPanes'))),
      0,
    ),
    aboutOne(
      'requests per batch, max/min over windows of 10..300 batches',
      ratio(windowRows.map((r) => r.m.requests)),
      0,
    ),
  );

  const shapes: Table = [
    ['shape (DESIGN: cost shape)', 'numbers', 'holds'],
    [
      'block writes flat in records',
      `${blockReq.join(' / ')} BatchWriteItem, ${blockItems.join(' / ')} items at ${recordsRows.map((r) => fmt(r.value)).join(' / ')} records`,
      ratio(blockReq) === 1 && ratio(blockItems) === 1 ? 'yes' : 'NO',
    ],
    [
      'state writes ~ keys touched',
      keysRows
        .map(
          (r) =>
            `${fmt(req(r.m, 'applyState', ['PutItem']))} PutItem / ${fmt(r.m.keysTouched)} keys`,
        )
        .join(', '),
      perKey.every((x) => Math.abs(x - 1) <= 0.05) ? 'yes' : 'NO',
    ],
    [
      'pane reads flat in window length',
      `${windowRows.map((r) => req(r.m, 'loadPanes')).join(' / ')} requests (${windowRows.map((r) => callCost(r.m, 'loadPanes').items).join(' / ')} pane ends) at W = ${windowRows.map((r) => r.value).join(' / ')}`,
      ratio(windowRows.map((r) => req(r.m, 'loadPanes'))) === 1 ? 'yes' : 'NO',
    ],
  ];
  tables.push({ title: 'shape checks', rows: shapes });

  const data: Record<string, unknown> = {
    partitions: PARTITIONS,
    batchesKept: BATCHES_KEPT,
    kinesis: 'in-memory shard reader (not measured)',
    capacityReported: anyUnits,
    dimensions: Object.fromEntries(
      dims.map((d) => [d.id, d.rows.map(({ value, m }) => ({ [d.column]: value, ...m }))]),
    ),
  };
  return { tables, checks, data };
}
