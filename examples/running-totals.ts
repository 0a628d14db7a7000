/**
 * Running totals per page since the job started: updateStateByKey over the clicks of each batch,
 * with the totals written to a results table that applications read by key.
 */
import { job, json, pair, seconds } from 'sparkless';
import type { Click } from './generators.js';

export default job('running-totals', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) =>
  ctx
    .kinesis('clicks', { decode: json<Click>() })
    .map((click) => pair(click.page, 1))
    .reduceByKey((a, b) => a + b)
    .updateStateByKey(
      (counts: number[], total: number | undefined) =>
        (total ?? 0) + counts.reduce((a, b) => a + b, 0),
      {
        name: 'page-totals',
      },
    )
    .saveToTable('page-totals'),
);
