/**
 * The average temperature per sensor over the last minute, every ten seconds: a sum and a count
 * kept per key over a sliding window with an inverse, then divided.
 */
import { job, json, minutes, pair, seconds } from 'sparkless';
import type { Reading } from './generators.js';

type SumCount = readonly [number, number];

export default job('sensor-averages', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) =>
  ctx
    .kinesis('readings', { decode: json<Reading>() })
    .map((r) => pair(r.sensor, [r.celsius, 1] as SumCount))
    .reduceByKeyAndWindow((a, b) => [a[0] + b[0], a[1] + b[1]] as SumCount, {
      inverse: (a, b) => [a[0] - b[0], a[1] - b[1]] as SumCount,
      filter: ([, [, n]]) => n > 0,
      window: minutes(1),
      slide: seconds(10),
      name: 'sensor-window',
    })
    .mapValues(([sum, n]) => Math.round((sum / n) * 100) / 100)
    .saveToTable('sensor-averages'),
);
