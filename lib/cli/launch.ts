/**
 * Running jobs on the embedded cloud as they run on AWS: start the local cloud, synthesize the
 * CDK stacks that deploy them (with the StreamingJob construct, bundling with the local
 * esbuild) into a directory of the run's own under `.sparkless/` (removed when it stops),
 * deploy each stack from its template and assets (lib/local/deploy.ts), and record
 * where everything is in `.sparkless/local.json`, so that other commands (`sparkless state`,
 * `sparkless batches`, ...) can find the running cloud and its jobs.
 *
 *   const running = await launchLocal({ stacks: (app) => [jobStack(app, 'Clicks', { job })] });
 *   ...
 *   await running.stop();
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { App, aws_kinesis as kinesis, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { StreamingJob, type StreamingJobProps } from '../constructs/index.js';
import { describeJobModule } from '../constructs/job-module.js';
import { type DeploymentInfo, deploymentsOf } from '../contract/deployment.js';
import { type LocalCloud, type LocalCloudOptions, startLocalCloud } from '../local/cloud.js';
import { deployStack, type LocalDeployment } from '../local/deploy.js';

/** Where a running embedded cloud records itself, relative to the working directory. */
export const LOCAL_STATE_FILE = join('.sparkless', 'local.json');

/** What `.sparkless/local.json` holds while an embedded cloud runs. */
export interface LocalState {
  /** The process that runs the cloud. */
  readonly pid: number;
  readonly startedAt: string;
  /** The router: every service's endpoint (AWS_ENDPOINT_URL). */
  readonly endpoint: string;
  readonly region: string;
  /** The environment an SDK client needs to reach the cloud. */
  readonly env: Readonly<Record<string, string>>;
  /** The jobs deployed on it. */
  readonly deployments: readonly DeploymentInfo[];
}

export interface LaunchOptions {
  /** Adds the stacks to deploy to the app; returns them. */
  readonly stacks: (app: App) => readonly Stack[];
  /** The working directory: the assembly goes to `.sparkless/cdk.out` under it. */
  readonly cwd?: string;
  readonly onProgress?: (message: string) => void;
  readonly cloud?: LocalCloudOptions;
  /** Whether to write `.sparkless/local.json` (default true). */
  readonly record?: boolean;
}

/** Jobs running on the embedded cloud. */
export interface Launched {
  readonly cloud: LocalCloud;
  readonly deployments: readonly LocalDeployment[];
  /** Every job deployed, as its stack output describes it. */
  readonly jobs: readonly DeploymentInfo[];
  /** Stops the schedules, the cloud and its processes, and removes the state file. */
  stop(): Promise<void>;
}

/** Starts the embedded cloud and deploys the stacks onto it. */
export async function launchLocal(options: LaunchOptions): Promise<Launched> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const progress = options.onProgress ?? (() => {});
  // A taken port fails at once, rather than after the stacks are bundled.
  const port = options.cloud?.port ?? 0;
  if (port !== 0 && (await portTaken(port))) {
    throw new Error(
      `port ${port} is in use: choose another with --port, or leave --port out to use a free one`,
    );
  }
  // One of this process's own, so that several launches in one directory never share one.
  const runDir = join(cwd, '.sparkless', `run-${process.pid}-${Date.now().toString(36)}`);
  const assemblyDir = join(runDir, 'cdk.out');
  mkdirSync(assemblyDir, { recursive: true });

  progress('synthesizing the stacks (bundling with esbuild)');
  let stacks: readonly Stack[];
  try {
    const app = new App({ outdir: assemblyDir });
    stacks = options.stacks(app);
    app.synth();
  } catch (e) {
    rmSync(runDir, { recursive: true, force: true });
    throw e;
  }

  let cloud: LocalCloud;
  try {
    cloud = await startLocalCloud({ ...options.cloud, onProgress: progress });
  } catch (e) {
    rmSync(runDir, { recursive: true, force: true });
    throw e;
  }
  const deployments: LocalDeployment[] = [];
  try {
    for (const stack of stacks) {
      deployments.push(
        await deployStack(cloud, {
          assemblyDir,
          stackName: stack.stackName,
          onProgress: progress,
        }),
      );
    }
  } catch (e) {
    await cloud.stop();
    rmSync(runDir, { recursive: true, force: true });
    throw e;
  }
  const jobs = deployments.flatMap((d) => deploymentsOf(d.outputs));
  const stateFile = join(cwd, LOCAL_STATE_FILE);
  if (options.record !== false) {
    const state: LocalState = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      endpoint: cloud.endpoint,
      region: cloud.region,
      env: cloud.env(),
      deployments: jobs,
    };
    writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }
  let stopping: Promise<void> | undefined;
  return {
    cloud,
    deployments,
    jobs,
    stop: () => {
      stopping ??= (async () => {
        for (const d of deployments) d.stop();
        await cloud.stop();
        if (options.record !== false) removeIfOurs(stateFile);
        rmSync(runDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/**
 * What went wrong while launching, and what to do about it, for a person: a taken port, a
 * module the job imports that is not installed, a missing dependency, a failed deploy.
 * `what` names what was being started ('the example', 'the job').
 */
export function explainLaunchFailure(e: Error, what: string): string {
  const text = e.message;
  if (/is in use: choose another/.test(text)) return text;
  if (/EADDRINUSE/.test(text)) {
    return `a port is in use (${text.split('\n')[0]}): choose another with --port, or leave --port out to use a free one`;
  }
  const unresolved = /Could not resolve "([^"]+)"/.exec(text);
  if (unresolved) {
    return `a dependency is missing: the job module imports '${unresolved[1]}', which cannot be found from it; install it (npm install ${unresolved[1]}) in the job's project`;
  }
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(text)) {
    return `a dependency is missing (${text.split('\n')[0]}): run npm install in the project of the job module`;
  }
  if (/esbuild is not installed/.test(text)) return text;
  if (/^deployStack|could not deploy|deploy/i.test(text)) return `the deploy failed: ${text}`;
  return `could not start ${what}: ${text}`;
}

function portTaken(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise<boolean>((done) => {
    server.once('error', () => done(true));
    server.listen(port, '127.0.0.1', () => server.close(() => done(false)));
  });
}

/** Reads `.sparkless/local.json` if an embedded cloud that is still running wrote it. */
export function readLocalState(cwd = process.cwd()): LocalState | undefined {
  let state: LocalState;
  try {
    state = JSON.parse(readFileSync(join(cwd, LOCAL_STATE_FILE), 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
  return isRunning(state.pid) ? state : undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeIfOurs(file: string): void {
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as LocalState;
    if (state.pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}

/** Options of {@link jobStack}. */
export interface JobStackOptions {
  /** The absolute path of the job module. */
  readonly job: string;
  /** Shards of each source's stream (default 2). */
  readonly shards?: number;
  /** Anything else for the construct. */
  readonly props?: Partial<Omit<StreamingJobProps, 'job' | 'sources'>>;
}

/**
 * A stack for one job module: a Kinesis stream per source of the job (read from its plan) and
 * the StreamingJob. What `sparkless run` deploys, on the embedded cloud or elsewhere.
 */
export function jobStack(app: App, id: string, options: JobStackOptions): Stack {
  const stack = new Stack(app, id);
  const { plan } = describeJobModule(options.job, app.outdir, `jobStack ${id}`);
  const sources: Record<string, kinesis.IStream> = {};
  for (const source of plan.sources) {
    sources[source.name] = new kinesis.Stream(stack, `Source-${source.name}`, {
      shardCount: options.shards ?? 2,
      encryption: kinesis.StreamEncryption.MANAGED,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
  new StreamingJob(stack, 'Job', { ...options.props, job: options.job, sources });
  return stack;
}
