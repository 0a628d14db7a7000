/**
 * The ten most visited pages of the last thirty seconds, every five seconds: a windowed count
 * per page, then a sort inside transform (a second shuffle in each batch's plan).
 */
import { job, json, pair, seconds } from 'sparkless';
import type { Click } from './generators.js';

export default job('top-pages', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) =>
  ctx
    .kinesis('clicks', { decode: json<Click>() })
    .map((click) => pair(click.page, 1))
    .reduceByKeyAndWindow((a, b) => a + b, {
      window: seconds(30),
      slide: seconds(5),
      name: 'page-window',
    })
    .transform((rdd) => rdd.sortBy(([, n]) => n, { ascending: false }))
    .print(10),
);
