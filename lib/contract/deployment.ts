/**
 * What a deployed job tells the tools that work with it (the tests against a deployment, the
 * command-line tool): its name, tables, functions, streams and sinks. The StreamingJob
 * construct writes it as one stack output, a JSON object marked `"sparkless": 1`, so that
 * `cdk deploy --outputs-file` or CloudFormation's DescribeStacks is all a tool needs.
 */
import type { RuntimeConfig } from './env.js';

/** The deployment of one job, as its stack output holds it. */
export interface DeploymentInfo {
  readonly sparkless: 1;
  readonly jobName: string;
  readonly batchIntervalMs: number;
  /** The stateful operators: their state names, kinds and partition counts (to read state). */
  readonly stateful: ReadonlyArray<{
    readonly name: string;
    readonly kind: string;
    readonly partitions: number;
  }>;
  readonly tables: RuntimeConfig['tables'];
  readonly functions: RuntimeConfig['functions'];
  readonly sources: RuntimeConfig['sources'];
  readonly sinks: RuntimeConfig['sinks'];
}

/**
 * The deployments among a stack's outputs (output key -> value): every value that is the JSON
 * of a {@link DeploymentInfo}.
 */
export function deploymentsOf(outputs: Readonly<Record<string, string>>): DeploymentInfo[] {
  const found: DeploymentInfo[] = [];
  for (const value of Object.values(outputs)) {
    if (typeof value !== 'string' || !value.startsWith('{')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      continue;
    }
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      (parsed as { sparkless?: unknown }).sparkless === 1
    ) {
      found.push(parsed as DeploymentInfo);
    }
  }
  return found;
}
