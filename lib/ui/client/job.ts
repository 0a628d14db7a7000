/// <reference lib="dom" />
/**
 * A job's page: how it keeps up with its batch interval over its recent batches (a timeline of
 * input rate, processing time by stage, scheduling and total delay against the interval, lag
 * per shard, dead letters, keys in state, DynamoDB traffic and its cost), the recent batches as
 * a table, and the job's plan. It follows the job's event stream: a snapshot of the server's
 * window, then each new commit; it keeps at most the window's size of batches however long it
 * stays open.
 */
import type { BatchCommit } from '../../aws/protocol.js';
import type { BatchWindow, JobView } from '../api.js';
import { estimateCost } from '../cost.js';
import { Chart, type ChartData, type ChartSpec } from './charts.js';
import {
  batchHref,
  card,
  clock,
  count,
  decimal,
  duration,
  getJson,
  h,
  setStatus,
  usd,
} from './dom.js';

/** Rows of the recent-batches table. */
const TABLE_ROWS = 40;
/** How many of the newest batches the keeping-up verdict looks at. */
const VERDICT_BATCHES = 10;

/** Renders the page of job `name` into `root`; returns what tears it down. */
export async function jobPage(root: HTMLElement, name: string): Promise<() => void> {
  const base = `/api/jobs/${encodeURIComponent(name)}`;
  const { status, body } = await getJson<JobView | { error: string }>(base);
  if (status === 404 || 'error' in body) {
    root.replaceChildren(
      h('h1', null, `Job ${name}`),
      h('p', { class: 'banner', 'data-kind': 'bad' }, (body as { error: string }).error),
      h('p', null, h('a', { href: '#/' }, 'All jobs')),
    );
    return () => {};
  }
  let job = body;
  document.title = `${name} · sparkless streaming`;
  let batches: BatchCommit[] = [];
  let windowSize = job.windowSize;
  const B = job.batchIntervalMs;

  const cards = h('div', { class: 'cards', 'data-testid': 'summary' });
  const costNote = h('p', { class: 'note', 'data-testid': 'cost-note' });
  const verdict = h('div', { class: 'banner', 'data-kind': 'info', 'data-testid': 'verdict' });
  const problem = h('div', { class: 'banner', 'data-kind': 'bad', hidden: true });
  const tableBody = h('tbody');
  const plan = h('pre', { class: 'plan', 'data-testid': 'plan' });
  const pick = (t: number) => {
    location.hash = batchHref(name, t);
  };
  const ms = (v: number) => duration(v);
  const specs: ChartSpec[] = [
    {
      id: 'input',
      title: 'Input rate',
      note: 'Records read per second of batch interval.',
      format: (v) => `${decimal(v)}/s`,
      stepMs: B,
      onPick: pick,
    },
    {
      id: 'processing',
      title: 'Processing time by stage',
      note: 'Each stage of the batch, stacked, and the driver (outputs and commit) on top. Above the dashed line, a batch takes longer than its interval.',
      format: ms,
      integer: true,
      stacked: true,
      stepMs: B,
      onPick: pick,
    },
    {
      id: 'delay',
      title: 'Scheduling delay and total delay',
      note: 'From the batch time to the start of processing, and to the commit. A delay that keeps growing means the job falls behind.',
      format: ms,
      integer: true,
      stepMs: B,
      onPick: pick,
    },
    {
      id: 'lag',
      title: 'Lag per shard',
      note: "How far each shard's reader was behind the stream's tip (MillisBehindLatest).",
      format: ms,
      integer: true,
      stepMs: B,
      onPick: pick,
    },
    {
      id: 'deadLetters',
      title: 'Records dead-lettered, task errors and retries',
      format: (v) => count(v),
      integer: true,
      stepMs: B,
      onPick: pick,
    },
    {
      id: 'state',
      title: 'Keys in state',
      note:
        job.stateful.length === 0
          ? 'This job has no stateful operators.'
          : 'Keys held by each stateful operator after the batch.',
      format: (v) => count(v),
      integer: true,
      stepMs: B,
      onPick: pick,
    },
    {
      id: 'dynamo',
      title: 'DynamoDB requests and consumed capacity',
      note: 'Requests of the batch (tasks and coordinator), and the capacity units DynamoDB reported (right axis).',
      format: (v) => count(v),
      integer: true,
      rightFormat: (v) => decimal(v),
      stepMs: B,
      onPick: pick,
    },
  ];
  const charts = new Map(specs.map((s) => [s.id, new Chart(s)]));

  root.replaceChildren(
    h('h1', null, job.name),
    h(
      'div',
      { class: 'meta' },
      h('span', null, `batch interval ${duration(B)}`),
      h(
        'span',
        null,
        `sources: ${Object.entries(job.sources)
          .map(([n, s]) => `${n} (${s})`)
          .join(', ')}`,
      ),
      Object.keys(job.sinks).length
        ? h(
            'span',
            null,
            `sinks: ${Object.entries(job.sinks)
              .map(([n, s]) => `${n} (${s})`)
              .join(', ')}`,
          )
        : null,
      job.stateful.length
        ? h(
            'span',
            null,
            `state: ${job.stateful.map((s) => `${s.name} (${s.kind}, ${s.partitions} partitions)`).join(', ')}`,
          )
        : null,
    ),
    verdict,
    problem,
    cards,
    costNote,
    h('h2', null, 'Timeline'),
    h(
      'div',
      { class: 'charts' },
      [...charts.values()].map((c) => c.element),
    ),
    h('h2', null, 'Recent batches'),
    h(
      'table',
      { 'data-testid': 'batches' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ...[
            'Batch',
            'Records in',
            'Input rate',
            'Scheduling delay',
            'Processing',
            'Total delay',
            'Dead-lettered',
            'Errors / retries',
            'DynamoDB requests',
          ].map((t) => h('th', null, t)),
        ),
      ),
      tableBody,
    ),
    h('h2', null, 'Plan'),
    plan,
  );

  function renderPlan(): void {
    plan.textContent =
      job.description?.explain ??
      'No coordinator has recorded the plan yet: it does when it takes the lease.';
  }

  function render(): void {
    const x = batches.map((b) => b.timeMs);
    for (const [id, data] of Object.entries(chartData(job, batches, x))) {
      charts.get(id)?.update(data);
    }
    renderCards();
    renderVerdict();
    renderTable();
  }

  function renderCards(): void {
    const n = batches.length;
    const mean = (f: (b: BatchCommit) => number) =>
      n ? batches.reduce((s, b) => s + f(b), 0) / n : 0;
    const max = (f: (b: BatchCommit) => number) => batches.reduce((m, b) => Math.max(m, f(b)), 0);
    const sum = (f: (b: BatchCommit) => number) => batches.reduce((s, b) => s + f(b), 0);
    const cost = estimateCost(
      batches.map((b) => b.metrics),
      job.prices,
    );
    const span = n ? `${clock(batches[0]!.timeMs)} – ${clock(batches[n - 1]!.timeMs)}` : '';
    const costText =
      cost.perMillionRecordsLow === undefined
        ? '–'
        : `${usd(cost.perMillionRecordsLow)} – ${usd(cost.perMillionRecordsHigh ?? 0)}`;
    costNote.textContent = `The cost is an estimate, of DynamoDB only (Kinesis and Lambda are not included), at AWS's on-demand prices for ${job.prices.region} read on ${job.prices.readOn}: $${job.prices.usdPerMillionReadUnits} per million read request units and $${job.prices.usdPerMillionWriteUnits} per million write request units. The batch metrics count capacity units without telling reads from writes, so the low end prices every unit as a read and the high end as a write.${cost.unitsFromRequests ? ' This endpoint reports no consumed capacity (the emulators do not), so each request counts as one unit.' : ''}`;
    cards.replaceChildren(
      card('Batches shown', `${count(n)} of ${count(windowSize)}`, span, {
        'data-testid': 'batch-count',
      }),
      card('Input rate', `${decimal(mean((b) => b.metrics.recordsIn) / (B / 1000))}/s`, 'mean'),
      card(
        'Processing time',
        duration(mean((b) => b.metrics.processingMs)),
        `mean; max ${duration(max((b) => b.metrics.processingMs))}`,
      ),
      card(
        'Scheduling delay',
        duration(mean((b) => b.metrics.schedulingDelayMs)),
        `mean; max ${duration(max((b) => b.metrics.schedulingDelayMs))}`,
      ),
      card(
        'Total delay',
        duration(mean((b) => b.metrics.totalDelayMs)),
        `mean; max ${duration(max((b) => b.metrics.totalDelayMs))}`,
      ),
      card(
        'Dead-lettered',
        count(sum((b) => b.metrics.deadLettered)),
        `records; ${count(sum((b) => b.metrics.taskErrors))} task errors, ${count(sum((b) => b.metrics.taskRetries))} retries`,
      ),
      card(
        'DynamoDB per batch',
        `${decimal(mean((b) => b.metrics.dynamoRequests))} req`,
        `${decimal(mean((b) => b.metrics.consumedCapacityUnits))} capacity units`,
      ),
      card('Cost per million records (estimate)', costText, 'DynamoDB only; see below', {
        class: 'card wide',
        'data-testid': 'cost',
      }),
    );
  }

  function renderVerdict(): void {
    const recent = batches.slice(-VERDICT_BATCHES);
    const last = recent.at(-1);
    if (!last) {
      verdict.dataset.kind = 'info';
      verdict.textContent = 'No batch committed yet.';
      return;
    }
    const meanProcessing = recent.reduce((s, b) => s + b.metrics.processingMs, 0) / recent.length;
    const first = recent[0]!;
    const growing =
      recent.length >= 3 &&
      last.metrics.schedulingDelayMs > first.metrics.schedulingDelayMs + B &&
      last.metrics.schedulingDelayMs > B;
    const share = `${decimal((meanProcessing / B) * 100, 0)}% of the ${duration(B)} interval`;
    const idleMs = Date.now() - last.timeMs;
    if (idleMs > 10 * B + 30_000) {
      verdict.dataset.kind = 'warn';
      verdict.textContent = `No batch committed for ${duration(idleMs)} (the last at ${clock(last.timeMs)}): is the job running?`;
    } else if (meanProcessing > B || growing) {
      verdict.dataset.kind = 'bad';
      verdict.textContent = `Falling behind: the last ${recent.length} batches took ${duration(meanProcessing)} on average (${share}); the scheduling delay is ${duration(last.metrics.schedulingDelayMs)}.`;
    } else {
      verdict.dataset.kind = 'ok';
      verdict.textContent = `Keeping up: the last ${recent.length} batches took ${duration(meanProcessing)} on average (${share}); the scheduling delay is ${duration(last.metrics.schedulingDelayMs)}.`;
    }
  }

  function renderTable(): void {
    const rows = batches.slice(-TABLE_ROWS).reverse();
    tableBody.replaceChildren(
      ...rows.map((b) => {
        const m = b.metrics;
        return h(
          'tr',
          {
            'data-time': b.timeMs,
            class:
              m.taskErrors > 0 || m.deadLettered > 0
                ? 'failed'
                : m.processingMs > B
                  ? 'late'
                  : undefined,
          },
          h('td', null, h('a', { href: batchHref(name, b.timeMs) }, clock(b.timeMs))),
          h('td', null, count(m.recordsIn)),
          h('td', null, `${decimal(m.recordsIn / (B / 1000))}/s`),
          h('td', null, duration(m.schedulingDelayMs)),
          h('td', null, duration(m.processingMs)),
          h('td', null, duration(m.totalDelayMs)),
          h('td', null, count(m.deadLettered)),
          h('td', null, `${count(m.taskErrors)} / ${count(m.taskRetries)}`),
          h('td', null, count(m.dynamoRequests)),
        );
      }),
    );
    if (rows.length === 0) {
      tableBody.replaceChildren(
        h('tr', null, h('td', { colspan: 9, class: 'muted' }, 'No batch committed yet.')),
      );
    }
  }

  /** Adds commits after the newest held, keeping at most the window. */
  function add(commits: readonly BatchCommit[]): void {
    const newest = batches.at(-1)?.timeMs ?? -Infinity;
    const fresh = commits.filter((c) => c.timeMs > newest);
    if (fresh.length === 0) return;
    batches = [...batches, ...fresh].slice(-windowSize);
    render();
    if (!job.description) void refreshJob();
  }

  async function refreshJob(): Promise<void> {
    const again = await getJson<JobView>(base).catch(() => undefined);
    if (again?.status === 200) {
      job = again.body;
      renderPlan();
    }
  }

  renderPlan();
  render();
  const events = new EventSource(`${base}/events`);
  setStatus('reconnecting', 'connecting…');
  events.addEventListener('open', () => setStatus('live', 'live'));
  events.addEventListener('error', () => setStatus('reconnecting', 'reconnecting…'));
  events.addEventListener('snapshot', (e) => {
    const snapshot = JSON.parse((e as MessageEvent<string>).data) as BatchWindow;
    windowSize = snapshot.windowSize;
    batches = [...snapshot.batches].slice(-windowSize);
    problem.hidden = true;
    render();
    if (!job.description && batches.length) void refreshJob();
  });
  events.addEventListener('batch', (e) => {
    problem.hidden = true;
    add([JSON.parse((e as MessageEvent<string>).data) as BatchCommit]);
  });
  events.addEventListener('problem', (e) => {
    const { message } = JSON.parse((e as MessageEvent<string>).data) as { message: string };
    problem.hidden = false;
    problem.textContent = `The job's tables could not be read: ${message}`;
  });
  const onResize = () => {
    for (const c of charts.values()) c.resize();
  };
  window.addEventListener('resize', onResize);
  window.sparklessUi = {
    ...(window.sparklessUi ?? { charts: {} }),
    job: name,
    batches: () => batches,
  };

  return () => {
    events.close();
    window.removeEventListener('resize', onResize);
    for (const c of charts.values()) c.destroy();
    setStatus('idle', '');
  };
}

/** The data of each chart of the job page, from the batches held (oldest first). */
export function chartData(
  job: JobView,
  batches: readonly BatchCommit[],
  x: readonly number[],
): Record<string, ChartData> {
  const B = job.batchIntervalMs;
  const interval = batches.map(() => B);

  const stageIds = [...new Set(batches.flatMap((b) => b.metrics.stages.map((s) => s.stage)))].sort(
    (a, b) => a - b,
  );
  const kindOf = new Map<number, string>();
  for (const b of batches) for (const s of b.metrics.stages) kindOf.set(s.stage, s.kind);
  const stageMs = (b: BatchCommit, id: number) =>
    b.metrics.stages.filter((s) => s.stage === id).reduce((n, s) => n + s.ms, 0);

  const shards = [
    ...new Set(batches.flatMap((b) => b.metrics.shards.map((s) => `${s.source}/${s.shardId}`))),
  ].sort();
  const states = [
    ...new Set([
      ...job.stateful.map((s) => s.name),
      ...batches.flatMap((b) => Object.keys(b.metrics.keysInState)),
    ]),
  ];

  return {
    input: {
      x,
      series: [
        {
          label: 'records/s',
          kind: 'line',
          values: batches.map((b) => b.metrics.recordsIn / (B / 1000)),
        },
      ],
    },
    processing: {
      x,
      series: [
        ...stageIds.map((id) => ({
          label: `stage ${id} (${kindOf.get(id) ?? '?'})`,
          kind: 'bar' as const,
          values: batches.map((b) => stageMs(b, id)),
        })),
        {
          label: 'driver and commit',
          kind: 'bar',
          values: batches.map((b) =>
            Math.max(0, b.metrics.processingMs - b.metrics.stages.reduce((n, s) => n + s.ms, 0)),
          ),
        },
        { label: 'batch interval', kind: 'limit', values: interval },
      ],
    },
    delay: {
      x,
      series: [
        {
          label: 'scheduling delay',
          kind: 'line',
          values: batches.map((b) => b.metrics.schedulingDelayMs),
        },
        { label: 'total delay', kind: 'line', values: batches.map((b) => b.metrics.totalDelayMs) },
        {
          label: 'processing time',
          kind: 'line',
          values: batches.map((b) => b.metrics.processingMs),
        },
        { label: 'batch interval', kind: 'limit', values: interval },
      ],
    },
    lag: {
      x,
      series: shards.map((key) => ({
        label: key,
        kind: 'line' as const,
        values: batches.map((b) => {
          const s = b.metrics.shards.find((s) => `${s.source}/${s.shardId}` === key);
          return s ? s.millisBehindLatest : null;
        }),
      })),
    },
    deadLetters: {
      x,
      series: [
        {
          label: 'records dead-lettered',
          kind: 'bar',
          values: batches.map((b) => b.metrics.deadLettered),
          color: '#c0342b',
        },
        { label: 'task errors', kind: 'line', values: batches.map((b) => b.metrics.taskErrors) },
        { label: 'task retries', kind: 'line', values: batches.map((b) => b.metrics.taskRetries) },
        {
          label: 'retention gaps',
          kind: 'line',
          values: batches.map((b) => b.metrics.retentionGaps),
        },
      ],
    },
    state: {
      x,
      series: states.map((name) => ({
        label: name,
        kind: 'line' as const,
        values: batches.map((b) => b.metrics.keysInState[name] ?? null),
      })),
    },
    dynamo: {
      x,
      series: [
        { label: 'requests', kind: 'bar', values: batches.map((b) => b.metrics.dynamoRequests) },
        {
          label: 'capacity units',
          kind: 'line',
          right: true,
          values: batches.map((b) => b.metrics.consumedCapacityUnits),
        },
      ],
    },
  };
}
