/**
 * The handlers reject a malformed event with an error naming what is wrong and what was expected.
 */
import { SparklessError } from 'sparkless';
import { describe, expect, it, vi } from 'vitest';
import hashtags from '../../examples/hashtags.js';
import { parseCoordinatorEvent, parseTaskEvent } from '../../lib/aws/events.js';
import { createCoordinatorHandler, createWorkerHandler } from '../../lib/aws/handlers.js';
import { checkDeployment, leaseTtlMs } from '../../lib/aws/runtime.js';
import {
  DEFAULT_SETTINGS,
  type RuntimeConfig,
  type RuntimeSettings,
} from '../../lib/contract/env.js';

const invalid = (fn: () => unknown, message: string) => {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(SparklessError.is(caught, 'INVALID_EVENT'), String(caught)).toBe(true);
  expect((caught as Error).message).toContain(message);
};

describe('worker events', () => {
  const good = { kind: 'task', job: 'clicks', timeMs: 1000, stage: 0, task: 1 };

  it('accepts a task event', () => {
    expect(parseTaskEvent(good, 'clicks')).toEqual(good);
    expect(
      parseTaskEvent({ ...good, maxRecords: 5, deadLetterFirst: true }, 'clicks').maxRecords,
    ).toBe(5);
  });

  it.each([
    [null, "the event must be an object like { kind: 'task', job, timeMs, stage, task }, got null"],
    [[1], 'the event must be an object'],
    [{ ...good, kind: 'run' }, `'kind' must be 'task', got "run"`],
    [{ ...good, job: 'other' }, `'job' must be 'clicks' (the job this function runs), got "other"`],
    [{ ...good, timeMs: -1 }, "'timeMs' must be a whole number >= 0, got -1"],
    [{ ...good, stage: 1.5 }, "'stage' must be a whole number >= 0, got 1.5"],
    [{ ...good, task: '2' }, `'task' must be a whole number >= 0, got "2"`],
    [{ ...good, maxRecords: 0 }, "'maxRecords' must be a whole number >= 1, got 0"],
    [{ ...good, deadLetterFailures: 'yes' }, `'deadLetterFailures' must be a boolean, got "yes"`],
  ])('rejects %j', (event, message) => {
    invalid(() => parseTaskEvent(event, 'clicks'), `worker: ${message}`);
  });

  it('rejects a malformed event in the handler, naming what is wrong', async () => {
    let built = 0;
    const handler = createWorkerHandler(async () => {
      built++;
      return { job: { name: 'clicks' } } as never;
    });
    await expect(handler({ kind: 'task', job: 'clicks' })).rejects.toThrow(
      "worker: 'timeMs' must be a whole number >= 0, got undefined",
    );
    // The runtime (which knows the job's name) is built once per cold start, even for a bad event.
    expect(built).toBe(1);
  });
});

describe('coordinator events', () => {
  it('accepts its own event and the schedule’s', () => {
    expect(parseCoordinatorEvent({ kind: 'coordinate', maxBatches: 3 }, 'clicks')).toEqual({
      kind: 'coordinate',
      maxBatches: 3,
      job: 'clicks',
    });
    expect(
      parseCoordinatorEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, 'clicks'),
    ).toEqual({
      kind: 'coordinate',
      job: 'clicks',
      reason: 'schedule',
    });
  });

  it.each([
    ['go', 'coordinator: the event must be an object like { kind: \'coordinate\' }, got "go"'],
    [
      { kind: 'task' },
      "coordinator: 'kind' must be 'coordinate' (or an EventBridge scheduled event), got \"task\"",
    ],
    [
      { kind: 'coordinate', job: 'other' },
      "coordinator: 'job' must be 'clicks' (the job this function runs)",
    ],
    [
      { kind: 'coordinate', reason: 'boredom' },
      "coordinator: 'reason' must be 'schedule', 'successor' or 'manual'",
    ],
    [
      { kind: 'coordinate', maxBatches: 0 },
      "coordinator: 'maxBatches' must be a whole number >= 1, got 0",
    ],
  ])('rejects %j', (event, message) => {
    invalid(() => parseCoordinatorEvent(event, 'clicks'), message);
  });
});

describe('coordinator errors in the log', () => {
  it("logs a failure's code and job as one JSON line, for the construct's metric filter", async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const handler = createCoordinatorHandler(async () => ({ job: { name: 'clicks' } }) as never);
      await expect(handler({ kind: 'coordinate', job: 'other' })).rejects.toThrow(/'job'/);
    } finally {
      spy.mockRestore();
    }
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toEqual([
      expect.objectContaining({ sparkless: 'error', code: 'INVALID_EVENT', job: 'clicks' }),
    ]);
  });
});

describe('deployment checks', () => {
  const config = (settings: Partial<RuntimeSettings>, state?: string): RuntimeConfig => ({
    jobName: hashtags.name,
    jobModule: 'job.mjs',
    tables: { control: 'c', data: 'd', ...(state ? { state } : {}), deadLetters: 'l' },
    functions: { worker: 'w', coordinator: 'k' },
    sources: { tweets: 's' },
    sinks: {},
    settings: { ...DEFAULT_SETTINGS, ...settings },
  });

  it('refuses a stateful job without a state table', () => {
    expect(() => checkDeployment(hashtags, config({}))).toThrow(
      /job 'hashtags' keeps state \('hashtag-counts'\) but SPARKLESS_STATE_TABLE is not set/,
    );
    expect(() => checkDeployment(hashtags, config({}, 'state'))).not.toThrow();
  });

  it('refuses a data TTL under twice the longest window', () => {
    // The hashtags window is 300 s.
    expect(() => checkDeployment(hashtags, config({ dataTtlMs: 599_999 }, 'state'))).toThrow(
      /dataTtlMs \(599999 ms\) would let its panes expire; set dataTtlMs to at least twice the longest window \(600000 ms\)/,
    );
    expect(() => checkDeployment(hashtags, config({ dataTtlMs: 600_000 }, 'state'))).not.toThrow();
  });

  it('refuses a lease that would expire between renewals, and takes a longer one as given', () => {
    // The hashtags batch interval is 1 s: the coordinator renews its lease about once a second.
    expect(() => checkDeployment(hashtags, config({ leaseTtlMs: 2_999 }, 'state'))).toThrow(
      /leaseTtlMs \(2999 ms\) would expire between the coordinator's renewals; set leaseTtlMs to at least three batch intervals \(3000 ms\)/,
    );
    expect(leaseTtlMs(hashtags, config({ leaseTtlMs: 3_000 }, 'state'))).toBe(3_000);
    expect(() => checkDeployment(hashtags, config({ leaseTtlMs: 3_000 }, 'state'))).not.toThrow();
    // Left out: ten batch intervals, and at least a minute.
    expect(leaseTtlMs(hashtags, config({}, 'state'))).toBe(60_000);
  });
});
