/**
 * `sparkless/constructs` from the built package, as an application installs it: plain Node (no
 * TypeScript loader, no `source` condition) imports the compiled construct, which finds the
 * handlers it bundles inside the package and bundles a user's JavaScript job module.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Under the project, so that the synthesized bundles resolve the SDK from its node_modules. */
const OUT = join(ROOT, 'test-output');

let project: string | undefined;
afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

/** An application with sparkless installed (built into dist) beside its other dependencies. */
function installedProject(): string {
  mkdirSync(OUT, { recursive: true });
  const dir = mkdtempSync(join(OUT, 'package-'));
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name === '.bin' || name.startsWith('.')) continue;
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
  const pkg = join(modules, 'sparkless');
  mkdirSync(pkg);
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  // What package.json's "files" ships: the sources (lib, functions) and the build (dist/lib).
  symlinkSync(join(ROOT, 'lib'), join(pkg, 'lib'));
  symlinkSync(join(ROOT, 'functions'), join(pkg, 'functions'));
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')].concat(
      ['--outDir', join(pkg, 'dist')],
    ),
    { cwd: ROOT, stdio: 'pipe' },
  );
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', type: 'module' }));
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'app', lockfileVersion: 3 }),
  );
  return dir;
}

describe('sparkless/constructs, installed', () => {
  it('synthesizes a JavaScript job from plain Node, with the job in the worker', () => {
    project = installedProject();
    writeFileSync(
      join(project, 'job.mjs'),
      `import { job, pair, seconds, utf8 } from 'sparkless';
export default job('installed', { batchInterval: seconds(5) }, (ctx) =>
  ctx.kinesis('events', { decode: utf8 }).map((e) => pair(e, 1))
    .reduceByKey((a, b) => a + b).saveToTable('counts'));
`,
    );
    writeFileSync(
      join(project, 'app.mjs'),
      `import { App, Stack, aws_kinesis as kinesis } from 'aws-cdk-lib';
import { StreamingJob } from 'sparkless/constructs';
const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Installed');
const events = new kinesis.Stream(stack, 'Events');
const job = new StreamingJob(stack, 'Job', {
  job: new URL('./job.mjs', import.meta.url).pathname,
  sources: { events },
});
const assembly = app.synth();
const template = assembly.getStackByName('Installed').template;
const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
process.stdout.write(JSON.stringify({
  job: job.jobName,
  state: job.stateTable !== undefined,
  code: functions.map((f) => f.Properties.Code.S3Key),
}));
`,
    );
    const out = execFileSync(process.execPath, ['app.mjs'], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = JSON.parse(out) as { job: string; state: boolean; code: string[] };
    expect(result.job).toBe('installed');
    // reduceByKey keeps no state across batches.
    expect(result.state).toBe(false);
    expect(result.code).toHaveLength(2);
    for (const key of result.code) {
      const asset = join(project, 'cdk.out', `asset.${key.replace(/\.zip$/, '')}`);
      expect(existsSync(join(asset, 'index.mjs'))).toBe(true);
      expect(readFileSync(join(asset, 'job.mjs'), 'utf8')).toContain('job("installed"');
    }
  }, 120_000);
});
