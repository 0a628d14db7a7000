/**
 * Web sessions: clicks of a user belong to one session until the user is idle for 30 seconds;
 * when a session times out, one record sums it up (pages seen, time on site).
 */
import { job, json, pair, type State, seconds } from 'sparkless';
import type { Click } from './generators.js';

/** A session in progress. */
export interface Session {
  readonly user: string;
  readonly startMs: number;
  readonly lastMs: number;
  readonly pages: number;
}

export default job('sessions', { batchInterval: seconds(1), defaultPartitions: 2 }, (ctx) =>
  ctx
    .kinesis('clicks', { decode: json<Click>() })
    .map((click) => pair(click.user, click.page))
    .mapWithState({
      name: 'sessions',
      timeout: seconds(30),
      fn: (user: string, page: string | undefined, state: State<Session>, timeMs: number) => {
        if (state.isTimingOut()) {
          const s = state.get();
          return { user, pages: s.pages, seconds: (s.lastMs - s.startMs) / 1000 };
        }
        const s = state.getOption() ?? { user, startMs: timeMs, lastMs: timeMs, pages: 0 };
        state.update({ ...s, lastMs: timeMs, pages: s.pages + (page ? 1 : 0) });
        return undefined;
      },
    })
    .saveToStream('finished-sessions', { partitionKey: (s) => s.user }),
);
