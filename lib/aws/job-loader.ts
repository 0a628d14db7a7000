/**
 * Finding the job a function runs: bundled into it (the construct's bundles import the job
 * module), or, on the embedded cloud's test paths, loaded from a module path.
 */
import { SparklessError } from '../core/errors.js';
import { isJob, type Job } from '../core/job.js';

const loaded = new Map<string, Promise<Job>>();

/** Loads the job a module exports as its default export (once per process). */
export function loadJob(modulePath: string): Promise<Job> {
  let job = loaded.get(modulePath);
  if (!job) {
    job = import(modulePath).then(
      (mod: { default?: unknown }) => {
        if (!isJob(mod.default)) {
          throw new SparklessError(
            'INVALID_JOB_MODULE',
            `job module ${modulePath}: its default export must be a job (export default job('name', { batchInterval }, (ctx) => ...))`,
          );
        }
        return mod.default;
      },
      (e: unknown) => {
        throw new SparklessError(
          'INVALID_JOB_MODULE',
          `job module ${modulePath} could not be loaded: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
      },
    );
    loaded.set(modulePath, job);
  }
  return job;
}
