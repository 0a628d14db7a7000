/**
 * `sparkless ui`: serves the streaming UI (lib/ui) on loopback for the jobs of a deployment,
 * wherever they run: the embedded cloud of this directory, LocalStack, or AWS.
 */
import { startUi } from '../../ui/server.js';
import { CliError, type CliIO, parse, println, TARGET_HELP, TARGET_OPTIONS } from '../io.js';
import { connect, pickJob } from '../target.js';

export const UI_HELP = `usage: sparkless ui [--port N] [--batches N]

Serves a page on 127.0.0.1 that shows how each job keeps up with its batch interval: input
rate, processing time per stage, scheduling and total delay per batch, lag per shard, dead
letters, keys in state, DynamoDB requests and an estimate of their cost, and each batch's
stages and tasks. It reads the jobs' tables, so it works for any deployment; it runs until
Ctrl-C.

Options:
  --port N       the port to listen on (default: a free one)
  --batches N    how many recent batches each job's page keeps (default 300)

${TARGET_HELP}`;

const OPTIONS = {
  ...TARGET_OPTIONS,
  port: { type: 'string' },
  batches: { type: 'string' },
} as const;

function count(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    throw new CliError(`ui: --${name} must be a whole number of at least ${min}, got '${text}'`, {
      exitCode: 2,
    });
  }
  return n;
}

export async function uiCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values } = parse('ui', args, OPTIONS);
  if (values.help) {
    println(io.stdout, UI_HELP);
    return 0;
  }
  const port = count('port', values.port, 0) ?? 0;
  const batches = count('batches', values.batches, 1);
  const target = await connect('ui', values, io);
  const jobs = values.job ? [pickJob('ui', target, values.job)] : target.deployments;
  let ui: Awaited<ReturnType<typeof startUi>>;
  try {
    ui = await startUi({ jobs: () => jobs, port, ...(batches ? { batches } : {}) });
  } catch (e) {
    throw new CliError(`ui: ${(e as Error).message}`);
  }
  println(
    io.stdout,
    `streaming UI of ${jobs.map((d) => `'${d.jobName}'`).join(', ')} (${target.where}) at ${ui.url}; Ctrl-C stops it`,
  );
  await new Promise<void>((resolve) => {
    if (io.signal?.aborted) resolve();
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  await ui.stop();
  return 0;
}
