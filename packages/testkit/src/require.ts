/**
 * Guards for tests that need a real server: they resolve with a connected client, or fail the test with a
 * message that says how to start the server. A test never passes silently because a server was missing.
 */
import { connect } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { type ChannelModel, connect as connectAmqp } from 'amqplib';
import { type Endpoint, HOW_TO_START, kafkaBrokers, rabbitMqUrl, redisClusterNodes, redisEndpoint } from './services.js';

/** Thrown when a required test server does not answer. */
export class ServiceUnavailableError extends Error {
  constructor(service: string, reason: unknown) {
    super(`${service} is not reachable (${reason instanceof Error ? reason.message : String(reason)}). ${HOW_TO_START}`);
    this.name = 'ServiceUnavailableError';
  }
}

/**
 * Connects to the Redis at `endpoint` (default: the main one) and checks it answers PING within `timeoutMs`.
 * The caller owns the returned client and must `quit()` it.
 */
export async function requireRedis(endpoint: Endpoint = redisEndpoint(), timeoutMs = 2000): Promise<Redis> {
  // A plain TCP probe first: it fails fast with the real reason (ECONNREFUSED), where a failed ioredis connect
  // only says "Connection is closed" and leaves its connect timer running.
  try {
    await probeTcp(endpoint, timeoutMs);
  } catch (error) {
    throw new ServiceUnavailableError(`Redis at ${endpoint.host}:${endpoint.port}`, error);
  }
  const client = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // ioredis reports connection failures as 'error' events too; the rejected connect() below carries them.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
    return client;
  } catch (error) {
    client.disconnect();
    throw new ServiceUnavailableError(`Redis at ${endpoint.host}:${endpoint.port}`, error);
  }
}

/**
 * Connects an ioredis Cluster to the test cluster and checks every master answers and the cluster state is ok.
 * The caller owns the returned client and must `disconnect()` it.
 */
export async function requireRedisCluster(nodes: Endpoint[] = redisClusterNodes(), timeoutMs = 5000): Promise<Cluster> {
  const where = `Redis Cluster at ${nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  try {
    await Promise.all(nodes.map((node) => probeTcp(node, timeoutMs)));
  } catch (error) {
    throw new ServiceUnavailableError(where, error);
  }
  const cluster = new Cluster(nodes, { lazyConnect: true, clusterRetryStrategy: () => null, redisOptions: { connectTimeout: timeoutMs } });
  cluster.on('error', () => undefined);
  try {
    await cluster.connect();
    const info = await cluster.cluster('INFO');
    if (!/cluster_state:ok/.test(String(info))) throw new Error(`cluster state is not ok:\n${String(info)}`);
    return cluster;
  } catch (error) {
    cluster.disconnect();
    throw new ServiceUnavailableError(where, error);
  }
}

/**
 * Checks a Kafka broker answers a metadata request and returns a connected admin client (caller disconnects).
 */
export async function requireKafka(brokers: string[] = kafkaBrokers(), timeoutMs = 5000): Promise<Admin> {
  const admin = new Kafka({
    clientId: 'x-testkit',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return admin;
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw new ServiceUnavailableError(`Kafka at ${brokers.join(',')}`, error);
  }
}

/**
 * Connects to the RabbitMQ broker (`X_RABBITMQ_URL`) and returns the connection; the caller closes it. Its
 * `error` events are swallowed (a test asserts on what its calls return, not on the connection's log).
 */
export async function requireRabbitMq(url: string = rabbitMqUrl(), timeoutMs = 5000): Promise<ChannelModel> {
  const where = `RabbitMQ at ${url.replace(/\/\/[^@]*@/, '//')}`;
  try {
    const connection = await connectAmqp(url, { timeout: timeoutMs });
    connection.on('error', () => undefined);
    return connection;
  } catch (error) {
    throw new ServiceUnavailableError(where, error);
  }
}

function probeTcp({ host, port }: Endpoint, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    });
    socket.once('error', reject);
  });
}
