/**
 * Why a start failed, told alike on every client: no broker reachable (a port nothing listens on) and a topic
 * the broker does not have. Both come as the package's typed errors with the client's own error as `cause`,
 * and the consumer closes cleanly afterwards.
 */
import { type Socket, createServer } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { jestCanRequireEsm, requireKafka } from '@x/testkit';
import { BrokerUnreachableError, type KafkaClient, ParallelConsumer, UnknownTopicError, type WorkerThreadClient, workerThreadClient } from '../src/index.js';
import { kafkaConfig, platformatic, uniqueName } from './kafka.js';

/** A local port nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Clients of `brokers`, by name; kafkajs's retries shortened so that giving up takes a second or two. */
const makers: [string, (brokers: string[]) => KafkaClient][] = [
  ['kafkajs', (brokers) => new Kafka({ clientId: 'x-start-errors', brokers, logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 100 } })],
  ['workerThreadClient', (brokers) => workerThreadClient({ clientId: 'x-start-errors', brokers, logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 100 } })],
];
if (jestCanRequireEsm()) makers.push(['platformaticClient', (brokers) => platformatic().platformaticClient({ clientId: 'x-start-errors', bootstrapBrokers: brokers })]);

const made: KafkaClient[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((c) => (c as Partial<WorkerThreadClient>).close?.()));
});

function consumerOf(client: KafkaClient, topic: string): ParallelConsumer {
  made.push(client);
  return new ParallelConsumer({ kafka: client, groupId: uniqueName('g'), topics: [topic], handler: async () => undefined });
}

describe.each(makers)('start on %s', (_name, make) => {
  it('rejects with BrokerUnreachableError when no broker answers, and closes', async () => {
    const consumer = consumerOf(make([`127.0.0.1:${await closedPort()}`]), uniqueName('t'));
    const error = await consumer.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BrokerUnreachableError);
    expect((error as BrokerUnreachableError).code).toBe('ERR_BROKER_UNREACHABLE');
    expect((error as BrokerUnreachableError).message).toMatch(/ECONNREFUSED/);
    expect((error as BrokerUnreachableError).cause).toBeDefined();
    await expect(consumer.close({ timeout: 5_000 })).resolves.toBeUndefined();
  }, 60_000);

  // Before, platformaticClient started on a missing topic and sat idle with no error (the topic was not created).
  it('rejects with UnknownTopicError naming a topic the broker does not have', async () => {
    await (await requireKafka()).disconnect();
    const topic = uniqueName('missing');
    const consumer = consumerOf(make(kafkaConfig.brokers), topic);
    const error = await consumer.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnknownTopicError);
    expect((error as UnknownTopicError).code).toBe('ERR_UNKNOWN_TOPIC');
    expect((error as UnknownTopicError).topic).toBe(topic);
    await expect(consumer.close({ timeout: 5_000 })).resolves.toBeUndefined();
  }, 60_000);
});

// A service that accepts connections and never answers (a Redis port given by mistake, say): @platformatic/kafka
// waits for its answer as long as its request timeout and then retries; start() and a close() meanwhile waited
// for good.
(jestCanRequireEsm() ? describe : describe.skip)('start on platformaticClient against a service that never answers', () => {
  it('rejects with BrokerUnreachableError once the connect and request timeouts have passed, and a close() meanwhile ends', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket.on('error', () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const client = platformatic().platformaticClient({ clientId: 'x-start-errors', bootstrapBrokers: [`127.0.0.1:${port}`], connectTimeout: 500, timeout: 500 });
      const consumer = consumerOf(client, uniqueName('t'));
      const started = consumer.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sockets.length).toBeGreaterThan(0);
      const closed = consumer.close({ timeout: 5_000 });
      const error = await started;
      expect(error).toBeInstanceOf(BrokerUnreachableError);
      expect((error as BrokerUnreachableError).message).toMatch(/no Kafka answer from .* within 1000 ms/);
      await expect(closed).resolves.toBeUndefined();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 20_000);
});
