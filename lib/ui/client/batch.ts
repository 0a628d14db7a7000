/// <reference lib="dom" />
/**
 * A batch's page: what it read and wrote, how long each stage and each task took (per shard for
 * map tasks, per partition for the others), its retries, errors and dead letters, its plan (the
 * start position of each shard) and the job's plan as `explain()` writes it. While the batch is
 * not committed the page reloads it every batch interval.
 */
import type { BatchCommit } from '../../aws/protocol.js';
import type { StoredDeadLetter } from '../../aws/stores/ports.js';
import type { BatchView, TaskView } from '../api.js';
import { estimateCost } from '../cost.js';
import {
  batchHref,
  bytes,
  card,
  clock,
  count,
  decimal,
  duration,
  getJson,
  h,
  jobHref,
  usd,
} from './dom.js';

/** The most characters of a dead letter's subject shown. */
const SUBJECT_CHARS = 400;

/** Renders the page of batch `timeMs` of job `name`; returns what tears it down. */
export async function batchPage(
  root: HTMLElement,
  name: string,
  timeMs: number,
): Promise<() => void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const load = async (): Promise<void> => {
    const path = `/api/jobs/${encodeURIComponent(name)}/batches/${timeMs}`;
    const { status, body } = await getJson<BatchView | { error: string }>(path);
    if (stopped) return;
    if (status === 404 || 'error' in body) {
      root.replaceChildren(
        crumbs(name, timeMs, undefined),
        h('h1', null, `Batch ${clock(timeMs)}`),
        h('p', { class: 'banner', 'data-kind': 'warn' }, (body as { error: string }).error),
      );
      timer = setTimeout(load, 2000);
      return;
    }
    render(root, body);
    if (!body.commit) timer = setTimeout(load, Math.max(1000, body.batchIntervalMs));
  };
  await load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function crumbs(name: string, timeMs: number, intervalMs: number | undefined): HTMLElement {
  return h(
    'p',
    { class: 'crumbs' },
    h('a', { href: jobHref(name) }, `← ${name}`),
    intervalMs
      ? h(
          'a',
          { href: batchHref(name, timeMs - intervalMs), 'data-testid': 'previous' },
          'previous batch',
        )
      : null,
    intervalMs
      ? h('a', { href: batchHref(name, timeMs + intervalMs), 'data-testid': 'next' }, 'next batch')
      : null,
  );
}

function render(root: HTMLElement, v: BatchView): void {
  const m = v.commit?.metrics;
  root.replaceChildren(
    crumbs(v.job, v.timeMs, v.batchIntervalMs),
    h(
      'h1',
      null,
      `Batch ${clock(v.timeMs)} `,
      v.commit
        ? h('span', { class: 'pill ok', 'data-testid': 'batch-state' }, 'committed')
        : h('span', { class: 'pill warn', 'data-testid': 'batch-state' }, 'running'),
    ),
    h(
      'div',
      { class: 'meta' },
      h('span', null, new Date(v.timeMs).toISOString()),
      h('span', { class: 'mono' }, `time ${v.timeMs}`),
      h('span', null, `batch interval ${duration(v.batchIntervalMs)}`),
      v.plan ? h('span', null, `coordinator epoch ${v.plan.epoch}`) : null,
    ),
    m
      ? metricCards(v, m)
      : h(
          'p',
          { class: 'banner', 'data-kind': 'info' },
          'Not committed yet: the tasks claimed so far are below.',
        ),
    h('h2', null, 'Stages and tasks'),
    ...stages(v),
    h('h2', null, 'Dead-lettered records'),
    deadLetters(v, m),
    h('h2', null, "The batch's plan"),
    batchPlan(v),
    h('h2', null, "The job's plan"),
    h(
      'pre',
      { class: 'plan', 'data-testid': 'plan' },
      v.explain ?? 'No coordinator has recorded the plan yet: it does when it takes the lease.',
    ),
  );
}

function metricCards(v: BatchView, m: BatchCommit['metrics']): HTMLElement {
  const B = v.batchIntervalMs;
  const cost = estimateCost([m], v.prices);
  const outputs = Object.entries(m.recordsOut);
  return h(
    'div',
    { class: 'cards', 'data-testid': 'summary' },
    card(
      'Records in',
      count(m.recordsIn),
      `${bytes(m.bytesIn)}; ${decimal(m.recordsIn / (B / 1000))}/s`,
      {
        'data-testid': 'records-in',
      },
    ),
    card(
      'Records out',
      count(outputs.reduce((n, [, c]) => n + c, 0)),
      outputs.map(([op, c]) => `${op}: ${count(c)}`).join(', ') || 'no output ran',
      { 'data-testid': 'records-out' },
    ),
    card('Scheduling delay', duration(m.schedulingDelayMs)),
    card(
      'Processing time',
      duration(m.processingMs),
      m.processingMs > B
        ? 'longer than the interval'
        : `${decimal((m.processingMs / B) * 100, 0)}% of the interval`,
    ),
    card('Total delay', duration(m.totalDelayMs)),
    card('Task retries / errors', `${count(m.taskRetries)} / ${count(m.taskErrors)}`, undefined, {
      'data-testid': 'retries',
    }),
    card(
      'Dead-lettered',
      count(m.deadLettered),
      m.retentionGaps ? `${m.retentionGaps} shards lost records to retention` : 'records',
    ),
    card(
      'DynamoDB',
      `${count(m.dynamoRequests)} req`,
      `${decimal(m.consumedCapacityUnits)} capacity units`,
    ),
    card(
      'Cost of the batch (estimate)',
      `${usd(cost.usdLow)} – ${usd(cost.usdHigh)}`,
      `DynamoDB only, at ${v.prices.region} on-demand prices read on ${v.prices.readOn}${cost.unitsFromRequests ? '; one unit per request (no capacity reported)' : ''}`,
      { class: 'card wide' },
    ),
  );
}

/** A section per stage: its planned operators and a row per task. */
function stages(v: BatchView): HTMLElement[] {
  const metrics = v.commit?.metrics.stages ?? [];
  const ids = [...new Set([...metrics.map((s) => s.stage), ...v.tasks.map((t) => t.stage)])].sort(
    (a, b) => a - b,
  );
  if (ids.length === 0) return [h('p', { class: 'muted' }, 'No task has claimed its work yet.')];
  return ids.map((id) => {
    const stageMetrics = metrics.find((s) => s.stage === id);
    const planned = v.stages[id];
    const tasks = v.tasks.filter((t) => t.stage === id);
    const kind = stageMetrics?.kind ?? planned?.kind ?? '';
    const longest = Math.max(1, ...tasks.map((t) => t.durationMs), ...(stageMetrics?.taskMs ?? []));
    const what =
      planned?.source !== undefined
        ? `one task per shard of '${planned.source}'`
        : planned?.partitions !== undefined
          ? `one task per partition (${planned.partitions}) of ${planned.shuffle ?? 'its shuffle'}`
          : '';
    return h(
      'section',
      { class: 'stage', 'data-stage': id, 'data-ms': stageMetrics?.ms },
      h(
        'h3',
        null,
        `Stage ${id} (${kind})`,
        stageMetrics ? ` — ${duration(stageMetrics.ms)}` : '',
        `, ${tasks.length} task${tasks.length === 1 ? '' : 's'}`,
        what ? h('span', { class: 'muted' }, ` — ${what}`) : null,
      ),
      planned
        ? h(
            'ul',
            null,
            planned.nodes.map((n) =>
              h('li', null, h('span', { class: 'mono' }, n.id), ` ${n.detail}`),
            ),
            planned.writes.map((w) => h('li', null, `writes blocks for ${w}`)),
            planned.outputs.map((o) => h('li', null, `output ${o}`)),
          )
        : null,
      h(
        'table',
        null,
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ...[
              kind === 'map' ? 'Shard' : 'Partition',
              'Time',
              'Records in',
              'Bytes in',
              'Lag',
              'Records out',
              'State keys ±',
              'Dead-lettered',
              'DynamoDB req / units',
              'Attempt',
            ].map((t, i) =>
              h(
                'th',
                {
                  class: i === 0 || i === 9 ? 'left' : undefined,
                  title: i === 8 ? 'Until the claim; applying the intent comes after' : undefined,
                },
                t,
              ),
            ),
          ),
        ),
        h(
          'tbody',
          null,
          tasks.map((t) => taskRow(t, kind, longest, stageMetrics?.taskMs[t.task])),
        ),
      ),
    );
  });
}

/**
 * A task's row. Its time is the commit's (until the claim, then applying the claimed intent);
 * before the commit, only the time until the claim is known.
 */
function taskRow(
  t: TaskView,
  kind: string,
  longest: number,
  totalMs: number | undefined,
): HTMLElement {
  const ms = totalMs ?? t.durationMs;
  const timing =
    totalMs !== undefined && totalMs > t.durationMs
      ? `claimed after ${duration(t.durationMs)}, then applied its intent in ${duration(totalMs - t.durationMs)}`
      : `claimed after ${duration(t.durationMs)}`;
  const out = Object.entries(t.recordsOut ?? {});
  const keys = Object.entries(t.stateKeyDelta ?? {});
  const label =
    kind === 'map' || t.shard
      ? (t.shard?.shardId ?? t.slice?.shardId ?? `task ${t.task}`)
      : `partition ${t.task}`;
  return h(
    'tr',
    {
      'data-task': t.task,
      'data-ms': ms,
      'data-claimed-ms': t.durationMs,
      class: t.deadLettered > 0 ? 'failed' : undefined,
    },
    h(
      'td',
      { class: 'left', title: t.shard?.start ? `started ${t.shard.start}` : undefined },
      label,
    ),
    h(
      'td',
      { title: timing },
      h(
        'div',
        { class: 'timing' },
        h(
          'div',
          { class: 'bar' },
          h('span', { style: `width: ${Math.max(1, (ms / longest) * 100).toFixed(1)}%` }),
        ),
        h('em', null, duration(ms)),
      ),
    ),
    h('td', null, t.slice ? count(t.slice.records) : '–'),
    h('td', null, t.slice ? bytes(t.slice.bytes) : '–'),
    h('td', null, t.slice ? duration(t.slice.millisBehindLatest) : '–'),
    h(
      'td',
      { title: out.map(([op, c]) => `${op}: ${c}`).join('\n') || undefined },
      out.length ? count(out.reduce((n, [, c]) => n + c, 0)) : '–',
    ),
    h(
      'td',
      { title: keys.map(([s, d]) => `${s}: ${d}`).join('\n') || undefined },
      keys.length ? keys.map(([, d]) => (d > 0 ? `+${d}` : String(d))).join(', ') : '–',
    ),
    h('td', null, count(t.deadLettered)),
    h(
      'td',
      null,
      t.requests ? `${count(t.requests.count)} / ${decimal(t.requests.capacityUnits)}` : '–',
    ),
    h('td', { class: 'left mono' }, t.attempt.slice(0, 12)),
  );
}

function deadLetters(v: BatchView, m: BatchCommit['metrics'] | undefined): HTMLElement {
  const total = m?.deadLettered ?? v.tasks.reduce((n, t) => n + t.deadLettered, 0);
  if (v.deadLetters.length === 0) {
    return h(
      'p',
      { class: 'muted', 'data-testid': 'dead-letters' },
      total > 0
        ? `${count(total)} records were dead-lettered, but none is left in the dead-letter table (their TTL may have passed).`
        : 'None.',
    );
  }
  return h(
    'div',
    { 'data-testid': 'dead-letters' },
    total > v.deadLetters.length
      ? h('p', { class: 'muted' }, `The first ${v.deadLetters.length} of ${count(total)}.`)
      : null,
    h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ...['Stage / task / #', 'Operator', 'From', 'Error', 'Record or key'].map((t) =>
            h('th', { class: 'left' }, t),
          ),
        ),
      ),
      h(
        'tbody',
        null,
        v.deadLetters.map((d) => letterRow(d)),
      ),
    ),
  );
}

function letterRow(d: StoredDeadLetter): HTMLElement {
  const l = d.letter;
  const subject = JSON.stringify(l.subject) ?? String(l.subject);
  const from =
    l.shardId !== undefined
      ? `${l.shardId}${l.sequenceNumber ? ` @ ${l.sequenceNumber}` : ''}`
      : `partition ${l.partition}`;
  return h(
    'tr',
    { 'data-letter': `${d.stage}/${d.task}/${d.index}` },
    h('td', { class: 'left' }, `${d.stage} / ${d.task} / ${d.index}`),
    h('td', { class: 'left mono' }, `${l.operator} (${l.stage})`),
    h('td', { class: 'wrap mono' }, from),
    h('td', { class: 'wrap' }, l.error),
    h(
      'td',
      { class: 'wrap mono' },
      subject.length > SUBJECT_CHARS ? `${subject.slice(0, SUBJECT_CHARS)}…` : subject,
    ),
  );
}

function batchPlan(v: BatchView): HTMLElement {
  const p = v.plan;
  if (!p) return h('p', { class: 'muted' }, 'The plan of this batch is no longer recorded.');
  return h(
    'div',
    { 'data-testid': 'batch-plan' },
    h(
      'div',
      { class: 'meta' },
      h('span', null, `planned ${duration(p.plannedAtMs - p.timeMs)} after the batch time`),
      h('span', null, `at most ${count(p.maxRecords)} records per map task`),
      h('span', { class: 'mono' }, `plan hash ${p.planHash}`),
      h('span', { class: 'mono' }, `state hash ${p.stateHash}`),
      p.ended.length ? h('span', null, `ended shards: ${p.ended.join(', ')}`) : null,
    ),
    h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { class: 'left' }, 'Source'),
          h('th', { class: 'left' }, 'Shard'),
          h('th', { class: 'left' }, 'Starts'),
        ),
      ),
      h(
        'tbody',
        null,
        Object.entries(p.sources).flatMap(([source, tasks]) =>
          tasks.map((t) => {
            const view = v.tasks.find(
              (x) => x.shard?.source === source && x.shard.shardId === t.shardId,
            );
            return h(
              'tr',
              null,
              h('td', { class: 'left' }, source),
              h('td', { class: 'left mono' }, t.shardId),
              h('td', { class: 'wrap mono' }, view?.shard?.start ?? startOf(t)),
            );
          }),
        ),
      ),
    ),
  );
}

function startOf(t: { after?: string; start?: { kind: string } }): string {
  if (t.after) return `after ${t.after}`;
  return t.start ? t.start.kind : '';
}
