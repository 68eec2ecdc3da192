/**
 * The offset between this process's wall clock and the Redis server's, so a producer can say "due at this
 * instant" in the server's clock. Jobs are due by the server's clock (every process agrees on it); sending a
 * relative delay instead would make every job late by the time its add spent in flight, which for a pipeline
 * of a thousand adds is tens of milliseconds.
 *
 * Measured with TIME, keeping the sample with the shortest round trip, and measured again in the background
 * every `refreshMs`. The server read its clock somewhere between the request leaving and the reply arriving;
 * the offset assumes the earliest instant, the largest the true offset can be. Jobs are then due up to one round
 * trip late, never early, on the producer's clock (the midpoint's guess erred by half a round trip either way,
 * and replies slowed by a busy event loop made jobs due early: a 300 ms delay delivered after 299 ms).
 */
import type { RedisClient } from './script-runner.js';

const SAMPLES = 3;

export class ServerClock {
  private current: number | undefined;
  private measuredAt = -Infinity;
  private pending: Promise<number> | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly refreshMs = 60_000,
  ) {}

  /** Server clock minus local wall clock, ms. Measured at first use, then refreshed in the background. */
  async offset(): Promise<number> {
    if (this.current === undefined) return this.measure();
    if (performance.now() - this.measuredAt > this.refreshMs) void this.measure().catch(() => undefined);
    return this.current;
  }

  /** Server time (epoch ms) corresponding to local epoch ms `localMs`. */
  async toServer(localMs: number): Promise<number> {
    return localMs + (await this.offset());
  }

  private measure(): Promise<number> {
    this.pending ??= (async () => {
      try {
        let best = { rtt: Infinity, offset: 0 };
        for (let i = 0; i < SAMPLES; i++) {
          const sent = Date.now();
          const sentMono = performance.now();
          const [seconds, micros] = await this.client.time();
          const rtt = performance.now() - sentMono;
          // `sent` is whole ms, taken before the request left: the server's reading is no earlier than it.
          if (rtt < best.rtt) best = { rtt, offset: Number(seconds) * 1000 + Number(micros) / 1000 - sent };
        }
        this.current = best.offset;
        this.measuredAt = performance.now();
        return best.offset;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}
