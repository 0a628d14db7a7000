/**
 * `sparkless stop` and `sparkless resume`: stop a job gracefully (its coordinator finishes the
 * batch in flight and ends; scheduled coordinators end at once until resumed), and let it run
 * again, starting its coordinator now rather than at the next scheduled minute.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { lambdaClient } from '../../aws/clients.js';
import { controlStore } from '../inspect.js';
import {
  CliError,
  type CliIO,
  parse,
  positionals,
  println,
  TARGET_HELP,
  TARGET_OPTIONS,
} from '../io.js';
import { connect, describeAwsError, pickJob } from '../target.js';

export const STOP_HELP = `usage: sparkless stop

Stops the job gracefully: its coordinator finishes the batch in flight, commits it and ends;
the coordinators its schedule starts end at once, until sparkless resume. Nothing is lost:
records keep arriving in the stream and are read when the job resumes (within the stream's
retention).

${TARGET_HELP}`;

export const RESUME_HELP = `usage: sparkless resume

Lets a stopped job run again and starts its coordinator now (asynchronously), which resumes
from the last committed batch.

${TARGET_HELP}`;

export async function stopCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals: given } = parse('stop', args, TARGET_OPTIONS);
  if (values.help) {
    println(io.stdout, STOP_HELP);
    return 0;
  }
  positionals('stop', given, []);
  const d = pickJob('stop', await connect('stop', values, io), values.job);
  await controlStore(d)
    .requestStop(Date.now())
    .catch((e: unknown) => {
      throw new CliError(`stop: ${describeAwsError(e, `the control table of job '${d.jobName}'`)}`);
    });
  println(
    io.stdout,
    `asked job '${d.jobName}' to stop: its coordinator finishes the batch in flight and ends; sparkless resume starts it again`,
  );
  return 0;
}

export async function resumeCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals: given } = parse('resume', args, TARGET_OPTIONS);
  if (values.help) {
    println(io.stdout, RESUME_HELP);
    return 0;
  }
  positionals('resume', given, []);
  const d = pickJob('resume', await connect('resume', values, io), values.job);
  await controlStore(d)
    .clearStop()
    .catch((e: unknown) => {
      throw new CliError(
        `resume: ${describeAwsError(e, `the control table of job '${d.jobName}'`)}`,
      );
    });
  const lambda = lambdaClient();
  try {
    await lambda.send(
      new InvokeCommand({
        FunctionName: d.functions.coordinator,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(
          JSON.stringify({ kind: 'coordinate', job: d.jobName, reason: 'schedule' }),
        ),
      }),
    );
  } catch (e) {
    throw new CliError(
      `resume: job '${d.jobName}' may run again, but its coordinator could not be started now (its schedule starts it within a minute): ${describeAwsError(e, `function ${d.functions.coordinator}`)}`,
    );
  } finally {
    lambda.destroy();
  }
  println(
    io.stdout,
    `job '${d.jobName}' may run again; started its coordinator (${d.functions.coordinator}), which resumes from the last committed batch`,
  );
  return 0;
}
