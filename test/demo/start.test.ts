import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function start(...args: string[]) {
  return spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'bin/start.ts', ...args],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
}

describe('npm start', () => {
  it('runs the hashtag example for --seconds N, prints windowed results and a summary, and exits 0', () => {
    const run = start('--seconds', '2', '--rate', '100', '--seed', '7');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("Job 'hashtags'");
    expect(run.stdout).toMatch(/\d\d:\d\d:\d\d +100 records in/);
    expect(run.stdout).toMatch(/#\w+ \d+/);
    const summary = run.stdout.match(/Summary: (\d+) batches, (\d+) records in, 0 dead-lettered/);
    expect(summary).not.toBeNull();
    const [, batches, records] = summary!;
    expect(Number(records)).toBe(Number(batches) * 100);
  }, 60_000);

  it('rejects an unknown job with the list of jobs', () => {
    const run = start('--job', 'nope');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("unknown job 'nope'");
    expect(run.stderr).toContain('hashtags|running-totals|sessions|sensor-averages|top-pages');
  }, 60_000);

  it('rejects a bad --seconds value', () => {
    const run = start('--seconds', 'soon');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("--seconds must be a positive number, got 'soon'");
  }, 60_000);
});
