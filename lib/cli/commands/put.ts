/**
 * `sparkless put <stream-or-source>`: puts records, one per line, from a file or stdin into a
 * Kinesis stream, with PutRecords in batches of up to 500 records, putting again the records a
 * call refused (throttled) until every one is in.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../../aws/clients.js';
import type { DeploymentInfo } from '../../contract/deployment.js';
import {
  CliError,
  type CliIO,
  parse,
  positionals,
  println,
  TARGET_HELP,
  TARGET_OPTIONS,
  usageError,
} from '../io.js';
import { connect, describeAwsError, pickJob, type Target } from '../target.js';

export const PUT_HELP = `usage: sparkless put <stream-or-source> [--file F] [--partition-key K]

Puts records into a Kinesis stream: each line of the file (or of stdin) is one record, its
UTF-8 bytes the record's data; empty lines are skipped. <stream-or-source> is a source name of
the deployed job (as the job names it: ctx.kinesis('lines', ...)) or a stream's name.
Records go in with PutRecords, 500 at a time; records a call refuses (throttling) are put
again, in order. Prints how many records were put.

Options:
  --file F            read the records from F (default: stdin)
  --partition-key K   the partition key of every record (default: one of the record's own,
                      so that records spread over the shards)

${TARGET_HELP}`;

const OPTIONS = {
  ...TARGET_OPTIONS,
  file: { type: 'string' },
  'partition-key': { type: 'string' },
} as const;

/** PutRecords' limits: 500 records and 5 MiB a call, 1 MiB a record (data and key). */
const MAX_RECORDS = 500;
const MAX_CALL_BYTES = 5 * 1024 * 1024;
const MAX_RECORD_BYTES = 1024 * 1024;
/** How many times a refused record is put again before giving up. */
const MAX_ATTEMPTS = 10;

export async function putCommand(args: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals: given } = parse('put', args, OPTIONS);
  if (values.help) {
    println(io.stdout, PUT_HELP);
    return 0;
  }
  const [name] = positionals('put', given, ['stream-or-source']) as [string];
  const partitionKey = values['partition-key'];
  if (partitionKey !== undefined && (partitionKey.length === 0 || partitionKey.length > 256)) {
    throw usageError(
      `put: --partition-key must have 1 to 256 characters, got ${partitionKey.length}`,
    );
  }
  let input: AsyncIterable<string | Uint8Array> = io.stdin;
  if (values.file !== undefined) {
    const file = resolve(io.cwd, values.file);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      throw usageError(`put: --file ${values.file} is not a file (looked for ${file})`);
    }
    input = createReadStream(file);
  }

  const target = await connect('put', values, io, { allowNone: true });
  const stream = streamOf(name, target.deployments, values.job, target);

  const kinesis = kinesisClient();
  const encoder = new TextEncoder();
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  let pending: Array<{ Data: Uint8Array; PartitionKey: string }> = [];
  let pendingBytes = 0;
  let put = 0;
  let line = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    await putAll(kinesis, stream, pending);
    put += pending.length;
    pending = [];
    pendingBytes = 0;
  };
  try {
    const lines = createInterface({ input: Readable.from(input), crlfDelay: Infinity });
    for await (const text of lines) {
      line++;
      if (text === '') continue;
      const data = encoder.encode(text);
      const key = partitionKey ?? `${run}-${line}`;
      const bytes = data.length + encoder.encode(key).length;
      if (bytes > MAX_RECORD_BYTES) {
        throw new CliError(
          `put: line ${line} is ${bytes} bytes with its partition key, over Kinesis's 1 MiB record limit; split it`,
        );
      }
      if (pending.length === MAX_RECORDS || pendingBytes + bytes > MAX_CALL_BYTES) await flush();
      pending.push({ Data: data, PartitionKey: key });
      pendingBytes += bytes;
    }
    await flush();
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`put: after ${put} records: ${describeAwsError(e, `stream '${stream}'`)}`);
  } finally {
    kinesis.destroy();
  }
  println(io.stdout, `put ${put} ${put === 1 ? 'record' : 'records'} into stream ${stream}`);
  return 0;
}

/** The stream a name means: a source of the deployed job, or a stream's own name. */
function streamOf(
  name: string,
  deployments: readonly DeploymentInfo[],
  job: string | undefined,
  target: Target,
): string {
  if (deployments.length === 0) return name;
  const candidates = job !== undefined ? [pickJob('put', target, job)] : deployments;
  const bySource = candidates.filter((d) => d.sources[name] !== undefined);
  if (bySource.length > 1) {
    throw usageError(
      `put: source '${name}' belongs to ${bySource.length} jobs (${bySource.map((d) => `'${d.jobName}'`).join(', ')}); pick one with --job <name>`,
    );
  }
  const found = bySource[0]?.sources[name];
  if (found !== undefined) return found;
  const streams = candidates.flatMap((d) => Object.values(d.sources));
  if (streams.includes(name)) return name;
  const sources = candidates.flatMap((d) => Object.keys(d.sources).map((s) => `'${s}'`));
  throw usageError(
    `put: '${name}' is neither a source of ${candidates.length === 1 ? `job '${candidates[0]?.jobName}'` : 'the deployed jobs'} (${sources.join(', ')}) nor one of their streams; give a source name`,
  );
}

/** Puts the records, putting again the ones a call refused, in order, with backoff. */
async function putAll(
  kinesis: KinesisClient,
  stream: string,
  records: ReadonlyArray<{ Data: Uint8Array; PartitionKey: string }>,
): Promise<void> {
  let pending = records;
  for (let attempt = 1; ; attempt++) {
    const out = await kinesis.send(
      new PutRecordsCommand({ StreamName: stream, Records: [...pending] }),
    );
    if (!out.FailedRecordCount) return;
    const failed = pending.filter((_, i) => out.Records?.[i]?.ErrorCode);
    if (attempt >= MAX_ATTEMPTS) {
      const reason = out.Records?.find((r) => r.ErrorCode);
      throw new CliError(
        `put: ${failed.length} records were still refused after ${attempt} attempts (${reason?.ErrorCode}: ${reason?.ErrorMessage}); put them again later, or add shards`,
      );
    }
    pending = failed;
    await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** attempt)));
  }
}
