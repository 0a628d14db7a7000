/**
 * The worker function: runs one task of one batch and answers with the task's claim.
 * Importing this module has no side effects; the runtime is built on the first invocation.
 */
import { createWorkerHandler } from '../lib/aws/handlers.js';
import { runtimeFromEnv } from '../lib/aws/runtime.js';

export const handler = createWorkerHandler(() => runtimeFromEnv(process.env));
