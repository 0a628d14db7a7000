/**
 * Faults of real processes under a job deployed from its synthesized template: the test stack
 * (infra/test-stack.ts, a word count over a stream of two shards) runs on the embedded cloud
 * while the tests kill a worker's process, the coordinator's, every process of the Lambda
 * service, and split a shard. Each test puts records of its own while the fault happens, waits
 * until the committed head is past them and compares the results table and the state with the
 * in-memory executor run over what every committed batch read (test/e2e/deployment.ts): nothing
 * lost, nothing counted twice.
 *
 * One deployment serves the tests in order; the job keeps running between them, and each
 * comparison covers every batch from the first. The stack is deployed with a short lease
 * (LEASE_TTL_MS), so that a coordinator that died is replaced within seconds rather than a
 * minute; while they wait for the head, the tests fire the schedule every half second,
 * standing in for its one-minute timer.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListShardsCommand, type Shard, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTestStack, TEST_STACK } from '../../infra/test-stack.js';
import { documentClient, kinesisClient } from '../../lib/aws/clients.js';
import type { TaskEvent } from '../../lib/aws/events.js';
import { batchLayout } from '../../lib/aws/worker.js';
import { type DeploymentInfo, deploymentsOf } from '../../lib/contract/deployment.js';
import { ATTR, controlKeys } from '../../lib/contract/tables.js';
import { deployStack, type LocalDeployment } from '../../lib/local/deploy.js';
import type { InvokeEndEvent, InvokeStartEvent, RestartResult } from '../../lib/local/lambda.js';
import wordcount from '../aws/fixtures/wordcount.js';
import {
  type CommittedBatch,
  compareWithOracle,
  controlOf,
  pastLastRecord,
  WordFeed,
  waitForHead,
} from '../e2e/deployment.js';
import { localOnly, useTarget, waitStreamActive } from '../target.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Under the project, so that the bundles resolve the AWS SDK from its node_modules.
const ASSEMBLY = join(ROOT, 'test-output', `process-faults-${process.pid}`);
/** The coordinator's lease: a dead coordinator's successor waits at most this long. */
const LEASE_TTL_MS = 5_000;
/** How long a test waits for the head to pass its records. */
const HEAD_TIMEOUT_MS = 30_000;

const layout = batchLayout(wordcount, wordcount.batchIntervalMs);
const MAP_STAGE = layout.stages.find((s) => s.source === 'lines')?.id ?? -1;
const REDUCE_STAGE = layout.stages.find((s) => s.source === undefined)?.id ?? -1;

const cloud = useTarget();
let deployment: LocalDeployment;
let info: DeploymentInfo;
/** Every feed of the file: each comparison checks all of them, each line exactly once. */
const feeds: WordFeed[] = [];

/** One invocation of a function, as the Lambda service reported it. */
interface Invocation {
  readonly fn: string;
  readonly requestId: string;
  readonly pid: number;
  readonly type: 'RequestResponse' | 'Event';
  readonly attempt: number;
  readonly payload: string;
  readonly startMs: number;
  endMs?: number;
  error?: InvokeEndEvent['error'];
}
const invocations: Invocation[] = [];
const running = new Map<string, Invocation>();

const taskOf = (i: Invocation) => JSON.parse(i.payload) as TaskEvent;
const workerRuns = () => invocations.filter((i) => i.fn === info.functions.worker);
const coordinatorRuns = () => invocations.filter((i) => i.fn === info.functions.coordinator);
const coordinatorLog = () =>
  cloud()
    .lambda.logs(info.functions.coordinator)
    .map((l) => l.text);
/** The coordinator's invocation that is running now (the job's driver), if any is. */
const driver = () => coordinatorRuns().find((i) => i.endMs === undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The median time a worker's task of `stage` took so far (the job ran since the deploy). */
function typicalMs(stage: number): number {
  const times = workerRuns()
    .filter((i) => i.endMs !== undefined && !i.error && taskOf(i).stage === stage)
    .map((i) => (i.endMs as number) - i.startMs)
    .sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 50;
}

/** The job's lease, as the coordinators keep it in the control table. */
interface Lease {
  readonly owner: string | undefined;
  readonly epoch: number;
  readonly expiresAtMs: number;
}

async function readLease(): Promise<Lease> {
  const { Item } = await documentClient().send(
    new GetCommand({
      TableName: info.tables.control,
      Key: controlKeys.lease(info.jobName),
      ConsistentRead: true,
    }),
  );
  return {
    owner: Item?.[ATTR.owner] as string | undefined,
    epoch: Number(Item?.[ATTR.epoch] ?? 0),
    expiresAtMs: Number(Item?.[ATTR.expiresAt] ?? 0),
  };
}

/** Resolves with the next invocation of `fn` to start that `accept` accepts. */
function nextStart(fn: string, accept: (i: Invocation) => boolean = () => true) {
  return new Promise<Invocation>((resolve) => {
    const listener = (e: InvokeStartEvent) => {
      const i = running.get(e.requestId);
      if (e.function !== fn || !i || !accept(i)) return;
      cloud().lambda.off('invoke-start', listener);
      resolve(i);
    };
    cloud().lambda.on('invoke-start', listener);
  });
}

/** Waits for the head to pass a feed's last record, then compares with the oracle. */
async function expectExact(feed: WordFeed) {
  const head = await waitForHead(info, pastLastRecord(info, feed.lastPutMs, { sameClock: true }), {
    timeoutMs: HEAD_TIMEOUT_MS,
    meanwhile: watchdog,
  });
  const check = await compareWithOracle(info, wordcount, head, feeds);
  expect(check.differences).toEqual([]);
  expect(check.read).toBeGreaterThanOrEqual(check.sent);
  return { head, batches: check.committed };
}

/**
 * Expects the batch of `worker`, which a coordinator holding `lease` planned and was killed
 * in, to be committed by the next lease holder, and every batch it left after the head to be
 * committed by one of the two (it may have written a commit before it could move the head).
 */
function expectFinishedBySuccessor(
  batches: readonly CommittedBatch[],
  headAtKill: number,
  worker: Invocation | undefined,
  lease: Lease | undefined,
) {
  const epoch = lease?.epoch ?? -1;
  const unfinished = batches.find((b) => b.plan.timeMs === (worker && taskOf(worker).timeMs));
  expect(unfinished?.plan.timeMs).toBeGreaterThan(headAtKill);
  expect(unfinished?.plan.epoch).toBe(epoch);
  expect(unfinished?.commit?.epoch).toBe(epoch + 1);
  for (const b of batches.filter((b) => b.plan.timeMs > headAtKill && b.plan.epoch === epoch)) {
    expect([epoch, epoch + 1]).toContain(b.commit?.epoch);
  }
}

/** The schedule, fired every half second rather than every minute (see the file's comment). */
const watchdog = () => deployment.fire();

/**
 * Resolves with the coordinator's invocation once one runs and holds the lease (firing the
 * schedule meanwhile), so that each test starts with the job running whatever the one
 * before it left.
 */
async function jobRunning(): Promise<Invocation> {
  const deadline = Date.now() + HEAD_TIMEOUT_MS;
  for (;;) {
    const lease = await readLease();
    const current = driver();
    if (current && lease.owner === current.requestId && lease.expiresAtMs > Date.now()) {
      return current;
    }
    if (Date.now() > deadline) throw new Error('no coordinator took the lease');
    await watchdog();
    await sleep(500);
  }
}

describe.skipIf(localOnly('kills processes of the embedded cloud'))(
  'process faults under the test stack deployed on the embedded cloud',
  () => {
    beforeAll(async () => {
      mkdirSync(ASSEMBLY, { recursive: true });
      const app = new App({ outdir: ASSEMBLY });
      addTestStack(app, { settings: { leaseTtlMs: LEASE_TTL_MS } });
      app.synth();
      const lambda = cloud().lambda;
      lambda.on('invoke-start', (e) => {
        const i: Invocation = {
          fn: e.function,
          requestId: e.requestId,
          pid: e.pid,
          type: e.type,
          attempt: e.attempt,
          payload: e.payload,
          startMs: Date.now(),
        };
        invocations.push(i);
        running.set(e.requestId, i);
      });
      lambda.on('invoke-end', (e) => {
        const i = running.get(e.requestId);
        if (!i) return;
        running.delete(e.requestId);
        i.endMs = Date.now();
        if (e.error) i.error = e.error;
      });
      // Deploying fires the schedule once: the coordinator starts at once.
      deployment = await deployStack(cloud(), { assemblyDir: ASSEMBLY, stackName: TEST_STACK });
      const [found] = deploymentsOf(deployment.outputs);
      if (!found) throw new Error('the test stack has no sparkless deployment output');
      info = found;
      // The job runs: it committed a batch.
      await waitForHead(info, 1, { timeoutMs: HEAD_TIMEOUT_MS });
    }, 120_000);

    afterAll(async () => {
      await deployment?.destroy({ deleteRetained: true });
      rmSync(ASSEMBLY, { recursive: true, force: true });
    }, 60_000);

    it('a worker killed by its pid mid-task: the coordinator retries the task, the others finish', async () => {
      const feed = new WordFeed(info, { seed: 11 });
      feeds.push(feed);
      const coordinator = await jobRunning();
      const firstBatch = Math.ceil(Date.now() / info.batchIntervalMs) * info.batchIntervalMs;
      // A map task, then a reduce task of another batch, both of batches that read this
      // feed's records, each killed halfway through a typical run of its stage (one that ends
      // sooner is let go, and the next one aimed at).
      const targets = [MAP_STAGE, REDUCE_STAGE];
      const killed: Array<{ victim: Invocation; atMs: number; afterMs: number }> = [];
      let aiming = false;
      const aim = (e: InvokeStartEvent) => {
        const stage = targets[killed.length];
        const victim = running.get(e.requestId);
        if (aiming || stage === undefined || e.function !== info.functions.worker || !victim) {
          return;
        }
        const { timeMs } = taskOf(victim);
        if (taskOf(victim).stage !== stage || timeMs < firstBatch) return;
        if (killed.some((k) => taskOf(k.victim).timeMs === timeMs)) return;
        aiming = true;
        const afterMs = Math.round(typicalMs(stage) / 2);
        setTimeout(() => {
          aiming = false;
          if (cloud().lambda.pidOf(victim.requestId) !== victim.pid) return;
          process.kill(victim.pid, 'SIGKILL');
          killed.push({ victim, atMs: Date.now(), afterMs });
        }, afterMs);
      };
      cloud().lambda.on('invoke-start', aim);
      try {
        await feed.flow(200, { steps: 4, overMs: 2_000 });
        for (let i = 0; killed.length < targets.length && i < 20; i++) {
          await feed.put(10);
          await sleep(500);
        }
      } finally {
        cloud().lambda.off('invoke-start', aim);
      }
      expect(killed.map((k) => taskOf(k.victim).stage)).toEqual(targets);

      const { batches } = await expectExact(feed);
      for (const { victim, atMs } of killed) {
        const { timeMs, stage, task } = taskOf(victim);
        // The kill ended the invocation as a crash...
        expect(victim.error?.errorType).toBe('Runtime.ExitError');
        expect(victim.error?.errorMessage).toContain('signal: killed');
        // ...which the coordinator saw, and retried.
        expect(coordinatorLog()).toContainEqual(
          expect.stringMatching(
            new RegExp(
              `^batch ${timeMs} stage ${stage} task ${task} attempt 1 failed: .*Runtime.ExitError`,
            ),
          ),
        );
        const retries = workerRuns().filter(
          (i) =>
            taskOf(i).timeMs === timeMs &&
            taskOf(i).stage === stage &&
            taskOf(i).task === task &&
            i.requestId !== victim.requestId,
        );
        expect(retries.length).toBeGreaterThanOrEqual(1);
        expect(retries.some((i) => i.endMs !== undefined && !i.error)).toBe(true);
        // Other tasks of the same batch finished after the kill, in other processes.
        const others = workerRuns().filter(
          (i) =>
            taskOf(i).timeMs === timeMs &&
            (taskOf(i).stage !== stage || taskOf(i).task !== task) &&
            i.endMs !== undefined &&
            i.endMs >= atMs &&
            !i.error,
        );
        expect(others.length).toBeGreaterThanOrEqual(1);
        const commit = batches.find((b) => b.plan.timeMs === timeMs)?.commit;
        expect(commit?.metrics.taskRetries).toBeGreaterThanOrEqual(1);
      }
      // The same coordinator ran throughout: the retry was its own, not a successor's.
      expect(driver()?.requestId).toBe(coordinator?.requestId);
    }, 60_000);

    it("the coordinator killed mid-batch: a successor takes over once the lease expires and finishes the killed one's batches", async () => {
      await jobRunning();
      const feed = new WordFeed(info, { seed: 23 });
      feeds.push(feed);
      const control = controlOf(info);
      let victim: Invocation | undefined;
      let worker: Invocation | undefined;
      let headAtKill = 0;
      let lease: Lease | undefined;
      await feed.flow(200, {
        steps: 4,
        overMs: 2_000,
        during: async (step) => {
          if (step !== 1) return;
          // Mid-batch: killed as a worker it invoked starts, before that batch can commit.
          worker = await nextStart(info.functions.worker);
          victim = driver();
          if (!victim) throw new Error('no coordinator is running');
          process.kill(victim.pid, 'SIGKILL');
          // Nothing moves them now: the head, and the lease the killed coordinator held.
          headAtKill = (await control.getHead()) ?? 0;
          lease = await readLease();
        },
      });
      expect(lease?.owner).toBe(victim?.requestId);

      const { batches } = await expectExact(feed);
      expect(victim?.error?.errorType).toBe('Runtime.ExitError');
      expect(victim?.error?.errorMessage).toContain('signal: killed');
      // The killed coordinator left the batch of the worker it waited for planned and not
      // committed; a successor, in another process, committed it under the next epoch,
      // having waited for the lease to expire (the schedule's firings before that ended at
      // once). Other batches it left may have been committed before the head moved.
      expect(driver()?.pid).not.toBe(victim?.pid);
      const next = (lease?.epoch ?? 0) + 1;
      expectFinishedBySuccessor(batches, headAtKill, worker, lease);
      const after = batches.filter((b) => b.plan.timeMs > headAtKill);
      const resumed = after.filter((b) => b.plan.epoch === next);
      expect(resumed.length).toBeGreaterThanOrEqual(1);
      expect(resumed[0]?.plan.plannedAtMs).toBeGreaterThanOrEqual(lease?.expiresAtMs ?? Infinity);
      expect(after.every((b) => b.plan.epoch === lease?.epoch || b.plan.epoch === next)).toBe(true);
    }, 60_000);

    it('the Lambda service restarted mid-batch: every process killed, fresh ones finish the job', async () => {
      await jobRunning();
      const feed = new WordFeed(info, { seed: 37 });
      feeds.push(feed);
      const control = controlOf(info);
      let restarted: RestartResult | undefined;
      let worker: Invocation | undefined;
      let coordinator: Invocation | undefined;
      let headAtKill = 0;
      let lease: Lease | undefined;
      await feed.flow(200, {
        steps: 4,
        overMs: 2_000,
        during: async (step) => {
          if (step !== 1) return;
          worker = await nextStart(info.functions.worker);
          coordinator = driver();
          restarted = await cloud().lambda.restart();
          headAtKill = (await control.getHead()) ?? 0;
          lease = await readLease();
        },
      });
      // Every process went, the coordinator's and the worker's among them, and fresh ones
      // came up (as many as were not on their way out already); what ran in the two failed as
      // on a crash.
      expect(restarted?.killed).toContain(coordinator?.pid);
      expect(restarted?.killed).toContain(worker?.pid);
      expect(restarted?.started.length).toBeGreaterThanOrEqual(2);
      for (const pid of restarted?.started ?? []) expect(restarted?.killed).not.toContain(pid);
      expect(worker?.error?.errorType).toBe('Runtime.ExitError');
      expect(coordinator?.error?.errorType).toBe('Runtime.ExitError');
      expect(lease?.owner).toBe(coordinator?.requestId);

      const { batches } = await expectExact(feed);
      expectFinishedBySuccessor(batches, headAtKill, worker, lease);
      expect(restarted?.killed).not.toContain(driver()?.pid);
    }, 60_000);

    it('a shard split while records flow: its children are read after it ends, every record once', async () => {
      await jobRunning();
      const feed = new WordFeed(info, { seed: 41 });
      feeds.push(feed);
      const kinesis = kinesisClient();
      const stream = info.sources.lines as string;
      let parent: Shard | undefined;
      await feed.flow(300, {
        steps: 6,
        overMs: 3_000,
        during: async (step) => {
          if (step !== 1) return;
          const listed = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
          parent = listed.Shards?.find((s) => !s.SequenceNumberRange?.EndingSequenceNumber);
          const range = parent?.HashKeyRange;
          if (!parent?.ShardId || !range?.StartingHashKey || !range.EndingHashKey) {
            throw new Error(`no open shard to split in ${JSON.stringify(listed.Shards)}`);
          }
          const middle =
            (BigInt(range.StartingHashKey) + BigInt(range.EndingHashKey)) / BigInt(2) + BigInt(1);
          await kinesis.send(
            new SplitShardCommand({
              StreamName: stream,
              ShardToSplit: parent.ShardId,
              NewStartingHashKey: middle.toString(),
            }),
          );
          await waitStreamActive(kinesis, stream);
        },
      });

      const { batches } = await expectExact(feed);
      const parentId = parent?.ShardId as string;
      const listed = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
      const children = (listed.Shards ?? [])
        .filter((s) => s.ParentShardId === parentId)
        .map((s) => s.ShardId as string);
      expect(children).toHaveLength(2);
      const reads = (b: CommittedBatch, shard: string) =>
        (b.plan.sources.lines ?? []).findIndex((t) => t.shardId === shard);
      // The parent's last batch saw it end; the children entered the next batch, never with it.
      const lastOfParent =
        batches.length - 1 - [...batches].reverse().findIndex((b) => reads(b, parentId) !== -1);
      const ended = batches[lastOfParent]?.mapClaims[reads(batches[lastOfParent]!, parentId)];
      expect(ended?.slice?.shardEnded).toBe(true);
      expect([...(ended?.slice?.childShards ?? [])].sort()).toEqual([...children].sort());
      for (const child of children) {
        const first = batches.findIndex((b) => reads(b, child) !== -1);
        expect(first).toBe(lastOfParent + 1);
      }
      // The children were read: the records put after the split went there.
      const fromChildren = batches
        .flatMap((b) => b.mapClaims)
        .filter((c) => c?.slice && children.includes(c.slice.shardId))
        .reduce((n, c) => n + (c?.slice?.records ?? 0), 0);
      expect(fromChildren).toBeGreaterThan(0);
    }, 60_000);
  },
);
