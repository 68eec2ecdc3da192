/**
 * The first request a @platformatic/kafka client makes at `connect()`, bounded in time. The client waits for a
 * broker's answer as long as its connections' request timeout (30 s) and then retries, so a service that accepts
 * connections but does not speak Kafka (a Redis port given by mistake, say) held `start()` for good, and a
 * `close()` meanwhile with it. kafkajs gives up on such a service after about a minute.
 */
import type { BaseOptions } from '@platformatic/kafka';
import { settlesWithin } from '@x/core';
import { BrokerUnreachableError } from '../errors.js';

/** How long a client that got no answer is given to close. */
const CLOSE_WAIT_MS = 1_000;

/** What a client needs for it: its metadata request and its close. */
interface Connecting {
  metadata(options: { topics: string[] }): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Asks `client`, made with `options`, for the cluster's metadata; rejects with BrokerUnreachableError, the client
 * closed, when no answer came within the client's connect timeout plus its request timeout (`connectTimeout` and
 * `timeout` of its options, 5 s each by default), one try each.
 */
export async function firstAnswer(client: Connecting, options: BaseOptions): Promise<void> {
  const ms = (options.connectTimeout ?? 5_000) + (options.timeout ?? 5_000);
  if (await settlesWithin(client.metadata({ topics: [] }), ms)) return;
  // Its connections end; a service that never closes its side gets a second, then the connect goes on failing.
  await settlesWithin(client.close().catch(() => undefined), CLOSE_WAIT_MS);
  throw new BrokerUnreachableError(new Error(`no Kafka answer from ${JSON.stringify(options.bootstrapBrokers)} within ${ms} ms: is it a Kafka broker?`));
}
