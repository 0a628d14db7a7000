/**
 * The streaming UI's server without a browser: its JSON endpoints and its event stream over a
 * job's tables on the embedded cloud's DynamoDB, filled here with commits, plans, claims and
 * dead letters written through the runtime's own stores, so that every expected value is one
 * this test wrote.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoClient } from '../../lib/aws/clients.js';
import type { BatchCommit, BatchPlan, JobDescription, TaskClaim } from '../../lib/aws/protocol.js';
import { DynamoDeadLetterStore } from '../../lib/aws/stores/dynamo.js';
import { controlStore } from '../../lib/cli/inspect.js';
import type { DeploymentInfo } from '../../lib/contract/deployment.js';
import type { BatchView, BatchWindow, JobSummary, JobView } from '../../lib/ui/api.js';
import { estimateCost, PRICES } from '../../lib/ui/cost.js';
import { type RunningUi, startUi } from '../../lib/ui/server.js';
import wordcount from '../aws/fixtures/wordcount.js';
import { createTestTable, testName, useTarget } from '../target.js';

useTarget();

const B = 1000;
/** Batch times: T(1), T(2), ... one interval apart. */
const T0 = 1_800_000_000_000;
const T = (i: number) => T0 + i * B;
const WINDOW = 5;

const info: DeploymentInfo = {
  sparkless: 1,
  jobName: 'ui-wordcount',
  batchIntervalMs: B,
  stateful: [{ name: 'totals', kind: 'updateStateByKey', partitions: 2 }],
  tables: {
    control: testName('ui-server-control'),
    data: testName('ui-server-data'),
    deadLetters: testName('ui-server-dead'),
  },
  functions: { worker: 'ui-worker', coordinator: 'ui-coordinator' },
  sources: { lines: 'ui-lines' },
  sinks: { totals: { kind: 'table', table: 'ui-totals' } },
};
const other: DeploymentInfo = { ...info, jobName: 'ui-other' };

/** The commit of batch `i`: its numbers derive from `i`, so that each batch differs. */
function commitOf(i: number): BatchCommit {
  return {
    timeMs: T(i),
    epoch: 1,
    metrics: {
      recordsIn: 10 * i,
      bytesIn: 100 * i,
      shards: [
        {
          source: 'lines',
          shardId: 'shardId-000000000000',
          records: 6 * i,
          bytes: 60 * i,
          millisBehindLatest: 10 * i,
        },
        {
          source: 'lines',
          shardId: 'shardId-000000000001',
          records: 4 * i,
          bytes: 40 * i,
          millisBehindLatest: 0,
        },
      ],
      recordsOut: { '5:saveToTable': i },
      stages: [
        { stage: 0, kind: 'map', ms: 20 + i, taskMs: [15 + i, 12] },
        { stage: 1, kind: 'reduce', ms: 30, taskMs: [25, 21] },
      ],
      schedulingDelayMs: 1000 + i,
      processingMs: 60 + i,
      totalDelayMs: 1060 + 2 * i,
      deadLettered: i === 3 ? 2 : 0,
      taskErrors: 0,
      taskRetries: i === 3 ? 1 : 0,
      retentionGaps: 0,
      keysInState: { totals: 3 * i },
      dynamoRequests: 20 + i,
      consumedCapacityUnits: 0,
    },
  };
}

const plan3: BatchPlan = {
  timeMs: T(3),
  planHash: 'plan-hash',
  stateHash: wordcount.plan.stateHash,
  epoch: 1,
  sources: {
    lines: [
      { shardId: 'shardId-000000000000', after: '49600000000000000001' },
      { shardId: 'shardId-000000000001', position: { atTrimHorizon: true } },
    ],
  },
  ended: [],
  maxRecords: 10_000,
  plannedAtMs: T(3) + 1004,
};

function claimOf(stage: number, task: number, durationMs: number, extra: Partial<TaskClaim>) {
  return {
    timeMs: T(3),
    stage,
    task,
    attempt: `attempt-${stage}-${task}`,
    blocks: {},
    intent: false,
    deadLettered: 0,
    durationMs,
    ...extra,
  } satisfies TaskClaim;
}

let ui: RunningUi;
const control = () => controlStore(info, dynamoClient());

beforeAll(async () => {
  await createTestTable(info.tables.control, 'control');
  await createTestTable(info.tables.deadLetters, 'deadLetters');
  const c = control();
  for (let i = 1; i <= 12; i++) await c.putCommit(T(i), commitOf(i));
  // Commits 11 and 12 are written but the head is at 10: readers trust batches up to the head.
  await c.advanceHead(T(10));
  const description: JobDescription = {
    job: info.jobName,
    batchIntervalMs: B,
    explain: wordcount.explain(),
    plan: wordcount.plan,
    writtenAtMs: T(1) - 5000,
  };
  await c.putDescription(description);
  await c.putPlan(T(3), plan3);
  await c.putClaim(
    T(3),
    0,
    0,
    claimOf(0, 0, 18, {
      slice: {
        shardId: 'shardId-000000000000',
        shardEnded: false,
        childShards: [],
        millisBehindLatest: 30,
        records: 18,
        bytes: 180,
      },
      deadLettered: 2,
    }),
  );
  await c.putClaim(
    T(3),
    0,
    1,
    claimOf(0, 1, 12, {
      slice: {
        shardId: 'shardId-000000000001',
        shardEnded: false,
        childShards: [],
        millisBehindLatest: 0,
        records: 12,
        bytes: 120,
      },
    }),
  );
  await c.putClaim(T(3), 1, 0, claimOf(1, 0, 25, { recordsOut: { '5:saveToTable': 2 } }));
  await c.putClaim(T(3), 1, 1, claimOf(1, 1, 21, { stateKeyDelta: { totals: 1 } }));
  const letters = new DynamoDeadLetterStore({
    client: dynamoClient(),
    table: info.tables.deadLetters,
    job: info.jobName,
  });
  await letters.put(
    [0, 1].map((index) => ({
      timeMs: T(3),
      stage: 0,
      task: 0,
      index,
      letter: {
        operator: '2:map',
        stage: 'map' as const,
        timeMs: T(3),
        partition: 0,
        subject: `poison ${index}`,
        error: 'Error: refusing poison',
        shardId: 'shardId-000000000000',
        sequenceNumber: `4960000000000000000${index + 2}`,
      },
    })),
  );
  ui = await startUi({ jobs: async () => [info, other], batches: WINDOW, pollMs: 50 });
}, 60_000);

afterAll(async () => {
  await ui?.stop();
});

async function get<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, ui.url));
  return { status: res.status, body: (await res.json()) as T };
}

describe('the UI server: its page', () => {
  it('listens on loopback at a free port and serves the page, its script and its styles', async () => {
    expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(ui.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    // Nothing may come from anywhere but this server.
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/app.js">');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const js = await fetch(new URL('/app.js', ui.url));
    expect(js.headers.get('content-type')).toContain('javascript');
    const script = await js.text();
    // uPlot is bundled in (its class names are), and no import is left for the browser to fetch.
    expect(script.includes('u-legend')).toBe(true);
    // With uPlot's license, as its MIT license asks of every copy.
    expect(script.slice(0, 600)).toMatch(/Copyright \(c\) \d{4}.*Leon Sorokin/);
    expect(/\bimport\s*[^(]*from\s*["']/.test(script)).toBe(false);
    const css = await (await fetch(new URL('/app.css', ui.url))).text();
    expect(css).toContain('.u-legend');
    expect(css).not.toMatch(/@import|url\(\s*["']?https?:/);
  });

  it('answers 404 for unknown paths and 405 for writes', async () => {
    expect((await fetch(new URL('/nothing', ui.url))).status).toBe(404);
    expect((await fetch(new URL('/api/jobs', ui.url), { method: 'POST' })).status).toBe(405);
  });

  it('refuses requests that name it by another host name (DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        new URL('/api/jobs', ui.url),
        { headers: { host: 'attacker.example:80' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(421);
  });
});

describe('the UI server: its JSON endpoints', () => {
  it('lists the jobs it is given', async () => {
    const { status, body } = await get<JobSummary[]>('/api/jobs');
    expect(status).toBe(200);
    expect(body.map((j) => j.name)).toEqual(['ui-wordcount', 'ui-other']);
    expect(body[0]).toEqual({
      name: 'ui-wordcount',
      batchIntervalMs: B,
      stateful: [{ name: 'totals', kind: 'updateStateByKey', partitions: 2 }],
      sources: { lines: 'ui-lines' },
      sinks: { totals: 'table ui-totals' },
    });
  });

  it("gives a job's head, its recorded plan, its window size and the prices", async () => {
    const { body } = await get<JobView>('/api/jobs/ui-wordcount');
    expect(body.head).toBe(T(10));
    expect(body.windowSize).toBe(WINDOW);
    expect(body.description?.explain).toBe(wordcount.explain());
    expect(body.description?.stages.map((s) => s.kind)).toEqual(['map', 'reduce']);
    expect(body.prices).toEqual(PRICES);
  });

  it('names the jobs it has when asked for another', async () => {
    const { status, body } = await get<{ error: string }>('/api/jobs/nope');
    expect(status).toBe(404);
    expect(body.error).toBe("no job 'nope'; the jobs here: 'ui-wordcount', 'ui-other'");
  });

  it('keeps a window of the last batches committed up to the head, oldest first', async () => {
    const { body } = await get<BatchWindow>('/api/jobs/ui-wordcount/batches');
    expect(body.windowSize).toBe(WINDOW);
    expect(body.batchIntervalMs).toBe(B);
    // Batches 6..10: the five newest up to the head; 11 and 12 are past it.
    expect(body.batches).toEqual([6, 7, 8, 9, 10].map(commitOf));
  });

  it("gives a batch's commit, plan, tasks by shard and partition, dead letters and the job's plan", async () => {
    const { status, body } = await get<BatchView>(`/api/jobs/ui-wordcount/batches/${T(3)}`);
    expect(status).toBe(200);
    expect(body.commit).toEqual(commitOf(3));
    expect(body.plan).toEqual(plan3);
    expect(body.explain).toBe(wordcount.explain());
    expect(Object.keys(body.stages)).toEqual(['0', '1']);
    expect(
      body.tasks.map((t) => [t.stage, t.task, t.durationMs, t.shard?.shardId, t.shard?.start]),
    ).toEqual([
      [0, 0, 18, 'shardId-000000000000', 'after 49600000000000000001'],
      [0, 1, 12, 'shardId-000000000001', 'at the trim horizon'],
      [1, 0, 25, undefined, undefined],
      [1, 1, 21, undefined, undefined],
    ]);
    expect(body.tasks[0]?.slice?.millisBehindLatest).toBe(30);
    expect(body.tasks[2]?.recordsOut).toEqual({ '5:saveToTable': 2 });
    expect(body.tasks[3]?.stateKeyDelta).toEqual({ totals: 1 });
    expect(body.deadLetters.map((d) => [d.index, d.letter.subject, d.letter.error])).toEqual([
      [0, 'poison 0', 'Error: refusing poison'],
      [1, 'poison 1', 'Error: refusing poison'],
    ]);
  });

  it('shows a batch committed past the head, and says when nothing is recorded of one', async () => {
    const past = await get<BatchView>(`/api/jobs/ui-wordcount/batches/${T(12)}`);
    expect(past.body.commit).toEqual(commitOf(12));
    expect(past.body.head).toBe(T(10));
    expect(past.body.deadLetters).toEqual([]);
    const missing = await get<{ error: string }>(`/api/jobs/ui-wordcount/batches/${T(40)}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toContain(`nothing is recorded of batch ${T(40)}`);
    const bad = await get<{ error: string }>('/api/jobs/ui-wordcount/batches/yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe("a batch time is epoch milliseconds, got 'yesterday'");
  });
});

/** Reads server-sent events from `path` until `enough` says so (or the time is up). */
async function readEvents(
  path: string,
  enough: (events: Array<{ event: string; data: unknown }>) => boolean,
  during?: () => Promise<void>,
  base = ui.url,
  timeoutMs = 10_000,
): Promise<Array<{ event: string; data: unknown }>> {
  const abort = new AbortController();
  const res = await fetch(new URL(path, base), { signal: abort.signal });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: Array<{ event: string; data: unknown }> = [];
  let text = '';
  const deadline = setTimeout(() => abort.abort(), timeoutMs);
  let started = false;
  try {
    while (!enough(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      let end = text.indexOf('\n\n');
      while (end >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (name && data) events.push({ event: name, data: JSON.parse(data) });
        end = text.indexOf('\n\n');
      }
      if (!started && events.length > 0 && during) {
        started = true;
        await during();
      }
    }
  } catch (e) {
    if (!abort.signal.aborted) throw e;
  } finally {
    clearTimeout(deadline);
    abort.abort();
  }
  return events;
}

describe('the UI server: its event stream', () => {
  it('sends the window, then each batch as the head moves past it, keeping the window bounded', async () => {
    const c = control();
    const events = await readEvents(
      '/api/jobs/ui-wordcount/events',
      (es) => es.filter((e) => e.event === 'batch').length >= 4,
      async () => {
        // The head moves to 12 (two commits already written), then two more batches commit.
        await c.advanceHead(T(12));
        for (const i of [13, 14]) {
          await c.putCommit(T(i), commitOf(i));
          await c.advanceHead(T(i));
        }
      },
    );
    expect(events[0]?.event).toBe('snapshot');
    expect((events[0]?.data as BatchWindow | undefined)?.batches).toEqual(
      [6, 7, 8, 9, 10].map(commitOf),
    );
    expect(events.slice(1)).toEqual(
      [11, 12, 13, 14].map((i) => ({ event: 'batch', data: commitOf(i) })),
    );
    const { body } = await get<BatchWindow>('/api/jobs/ui-wordcount/batches');
    expect(body.batches).toEqual([10, 11, 12, 13, 14].map(commitOf));
  });

  it('starts a new stream with the current window', async () => {
    const events = await readEvents('/api/jobs/ui-wordcount/events', (es) => es.length >= 1);
    expect(events).toEqual([
      {
        event: 'snapshot',
        data: {
          job: 'ui-wordcount',
          windowSize: WINDOW,
          batchIntervalMs: B,
          batches: [10, 11, 12, 13, 14].map(commitOf),
        },
      },
    ]);
  });

  it('says when the tables cannot be read, and keeps the stream open', async () => {
    const missing: DeploymentInfo = {
      ...info,
      jobName: 'ui-missing',
      tables: { ...info.tables, control: testName('ui-server-no-such-table') },
    };
    const broken = await startUi({ jobs: () => [missing], pollMs: 50 });
    try {
      const res = await fetch(new URL('/api/jobs/ui-missing/batches', broken.url));
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: string }).error).toMatch(
        /^could not read the job's tables: .*(not found|non-existent)/i,
      );
      // The stream says what is wrong, still sends the (empty) window, and keeps polling.
      const events = await readEvents(
        '/api/jobs/ui-missing/events',
        (es) => es.filter((e) => e.event === 'problem').length >= 2,
        undefined,
        broken.url,
      );
      expect(events[0]?.event).toBe('problem');
      expect((events[0]?.data as { message: string } | undefined)?.message).toMatch(
        /not found|non-existent/i,
      );
      expect(events[1]).toEqual({
        event: 'snapshot',
        data: { job: 'ui-missing', windowSize: 300, batchIntervalMs: B, batches: [] },
      });
    } finally {
      await broken.stop();
    }
  });

  it('polls the tables only while a page listens', async () => {
    const client = dynamoClient();
    let requests = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        requests++;
        return next(args);
      },
      { step: 'initialize' },
    );
    const quiet = await startUi({ jobs: () => [info], pollMs: 50, client });
    try {
      const events = await readEvents(
        '/api/jobs/ui-wordcount/events',
        (es) => es.length >= 1,
        undefined,
        quiet.url,
      );
      expect(events[0]?.event).toBe('snapshot');
      // The page is gone (the stream was aborted): the polling stops.
      await new Promise((r) => setTimeout(r, 300));
      const after = requests;
      await new Promise((r) => setTimeout(r, 500));
      expect(requests).toBe(after);
      expect(after).toBeGreaterThan(0);
    } finally {
      await quiet.stop();
    }
  });

  it('ends its event streams when it stops', async () => {
    const second = await startUi({ jobs: () => [info], pollMs: 50 });
    const res = await fetch(new URL('/api/jobs/ui-wordcount/events', second.url));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await second.stop();
    let done = false;
    while (!done) done = (await reader.read()).done;
    expect(done).toBe(true);
  });
});

describe('the UI server: starting', () => {
  it('says so clearly when its port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const error = await startUi({ jobs: () => [], port }).catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error & { code: string }).code).toBe('UI_PORT_IN_USE');
      expect((error as Error).message).toBe(
        `the streaming UI cannot listen on 127.0.0.1:${port}: the port is in use; choose another port, or 0 for a free one`,
      );
    } finally {
      blocker.close();
    }
  });

  it('refuses a port or a window that cannot be', async () => {
    await expect(startUi({ jobs: () => [], port: 70_000 })).rejects.toThrow(
      "the UI's port must be an integer from 0 (a free port) to 65535, got 70000",
    );
    await expect(startUi({ jobs: () => [], batches: 0 })).rejects.toThrow(
      "the UI's batches (the window of recent batches) must be a positive integer, got 0",
    );
  });
});

describe('the cost estimate', () => {
  it("prices the capacity units at AWS's on-demand read and write prices, per million records", () => {
    const e = estimateCost([
      { recordsIn: 1500, dynamoRequests: 40, consumedCapacityUnits: 120 },
      { recordsIn: 500, dynamoRequests: 10, consumedCapacityUnits: 80 },
    ]);
    expect(e.units).toBe(200);
    expect(e.unitsFromRequests).toBe(false);
    // 200 units: 200 x $0.125 / 1e6 as reads, 200 x $0.625 / 1e6 as writes, for 2,000 records.
    expect(e.usdLow).toBeCloseTo(0.000025, 12);
    expect(e.usdHigh).toBeCloseTo(0.000125, 12);
    expect(e.perMillionRecordsLow).toBeCloseTo(0.0125, 10);
    expect(e.perMillionRecordsHigh).toBeCloseTo(0.0625, 10);
  });

  it('counts a request as one unit where the endpoint reports no capacity, and has no rate without records', () => {
    const e = estimateCost([{ recordsIn: 0, dynamoRequests: 8, consumedCapacityUnits: 0 }]);
    expect(e.unitsFromRequests).toBe(true);
    expect(e.units).toBe(8);
    expect(e.perMillionRecordsLow).toBeUndefined();
    expect(estimateCost([]).units).toBe(0);
  });

  it('keeps the prices with their region and the date they were read', () => {
    expect(PRICES).toEqual({
      region: 'us-east-1',
      readOn: '2026-11-24',
      source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
      usdPerMillionWriteUnits: 0.625,
      usdPerMillionReadUnits: 0.125,
    });
  });
});
