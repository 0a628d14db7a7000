/**
 * `sparkless state <state-name> <key>`: one key's state in a stateful operator of a deployed
 * job, as of its last committed batch.
 */
import type { Key } from '../../core/keys.js';
import { show } from '../format.js';
import { jobState } from '../inspect.js';
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

export const STATE_HELP = `usage: sparkless state <state-name> <key> [--json]

Reads one key's state in a stateful operator of the job (updateStateByKey, mapWithState,
reduceByKeyAndWindow with an inverse...), by the operator's state name ({ name: 'totals' }).
The key is read as JSON when it parses as JSON (42, true, ["a",1], "007"), else as a string:
quote a string key that looks like a number ('"42"').

Options:
  --json    print the value as JSON only (null when the key has no state)

${TARGET_HELP}`;

const OPTIONS = { ...TARGET_OPTIONS, json: { type: 'boolean' } } as const;

/** A key from the command line: JSON when it parses, else the text itself. */
export function parseKey(text: string): Key {
  try {
    return JSON.parse(text) as Key;
  } catch {
    return text;
  }
}

export async function stateCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals: given } = parse('state', args, OPTIONS);
  if (values.help) {
    println(io.stdout, STATE_HELP);
    return 0;
  }
  const [stateName, keyText] = positionals('state', given, ['state-name', 'key']) as [
    string,
    string,
  ];
  const key = parseKey(keyText);
  const target = await connect('state', values, io);
  const d = pickJob('state', target, values.job);
  let value: unknown;
  try {
    value = await jobState(d, stateName, key);
  } catch (e) {
    if ((e as { code?: string }).code === 'INVALID_ARGUMENT') {
      throw new CliError(`state: ${(e as Error).message}`, { exitCode: 2 });
    }
    throw new CliError(`state: ${describeAwsError(e, `the state of job '${d.jobName}'`)}`);
  }
  if (values.json) {
    println(io.stdout, JSON.stringify(value ?? null));
  } else if (value === undefined) {
    println(io.stdout, `${stateName} ${show(key)}: no state (the key is absent or was removed)`);
  } else {
    println(io.stdout, `${stateName} ${show(key)} = ${JSON.stringify(value, null, 2)}`);
  }
  return 0;
}
