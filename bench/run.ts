/**
 * `npm run bench`: runs the benchmark suites and prints their results against their targets.
 *
 *   npm run bench                  every suite
 *   npm run bench -- core          the suites of a group
 *   npm run bench -- core/window   one suite (`window` alone works too)
 *
 * Each group's results are also written to bench/results/<group>.json (not committed). A target
 * that is missed prints FAIL but does not fail the run; a suite whose sides disagree does.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cost } from './aws/cost.js';
import { throughput } from './aws/throughput.js';
import { window } from './core/window.js';
import { wordcount } from './core/wordcount.js';
import { type Check, fmtMs, formatTable, now, type Suite, type SuiteResult } from './harness.js';
import { pipeline } from './local/pipeline.js';

const SUITES: readonly Suite[] = [wordcount, window, cost, throughput, pipeline];

const id = (s: Suite) => `${s.group}/${s.name}`;

function select(filters: readonly string[]): Suite[] {
  if (filters.length === 0) return [...SUITES];
  const chosen = SUITES.filter((s) =>
    filters.some((f) => id(s) === f || s.group === f || s.name === f || id(s).startsWith(`${f}/`)),
  );
  if (chosen.length === 0) {
    console.error(
      `bench: no suite matches ${filters.map((f) => `'${f}'`).join(', ')}; the suites are: ${SUITES.map(id).join(', ')}`,
    );
    process.exit(2);
  }
  return chosen;
}

function writeResults(group: string, results: ReadonlyMap<Suite, SuiteResult & { ms: number }>) {
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', `${group}.json`);
  let previous: { suites?: Record<string, unknown> } = {};
  try {
    previous = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // first run
  }
  const suites: Record<string, unknown> = { ...previous.suites };
  for (const [suite, r] of results) {
    if (suite.group !== group) continue;
    suites[suite.name] = {
      title: suite.title,
      measuredAt: new Date().toISOString(),
      durationMs: r.ms,
      checks: r.checks,
      ...r.data,
    };
  }
  mkdirSync(dirname(file), { recursive: true });
  const environment = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
  };
  writeFileSync(file, `${JSON.stringify({ group, environment, suites }, null, 2)}\n`);
  return file;
}

async function main() {
  const suites = select(process.argv.slice(2));
  console.log(
    `sparkless benchmarks: ${suites.map(id).join(', ')} (node ${process.version}, ${availableParallelism()} cores)\n`,
  );
  const started = now();
  const results = new Map<Suite, SuiteResult & { ms: number }>();
  for (const suite of suites) {
    console.log(`[${id(suite)}] ${suite.title}`);
    const t0 = now();
    const r = await suite.run((line) => console.log(`  ${line}`));
    const ms = now() - t0;
    results.set(suite, { ...r, ms });
    for (const t of r.tables) console.log(`\n  ${t.title}\n${formatTable(t.rows)}`);
    for (const c of r.checks)
      console.log(
        `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value.toFixed(2)} (target ${c.target})`,
      );
    console.log(`  (${fmtMs(ms)})\n`);
  }

  const checks: Array<[Suite, Check]> = [...results].flatMap(([s, r]) =>
    r.checks.map((c) => [s, c] as [Suite, Check]),
  );
  console.log('Results');
  console.log(
    formatTable([
      ['suite', 'measure', 'value', 'target', 'result'],
      ...checks.map(([s, c]) => [
        id(s),
        c.name,
        c.value.toFixed(2),
        c.target,
        c.pass ? 'PASS' : 'FAIL',
      ]),
    ]),
  );
  for (const group of new Set(suites.map((s) => s.group))) {
    console.log(`\nwrote ${writeResults(group, results)}`);
  }
  const failed = checks.filter(([, c]) => !c.pass).length;
  console.log(
    `${checks.length - failed} of ${checks.length} targets met; total ${fmtMs(now() - started)}`,
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
