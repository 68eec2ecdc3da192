/**
 * Produces orders for 500 customers to a fresh single-partition topic, then consumes them with a
 * ParallelConsumer: each order takes 5 ms to "process" (20 ms for one in fifty), up to 300 at once, and a
 * customer's orders are processed in the order they were placed. A live line shows rate, in flight and lag;
 * at the end the per-customer order is checked and the topic deleted.
 *
 * Usage: npm start -w @x/example-kafka-orders      (KAFKA_BROKERS=host:port, ORDERS=50000 to change;
 *        WORKER=1 runs the kafkajs consumer on a worker thread with workerThreadClient;
 *        CLIENT=platformatic consumes with @platformatic/kafka on Kafka 4's consumer protocol)
 */
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { ParallelConsumer, workerThreadClient } from '@x/kafka-fast';
import { platformaticClient } from '@x/kafka-fast/platformatic';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const ORDERS = Number(process.env.ORDERS ?? 20_000);
const CUSTOMERS = 500;
const ON_WORKER = process.env.WORKER === '1';
const ON_PLATFORMATIC = process.env.CLIENT === 'platformatic';

async function main(): Promise<void> {
  // Plain data, so that workerThreadClient can copy it to its thread.
  const kafkaConfig = { clientId: 'kafka-orders-example', brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 2 } };
  const kafka = new Kafka(kafkaConfig);
  const admin = kafka.admin();
  await admin.connect().catch((error: unknown) => {
    throw new Error(`cannot reach Kafka at ${BROKERS.join(',')} (${String(error)}); start one, e.g. npm run services -- up kafka`);
  });
  const topic = `orders-${process.pid}-${Date.now()}`;
  // The topic goes and the admin connection closes however the run ends (Ctrl-C included): an open connection
  // kept the process alive for the broker's 10 minutes of idle time after a failure.
  const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  try {
    await createTopic(admin, topic);
    await run(kafkaConfig, kafka, topic, interrupted);
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/**
 * Waits for the new topic's leader by asking for its metadata: on a loaded machine kafkajs's own wait
 * (`waitForLeaders`) failed with UNKNOWN_TOPIC_OR_PARTITION while the broker's metadata caught up.
 */
async function createTopic(admin: Admin, topic: string): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: false });
  for (let waited = 0; ; waited += 100) {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    if (metadata?.topics[0]?.partitions.every((p) => p.leader >= 0)) return;
    if (waited >= 30_000) throw new Error(`topic ${topic} still has no leader after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function run(kafkaConfig: Record<string, unknown>, kafka: Kafka, topic: string, interrupted: Promise<void>): Promise<void> {

  const producer = kafka.producer();
  await producer.connect();
  for (let start = 0; start < ORDERS; start += 5_000) {
    const messages = [];
    for (let i = start; i < Math.min(ORDERS, start + 5_000); i++) {
      messages.push({ key: `customer-${i % CUSTOMERS}`, value: JSON.stringify({ order: i, amount: (i * 7919) % 10_000 }) });
    }
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
  const on = ON_PLATFORMATIC ? "; consumed with @platformatic/kafka (Kafka 4's consumer protocol)" : ON_WORKER ? '; kafkajs on a worker thread' : '';
  console.log(`${ORDERS.toLocaleString('en-US')} orders from ${CUSTOMERS} customers in ${topic} (one partition)${on}`);

  const lastOrder = new Map<string, number>();
  let outOfOrder = 0;
  let done = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const threaded = ON_WORKER ? workerThreadClient(kafkaConfig) : undefined;
  const consumer = new ParallelConsumer({
    kafka: ON_PLATFORMATIC ? platformaticClient({ clientId: 'kafka-orders-example', bootstrapBrokers: BROKERS }) : (threaded ?? kafka),
    groupId: `${topic}-billing`,
    topics: [topic],
    fromBeginning: true,
    maxConcurrency: 300,
    handler: async (record) => {
      const { order } = JSON.parse(record.value!.toString()) as { order: number };
      await new Promise((resolve) => setTimeout(resolve, order % 50 === 49 ? 20 : 5));
      const customer = record.key!.toString();
      if ((lastOrder.get(customer) ?? -1) > order) outOfOrder++;
      lastOrder.set(customer, order);
      if (++done === ORDERS) finished();
    },
  });
  const started = performance.now();
  let previous = { at: started, done: 0 };
  const progress = setInterval(() => {
    const now = performance.now();
    const m = consumer.metrics();
    const rate = ((done - previous.done) / (now - previous.at)) * 1000;
    previous = { at: now, done };
    const lag = m.partitions.reduce((sum, p) => sum + p.lag, 0);
    process.stdout.write(`\r  ${done.toLocaleString('en-US').padStart(7)} done  ${Math.round(rate).toLocaleString('en-US').padStart(7)}/s  in flight ${String(m.inFlight).padStart(3)}  lag ${lag.toLocaleString('en-US').padStart(7)}  committed ${m.partitions[0]?.committedOffset ?? '-'}   `);
  }, 250);
  // A consumer that stops for good (its worker thread died, kafkajs gave up) says so here and closes itself.
  consumer.on('error', (error) => console.error(`\n${String(error)}`));
  await consumer.start();
  await Promise.race([allDone, interrupted]);
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  await consumer.close();
  await threaded?.close();
  if (done < ORDERS) {
    console.log(`\nstopped early (Ctrl-C): ${done.toLocaleString('en-US')} of ${ORDERS.toLocaleString('en-US')} orders in ${seconds.toFixed(1)} s; out of order per customer: ${outOfOrder}; the topic is deleted`);
    return;
  }
  console.log(`\n${ORDERS.toLocaleString('en-US')} orders in ${seconds.toFixed(1)} s (including the group join): ${Math.round(ORDERS / seconds).toLocaleString('en-US')}/s; out of order per customer: ${outOfOrder}`);
  // close() committed what completed: the partition's commit point is now past the last order.
  console.log(`committed offset after close: ${consumer.metrics().partitions[0]?.committedOffset ?? '?'} of ${ORDERS.toLocaleString('en-US')}`);
  // Not measured: the handlers' own waits added up (5 ms for 49 orders in 50, 20 ms for the 50th: 5.3 ms each).
  console.log(`one order at a time (as kafkajs eachMessage runs a partition) would take at least ${Math.round((ORDERS * 5.3) / 1000)} s: the handlers' waits added up, not measured`);
  if (outOfOrder > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
