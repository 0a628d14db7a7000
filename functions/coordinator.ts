/**
 * The coordinator function: takes the job's lease and runs batches for most of its 15 minutes,
 * then starts its successor. The schedule invokes it every minute as a watchdog; an invocation
 * that finds the lease held ends at once.
 * Importing this module has no side effects; the runtime is built on the first invocation.
 */
import { createCoordinatorHandler } from '../lib/aws/handlers.js';
import { runtimeFromEnv } from '../lib/aws/runtime.js';

export const handler = createCoordinatorHandler(() => runtimeFromEnv(process.env));
