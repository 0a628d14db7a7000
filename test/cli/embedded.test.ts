/**
 * The command line against a real embedded cloud: `sparkless run` started as a child process
 * runs two jobs (running word totals with state, and per-batch word counts without), and the
 * other commands, run in-process and as child processes from the same directory, put records
 * into their streams and read, inspect, re-run, stop and resume them. Meanwhile a second
 * `sparkless run --seconds 8`, in a directory of its own, ends by itself.
 */
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchCommit } from '../../lib/aws/protocol.js';
import type { BatchView } from '../../lib/cli/commands/batches.js';
import type { RerunView } from '../../lib/cli/commands/rerun.js';
import type { LocalState } from '../../lib/cli/launch.js';
import { cli, FIXTURES, spawnCli, waitFor, workDir } from './helpers.js';

const work = workDir('embedded');
const cwd = work.dir;
let run: ReturnType<typeof spawnCli>;
// A second run, in a directory of its own, that ends by itself after --seconds; it runs while
// the tests below use the first.
const timedWork = workDir('run-seconds');
let timed: ReturnType<typeof spawnCli>;

const TOTALS = ['--job', 'cli-totals'];
const COUNTS = ['--job', 'cli-counts'];

beforeAll(async () => {
  timed = spawnCli(
    ['run', join(FIXTURES, 'counts.ts'), '--seconds', '8', '--shards', '1'],
    timedWork.dir,
  );
  run = spawnCli(
    ['run', join(FIXTURES, 'totals.ts'), join(FIXTURES, 'counts.ts'), '--shards', '2'],
    cwd,
  );
  const early = run.exited.then((code) => {
    throw new Error(
      `sparkless run exited (${code}) before it ran:\n${run.output()}\n${run.errors()}`,
    );
  });
  await Promise.race([
    early,
    waitFor(
      'the jobs to be deployed',
      () => (/^running/m.test(run.output()) ? true : undefined),
      110_000,
    ),
  ]);
  early.catch(() => {});
}, 120_000);

afterAll(async () => {
  for (const child of [run, timed]) {
    if (!child || child.child.exitCode !== null || child.child.signalCode !== null) continue;
    child.child.kill('SIGINT');
    const stopped = await Promise.race([
      child.exited,
      new Promise((r) => setTimeout(() => r('timeout'), 20_000)),
    ]);
    if (stopped === 'timeout') child.child.kill('SIGKILL');
  }
  work.remove();
  timedWork.remove();
}, 45_000);

/** The committed batches of a job, oldest first. */
async function commits(job: readonly string[], limit = 1000): Promise<BatchCommit[]> {
  const out = await cli(['batches', '--json', '--limit', String(limit), ...job], { cwd });
  expect(out.code, out.stderr).toBe(0);
  return out.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as BatchCommit);
}

async function head(job: readonly string[]): Promise<number> {
  return (await commits(job, 1))[0]?.timeMs ?? 0;
}

describe('sparkless run, and the commands beside it', () => {
  it('deploys each job module in a stack of its own and says where its sources are', () => {
    const out = run.output();
    expect(out).toContain('starting the embedded cloud for job modules');
    expect(out).toMatch(/deployed SparklessCliTotals/);
    expect(out).toMatch(/deployed SparklessCliCounts/);
    expect(out).toMatch(/job 'cli-totals': batches every 1000 ms; sources 'lines' \(stream \S+\)/);
    expect(out).toMatch(/state 'totals' \(updateStateByKey\)/);
    expect(out).toMatch(/job 'cli-counts': .*sinks 'counts' \(table \S+\)/);
    const state = JSON.parse(
      readFileSync(join(cwd, '.sparkless', 'local.json'), 'utf8'),
    ) as LocalState;
    expect(state.deployments.map((d) => d.jobName).sort()).toEqual(['cli-counts', 'cli-totals']);
  });

  it('put (a child process) puts the lines of stdin into the stream of a source; state reads the totals', async () => {
    const put = spawnCli(['put', 'lines', ...TOTALS], cwd);
    put.child.stdin?.end('spark stream\nspark\n\nlambda spark\n');
    expect(await put.exited, put.errors()).toBe(0);
    expect(put.output()).toMatch(/^put 3 records into stream \S+Sourcelines\S+\n$/);

    const total = await waitFor(
      'the totals to count every record',
      async () => {
        const out = await cli(['state', 'totals', 'spark', '--json', ...TOTALS], { cwd });
        expect(out.code, out.stderr).toBe(0);
        return out.stdout === '3\n' ? out.stdout : undefined;
      },
      40_000,
      500,
    );
    expect(total).toBe('3\n');
    const lambda = await cli(['state', 'totals', 'lambda', ...TOTALS], { cwd });
    expect(lambda.stdout).toBe('totals "lambda" = 1\n');
    const absent = await cli(['state', 'totals', 'kinesis', ...TOTALS], { cwd });
    expect(absent.stdout).toContain('totals "kinesis": no state');
    expect((await cli(['state', 'totals', '"kinesis"', '--json', ...TOTALS], { cwd })).stdout).toBe(
      'null\n',
    );
    const unknown = await cli(['state', 'nope', 'spark', ...TOTALS], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      "job 'cli-totals' has no stateful operator 'nope'; its stateful operators: 'totals'",
    );
  }, 60_000);

  let recordsAt: number[] = [];

  it('batches lists the committed batches with their metrics; batch shows one with its outputs', async () => {
    const records = join(cwd, 'events.txt');
    writeFileSync(records, 'x\ny\nx\nfail\nz\n');
    const put = await cli(['put', 'events', '--file', records, ...COUNTS], { cwd });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^put 5 records into stream \S+Sourceevents\S+\n$/);

    recordsAt = await waitFor(
      'the batches to read the five records',
      async () => {
        const read = (await commits(COUNTS, 30)).filter((c) => c.metrics.recordsIn > 0);
        const n = read.reduce((sum, c) => sum + c.metrics.recordsIn, 0);
        return n >= 5 ? read.map((c) => c.timeMs) : undefined;
      },
      30_000,
    );
    // Read at once, while the job keeps their intents (the last 10 batches).
    const views = await Promise.all(
      recordsAt.map(async (t) => {
        const out = await cli(['batch', String(t), '--json', ...COUNTS], { cwd });
        expect(out.code, out.stderr).toBe(0);
        return JSON.parse(out.stdout) as BatchView;
      }),
    );
    const saved = new Map<string, number>();
    const deadLetters: unknown[] = [];
    for (const v of views) {
      expect(v.status).toBe('committed');
      expect(v.intentsDeleted).toBe(false);
      expect(Object.keys(v.plan?.sources ?? {})).toEqual(['events']);
      expect(v.plan?.sources.events).toHaveLength(2);
      // Two map tasks (one per shard) and two reduce tasks (one per partition).
      expect(v.claims.map((c) => `${c.stage}/${c.task}`)).toEqual(['0/0', '0/1', '1/0', '1/1']);
      for (const { intent } of v.intents) {
        expect(intent).not.toBeNull();
        for (const [op, parts] of Object.entries(intent?.outputs ?? {})) {
          if (!op.endsWith('saveToTable')) continue;
          for (const [word, n] of parts.flatMap((p) => p.records) as Array<[string, number]>) {
            saved.set(word, (saved.get(word) ?? 0) + n);
          }
        }
        deadLetters.push(...(intent?.deadLetters ?? []).map((d) => [d.subject, d.error]));
      }
    }
    expect(Object.fromEntries(saved)).toEqual({ x: 2, y: 1, z: 1 });
    expect(deadLetters).toEqual([['fail', 'refused the record fail']]);

    const [first] = recordsAt;
    const text = await cli(['batch', String(first), ...COUNTS], { cwd });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^batch \S+ \(\d+\) of job 'cli-counts': committed\n/);
    expect(text.stdout).toMatch(
      /source 'events' \(stream \S+\): 2 map tasks\n {4}task 0 {2}shardId-0+ {2}starts /,
    );
    expect(text.stdout).toMatch(/stage 0 {2}map .*2 tasks/);
    expect(text.stdout).toMatch(/stage 1 {2}reduce .*2 tasks/);
    expect(text.stdout).toMatch(
      /stage 0 task 1 {2}attempt \S+ {2}\d+ ms {2}shardId-0+1: \d+ records?/,
    );
    expect(text.stdout).toMatch(
      /stage 1 task \d {2}\d+:saveToTable: \d+ records?\n {6}\["[xyz]",\d\]/,
    );

    const table = await cli(['batches', '--limit', '3', ...COUNTS], { cwd });
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^time \(UTC\) +records in +processing +scheduling delay +total delay +dead letters +DynamoDB requests$/,
    );
    expect(lines).toHaveLength(4);
    for (const line of lines.slice(1)) {
      expect(line).toMatch(/^\d\d:\d\d:\d\d +\d+ +[\d.]+ m?s +[\d.]+ m?s +[\d.]+ m?s +\d+ +\d+$/);
    }
  }, 60_000);

  it('rerun runs a batch of the stateless job again from its slices, and refuses the stateful one', async () => {
    const views = await Promise.all(
      recordsAt.map(async (t) => {
        const out = await cli(['rerun', String(t), '--json', ...COUNTS], { cwd });
        expect(out.code, out.stderr).toBe(0);
        return JSON.parse(out.stdout) as RerunView;
      }),
    );
    const counted = new Map<string, number>();
    for (const v of views) {
      expect(v.differences).toEqual([]);
      for (const e of v.tables.counts ?? []) {
        counted.set(e.key as string, (counted.get(e.key as string) ?? 0) + (e.value as number));
      }
    }
    expect(views.reduce((n, v) => n + v.recordsIn, 0)).toBe(5);
    expect(Object.fromEntries(counted)).toEqual({ x: 2, y: 1, z: 1 });
    expect(views.flatMap((v) => v.deadLetters.map((d) => d.subject))).toEqual(['fail']);

    const text = await cli(['rerun', String(recordsAt[0]), ...COUNTS], { cwd });
    expect(text.stdout).toMatch(/^re-ran batch \S+ \(\d+\) of job 'cli-counts' in memory/);
    expect(text.stdout).toContain('nothing was written');
    expect(text.stdout).toMatch(/printed:\n {2}\["[xyz]",\d\]/);
    expect(text.stdout).toContain(
      'the re-run read the same records and output as many records as the batch did',
    );

    const stateful = await cli(['rerun', 'latest', ...TOTALS], { cwd });
    expect(stateful.code).toBe(1);
    expect(stateful.stderr).toContain(
      "sparkless rerun: job 'cli-totals' keeps state ('totals' (updateStateByKey)): re-running one of its batches would need that state as it was before the batch, which is not kept",
    );
  }, 30_000);

  it('batch says when a batch is older than the intents kept, or not recorded at all', async () => {
    const [oldest] = await commits(COUNTS);
    if (!oldest) throw new Error('no committed batch');
    await waitFor(
      'ten batches after the first',
      async () => ((await head(COUNTS)) > oldest.timeMs + 10_000 ? true : undefined),
      30_000,
    );
    const old = await cli(['batch', String(oldest.timeMs), ...COUNTS], { cwd });
    expect(old.code, old.stderr).toBe(0);
    expect(old.stdout).toContain(
      'not kept: the job keeps the intents of its last 10 batches (intentsKept)',
    );
    const never = await cli(['batch', String(oldest.timeMs - 100_000), ...COUNTS], { cwd });
    expect(never.code).toBe(1);
    expect(never.stderr).toContain(`job 'cli-counts' has no batch at`);
    expect(never.stderr).toContain(`its recorded batches run from`);
    const between = await cli(['batch', String(oldest.timeMs + 500), ...COUNTS], { cwd });
    expect(between.code).toBe(2);
    expect(between.stderr).toContain(
      `is not a batch time: batch times are multiples of the batch interval (1000 ms); the nearest are ${oldest.timeMs}`,
    );
  }, 40_000);

  it('finds the job from CloudFormation outputs: a cdk --outputs-file, or DescribeStacks', async () => {
    const state = JSON.parse(
      readFileSync(join(cwd, '.sparkless', 'local.json'), 'utf8'),
    ) as LocalState;
    const totals = state.deployments.find((d) => d.jobName === 'cli-totals');
    const outputs = { SparklessCliTotals: { JobDeployment1234: JSON.stringify(totals) } };
    writeFileSync(join(cwd, 'outputs.json'), JSON.stringify(outputs));
    // A stand-in for CloudFormation's query API, answering DescribeStacks for one stack.
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        const params = new URLSearchParams(body);
        const found = params.get('StackName') === 'SparklessCliTotals';
        res.writeHead(found ? 200 : 400, { 'content-type': 'text/xml' });
        res.end(
          found
            ? describeStacksXml('SparklessCliTotals', outputs.SparklessCliTotals)
            : stackMissingXml(),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const saved = { ...process.env };
    try {
      Object.assign(process.env, state.env, {
        AWS_ENDPOINT_URL_CLOUDFORMATION: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      });
      const fromFile = await cli(
        ['state', 'totals', 'spark', '--json', '--outputs', 'outputs.json'],
        {
          cwd,
        },
      );
      expect(fromFile.code, fromFile.stderr).toBe(0);
      expect(fromFile.stdout).toBe('3\n');
      const fromStack = await cli(['state', 'totals', 'spark', '--stack', 'SparklessCliTotals'], {
        cwd,
      });
      expect(fromStack.code, fromStack.stderr).toBe(0);
      expect(fromStack.stdout).toBe('totals "spark" = 3\n');
      const missing = await cli(['batches', '--stack', 'Nope'], { cwd });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("sparkless batches: stack 'Nope' does not exist");
      // Without the endpoint variables, the same directory means the embedded cloud again.
      process.env = { ...saved };
      const local = await cli(['batches', '--stack', 'SparklessCliTotals'], { cwd });
      expect(local.code).toBe(2);
      expect(local.stderr).toContain(
        '--stack SparklessCliTotals reads a deployment from AWS: add --aws',
      );
    } finally {
      process.env = saved;
      server.close();
    }
  }, 30_000);

  it('stop ends the job after the batch in flight; resume starts it again at once', async () => {
    const stop = await cli(['stop', ...COUNTS], { cwd });
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout).toContain("asked job 'cli-counts' to stop");
    // Stopped: the head stays where it is for several batch intervals.
    let last = await head(COUNTS);
    let since = Date.now();
    const stopped = await waitFor(
      'the job to stop',
      async () => {
        const now = await head(COUNTS);
        if (now !== last) {
          last = now;
          since = Date.now();
          return undefined;
        }
        return Date.now() - since > 3_000 ? now : undefined;
      },
      20_000,
      250,
    );
    const other = await head(TOTALS);
    await waitFor(
      'the other job to go on',
      async () => ((await head(TOTALS)) > other ? true : undefined),
      10_000,
    );
    expect(await head(COUNTS)).toBe(stopped);

    const resume = await cli(['resume', ...COUNTS], { cwd });
    expect(resume.code, resume.stderr).toBe(0);
    expect(resume.stdout).toContain("job 'cli-counts' may run again; started its coordinator");
    await waitFor(
      'the job to run again',
      async () => ((await head(COUNTS)) > stopped ? true : undefined),
      20_000,
    );
  }, 60_000);

  it('run stops cleanly on Ctrl-C: the cloud stops and its record is removed', async () => {
    expect(run.output()).toMatch(
      /\ncli-counts {2}\d\d:\d\d:\d\d +\d+ records in {2}processing +[\d.]+ m?s {2}scheduling delay +[\d.]+ m?s {2}total delay +[\d.]+ m?s/,
    );
    // What the stateless job prints comes out of its coordinator.
    expect(run.output()).toMatch(/\n {4}cli-counts: \["[xyz]",\d\]\n/);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/\] stopping\n[\s\S]*\] stopped\n$/);
    expect(existsSync(join(cwd, '.sparkless', 'local.json'))).toBe(false);
    const after = await cli(['batches'], { cwd });
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('no embedded cloud is running');
  }, 30_000);
});

describe('sparkless run --seconds', () => {
  it('runs for that long once deployed, then stops the cloud and exits 0 by itself', async () => {
    const code = await timed.exited;
    const out = timed.output();
    expect(code, `${out}\n${timed.errors()}`).toBe(0);
    expect(out).toMatch(/^\[ +0\.0s\] starting the embedded cloud for job module \S+counts\.ts\n/);
    expect(out).toContain('synthesizing the stacks');
    expect(out).toMatch(/local cloud ready on http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/deployed SparklessCliCounts/);
    expect(out).toContain('running for 8 s;');
    // Eight seconds counted from the deploy, whatever the batches did meanwhile (on a busy
    // machine the first batch can take longer than that to commit).
    const at = (what: RegExp) => Number(what.exec(out)?.[1] ?? Number.NaN);
    const deployed = at(/\[ *([\d.]+)s\] deployed SparklessCliCounts/);
    const stopping = at(/\[ *([\d.]+)s\] stopping\n/);
    expect(stopping - deployed).toBeGreaterThanOrEqual(7.9);
    expect(stopping - deployed).toBeLessThan(20);
    expect(out).toMatch(/\] stopping\n[\s\S]*\] stopped\n$/);
    // Nothing is left behind: no state file, no run directory.
    expect(readdirSync(join(timedWork.dir, '.sparkless'))).toEqual([]);
  }, 60_000);
});

function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function describeStacksXml(name: string, outputs: Record<string, string>): string {
  const members = Object.entries(outputs)
    .map(
      ([k, v]) =>
        `<member><OutputKey>${xml(k)}</OutputKey><OutputValue>${xml(v)}</OutputValue></member>`,
    )
    .join('');
  return `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${name}</StackName><StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/${name}/1</StackId><CreationTime>2026-11-20T10:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeStacksResponse>`;
}

function stackMissingXml(): string {
  return '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id Nope does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>';
}
