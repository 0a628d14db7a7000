/**
 * The most used hashtags of the last five minutes, updated every second: Spark's
 * TwitterPopularTags, with the window kept incrementally (an inverse function), so each second
 * reads only the pane entering and the pane leaving the window.
 */
import { job, minutes, pair, seconds, utf8 } from 'sparkless';

export default job('hashtags', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) =>
  ctx
    .kinesis('tweets', { decode: utf8 })
    .flatMap((text) => text.split(/\s+/))
    .filter((word) => word.startsWith('#') && word.length > 1)
    .map((tag) => pair(tag.toLowerCase(), 1))
    .reduceByKeyAndWindow((a, b) => a + b, {
      inverse: (a, b) => a - b,
      filter: ([, count]) => count > 0,
      window: minutes(5),
      slide: seconds(1),
      name: 'hashtag-counts',
    })
    .transform((rdd) => rdd.sortBy(([, count]) => count, { ascending: false }))
    .print(10),
);
