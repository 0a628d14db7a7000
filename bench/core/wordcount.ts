/**
 * Word count through the engine against the same count written as one loop by hand.
 *
 *   lines --flatMap(split)--> words --filter(starts with a letter)--> --map(pair(w, 1))-->
 *         --reduceByKey(+)--> per-batch counts
 *
 * Both sides read the same generated batches (seeded; words drawn from a Zipf-skewed vocabulary,
 * with numbers and doubled spaces that the filter drops) and use the same split and filter
 * functions, and both produce the counts of each batch. The engine runs on the in-memory executor
 * (LocalExecutor) with a queue source, as tests do; only runBatch is timed, not building the job.
 * The two sides alternate, after a warm-up and a full garbage collection before each run, and the
 * median of the runs is compared. Target: the engine at least half as fast as the loop.
 */
import { job, type Pair, pair, seconds } from 'sparkless';
import { LocalExecutor } from 'sparkless/testing';
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
  zipf,
} from '../harness.js';
import { splitWords, startsWithLetter, vocabulary, wordLine } from '../words.js';

const LINES = 200_000;
const BATCHES = 4;
const SHARDS = 4;
const VOCABULARY = 10_000;
const WARMUP_RUNS = 2;
const RUNS = 7;
const TARGET = 0.5;

/** batches[batch][shard] = lines */
type Input = string[][][];

function generate(seed: number): { input: Input; words: number } {
  const rand = random(seed);
  const vocab = vocabulary(rand, VOCABULARY);
  const pick = zipf(rand, VOCABULARY, 1.0);
  const perBatch = LINES / BATCHES;
  let words = 0;
  const input: Input = Array.from({ length: BATCHES }, () =>
    Array.from({ length: SHARDS }, (_, s) => {
      const from = Math.floor((s * perBatch) / SHARDS);
      const to = Math.floor(((s + 1) * perBatch) / SHARDS);
      const lines: string[] = [];
      for (let i = from; i < to; i++) {
        const { line, tokens } = wordLine(rand, vocab, pick);
        words += tokens;
        lines.push(line);
      }
      return lines;
    }),
  );
  return { input, words };
}

/** The hand-written count: one loop per batch over every line of every shard. */
function countByHand(input: Input): Map<string, number>[] {
  const out: Map<string, number>[] = [];
  for (const shards of input) {
    const counts = new Map<string, number>();
    for (const lines of shards) {
      for (const line of lines) {
        for (const w of splitWords(line)) {
          if (startsWithLetter(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
        }
      }
    }
    out.push(counts);
  }
  return out;
}

/** An executor over the word-count job whose per-batch counts land in `out`. */
function engine(out: Pair<string, number>[][]): LocalExecutor {
  const wordCount = job(
    'bench-wordcount',
    { batchInterval: seconds(1), defaultPartitions: 4 },
    (ctx) =>
      ctx
        .queue<string>('lines')
        .flatMap(splitWords)
        .filter(startsWithLetter)
        .map((w) => pair(w, 1))
        .reduceByKey((a, b) => a + b)
        .foreachRDD(async (rdd) => {
          out.push(await rdd.collect());
        }),
  );
  return new LocalExecutor(wordCount);
}

async function countWithEngine(
  input: Input,
): Promise<{ ms: number; counts: Pair<string, number>[][] }> {
  const counts: Pair<string, number>[][] = [];
  const exec = engine(counts);
  collectGarbage();
  const start = now();
  for (let b = 0; b < input.length; b++) await exec.runBatch((b + 1) * 1000, { lines: input[b]! });
  return { ms: now() - start, counts };
}

function timeByHand(input: Input): { ms: number; counts: Map<string, number>[] } {
  collectGarbage();
  const start = now();
  const counts = countByHand(input);
  return { ms: now() - start, counts };
}

/** Throws unless the engine's per-batch counts are exactly the hand-written ones. */
function verify(engineCounts: Pair<string, number>[][], byHand: Map<string, number>[]): void {
  if (engineCounts.length !== byHand.length) {
    throw new Error(
      `wordcount: the engine produced ${engineCounts.length} batches of counts, the loop ${byHand.length}`,
    );
  }
  byHand.forEach((expected, b) => {
    const got = new Map<string, number>();
    for (const [w, n] of engineCounts[b]!) {
      if (got.has(w)) throw new Error(`wordcount: batch ${b}: the engine counted '${w}' twice`);
      got.set(w, n);
    }
    if (got.size !== expected.size) {
      throw new Error(
        `wordcount: batch ${b}: the engine counted ${got.size} distinct words, the loop ${expected.size}`,
      );
    }
    for (const [w, n] of expected) {
      if (got.get(w) !== n) {
        throw new Error(
          `wordcount: batch ${b}: '${w}' counted ${got.get(w)} times by the engine, ${n} by the loop`,
        );
      }
    }
  });
}

export const wordcount: Suite = {
  group: 'core',
  name: 'wordcount',
  title: 'Word count: engine (LocalExecutor) vs a hand-written loop',
  async run(log) {
    log(`generating ${fmt(LINES)} lines in ${BATCHES} batches of ${SHARDS} shards...`);
    const { input, words } = generate(42);
    log(`${fmt(words)} words; checking that both sides count the same...`);
    const first = await countWithEngine(input);
    const reference = timeByHand(input);
    verify(first.counts, reference.counts);
    const distinct = reference.counts.reduce((n, m) => n + m.size, 0);
    log(`identical counts (${fmt(distinct)} word counts over ${BATCHES} batches); warming up...`);
    for (let i = 0; i < WARMUP_RUNS; i++) {
      await countWithEngine(input);
      timeByHand(input);
    }
    const engineMs: number[] = [];
    const handMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Alternate which side goes first, so neither always runs on the other's leftovers.
      if (i % 2 === 0) {
        engineMs.push((await countWithEngine(input)).ms);
        handMs.push(timeByHand(input).ms);
      } else {
        handMs.push(timeByHand(input).ms);
        engineMs.push((await countWithEngine(input)).ms);
      }
      log(`run ${i + 1}/${RUNS}: engine ${fmtMs(engineMs[i]!)}, hand-written ${fmtMs(handMs[i]!)}`);
    }
    const last = await countWithEngine(input);
    verify(last.counts, reference.counts);

    const engineMedian = median(engineMs);
    const handMedian = median(handMs);
    const ratio = handMedian / engineMedian; // throughput ratio engine / hand-written
    const side = (name: string, ms: number, runs: number[]) => [
      name,
      fmtMs(ms),
      fmtRate((LINES / ms) * 1000),
      fmtRate((words / ms) * 1000),
      `${fmtMs(Math.min(...runs))} .. ${fmtMs(Math.max(...runs))}`,
    ];
    return {
      tables: [
        {
          title: `${fmt(LINES)} lines (${fmt(words)} words), ${BATCHES} batches x ${SHARDS} shards, median of ${RUNS} runs`,
          rows: [
            ['side', 'median', 'lines/s', 'words/s', 'range'],
            side('engine', engineMedian, engineMs),
            side('hand-written', handMedian, handMs),
          ],
        },
      ],
      checks: [atLeast('wordcount throughput engine / hand-written', ratio, TARGET)],
      data: {
        lines: LINES,
        words,
        batches: BATCHES,
        shards: SHARDS,
        vocabulary: VOCABULARY,
        runs: RUNS,
        engineMs,
        handWrittenMs: handMs,
        engineLinesPerSecond: (LINES / engineMedian) * 1000,
        handWrittenLinesPerSecond: (LINES / handMedian) * 1000,
        ratio,
        target: TARGET,
      },
    };
  },
};
