/**
 * The StreamingJob construct's template, deployed: the test stack (infra/test-stack.ts) is
 * synthesized with real bundling, deployed onto the embedded cloud from its template and
 * assets, and run end to end (test/e2e/deployment.ts) — the same check `npm run test:remote`
 * runs against LocalStack or AWS.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTestStack, TEST_STACK } from '../../infra/test-stack.js';
import { recentBatches } from '../../lib/cli/inspect.js';
import { deploymentsOf } from '../../lib/contract/deployment.js';
import { deployStack, type LocalDeployment } from '../../lib/local/deploy.js';
import wordcount from '../aws/fixtures/wordcount.js';
import { checkWordCount } from '../e2e/deployment.js';
import { useTarget } from '../target.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Under the project, so that the bundles resolve the AWS SDK from its node_modules.
const ASSEMBLY = join(ROOT, 'test-output', `deployed-stack-${process.pid}`);

const cloud = useTarget();
let deployment: LocalDeployment | undefined;

beforeAll(async () => {
  mkdirSync(ASSEMBLY, { recursive: true });
  const app = new App({ outdir: ASSEMBLY });
  addTestStack(app);
  app.synth();
  deployment = await deployStack(cloud(), { assemblyDir: ASSEMBLY, stackName: TEST_STACK });
}, 120_000);

afterAll(async () => {
  await deployment?.destroy({ deleteRetained: true });
  rmSync(ASSEMBLY, { recursive: true, force: true });
});

describe('the test stack deployed on the embedded cloud', () => {
  it('creates what the plan needs: two functions, a schedule, the tables and the stream', () => {
    const d = deployment as LocalDeployment;
    expect(d.functions).toHaveLength(2);
    expect(d.schedules).toHaveLength(1);
    // Control, data, state, dead letters and the results table of the 'totals' sink.
    expect(d.tables).toHaveLength(5);
    expect(d.streams).toHaveLength(1);
    const [info] = deploymentsOf(d.outputs);
    expect(info?.jobName).toBe(wordcount.name);
    expect(Object.keys(info?.sinks ?? {})).toEqual(['totals']);
  });

  it("turns records put into its stream into exactly the oracle's results and state", async () => {
    const [info] = deploymentsOf((deployment as LocalDeployment).outputs);
    if (!info) throw new Error('the stack has no sparkless deployment output');
    const check = await checkWordCount(info, wordcount, { records: 300, timeoutMs: 60_000 });
    expect(check.differences).toEqual([]);
    expect(check.read).toBe(check.sent);
    expect(check.keys).toBeGreaterThan(8);
    expect(check.batches).toBeGreaterThan(2);

    // The batch metrics count every DynamoDB request, those of applying the tasks' intents
    // included: updateStateByKey rewrites every key each batch, so a batch makes more
    // requests than the job has keys in state, and its reduce tasks take that time too.
    const [last] = await recentBatches(info, 1);
    const keys = last?.metrics.keysInState.totals ?? 0;
    expect(keys).toBe(check.keys);
    expect(last?.metrics.dynamoRequests).toBeGreaterThan(keys);
    expect(last?.metrics.consumedCapacityUnits).toBeGreaterThan(0);
  }, 120_000);
});
