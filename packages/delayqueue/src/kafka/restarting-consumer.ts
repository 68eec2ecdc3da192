/**
 * A parallel consumer that is made anew whenever the running one stops for good. kafkajs gives up on a consumer
 * after an error it does not retry (or when its `restartOnFailure` says so); @x/kafka-fast then reports
 * ConsumerCrashedError and closes that consumer. A delay queue must keep moving all the same: its records stay
 * uncommitted, so the new consumer, after a short backoff, picks up where the commit point stood.
 */
import { type BackoffPolicy, type Clock, ClosedError, fullJitterBackoff, sleep } from '@x/core';
import { ConsumerCrashedError, type ParallelConsumer } from '@x/kafka-fast';

const RESTART_BACKOFF: BackoffPolicy = fullJitterBackoff({ initial: 100, max: 5_000 });

export class RestartingConsumer {
  private current: ParallelConsumer | undefined;
  private started: Promise<void> | undefined;
  /** The restart under way, if any: close() waits for it, so no consumer it starts outlives the close. */
  private restarting: Promise<void> | undefined;
  /** Aborted by close(): no restart follows, and one waiting out its backoff gives up at once. */
  private readonly closing = new AbortController();

  constructor(
    private readonly make: () => ParallelConsumer,
    private readonly reportError: (error: unknown) => void,
    private readonly clock: Clock,
  ) {}

  /**
   * Starts the first consumer; a failed start rejects and the next call tries again with a new one. After
   * close() it rejects with ClosedError: a consumer started then would have no one left to close it.
   */
  start(): Promise<void> {
    if (this.closing.signal.aborted) return Promise.reject(new ClosedError('the consumer'));
    this.started ??= this.startOne().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  /** Closes the running consumer at once (records not committed go to the next owner); no restart follows. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.started?.catch(() => undefined);
    await this.restarting;
    await this.current?.close({ timeout: 0 }).catch(() => undefined);
  }

  private async startOne(): Promise<void> {
    const consumer = this.make();
    consumer.on('error', (error: unknown) => {
      this.reportError(error);
      if (error instanceof ConsumerCrashedError && this.current === consumer) this.restart();
    });
    this.current = consumer;
    try {
      await consumer.start();
    } catch (error) {
      if (this.current === consumer) this.current = undefined;
      await consumer.close({ timeout: 0 }).catch(() => undefined);
      throw error;
    }
  }

  /** The crashed consumer closes itself; a new one starts after a backoff, again until one starts or close(). */
  private restart(): void {
    this.current = undefined;
    const { signal } = this.closing;
    if (signal.aborted || this.restarting !== undefined) return;
    this.restarting = (async () => {
      for (let attempt = 1; ; attempt++) {
        // Rejects only when close() aborts the wait.
        await sleep(RESTART_BACKOFF.delay(attempt), { clock: this.clock, signal }).catch(() => undefined);
        if (signal.aborted) return;
        try {
          await this.startOne();
          return;
        } catch (error) {
          this.reportError(error);
        }
      }
    })().finally(() => {
      this.restarting = undefined;
    });
  }
}
