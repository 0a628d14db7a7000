/**
 * The streaming UI in a real headless browser (Debian's chromium, driven by playwright-core
 * through its executable path), against a job running on the embedded cloud: deployed from
 * its synthesized stack, fed through the Kinesis API. The charts are compared with the commits
 * read from the job's control table; screenshots go to test-output/ui/.
 *
 * Without chromium at /usr/bin/chromium (or SPARKLESS_CHROMIUM) the suite is skipped, saying
 * so: install it with `apt-get install -y chromium`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient, kinesisClient } from '../../lib/aws/clients.js';
import type { BatchCommit } from '../../lib/aws/protocol.js';
import { controlStore } from '../../lib/cli/inspect.js';
import { jobStack, type Launched, launchLocal } from '../../lib/cli/launch.js';
import type { DeploymentInfo } from '../../lib/contract/deployment.js';
import type { ChartData } from '../../lib/ui/client/charts.js';
import { type RunningUi, startUi } from '../../lib/ui/server.js';
import poisoned from './fixtures/poisoned-wordcount.js';

const CHROMIUM = process.env.SPARKLESS_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIPPED = `skipped: no chromium at ${CHROMIUM}; install it with \`apt-get install -y chromium\` (with sudo when not root) to run the browser tests`;
if (!HAVE_CHROMIUM) process.stdout.write(`test/ui/browser.test.ts: ${SKIPPED}\n`);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test/ui/fixtures/poisoned-wordcount.ts');
const SHOTS = join(ROOT, 'test-output', 'ui');
/** The window of batches the server keeps: small, so that the job soon runs past it. */
const WINDOW = 4;
const B = poisoned.batchIntervalMs;

/** Chromium's flags for a closed network: no background connections, no first-run work. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe.skipIf(!HAVE_CHROMIUM)(
  HAVE_CHROMIUM
    ? 'the streaming UI in chromium, against a job running on the embedded cloud'
    : `the streaming UI in chromium (${SKIPPED})`,
  () => {
    const savedEnv = { ...process.env };
    let running: Launched;
    let info: DeploymentInfo;
    let ui: RunningUi;
    let browser: Browser;
    let page: Page;
    const requests: string[] = [];
    const pageErrors: string[] = [];
    let navigations = 0;
    let producing = true;
    let producer: Promise<void> = Promise.resolve();
    let sent = 0;

    /** Puts a few lines every quarter second; every fifth put has a poisoned word. */
    async function produce(stream: string): Promise<void> {
      const kinesis = kinesisClient();
      for (let i = 0; producing; i++) {
        const lines = Array.from(
          { length: 5 + (i % 7) },
          (_, j) => `spark streams ${j % 2 ? 'batches' : 'records'} word${(i + j) % 11}`,
        );
        if (i % 5 === 2) lines.push(`a poison line ${i}`);
        await kinesis.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: lines.map((l, j) => ({
              Data: new TextEncoder().encode(l),
              PartitionKey: `k${i}-${j}`,
            })),
          }),
        );
        sent += lines.length;
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    const control = () => controlStore(info, dynamoClient());

    /** Every commit up to `toMs`, oldest first. */
    async function commitsUpTo(toMs: number, limit = 10_000): Promise<BatchCommit[]> {
      const commits = await control().listCommits(0, toMs, limit, { newestFirst: true });
      return commits.map((c) => c.value).reverse();
    }

    /** Waits for a condition on the control table. */
    async function until<T>(
      what: string,
      read: () => Promise<T | undefined>,
      timeoutMs = 60_000,
    ): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await read();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    async function charts(): Promise<Record<string, ChartData>> {
      return (await shown()).charts;
    }

    /**
     * What the page shows, read at one instant (the page's script cannot run in between, so a
     * batch arriving meanwhile cannot make the parts disagree): each chart's data, the batch
     * times uPlot plots in each chart, and the batch times of the table's rows.
     */
    async function shown(): Promise<{
      charts: Record<string, ChartData>;
      plotted: Record<string, number[]>;
      rows: number[];
    }> {
      return page.evaluate(() => {
        const charts: Record<string, unknown> = {};
        const plotted: Record<string, number[]> = {};
        for (const [id, c] of Object.entries(window.sparklessUi?.charts ?? {})) {
          charts[id] = c.data;
          plotted[id] = Array.from(c.plot?.data[0] ?? []);
        }
        const rows = Array.from(
          document.querySelectorAll<HTMLElement>('[data-testid="batches"] tbody tr'),
        ).map((tr) => Number(tr.dataset.time));
        return { charts: charts as Record<string, ChartData>, plotted, rows };
      });
    }

    /** The values of one series of one chart. */
    function series(all: Record<string, ChartData>, chart: string, label: string) {
      const s = all[chart]?.series.find((x) => x.label === label);
      if (!s) throw new Error(`chart '${chart}' has no series '${label}'`);
      return s.values;
    }

    beforeAll(async () => {
      mkdirSync(SHOTS, { recursive: true });
      running = await launchLocal({
        stacks: (app) => [jobStack(app, 'UiBrowserTest', { job: FIXTURE, shards: 2 })],
        record: false,
      });
      delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
      Object.assign(process.env, running.cloud.env());
      info = running.jobs[0] as DeploymentInfo;
      producer = produce(info.sources.lines as string);
      ui = await startUi({ jobs: () => running.jobs, batches: WINDOW, pollMs: 200 });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => pageErrors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(m.text());
      });
      page.on('framenavigated', (f) => {
        if (f === page.mainFrame()) navigations++;
      });
    }, 120_000);

    afterAll(async () => {
      producing = false;
      await producer.catch(() => {});
      await browser?.close();
      await ui?.stop();
      await running?.stop();
      process.env = savedEnv;
    }, 60_000);

    it('loads against the running job and goes live, with its charts, verdict and plan', async () => {
      await page.goto(ui.url);
      // One job: the page goes straight to it.
      await page.waitForURL(/#\/jobs\/ui-wordcount$/);
      await page.waitForSelector('#status[data-state="live"]', { timeout: 20_000 });
      await page.waitForFunction(
        () => (window.sparklessUi?.charts.input?.data.x.length ?? 0) >= 3,
        undefined,
        { timeout: 45_000 },
      );
      expect(await page.textContent('h1')).toBe('ui-wordcount');
      expect(await page.textContent('[data-testid="verdict"]')).toMatch(
        /^(Keeping up|Falling behind): the last \d+ batches took /,
      );
      expect(await page.textContent('[data-testid="plan"]')).toBe(poisoned.explain());
      const ids = await page.$$eval('section[data-chart]', (els) =>
        els.map((e) => (e as HTMLElement).dataset.chart),
      );
      expect(ids).toEqual([
        'input',
        'processing',
        'delay',
        'lag',
        'deadLetters',
        'state',
        'dynamo',
      ]);
      // Every chart is drawn (uPlot draws on a canvas).
      expect(await page.$$eval('section[data-chart] canvas', (els) => els.length)).toBe(7);
      const note = await page.textContent('[data-testid="cost-note"]');
      expect(note).toContain('The cost is an estimate');
      expect(note).toContain('us-east-1 read on 2026-11-24');
      await page.screenshot({ path: join(SHOTS, 'job.png'), fullPage: true });
    }, 90_000);

    it('charts exactly the batches the runtime committed: the last of them, as many as the window holds', async () => {
      // Wait until the job committed more batches than the window holds.
      await until('more commits than the window', async () => {
        const head = await control().getHead();
        if (head === undefined) return undefined;
        return (await commitsUpTo(head)).length > WINDOW + 1 ? true : undefined;
      });
      await page.waitForFunction(
        (w) => window.sparklessUi?.charts.input?.data.x.length === w,
        WINDOW,
        { timeout: 30_000 },
      );
      const { charts: drawn, plotted, rows } = await shown();
      const x = drawn.input?.x ?? [];
      const newest = x.at(-1) as number;
      const committed = await commitsUpTo(newest);
      expect(committed.length).toBeGreaterThan(WINDOW);
      const expected = committed.slice(-WINDOW);
      expect(x).toEqual(expected.map((c) => c.timeMs));
      for (const id of Object.keys(drawn)) expect(drawn[id]?.x).toEqual(x);
      // Each series, batch by batch, as the commits' metrics hold them.
      const m = expected.map((c) => c.metrics);
      expect(series(drawn, 'input', 'records/s')).toEqual(m.map((v) => v.recordsIn / (B / 1000)));
      expect(series(drawn, 'delay', 'scheduling delay')).toEqual(m.map((v) => v.schedulingDelayMs));
      expect(series(drawn, 'delay', 'total delay')).toEqual(m.map((v) => v.totalDelayMs));
      expect(series(drawn, 'delay', 'processing time')).toEqual(m.map((v) => v.processingMs));
      expect(series(drawn, 'delay', 'batch interval')).toEqual(m.map(() => B));
      expect(series(drawn, 'processing', 'stage 0 (map)')).toEqual(
        m.map((v) => v.stages.find((s) => s.stage === 0)?.ms ?? 0),
      );
      expect(series(drawn, 'processing', 'stage 1 (reduce)')).toEqual(
        m.map((v) => v.stages.find((s) => s.stage === 1)?.ms ?? 0),
      );
      expect(series(drawn, 'processing', 'batch interval')).toEqual(m.map(() => B));
      for (const shard of ['shardId-000000000000', 'shardId-000000000001']) {
        expect(series(drawn, 'lag', `lines/${shard}`)).toEqual(
          m.map((v) => v.shards.find((s) => s.shardId === shard)?.millisBehindLatest ?? null),
        );
      }
      expect(series(drawn, 'deadLetters', 'records dead-lettered')).toEqual(
        m.map((v) => v.deadLettered),
      );
      expect(series(drawn, 'deadLetters', 'task retries')).toEqual(m.map((v) => v.taskRetries));
      expect(series(drawn, 'state', 'totals')).toEqual(m.map((v) => v.keysInState.totals));
      expect(series(drawn, 'dynamo', 'requests')).toEqual(m.map((v) => v.dynamoRequests));
      expect(series(drawn, 'dynamo', 'capacity units')).toEqual(
        m.map((v) => v.consumedCapacityUnits),
      );
      // What uPlot plots is the same batches, in every chart.
      expect(Object.keys(plotted)).toHaveLength(7);
      for (const id of Object.keys(plotted)) expect(plotted[id]).toEqual(x);
      // The table lists them too, newest first.
      expect(rows).toEqual([...x].reverse());
    }, 100_000);

    it('follows new commits without reloading, keeping only the window', async () => {
      const before = await charts();
      const newestBefore = before.input?.x.at(-1) as number;
      const loads = navigations;
      await page.waitForFunction(
        (t) => (window.sparklessUi?.charts.input?.data.x.at(-1) ?? 0) > t,
        newestBefore,
        { timeout: 30_000 },
      );
      const after = await charts();
      const x = after.input?.x ?? [];
      expect(x).toHaveLength(WINDOW);
      expect(x).toEqual(
        (await commitsUpTo(x.at(-1) as number)).slice(-WINDOW).map((c) => c.timeMs),
      );
      expect(navigations).toBe(loads);
      const held = await page.evaluate(() => window.sparklessUi?.batches?.().length);
      expect(held).toBe(WINDOW);
      expect(sent).toBeGreaterThan(0);
    }, 40_000);

    it("shows a batch's stages and tasks, per shard and per partition, with its plan", async () => {
      const x = (await charts()).input?.x ?? [];
      const commits = await commitsUpTo(x.at(-1) as number);
      const busy = [...commits]
        .reverse()
        .find((c) => x.includes(c.timeMs) && c.metrics.recordsIn > 0);
      if (!busy) throw new Error('no batch with records in the window');
      await page.click(`[data-testid="batches"] tr[data-time="${busy.timeMs}"] a`);
      await page.waitForURL(new RegExp(`/batches/${busy.timeMs}$`));
      await page.waitForSelector('section[data-stage]');
      const claims = (await control().listClaims(busy.timeMs)).map((c) => c.claim);
      const sections = await page.$$eval('section[data-stage]', (sections) =>
        sections.map((s) => ({
          stage: Number((s as HTMLElement).dataset.stage),
          ms: Number((s as HTMLElement).dataset.ms),
          tasks: Array.from(s.querySelectorAll('tbody tr')).map((tr) => ({
            task: Number((tr as HTMLElement).dataset.task),
            ms: Number((tr as HTMLElement).dataset.ms),
            claimedMs: Number((tr as HTMLElement).dataset.claimedMs),
            label: tr.querySelector('td')?.textContent,
          })),
        })),
      );
      expect(sections.map((s) => [s.stage, s.ms])).toEqual(
        busy.metrics.stages.map((s) => [s.stage, s.ms]),
      );
      for (const stage of busy.metrics.stages) {
        const section = sections.find((s) => s.stage === stage.stage);
        // One row per task, with the task's time as the commit records it (until its claim,
        // then applying the claimed intent), and the claim's own time beside it.
        expect(section?.tasks.map((t) => t.ms)).toEqual(stage.taskMs);
        expect(section?.tasks.map((t) => t.claimedMs)).toEqual(
          claims
            .filter((c) => c.stage === stage.stage)
            .sort((a, b) => a.task - b.task)
            .map((c) => c.durationMs),
        );
        const labels = claims
          .filter((c) => c.stage === stage.stage)
          .sort((a, b) => a.task - b.task)
          .map((c) => (stage.kind === 'map' ? c.slice?.shardId : `partition ${c.task}`));
        expect(section?.tasks.map((t) => t.label)).toEqual(labels);
      }
      expect(await page.textContent('[data-testid="records-in"] .value')).toBe(
        busy.metrics.recordsIn.toLocaleString('en-US'),
      );
      expect(await page.textContent('[data-testid="batch-state"]')).toBe('committed');
      expect(await page.textContent('[data-testid="plan"]')).toBe(poisoned.explain());
      expect(await page.$$eval('[data-testid="batch-plan"] tbody tr', (r) => r.length)).toBe(2);
      await page.screenshot({ path: join(SHOTS, 'batch.png'), fullPage: true });
    }, 30_000);

    it("lists a batch's dead-lettered records with their errors", async () => {
      const head = await control().getHead();
      const poisonedBatch = await until('a batch with a dead letter', async () =>
        (await commitsUpTo((await control().getHead()) ?? head ?? 0)).find(
          (c) => c.metrics.deadLettered > 0,
        ),
      );
      await page.goto(`${ui.url}#/jobs/ui-wordcount/batches/${poisonedBatch.timeMs}`);
      await page.waitForSelector('[data-testid="dead-letters"] tbody tr');
      const letters = await page.$$eval('[data-testid="dead-letters"] tbody tr', (trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent)),
      );
      expect(letters).toHaveLength(poisonedBatch.metrics.deadLettered);
      for (const [, operator, from, error, subject] of letters) {
        expect(operator).toBe('2:map (map)');
        expect(from).toMatch(/^shardId-00000000000[01] @ \d+$/);
        expect(error).toContain("refusing the word 'poison'");
        expect(subject).toContain('poison');
      }
      await page.screenshot({ path: join(SHOTS, 'dead-letters.png'), fullPage: true });
    }, 70_000);

    it('makes no request that leaves the machine, and raises no error in the page', () => {
      const origin = new URL(ui.url).origin;
      expect(requests.length).toBeGreaterThan(3);
      expect(requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'))).toEqual(
        [],
      );
      expect(pageErrors).toEqual([]);
    });
  },
);
