/**
 * Worker throughput: records per second that one map task (one shard) gets through, CPU only.
 *
 * The map stage of a word count, run by runWorkerTask exactly as a worker function runs it:
 *
 *   shard records (UTF-8 lines) --decode--> lines --flatMap(split)--> --filter(starts with a
 *   letter)--> --map(pair(w, 1))--> --reduceByKey(+), map-side combine--> blocks, one per partition
 *
 * over MemoryProtocolStores (the protocol's stores in memory, which copy every value in and out
 * as JSON, as a store would encode it) and an in-memory shard of 100,000 records, so no emulator
 * and no network is timed. Each run is a fresh store holding the batch's plan; the task's wall
 * time is measured (after a warm-up and a full garbage collection), and the median of the runs is
 * compared with the target of 100,000 records per second per shard. The blocks the task wrote
 * must hold exactly the words of the shard, each once, or the suite throws.
 *
 * When the target is missed (or BENCH_PROFILE=1), the task is run again under V8's sampling CPU
 * profiler (the one `node --cpu-prof` starts) and the functions with the most self time are
 * printed; the profile is written to bench/results/aws-map-task.cpuprofile for Chrome DevTools.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeUtf8, type Job, job, type Pair, pair, seconds, utf8 } from 'sparkless';
import { MemoryProtocolStores } from '../../lib/aws/memory-stores.js';
import type { BatchPlan, ProtocolStores, ShardReader } from '../../lib/aws/protocol.js';
import { batchLayout, runWorkerTask } from '../../lib/aws/worker.js';
import { encodeBlock } from '../../lib/contract/encoding.js';
import {
  atLeast,
  collectGarbage,
  fmt,
  fmtMs,
  fmtRate,
  median,
  now,
  random,
  type Suite,
  type Table,
  zipf,
} from '../harness.js';
import { splitWords, startsWithLetter, vocabulary, wordLine } from '../words.js';
import { MemoryShards } from './shards.js';

const RECORDS = 100_000;
const VOCABULARY = 10_000;
const PARTITIONS = 4;
const WARMUP_RUNS = 2;
const RUNS = 7;
const PROFILED_RUNS = 4;
const TARGET = 100_000;
const T = 1_000_000_001_000;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const add = (a: number, b: number) => a + b;

function wordCount(): Job {
  return job('bench-map', { batchInterval: seconds(1), defaultPartitions: PARTITIONS }, (ctx) =>
    ctx
      .kinesis('lines', { decode: utf8 })
      .flatMap(splitWords)
      .filter(startsWithLetter)
      .map((w) => pair(w, 1))
      .reduceByKey(add)
      .saveToTable('counts'),
  );
}

/** Seeded lines of 8..12 tokens from a Zipf-skewed vocabulary, with numbers and empty tokens. */
function generate(seed: number) {
  const rand = random(seed);
  const words = vocabulary(rand, VOCABULARY);
  const pick = zipf(rand, VOCABULARY, 1.0);
  const lines: string[] = [];
  for (let i = 0; i < RECORDS; i++) lines.push(wordLine(rand, words, pick).line);
  const expected = new Map<string, number>();
  let tokens = 0;
  for (const line of lines) {
    for (const w of splitWords(line)) {
      tokens++;
      if (startsWithLetter(w)) expected.set(w, (expected.get(w) ?? 0) + 1);
    }
  }
  return { lines, tokens, expected };
}

/** `target` with the time spent in each method call added up under `label.method`. */
function timed<T extends object>(target: T, label: string, times: Map<string, number>): T {
  return new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return async (...args: unknown[]) => {
        const start = now();
        try {
          return await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
        } finally {
          const key = `${label}.${prop}`;
          times.set(key, (times.get(key) ?? 0) + now() - start);
        }
      };
    },
  });
}

interface Setup {
  readonly job: Job;
  readonly reader: ShardReader;
  readonly plan: BatchPlan;
  readonly stage: number;
}

function setup(lines: readonly string[]): Setup {
  const j = wordCount();
  const shards = new MemoryShards();
  const [shardId] = shards.addSource('lines', 1) as [string];
  for (const line of lines) shards.put('lines', shardId, encodeUtf8(line), T - 1);
  const layout = batchLayout(j, T);
  const stage = layout.stages.find((s) => s.source === 'lines');
  if (!stage) throw new Error('aws/throughput: the job has no map stage for its source');
  const plan: BatchPlan = {
    timeMs: T,
    planHash: layout.planHash,
    stateHash: j.plan.stateHash,
    epoch: 1,
    sources: { lines: [{ shardId, start: { kind: 'trimHorizon' } }] },
    ended: [],
    maxRecords: RECORDS,
    plannedAtMs: T,
  };
  return { job: j, reader: shards, plan, stage: stage.id };
}

/** Runs the map task once on a fresh store; returns its wall time and what it wrote. */
async function mapTask(s: Setup, phases?: Map<string, number>) {
  const memory = new MemoryProtocolStores();
  await memory.putPlan(s.plan);
  const times = phases ?? new Map<string, number>();
  const stores: ProtocolStores = timed<ProtocolStores>(memory, 'stores', times);
  const reader = timed(s.reader, 'reader', times);
  let attempts = 0;
  collectGarbage();
  const start = now();
  const claim = await runWorkerTask(
    {
      job: s.job,
      stores,
      reader,
      now: () => T + 500,
      attemptId: () => `a${++attempts}`,
    },
    { kind: 'task', job: s.job.name, timeMs: T, stage: s.stage, task: 0 },
  );
  const ms = now() - start;
  if (claim.slice?.records !== RECORDS) {
    throw new Error(
      `aws/throughput: the map task read ${claim.slice?.records} records of ${RECORDS}`,
    );
  }
  return { ms, memory };
}

/** Throws unless the blocks hold every word of the shard once, with its count. */
function verify(memory: MemoryProtocolStores, expected: ReadonlyMap<string, number>) {
  const got = new Map<string, number>();
  for (const block of memory.blocks.values()) {
    for (const [w, n] of block as Pair<string, number>[]) {
      if (got.has(w)) throw new Error(`aws/throughput: '${w}' is in more than one block entry`);
      got.set(w, n);
    }
  }
  if (got.size !== expected.size) {
    throw new Error(
      `aws/throughput: the blocks hold ${got.size} distinct words, the shard ${expected.size}`,
    );
  }
  for (const [w, n] of expected) {
    if (got.get(w) !== n)
      throw new Error(`aws/throughput: '${w}' counted ${got.get(w)} in the blocks, ${n} by hand`);
  }
  return [...memory.blocks.values()];
}

// ---- profiling -------------------------------------------------------------------------------

interface CallFrame {
  readonly functionName: string;
  readonly scriptId: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}
interface CpuProfile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: CallFrame }>;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/** Where a position of a loaded script comes from: `path:line` in its source (1-based). */
type Locate = (frame: CallFrame) => string;

/** The map task run PROFILED_RUNS times under the sampling profiler, and a way to name places. */
async function profile(s: Setup): Promise<{ profile: CpuProfile; locate: Locate }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    for (let i = 0; i < PROFILED_RUNS; i++) await mapTask(s);
    const { profile: p } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    await session.post('Profiler.disable');
    // tsx compiles each file with an inline source map: the debugger lists them (once enabled,
    // after the runs, so that it cannot slow them down).
    const maps = new Map<string, string>();
    session.on('Debugger.scriptParsed', (m) => {
      const { scriptId, sourceMapURL } = m.params as { scriptId: string; sourceMapURL?: string };
      if (sourceMapURL?.startsWith('data:')) maps.set(scriptId, sourceMapURL);
    });
    await session.post('Debugger.enable');
    await session.post('Debugger.disable');
    return { profile: p, locate: locator(maps) };
  } finally {
    session.disconnect();
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decodes a source map's mappings: per generated line, [column, source line] segments. */
function decodeMappings(mappings: string): Array<Array<[number, number]>> {
  const lines: Array<Array<[number, number]>> = [];
  let srcLine = 0;
  for (const text of mappings.split(';')) {
    const segments: Array<[number, number]> = [];
    let col = 0;
    for (const seg of text.split(',')) {
      if (!seg) continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = BASE64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      col += fields[0] ?? 0;
      if (fields.length >= 4) {
        srcLine += fields[2]!;
        segments.push([col, srcLine]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

function locator(maps: ReadonlyMap<string, string>): Locate {
  const decoded = new Map<string, Array<Array<[number, number]>> | null>();
  return (f) => {
    if (!f.url) return '(native)';
    const path = f.url.startsWith('file://') ? relative(root, fileURLToPath(f.url)) : f.url;
    let lines = decoded.get(f.scriptId);
    if (lines === undefined) {
      const url = maps.get(f.scriptId);
      try {
        const json = url
          ? (JSON.parse(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64').toString()) as {
              mappings: string;
            })
          : undefined;
        lines = json ? decodeMappings(json.mappings) : null;
      } catch {
        lines = null;
      }
      decoded.set(f.scriptId, lines);
    }
    if (!lines) return `${path}:${f.lineNumber + 1}`;
    const segments = lines[f.lineNumber] ?? [];
    let line: number | undefined;
    for (const [col, src] of segments) {
      if (col > f.columnNumber) break;
      line = src;
    }
    return `${path}:${(line ?? f.lineNumber) + 1}`;
  };
}

/** Self time per function and per file, most first (milliseconds, share of the sampled time). */
function selfTimes(p: CpuProfile, locate: Locate) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  let totalUs = 0;
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!);
    const us = Math.max(0, deltas[i] ?? 0);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    totalUs += us;
    const f = node.callFrame;
    const at = locate(f);
    const name = `${f.functionName || '(anonymous)'}  ${at}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    const file = f.url ? at.replace(/:\d+$/, '') : f.functionName;
    files.set(file, (files.get(file) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / totalUs }));
  return { totalMs: totalUs / 1000, functions: top(fns, 15), files: top(files, 8) };
}

// ---- the suite -------------------------------------------------------------------------------

export const throughput: Suite = {
  group: 'aws',
  name: 'throughput',
  title: 'Worker throughput: one map task of a word count (runWorkerTask, stores in memory)',
  async run(log) {
    log(`generating ${fmt(RECORDS)} lines in one shard...`);
    const { lines, tokens, expected } = generate(7);
    const s = setup(lines);
    log(`${fmt(tokens)} tokens, ${fmt(expected.size)} distinct words; checking the blocks...`);
    const first = await mapTask(s);
    const blocks = verify(first.memory, expected);
    log(`blocks hold every word once (${blocks.length} blocks); warming up...`);
    for (let i = 0; i < WARMUP_RUNS; i++) await mapTask(s);
    const ms: number[] = [];
    const phases: Array<Map<string, number>> = [];
    for (let i = 0; i < RUNS; i++) {
      const p = new Map<string, number>();
      const r = await mapTask(s, p);
      ms.push(r.ms);
      phases.push(p);
      log(`run ${i + 1}/${RUNS}: ${fmtMs(r.ms)} (${fmtRate((RECORDS / r.ms) * 1000)})`);
    }
    verify((await mapTask(s)).memory, expected);

    const med = median(ms);
    const rate = (RECORDS / med) * 1000;
    const phase = (key: string) => median(phases.map((p) => p.get(key) ?? 0));
    const inStores = median(
      phases.map((p) =>
        [...p].filter(([k]) => k.startsWith('stores.')).reduce((n, [, v]) => n + v, 0),
      ),
    );
    const inReader = phase('reader.readSlice');
    collectGarbage();
    const e0 = now();
    let encodedBytes = 0;
    for (const b of blocks) encodedBytes += encodeBlock(b).length;
    const encodeMs = now() - e0;

    const tables: Array<{ title: string; rows: Table }> = [
      {
        title: `${fmt(RECORDS)} records (${fmt(tokens)} words) in one shard, ${PARTITIONS} partitions, median of ${RUNS} runs`,
        rows: [
          ['measure', 'value'],
          ['map task wall time', fmtMs(med)],
          ['records/s per shard', fmtRate(rate)],
          ['words/s per shard', fmtRate((tokens / med) * 1000)],
          ['target records/s per shard', fmtRate(TARGET)],
          ['ratio to target', fmt(rate / TARGET)],
          ['range of runs', `${fmtMs(Math.min(...ms))} .. ${fmtMs(Math.max(...ms))}`],
        ],
      },
      {
        title: 'where the wall time goes (median per run)',
        rows: [
          ['part', 'ms', 'share'],
          ['reader.readSlice (in-memory shard)', fmt(inReader, 1), pct(inReader / med)],
          [
            'stores (MemoryProtocolStores: plan, claim, blocks copied as JSON)',
            fmt(inStores, 1),
            pct(inStores / med),
          ],
          [
            '  of which putBlocks',
            fmt(phase('stores.putBlocks'), 1),
            pct(phase('stores.putBlocks') / med),
          ],
          [
            'decode + engine (runTask) + worker',
            fmt(med - inStores - inReader, 1),
            pct((med - inStores - inReader) / med),
          ],
          [
            `for reference: encodeBlock of the same ${blocks.length} blocks (${fmt(encodedBytes / 1024, 0)} KiB), as the DynamoDB store encodes them`,
            fmt(encodeMs, 1),
            '',
          ],
        ],
      },
    ];
    const data: Record<string, unknown> = {
      records: RECORDS,
      tokens,
      distinctWords: expected.size,
      partitions: PARTITIONS,
      runs: RUNS,
      ms,
      medianMs: med,
      recordsPerSecond: rate,
      target: TARGET,
      ratio: rate / TARGET,
      phasesMedianMs: {
        readSlice: inReader,
        stores: inStores,
        putBlocks: phase('stores.putBlocks'),
      },
      encodeBlockMs: encodeMs,
      encodedBlockBytes: encodedBytes,
    };

    if (rate < TARGET || process.env.BENCH_PROFILE === '1') {
      log(
        `${rate < TARGET ? 'below target' : 'BENCH_PROFILE=1'}: profiling ${PROFILED_RUNS} more runs...`,
      );
      const { profile: p, locate } = await profile(s);
      const file = join(root, 'bench', 'results', 'aws-map-task.cpuprofile');
      writeFileSync(file, JSON.stringify(p));
      const st = selfTimes(p, locate);
      tables.push(
        {
          title: `top self time, ${PROFILED_RUNS} map tasks (${fmtMs(st.totalMs)} sampled; profile in ${relative(root, file)})`,
          rows: [
            ['function', 'self ms', 'share'],
            ...st.functions.map((f) => [f.name, fmt(f.ms, 1), pct(f.share)]),
          ],
        },
        {
          title: 'self time by file',
          rows: [
            ['file', 'self ms', 'share'],
            ...st.files.map((f) => [f.name, fmt(f.ms, 1), pct(f.share)]),
          ],
        },
      );
      data.profile = { file: relative(root, file), ...st };
    }
    return {
      tables,
      checks: [atLeast('map task records/s per shard', rate, TARGET)],
      data,
    };
  },
};

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
