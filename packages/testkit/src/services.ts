/**
 * Where the test servers are. Defaults match `scripts/services`; the environment can point tests elsewhere.
 */

/** A host and port. */
export interface Endpoint {
  host: string;
  port: number;
}

function parseEndpoint(text: string): Endpoint {
  const match = /^(?:redis:\/\/)?\[?([^\]]+?)\]?:(\d+)\/?$/.exec(text.trim());
  if (!match) throw new Error(`cannot parse endpoint ${JSON.stringify(text)}; expected host:port`);
  return { host: match[1]!, port: Number(match[2]) };
}

function parseList(text: string): Endpoint[] {
  return text.split(',').filter(Boolean).map(parseEndpoint);
}

/** The main Redis (`X_REDIS`, default 127.0.0.1:6379). */
export function redisEndpoint(): Endpoint {
  return parseEndpoint(process.env.X_REDIS ?? '127.0.0.1:6379');
}

/** Five independent Redis masters (`X_REDIS_MASTERS`, default 127.0.0.1:7001-7005). */
export function redisMasters(): Endpoint[] {
  return parseList(process.env.X_REDIS_MASTERS ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005');
}

/** The Redis Cluster's seed nodes (`X_REDIS_CLUSTER`, default 127.0.0.1:7101-7103). */
export function redisClusterNodes(): Endpoint[] {
  return parseList(process.env.X_REDIS_CLUSTER ?? '127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103');
}

/** Kafka bootstrap brokers as `host:port` strings (`X_KAFKA_BROKERS`, default 127.0.0.1:19092). */
export function kafkaBrokers(): string[] {
  return (process.env.X_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',').filter(Boolean);
}

/** The RabbitMQ broker's AMQP URL (`X_RABBITMQ_URL`, default amqp://guest:guest@127.0.0.1:5672). */
export function rabbitMqUrl(): string {
  return process.env.X_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
}

/** What to tell someone whose test could not reach a server. */
export const HOW_TO_START =
  'Start the test services with `npm run services -- up` (or run `npm test`, which starts and stops them).';

/** A name no other test run uses, for topics, groups and key prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
