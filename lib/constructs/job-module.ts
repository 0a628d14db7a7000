/**
 * The job module at synth time: bundled once with the local esbuild (the bundle that each
 * function then carries as `job.mjs`), and loaded in a child Node process to read its plan.
 *
 * CDK constructors are synchronous and a job module is an ES module (it may even use top-level
 * await), so it cannot be imported in the constructor itself; a short-lived `node` process can,
 * synchronously. What it reads is the plan (plain data: sources, sinks, stateful operators,
 * windows, partitions, the state hash) and the text of `explain()`. Loading the bundle rather
 * than the source means that what is validated is exactly what is deployed, and that a job
 * module which does not bundle or does not load fails the synth with the reason.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { JobPlan } from '../core/plan.js';

/** The file name of the job module inside each function's bundle. */
export const JOB_FILE = 'job.mjs';

/** What the construct learns from a job module. */
export interface JobDescription {
  /** The directory holding `job.mjs` and its source map, to be copied into each bundle. */
  readonly bundleDir: string;
  readonly plan: JobPlan;
  readonly explain: string;
}

/**
 * The ESM bundle's `require`, for CommonJS packages bundled into it that call require() on
 * Node's built-ins.
 */
const REQUIRE_BANNER =
  "import { createRequire as __sparklessRequire } from 'node:module'; const require = __sparklessRequire(import.meta.url);";

/** Runs in the child: imports the bundle and prints its job's plan as JSON. */
const DESCRIBE = `
const { pathToFileURL } = await import('node:url');
const mod = await import(pathToFileURL(process.argv[1]).href);
const job = mod.default;
if (typeof job !== 'object' || job === null || job[Symbol.for('sparkless.Job')] !== true) {
  process.stderr.write('its default export is not a job: export default job(name, { batchInterval }, (ctx) => ...)');
  process.exit(2);
}
process.stdout.write(JSON.stringify({ plan: job.plan, explain: job.explain() }));
`;

const described = new Map<string, JobDescription>();

/**
 * Bundles `modulePath` into `<outDir>/sparkless-job-<hash>/job.mjs` and describes it.
 * Throws an error naming the module and the reason if it does not bundle, load or define a job.
 */
export function describeJobModule(modulePath: string, outDir: string, who: string): JobDescription {
  if (!existsSync(modulePath) || !statSync(modulePath).isFile()) {
    throw new Error(
      `${who}: 'job' must be the path of the job module (a file whose default export is a job), but ${modulePath} is not a file`,
    );
  }
  const esbuild = loadEsbuild(who);
  let code: Uint8Array;
  let map: Uint8Array | undefined;
  try {
    const result = esbuild.buildSync({
      entryPoints: [modulePath],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      conditions: ['source'],
      mainFields: ['module', 'main'],
      external: ['@aws-sdk/*'],
      sourcemap: 'external',
      banner: { js: REQUIRE_BANNER },
      outfile: JOB_FILE,
      write: false,
      logLevel: 'silent',
    });
    for (const file of result.outputFiles) {
      if (file.path.endsWith('.map')) map = file.contents;
      else code = file.contents;
    }
  } catch (e) {
    throw new Error(
      `${who}: the job module ${modulePath} does not bundle: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const hash = createHash('sha256').update(code!).digest('hex').slice(0, 16);
  const cached = described.get(hash);
  if (cached && existsSync(join(cached.bundleDir, JOB_FILE))) return cached;

  // Inside the assembly, so that modules left external resolve from the project.
  const bundleDir = join(outDir, `sparkless-job-${hash}`);
  mkdirSync(bundleDir, { recursive: true });
  writeFileSync(join(bundleDir, JOB_FILE), code!);
  if (map) writeFileSync(join(bundleDir, `${JOB_FILE}.map`), map);

  let output: string;
  try {
    output = execFileSync(
      process.execPath,
      ['--input-type=module', '--enable-source-maps', '-e', DESCRIBE, join(bundleDir, JOB_FILE)],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        // The child loads plain JavaScript: no loaders the parent may have been started with.
        env: { ...process.env, NODE_OPTIONS: '' },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr?.trim();
    throw new Error(
      `${who}: the job module ${modulePath} could not be loaded: ${stderr || (e instanceof Error ? e.message : String(e))}`,
    );
  }
  const parsed = JSON.parse(output) as { plan: JobPlan; explain: string };
  const description = { bundleDir, plan: parsed.plan, explain: parsed.explain };
  described.set(hash, description);
  return description;
}

/** esbuild, which bundling with NodejsFunction needs locally anyway. */
function loadEsbuild(who: string): typeof import('esbuild') {
  try {
    return createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  } catch {
    throw new Error(
      `${who}: esbuild is not installed; the job and its functions are bundled locally with it (never in Docker): npm install --save-dev esbuild`,
    );
  }
}
