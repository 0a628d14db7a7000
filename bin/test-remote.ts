/**
 * `npm run test:remote`: deploys the test stack (infra/test-stack.ts) with the constructs and
 * runs the runtime's suites and the end-to-end test against the endpoints the SDK resolves,
 * then deletes the stack.
 *
 *   npm run test:remote                      LocalStack, when AWS_ENDPOINT_URL is set (cdklocal)
 *   npm run test:remote -- --target aws      the account of the standard credentials (cdk)
 *   npm run test:remote -- --target embedded the embedded cloud, deployed from the template
 *   ... -- --keep                            leave the stack deployed afterwards
 *
 * Tests that need local processes (to kill them, or the local Lambda service) are not part of
 * this run; the suites that are print what they skip there.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { addTestStack, TEST_STACK } from '../infra/test-stack.js';
import { deployStack } from '../lib/local/deploy.js';
import { startLocalCloud } from '../lib/local/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'test-output', 'remote');
const OUTPUTS = join(OUT, 'outputs.json');
const APP = `${process.execPath} --conditions=source --import tsx infra/test-app.ts`;

type Target = 'localstack' | 'aws' | 'embedded';

function parseArgs(argv: readonly string[]): { target: Target; keep: boolean } {
  let target: Target | undefined;
  let keep = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--keep') keep = true;
    else if (arg === '--target') {
      const value = argv[++i];
      if (value !== 'localstack' && value !== 'aws' && value !== 'embedded') {
        fail(`--target must be localstack, aws or embedded, got ${String(value)}`);
      }
      target = value;
    } else fail(`unknown argument ${arg}; use --target localstack|aws|embedded and --keep`);
  }
  if (!target) {
    if (!process.env.AWS_ENDPOINT_URL) {
      fail(
        'no target: set AWS_ENDPOINT_URL to test against LocalStack, pass --target aws to deploy to the account your AWS credentials name (it costs a little), or --target embedded for the embedded cloud',
      );
    }
    target = 'localstack';
  }
  return { target, keep };
}

function fail(message: string): never {
  process.stderr.write(`test:remote: ${message}\n`);
  process.exit(2);
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  process.stdout.write(`\n$ ${[command, ...args].join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** The CDK CLI: the project's pinned one, or cdklocal (which wraps a CDK CLI) for LocalStack. */
function cli(target: Target): { command: string; env: NodeJS.ProcessEnv } {
  const env = { ...process.env };
  if (target === 'aws') return { command: join(ROOT, 'node_modules/.bin/cdk'), env };
  // cdklocal needs the S3 endpoint too, for the assets.
  env.AWS_ENDPOINT_URL_S3 ??= env.AWS_ENDPOINT_URL;
  const local = join(ROOT, 'node_modules/.bin/cdklocal');
  return { command: existsSync(local) ? local : 'cdklocal', env };
}

async function deployed(target: Target, keep: boolean): Promise<number> {
  const { command, env } = cli(target);
  const app = ['--app', APP];
  if (target === 'localstack') {
    const code = await run(command, ['bootstrap', ...app], env).catch((e: Error) => {
      fail(
        `cannot run cdklocal (${e.message}): install it with npm install -g aws-cdk-local, and start LocalStack (it needs LOCALSTACK_AUTH_TOKEN, and Docker for Lambda)`,
      );
    });
    if (code !== 0) return code;
  }
  const deploy = await run(
    command,
    ['deploy', TEST_STACK, ...app, '--require-approval', 'never', '--outputs-file', OUTPUTS],
    env,
  );
  if (deploy !== 0) {
    if (target === 'aws') {
      process.stderr.write(
        'test:remote: the deploy failed; an account must be bootstrapped once (npx cdk bootstrap)\n',
      );
    }
    return deploy;
  }
  const tests = await vitest(env);
  if (!keep) {
    const destroyed = await run(command, ['destroy', TEST_STACK, ...app, '--force'], env);
    if (destroyed !== 0) process.stderr.write(`test:remote: delete stack ${TEST_STACK} by hand\n`);
  }
  return tests;
}

async function embedded(keep: boolean): Promise<number> {
  const progress = (m: string) => process.stdout.write(`embedded cloud: ${m}\n`);
  const cloud = await startLocalCloud({ onProgress: progress });
  try {
    const assemblyDir = join(OUT, 'cdk.out');
    rmSync(assemblyDir, { recursive: true, force: true });
    const app = new App({ outdir: assemblyDir });
    addTestStack(app);
    app.synth();
    const deployment = await deployStack(cloud, {
      assemblyDir,
      stackName: TEST_STACK,
      onProgress: progress,
    });
    writeFileSync(OUTPUTS, JSON.stringify({ [TEST_STACK]: deployment.outputs }, null, 2));
    const env = { ...process.env, ...cloud.env() };
    delete env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
    const tests = await vitest(env);
    if (keep) progress('--keep has no effect here: the embedded cloud stops with this command');
    await deployment.destroy({ deleteRetained: true });
    return tests;
  } finally {
    await cloud.stop();
  }
}

function vitest(env: NodeJS.ProcessEnv): Promise<number> {
  return run(
    process.execPath,
    [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'vitest.remote.config.ts'],
    { ...env, SPARKLESS_TEST_OUTPUTS: OUTPUTS },
  );
}

const { target, keep } = parseArgs(process.argv.slice(2));
mkdirSync(OUT, { recursive: true });
rmSync(OUTPUTS, { force: true });
const code = target === 'embedded' ? await embedded(keep) : await deployed(target, keep);
process.exit(code);
