/**
 * `sparkless run <job-module>...`: deploys job modules onto the embedded cloud, each in a stack
 * of its own (a Kinesis stream per source and the StreamingJob), and shows each committed batch
 * until Ctrl-C or --seconds.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeJobModule } from '../../constructs/job-module.js';
import type { DeploymentInfo } from '../../contract/deployment.js';
import { clock, duration } from '../format.js';
import { recentBatches } from '../inspect.js';
import {
  CliError,
  type CliIO,
  intOption,
  parse,
  positiveOption,
  println,
  usageError,
} from '../io.js';
import {
  explainLaunchFailure,
  jobStack,
  type Launched,
  launchLocal,
  readLocalState,
} from '../launch.js';

export const RUN_HELP = `usage: sparkless run <job-module>... [--shards N] [--seconds N] [--port N]

Runs job modules on the embedded cloud (kinesis-local, dynalite and a local Lambda service on
loopback), deployed as on AWS: each in a stack of its own with a Kinesis stream per source and
the StreamingJob construct. Shows progress while starting, then one line per committed batch:
its time (UTC), records in, processing time, scheduling delay and total delay, and what the
job prints. Runs until Ctrl-C, or for --seconds.

While it runs, the other commands find its jobs from this directory:
  sparkless put <source> --file records.txt     sparkless batches
  sparkless state <state-name> <key>            sparkless stop

Options:
  --shards N     shards of each source's stream (default 2)
  --seconds N    stop after N seconds (counted once the jobs are deployed)
  --port N       the cloud's port (default: a free one)`;

const OPTIONS = {
  shards: { type: 'string' },
  seconds: { type: 'string' },
  port: { type: 'string' },
} as const;

/** A stack id for a job: `Sparkless` and its name in PascalCase. */
export function stackIdOf(jobName: string): string {
  return `Sparkless${jobName
    .split(/[^A-Za-z0-9]+/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}`;
}

export async function runCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse('run', args, OPTIONS);
  if (values.help) {
    println(io.stdout, RUN_HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw usageError(
      'run: missing <job-module>: give the path of a module whose default export is a job',
    );
  }
  const shards = intOption('run', 'shards', values.shards, 2, { min: 1, max: 64 });
  const seconds = positiveOption('run', 'seconds', values.seconds);
  const port = intOption('run', 'port', values.port, 0, { min: 0, max: 65_535 });
  const modules = positionals.map((p) => resolve(io.cwd, p));
  for (const [i, path] of modules.entries()) {
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw usageError(
        `run: job module '${positionals[i]}' is not a file (looked for ${path}); give the path of a module whose default export is a job`,
      );
    }
  }
  const running = readLocalState(io.cwd);
  if (running) {
    throw new CliError(
      `run: an embedded cloud already runs in ${io.cwd} (pid ${running.pid}, since ${running.startedAt}, jobs ${running.deployments.map((d) => `'${d.jobName}'`).join(', ') || 'none'}); stop it first (Ctrl-C where it runs), or run from another directory`,
    );
  }

  const started = Date.now();
  const progress = (message: string) =>
    println(io.stdout, `[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
  progress(
    `starting the embedded cloud for ${modules.length === 1 ? 'job module' : 'job modules'} ${positionals.join(', ')}`,
  );

  let launched: Launched;
  try {
    launched = await launchLocal({
      cwd: io.cwd,
      onProgress: progress,
      cloud: { port },
      stacks: (app) => {
        const ids = new Map<string, string>();
        return modules.map((job) => {
          // Cached: jobStack describes the same bundle again without loading it twice.
          const { plan } = describeJobModule(job, app.outdir, 'sparkless run');
          const id = stackIdOf(plan.job);
          const other = ids.get(id);
          if (other !== undefined) {
            throw new CliError(
              `run: ${other} and ${job} both define a job named '${plan.job}' (stack ${id}); give each job a name of its own`,
            );
          }
          ids.set(id, job);
          if (plan.sources.some((s) => s.kind !== 'kinesis')) {
            throw new CliError(
              `run: job '${plan.job}' (${job}) reads a queue source, which runs only in memory; the embedded cloud feeds jobs from Kinesis streams (ctx.kinesis)`,
            );
          }
          return jobStack(app, id, { job, shards });
        });
      },
    });
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`run: ${explainLaunchFailure(e as Error, 'the job')}`);
  }

  let stopping = false;
  const stopped = new Promise<void>((resolveStop) => {
    const stop = () => {
      stopping = true;
      resolveStop();
    };
    if (io.signal?.aborted) stop();
    io.signal?.addEventListener('abort', stop, { once: true });
    if (seconds !== undefined) setTimeout(stop, seconds * 1000).unref();
  });

  try {
    Object.assign(process.env, launched.cloud.env());
    delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
    const jobs = launched.jobs;
    for (const d of jobs) describeDeployed(io, d);
    println(
      io.stdout,
      `running${seconds === undefined ? ' until Ctrl-C' : ` for ${seconds} s`}; in another terminal, from ${io.cwd}: sparkless put <source> --file <records>${jobs.length > 1 ? ' --job <name>' : ''}`,
    );
    println(io.stdout);

    // What the jobs print comes out of their coordinators, as on a Spark driver.
    const coordinators = new Map(jobs.map((d) => [d.functions.coordinator, d.jobName]));
    launched.cloud.lambda.on('log', (line: { function: string; stream: string; text: string }) => {
      const job = coordinators.get(line.function);
      if (job === undefined || line.stream !== 'stdout' || stopping) return;
      if (line.text.startsWith('{')) return; // metrics (embedded metric format)
      if (line.text === '' || line.text.startsWith('-----') || line.text.startsWith('Time: ')) {
        return;
      }
      println(io.stdout, `    ${jobs.length > 1 ? `${job}: ` : ''}${line.text}`);
    });

    const shown = new Map<string, number>(jobs.map((d) => [d.jobName, 0]));
    while (!stopping) {
      for (const d of jobs) {
        const commits = await recentBatches(d, 50).catch(() => []);
        for (const c of commits.reverse()) {
          if (c.timeMs <= (shown.get(d.jobName) ?? 0) || stopping) continue;
          shown.set(d.jobName, c.timeMs);
          const m = c.metrics;
          println(
            io.stdout,
            `${jobs.length > 1 ? `${d.jobName}  ` : ''}${clock(c.timeMs, d.batchIntervalMs)}  ${String(m.recordsIn).padStart(6)} records in  processing ${duration(m.processingMs).padStart(8)}  scheduling delay ${duration(m.schedulingDelayMs).padStart(8)}  total delay ${duration(m.totalDelayMs).padStart(8)}${m.deadLettered ? `  ${m.deadLettered} dead-lettered` : ''}`,
          );
        }
      }
      await Promise.race([new Promise((r) => setTimeout(r, 250)), stopped]);
    }
    progress('stopping');
  } finally {
    await launched.stop();
  }
  progress('stopped');
  return 0;
}

function describeDeployed(io: CliIO, d: DeploymentInfo): void {
  const sources = Object.entries(d.sources).map(([s, stream]) => `'${s}' (stream ${stream})`);
  const sinks = Object.entries(d.sinks).map(
    ([s, t]) => `'${s}' (${t.kind === 'table' ? `table ${t.table}` : `stream ${t.stream}`})`,
  );
  println(
    io.stdout,
    `job '${d.jobName}': batches every ${duration(d.batchIntervalMs)}; sources ${sources.join(', ')}` +
      (sinks.length ? `; sinks ${sinks.join(', ')}` : '') +
      (d.stateful.length
        ? `; state ${d.stateful.map((s) => `'${s.name}' (${s.kind})`).join(', ')}`
        : ''),
  );
}
