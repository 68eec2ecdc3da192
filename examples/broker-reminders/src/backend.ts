/**
 * The broker the example runs on (BACKEND=rabbitmq | kafka | kafka-platformatic), and the settings its processes
 * share. kafka-platformatic: Kafka through @platformatic/kafka, whose consumers use Kafka 4's consumer protocol.
 */
import { connect } from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import type { Backend } from '@x/delayqueue';
import { KafkaBackend } from '@x/delayqueue/kafka';
import { RabbitMqBackend } from '@x/delayqueue/rabbitmq';

export const BACKEND = process.env.BACKEND ?? 'rabbitmq';
export const REMINDERS = Number(process.env.REMINDERS ?? 1_000);
export const WORKERS = Number(process.env.WORKERS ?? 3);
/** Reminders fall due evenly over this many ms, starting LEAD_MS from now. */
export const SPAN_MS = Number(process.env.SPAN_MS ?? 4_000);
/**
 * Kafka's consumer groups take seconds to form; RabbitMQ consumers start at once. In the consumer protocol a
 * member hears of assignment changes at its heartbeats (every 5 s, the broker's), and the range assignor the
 * delay queue asks for moves partitions as each member joins: the groups settle within about three intervals.
 */
const DEFAULT_LEAD_MS: Record<string, number> = { rabbitmq: 1_000, kafka: 8_000, 'kafka-platformatic': 16_000 };
export const LEAD_MS = Number(process.env.LEAD_MS ?? DEFAULT_LEAD_MS[BACKEND] ?? 1_000);
export const TOPIC = 'reminder';
const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const KAFKA_BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');

/** A backend of the queue `name` on the chosen broker, and how to let go of its connection. */
export async function openBackend(name: string): Promise<{ backend: Backend; release(): Promise<void> }> {
  if (BACKEND === 'kafka') {
    const kafka = new Kafka({ clientId: 'broker-reminders', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    // A worker that dies is noticed by its group in seconds rather than kafkajs's default 30.
    const backend = new KafkaBackend({ kafka, name, consumerConfig: { sessionTimeout: 6_000, heartbeatInterval: 500 } });
    return { backend, release: async () => undefined };
  }
  if (BACKEND === 'kafka-platformatic') {
    // The session is the broker's in this protocol (group.consumer.session.timeout.ms: 45 s by default, 10 s on `npm run services`' broker): a
    // worker that dies is noticed after it, while the other workers' partitions run on meanwhile.
    const { platformaticClient } = await import('@x/delayqueue/platformatic');
    const kafka = platformaticClient({ clientId: 'broker-reminders', bootstrapBrokers: KAFKA_BROKERS });
    return { backend: new KafkaBackend({ kafka, name }), release: async () => undefined };
  }
  if (BACKEND !== 'rabbitmq') throw new Error(`BACKEND must be rabbitmq, kafka or kafka-platformatic, not ${BACKEND}`);
  const connection = await connect(RABBITMQ_URL).catch((error: unknown) => {
    throw new Error(`cannot reach RabbitMQ at ${RABBITMQ_URL} (${String(error)}); start it, e.g. npm run services -- up rabbitmq`);
  });
  return { backend: new RabbitMqBackend({ connection, name }), release: () => connection.close() };
}
