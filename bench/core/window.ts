/**
 * reduceByKeyAndWindow with an inverse: the cost of a slide must not grow with the window.
 *
 * For each window length W (in 1s batches, sliding by one batch), the window is filled, then the
 * time of a slide (one runBatch) is measured over steady-state batches, in which one full batch
 * enters and one full batch leaves. All windows are filled first and then measured in rounds,
 * round-robin, so that other load on the machine spreads over all of them; a window's time per
 * slide is the median of its round means. Batches that will never enter or leave during the
 * measurement are filled with a few records only, so that filling a long window stays quick;
 * the batches that leave while measuring are full, so every measured slide does the same work.
 *
 *   batches 1 .. WARM+MEASURED            full: they leave the window while measuring
 *   batches WARM+MEASURED+1 .. W          5 records each: they never enter nor leave it then
 *   batches W+1 .. W+WARM                 full: untimed slides
 *   batches W+WARM+1 .. W+WARM+MEASURED   full: timed slides
 *
 * Target: mean slide at the longest window / at the shortest <= 1.5. For contrast: the same
 * window without an inverse combines all W panes at each slide, so its cost grows with W; and the
 * longest window with every batch full, measured alone, shows what holding a full hour of panes
 * costs the slides (larger heap, slower garbage collection) on top of the flat work.
 */
import { job, type Pair, pair, seconds } from 'sparkless';
import { LocalExecutor } from 'sparkless/testing';
import {
  atMost,
  collectGarbage,
  fmt,
  fmtMs,
  mean,
  median,
  now,
  percentile,
  random,
  type Suite,
} from '../harness.js';

const WINDOWS = [10, 60, 300, 1800, 3600];
const WITHOUT_INVERSE = WINDOWS.slice(0, 2);
const KEYS = 500;
const RECORDS = 1000;
const LIGHT_RECORDS = 5;
const SHARDS = 2;
const WARM_SLIDES = 50;
const ROUNDS = 6;
const SLIDES_PER_ROUND = 50;
const MEASURED_SLIDES = ROUNDS * SLIDES_PER_ROUND;
const TARGET = 1.5;

type Batch = Pair<string, number>[][];

const keyNames = Array.from({ length: KEYS }, (_, i) => `key-${i}`);

/**
 * The batches of one run, made one at a time (batch b, 1-based, at time b seconds), so that the
 * heap holds only the engine's state: a heap full of input would make every minor collection
 * slower, and the slides with it. The same seed makes the same batches again for the check.
 */
class Batches {
  readonly total: number;
  #rand: () => number;
  #made = 0;

  constructor(
    readonly windowBatches: number,
    readonly seed: number,
    /** Whether every batch is full, even those that never enter or leave while measuring. */
    readonly allFull = false,
  ) {
    this.total = windowBatches + WARM_SLIDES + MEASURED_SLIDES;
    this.#rand = random(seed);
  }

  next(): Batch {
    const b = ++this.#made;
    if (b > this.total) throw new Error(`window ${this.windowBatches}: no batch ${b}`);
    const full = this.allFull || b <= WARM_SLIDES + MEASURED_SLIDES || b > this.windowBatches;
    const n = full ? RECORDS : LIGHT_RECORDS;
    const shards: Batch = Array.from({ length: SHARDS }, () => []);
    for (let i = 0; i < n; i++) {
      const record = pair(
        keyNames[Math.floor(this.#rand() * KEYS)]!,
        1 + Math.floor(this.#rand() * 9),
      );
      shards[i % SHARDS]!.push(record);
    }
    return shards;
  }

  /** The sum per key of the last window's batches, made again from the seed. */
  lastWindowSums(): Map<string, number> {
    const again = new Batches(this.windowBatches, this.seed, this.allFull);
    const sums = new Map<string, number>();
    for (let b = 1; b <= this.total; b++) {
      const batch = again.next();
      if (b <= this.total - this.windowBatches) continue;
      for (const shard of batch) for (const [k, v] of shard) sums.set(k, (sums.get(k) ?? 0) + v);
    }
    return sums;
  }
}

/** One window configuration: its executor, its batches, and where it is. */
class WindowRun {
  readonly label: string;
  readonly input: Batches;
  readonly exec: LocalExecutor;
  /** The batches run so far. */
  next = 0;
  fillMs = 0;
  /** Every timed slide, and the mean of each round. */
  readonly slideMs: number[] = [];
  readonly roundMeanMs: number[] = [];
  #output: Pair<string, number>[] | undefined;

  constructor(
    readonly window: number,
    readonly inverse: boolean,
    readonly allFull = false,
  ) {
    this.label = `window ${window} batches${inverse ? '' : ' without inverse'}${allFull ? ', every batch full' : ''}`;
    this.input = new Batches(window, 7 + window, allFull);
    const lastMs = this.input.total * 1000;
    const windowed = job(
      'bench-window',
      { batchInterval: seconds(1), defaultPartitions: 4 },
      (ctx) =>
        ctx
          .queue<Pair<string, number>>('events')
          .reduceByKeyAndWindow((a, b) => a + b, {
            window: seconds(window),
            slide: seconds(1),
            ...(inverse ? { inverse: (a: number, b: number) => a - b } : {}),
          })
          .foreachRDD(async (rdd, timeMs) => {
            if (timeMs === lastMs) this.#output = await rdd.collect();
          }),
    );
    this.exec = new LocalExecutor(windowed);
  }

  async #step(batch: Batch): Promise<void> {
    const b = this.next++;
    await this.exec.runBatch((b + 1) * 1000, { events: batch });
  }

  /** Runs the batches that fill the window and the untimed first slides. */
  async fill(): Promise<void> {
    const start = now();
    while (this.next < this.window + WARM_SLIDES) await this.#step(this.input.next());
    this.fillMs = now() - start;
  }

  /** Runs `n` slides, timing each one. */
  async measure(n: number): Promise<void> {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const batch = this.input.next();
      const start = now();
      await this.#step(batch);
      times.push(now() - start);
    }
    this.slideMs.push(...times);
    this.roundMeanMs.push(mean(times));
  }

  /** Throws unless the last window's sums are those of its batches. */
  verify(): void {
    if (this.next !== this.input.total) throw new Error(`${this.label}: not all batches ran`);
    verify(this.label, this.#output, this.input.lastWindowSums());
  }

  get meanMs(): number {
    return median(this.roundMeanMs);
  }

  summary() {
    return {
      window: this.window,
      inverse: this.inverse,
      allFull: this.allFull,
      batches: this.input.total,
      fillMs: this.fillMs,
      meanMs: this.meanMs,
      roundMeanMs: this.roundMeanMs,
      medianMs: median(this.slideMs),
      p95Ms: percentile(this.slideMs, 95),
    };
  }
}

/** Throws unless the last window's sums are those of its batches. */
function verify(
  label: string,
  got: Pair<string, number>[] | undefined,
  expected: Map<string, number>,
): void {
  if (!got) throw new Error(`${label}: the last slide produced no output`);
  const seen = new Set<string>();
  for (const [k, v] of got) {
    // With an inverse and no filter, keys whose sum went back to 0 stay in the window.
    if (v !== (expected.get(k) ?? 0)) {
      throw new Error(
        `${label}: key '${k}' sums to ${v} in the window, expected ${expected.get(k) ?? 0}`,
      );
    }
    seen.add(k);
  }
  for (const k of expected.keys()) {
    if (!seen.has(k)) throw new Error(`${label}: key '${k}' is missing from the window`);
  }
}

type Summary = ReturnType<WindowRun['summary']>;

/**
 * Fills the windows, then measures them in rounds, round-robin, starting one further each round,
 * so that whatever else the machine does while measuring falls on every window alike.
 */
async function measureTogether(runs: WindowRun[], log: (line: string) => void): Promise<Summary[]> {
  for (const r of runs) {
    log(`${r.label}: filling...`);
    await r.fill();
  }
  for (let round = 0; round < ROUNDS; round++) {
    log(`measuring round ${round + 1}/${ROUNDS}: ${SLIDES_PER_ROUND} slides of each window...`);
    for (let i = 0; i < runs.length; i++) {
      const r = runs[(round + i) % runs.length]!;
      collectGarbage();
      await r.measure(SLIDES_PER_ROUND);
    }
  }
  for (const r of runs) r.verify();
  return runs.map((r) => r.summary());
}

export const window: Suite = {
  group: 'core',
  name: 'window',
  title: 'reduceByKeyAndWindow with an inverse: time per slide as the window grows',
  async run(log) {
    log('warming up...');
    await measureTogether([new WindowRun(10, true), new WindowRun(10, false)], () => {});

    const measured = await measureTogether(
      [
        ...WINDOWS.map((w) => new WindowRun(w, true)),
        ...WITHOUT_INVERSE.map((w) => new WindowRun(w, false)),
      ],
      log,
    );
    const runs = measured.filter((s) => s.inverse);
    const contrast = measured.filter((s) => !s.inverse);
    // Alone, since its heap (every pane full) would slow the others' garbage collections.
    const longest = WINDOWS[WINDOWS.length - 1]!;
    const [full] = await measureTogether([new WindowRun(longest, true, true)], log);
    log('every window holds the sums of its batches');

    const smallest = runs[0]!;
    const largest = runs[runs.length - 1]!;
    const ratio = largest.meanMs / smallest.meanMs;
    const row = (s: Summary) => [
      fmt(s.window),
      s.inverse ? 'yes' : 'no',
      s.allFull || s.window <= WARM_SLIDES + MEASURED_SLIDES ? 'full' : `${LIGHT_RECORDS} records`,
      fmtMs(s.meanMs),
      fmtMs(s.medianMs),
      fmtMs(s.p95Ms),
      `${(s.meanMs / smallest.meanMs).toFixed(2)}x`,
      fmtMs(s.fillMs),
    ];
    return {
      tables: [
        {
          title: `${fmt(RECORDS)} records over ${KEYS} keys per batch, ${SHARDS} shards, 4 partitions, slide 1 batch; ${ROUNDS} rounds of ${SLIDES_PER_ROUND} steady-state slides per window (mean: median of the round means)`,
          rows: [
            [
              'window (batches)',
              'inverse',
              'fill batches',
              'mean/slide',
              'median',
              'p95',
              'vs smallest',
              'fill time',
            ],
            ...runs.map(row),
            ...contrast.map(row),
            row(full!),
          ],
        },
      ],
      checks: [
        atMost(
          `window slide time ${largest.window} / ${smallest.window} batches (inverse)`,
          ratio,
          TARGET,
        ),
      ],
      data: {
        recordsPerBatch: RECORDS,
        lightRecordsPerBatch: LIGHT_RECORDS,
        keys: KEYS,
        shards: SHARDS,
        partitions: 4,
        rounds: ROUNDS,
        slidesPerRound: SLIDES_PER_ROUND,
        withInverse: runs,
        withoutInverse: contrast,
        withInverseEveryBatchFull: full,
        ratio,
        target: TARGET,
      },
    };
  },
};
