/**
 * Finding a deployed job, for the commands that read or write one:
 *
 * 1. With `--aws` (the account of the standard credentials, at the SDK's default endpoints
 *    even where AWS_ENDPOINT_URL is set) or with AWS_ENDPOINT_URL (or a
 *    service's AWS_ENDPOINT_URL_<SERVICE>) set, as for LocalStack: the job's deployment is the
 *    StreamingJob output of its CloudFormation stack, read with DescribeStacks (`--stack`) or
 *    from the file `cdk deploy --outputs-file` wrote (`--outputs`).
 * 2. Otherwise: the embedded cloud running in this directory, as `.sparkless/local.json`
 *    records it (lib/cli/launch.ts). Its environment (endpoint, region, credentials) is applied
 *    to process.env before any client is made, so every SDK client reaches it.
 *
 * Endpoints come only from those variables or the SDK's defaults, never from code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { type DeploymentInfo, deploymentsOf } from '../contract/deployment.js';
import { CliError, type CliIO, usageError } from './io.js';
import type { LocalState } from './launch.js';

/** Where the deployed jobs were found. */
export interface Target {
  readonly deployments: readonly DeploymentInfo[];
  /** Where they are, for messages: the embedded cloud's endpoint, a stack, a file. */
  readonly where: string;
  /** The embedded cloud, when the jobs run on it. */
  readonly local?: LocalState;
}

/** The target options a command was given. */
export interface TargetOptions {
  readonly job?: string | undefined;
  readonly aws?: boolean | undefined;
  readonly stack?: string | undefined;
  readonly outputs?: string | undefined;
}

/** The endpoint variables that point clients somewhere other than AWS. */
const ENDPOINT_VARIABLES = [
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_CLOUDFORMATION',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_KINESIS',
  'AWS_ENDPOINT_URL_LAMBDA',
] as const;

/** The endpoint variable that is set, when clients go somewhere other than AWS's defaults. */
export function configuredEndpoint(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  return ENDPOINT_VARIABLES.find((name) => env[name]);
}

const HOW_TO_START =
  'start one with `npm start` (the example job) or `sparkless run <job-module>` in another ' +
  'terminal, or use --aws / AWS_ENDPOINT_URL with --stack for a job deployed with the CDK';

/**
 * Finds the deployed jobs, applying the embedded cloud's environment to process.env when they
 * run there. With `allowNone`, a remote target without --stack or --outputs is no error (the
 * caller names a resource directly).
 */
export async function connect(
  command: string,
  options: TargetOptions,
  io: CliIO,
  { allowNone = false }: { readonly allowNone?: boolean } = {},
): Promise<Target> {
  const endpoint = configuredEndpoint();
  if (options.aws || endpoint) {
    const via = options.aws ? '--aws' : `${endpoint}=${process.env[endpoint ?? ''] ?? ''}`;
    // --aws means AWS itself: the SDK's default endpoints, whatever endpoint variables say.
    if (options.aws) process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = 'true';
    if (options.outputs !== undefined) {
      return fromOutputsFile(command, resolve(io.cwd, options.outputs), options.stack);
    }
    if (options.stack !== undefined) return fromStack(command, options.stack);
    if (allowNone) return { deployments: [], where: via };
    throw usageError(
      `${command}: with ${via}, name the job's CloudFormation stack with --stack <name> (or give --outputs <file> written by cdk deploy --outputs-file)`,
    );
  }
  if (options.stack !== undefined || options.outputs !== undefined) {
    throw usageError(
      `${command}: ${options.stack !== undefined ? `--stack ${options.stack}` : `--outputs ${options.outputs}`} reads a deployment from AWS: add --aws to use the account of your credentials, or set AWS_ENDPOINT_URL (LocalStack)`,
    );
  }
  // Loaded here: it brings the CDK, which only the embedded cloud's commands need.
  const { LOCAL_STATE_FILE, readLocalState } = await import('./launch.js');
  const local = readLocalState(io.cwd);
  if (!local) {
    const file = join(io.cwd, LOCAL_STATE_FILE);
    const why = existsSync(file)
      ? `the embedded cloud recorded in ${file} is no longer running`
      : `no embedded cloud is running in ${io.cwd} (there is no ${LOCAL_STATE_FILE})`;
    throw new CliError(`${command}: ${why}; ${HOW_TO_START}`);
  }
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, local.env);
  return {
    deployments: local.deployments,
    where: `the embedded cloud at ${local.endpoint} (pid ${local.pid})`,
    local,
  };
}

/** The job `--job` names, or the only one deployed. */
export function pickJob(command: string, target: Target, job: string | undefined): DeploymentInfo {
  const names = target.deployments.map((d) => `'${d.jobName}'`).join(', ');
  if (job !== undefined) {
    const found = target.deployments.find((d) => d.jobName === job);
    if (found) return found;
    throw usageError(
      `${command}: no job '${job}' is deployed on ${target.where}; deployed: ${names || 'none'}`,
    );
  }
  const [only, ...others] = target.deployments;
  if (!only) {
    throw new CliError(`${command}: no sparkless job is deployed on ${target.where}`);
  }
  if (others.length > 0) {
    throw usageError(
      `${command}: ${target.deployments.length} jobs are deployed (${names}); pick one with --job <name>`,
    );
  }
  return only;
}

function fromOutputsFile(command: string, file: string, stack: string | undefined): Target {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError(
      code === 'ENOENT'
        ? `${command}: --outputs ${file} does not exist; write it with cdk deploy --outputs-file ${file}`
        : `${command}: --outputs ${file} is not the JSON cdk deploy --outputs-file writes: ${(e as Error).message}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw usageError(
      `${command}: --outputs ${file} should map each stack name to its outputs, as cdk deploy --outputs-file writes`,
    );
  }
  const stacks = Object.entries(parsed as Record<string, unknown>).filter(
    ([name]) => stack === undefined || name === stack,
  );
  if (stack !== undefined && stacks.length === 0) {
    throw usageError(
      `${command}: --outputs ${file} has no stack '${stack}'; it has ${
        Object.keys(parsed)
          .map((s) => `'${s}'`)
          .join(', ') || 'none'
      }`,
    );
  }
  const deployments = stacks.flatMap(([, outputs]) =>
    typeof outputs === 'object' && outputs !== null
      ? deploymentsOf(outputs as Record<string, string>)
      : [],
  );
  return { deployments, where: stack ? `stack '${stack}' of ${file}` : file };
}

async function fromStack(command: string, stack: string): Promise<Target> {
  const client = new CloudFormationClient({});
  let outputs: Record<string, string>;
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stack }));
    const found = out.Stacks?.[0];
    outputs = {};
    for (const o of found?.Outputs ?? []) {
      if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
    }
  } catch (e) {
    throw new CliError(`${command}: ${describeAwsError(e, `stack '${stack}'`)}`);
  } finally {
    client.destroy();
  }
  const deployments = deploymentsOf(outputs);
  if (deployments.length === 0) {
    throw new CliError(
      `${command}: stack '${stack}' has no sparkless deployment among its outputs (${Object.keys(outputs).join(', ') || 'none'}); name the stack that holds the StreamingJob`,
    );
  }
  return { deployments, where: `stack '${stack}'` };
}

/** An AWS SDK error as a sentence with the fix, for the usual causes. */
export function describeAwsError(e: unknown, what: string): string {
  const err = e as { name?: string; message?: string; code?: string };
  const message = err.message ?? String(e);
  if (/does not exist/i.test(message) || err.name === 'ResourceNotFoundException') {
    return `${what} does not exist (${message}); check the name and the region (AWS_REGION)`;
  }
  if (err.name === 'CredentialsProviderError' || /credential/i.test(message)) {
    return `no usable AWS credentials (${message}); configure them (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`;
  }
  if (/region is missing/i.test(message)) {
    return `no AWS region is set (${message}); set AWS_REGION`;
  }
  if (err.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) {
    return `nothing answers at the endpoint (${message}); is the embedded cloud or LocalStack still running?`;
  }
  return `reading ${what} failed: ${err.name ? `${err.name}: ` : ''}${message}`;
}
