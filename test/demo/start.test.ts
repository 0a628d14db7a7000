/**
 * `npm start` as a user runs it: the hashtag example deployed on the embedded cloud, fed by the
 * seeded generator for --seconds, then its final results and summary, checked against the
 * oracle: the hashtags of exactly the tweets the generator put.
 */
import { spawnSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tweets } from '../../examples/generators.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function start(...args: string[]) {
  return spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'bin/start.ts', ...args],
    { cwd: root, encoding: 'utf8', timeout: 150_000 },
  );
}

describe('npm start', () => {
  it("runs the hashtag example on the embedded cloud for --seconds N; its totals are the oracle's", () => {
    const run = start('--seconds', '4', '--rate', '100', '--seed', '7');
    expect(run.status, run.stderr).toBe(0);
    // Start-up shows progress, then a line per batch with the job's printed top hashtags.
    expect(run.stdout).toContain('starting the embedded cloud');
    expect(run.stdout).toMatch(/deployed SparklessHashtags/);
    expect(run.stdout).toMatch(
      /\d\d:\d\d:\d\d +\d+ records in +processing +\d+ ms +scheduling delay +\d+ ms/,
    );
    expect(run.stdout).toMatch(/ {4}#\w+ \d+ {2}#\w+ \d+/);

    const summary = run.stdout.match(
      /Summary: (\d+) batches, (\d+) records put, (\d+) records in, 0 dead-lettered/,
    );
    expect(summary, run.stdout).not.toBeNull();
    const put = Number(summary?.[2]);
    expect(put).toBeGreaterThan(100);
    // Every record put was read, once.
    expect(Number(summary?.[3])).toBe(put);

    // The oracle: the hashtags of the first `put` tweets of seed 7, as the job counts them.
    const next = tweets(7);
    const counts = new Map<string, number>();
    for (let i = 0; i < put; i++) {
      for (const word of next().split(/\s+/)) {
        if (!word.startsWith('#') || word.length < 2) continue;
        const tag = word.toLowerCase();
        counts.set(tag, (counts.get(tag) ?? 0) + 1);
      }
    }
    const state = run.stdout.match(/State 'hashtag-counts': (\d+) keys; top: (.*)/);
    expect(state, run.stdout).not.toBeNull();
    expect(Number(state?.[1])).toBe(counts.size);
    const top = (state?.[2] ?? '')
      .trim()
      .split(/\s+/)
      .map((e) => {
        const [tag, count] = e.split('=');
        return [tag as string, Number(count)] as const;
      });
    expect(top).toHaveLength(10);
    for (const [tag, count] of top) expect(count, tag).toBe(counts.get(tag));
    const shown = new Set(top.map(([tag]) => tag));
    const lowest = Math.min(...top.map(([, c]) => c));
    for (const [tag, count] of counts)
      if (!shown.has(tag)) expect(count).toBeLessThanOrEqual(lowest);
  }, 180_000);

  it('says which port is in use when the one asked for is taken, before starting anything', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const run = start('--seconds', '1', '--port', String(port));
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        `port ${port} is in use: choose another with --port, or leave --port out to use a free one`,
      );
      // Found before anything was bundled or started.
      expect(run.stdout).not.toContain('synthesizing');
      expect(run.stdout).not.toContain('starting kinesis-local');
    } finally {
      server.close();
    }
  }, 120_000);

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
