/**
 * The load of the local pipeline benchmark: lines of words put into a stream through the
 * Kinesis API (PutRecords) at a set rate, and marker records whose effect in the state table
 * is timed.
 */
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { random, zipf } from '../harness.js';
import { vocabulary } from '../words.js';

/** Wall-clock epoch milliseconds with sub-millisecond resolution (the functions' clock). */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/** Seeded lines of `wordsPerLine` words from a Zipf-skewed vocabulary of `size` words. */
export function lineSource(seed: number, size: number, wordsPerLine: number) {
  const rand = random(seed);
  const words = vocabulary(rand, size);
  const pick = zipf(rand, size, 1.0);
  const encoder = new TextEncoder();
  let n = 0;
  return {
    words,
    next(): { Data: Uint8Array; PartitionKey: string } {
      const line: string[] = [];
      for (let i = 0; i < wordsPerLine; i++) line.push(words[pick()]!);
      return { Data: encoder.encode(line.join(' ')), PartitionKey: `k${n++}-${rand()}` };
    },
  };
}

/** One PutRecords call the producer made. */
export interface Put {
  /** When the call was sent and when it was answered (epoch ms). */
  readonly sentAt: number;
  readonly doneAt: number;
  readonly records: number;
  readonly failed: number;
}

/**
 * Puts records at a rate: every tick it sends what is due since the rate was set (in calls of
 * up to 500 records, a few at a time). When the stream takes records more slowly than they are
 * due, at most one second of records waits; the rest is never sent, so the rate achieved (what
 * the stream accepted) shows the shortfall rather than a growing queue.
 */
export class Producer {
  readonly puts: Put[] = [];
  readonly #client: KinesisClient;
  readonly #stream: string;
  readonly #source: ReturnType<typeof lineSource>;
  #rate = 0;
  #since = 0;
  #due = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #errors = 0;

  static readonly TICK_MS = 200;
  static readonly MAX_RECORDS_PER_CALL = 500;
  static readonly MAX_IN_FLIGHT = 2;

  constructor(client: KinesisClient, stream: string, source: ReturnType<typeof lineSource>) {
    this.#client = client;
    this.#stream = stream;
    this.#source = source;
  }

  /** Records per second from now on (0 stops putting). */
  setRate(perSecond: number): void {
    this.#rate = perSecond;
    this.#since = epochNow();
    this.#due = 0;
    this.#owed = 0;
    if (perSecond > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), Producer.TICK_MS);
    }
    if (perSecond === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Records the stream has accepted from this producer. */
  get accepted(): number {
    return this.puts.reduce((n, p) => n + p.records - p.failed, 0);
  }

  get errors(): number {
    return this.#errors;
  }

  /** Resolves once no call is in flight. */
  async drain(): Promise<void> {
    while (this.#inFlight > 0) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Records that fell due in [from, to) (epoch ms), and of those sent in that window, how many
   * the stream accepted (calls still in flight count once answered).
   */
  window(from: number, to: number): { offered: number; accepted: number; callMs: number[] } {
    let offered = 0;
    for (const d of this.#offered) if (d.at >= from && d.at < to) offered += d.records;
    let accepted = 0;
    const callMs: number[] = [];
    for (const p of this.puts) {
      if (p.sentAt < from || p.sentAt >= to) continue;
      accepted += p.records - p.failed;
      callMs.push(p.doneAt - p.sentAt);
    }
    return { offered, accepted, callMs };
  }

  readonly #offered: Array<{ at: number; records: number }> = [];
  #owed = 0;

  #tick(): void {
    const at = epochNow();
    const owed = Math.floor(((at - this.#since) / 1000) * this.#rate);
    if (owed > this.#owed) this.#offered.push({ at, records: owed - this.#owed });
    this.#owed = owed;
    // Never more than a second of records waiting to be sent.
    this.#due = Math.max(this.#due, owed - Math.ceil(this.#rate));
    while (this.#inFlight < Producer.MAX_IN_FLIGHT && owed > this.#due) {
      const n = Math.min(Producer.MAX_RECORDS_PER_CALL, owed - this.#due);
      this.#due += n;
      this.#send(n);
    }
  }

  #send(n: number): void {
    const records = Array.from({ length: n }, () => this.#source.next());
    const sentAt = epochNow();
    this.#inFlight++;
    this.#client
      .send(new PutRecordsCommand({ StreamName: this.#stream, Records: records }))
      .then(
        (out) => {
          this.puts.push({
            sentAt,
            doneAt: epochNow(),
            records: n,
            failed: out.FailedRecordCount ?? 0,
          });
        },
        () => {
          this.#errors++;
          this.puts.push({ sentAt, doneAt: epochNow(), records: n, failed: n });
        },
      )
      .finally(() => {
        this.#inFlight--;
      });
  }
}
