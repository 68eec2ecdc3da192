/**
 * The checks `platformaticClient` makes of its options before anything connects: a broker list @platformatic/kafka
 * would only fail on at the first request (an untyped TypeError for a number, a socket RangeError for a bad port,
 * seconds of retries for an empty host) is refused at once with InvalidArgumentError. Imports nothing of
 * @platformatic/kafka.
 */
import { InvalidArgumentError } from '@x/core';

/** A broker as @platformatic/kafka takes it. */
export type BrokerAddress = string | { host: string; port: number };

export function checkClientOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object of @platformatic/kafka client options');
  const { bootstrapBrokers, clientId } = options as { bootstrapBrokers?: unknown; clientId?: unknown };
  if (!Array.isArray(bootstrapBrokers) || bootstrapBrokers.length === 0) {
    throw new InvalidArgumentError('options.bootstrapBrokers', bootstrapBrokers, "a non-empty array of brokers ('host:port')");
  }
  bootstrapBrokers.forEach((broker: unknown, i) => {
    if (!isBrokerAddress(broker)) {
      throw new InvalidArgumentError(`options.bootstrapBrokers[${i}]`, broker, "a broker as 'host:port' (port 1-65535) or { host, port }");
    }
  });
  if (clientId !== undefined && (typeof clientId !== 'string' || clientId.length === 0)) {
    throw new InvalidArgumentError('options.clientId', clientId, 'a non-empty string');
  }
}

function isBrokerAddress(broker: unknown): broker is BrokerAddress {
  if (typeof broker === 'string') {
    // The port after the last colon (an IPv6 host in brackets has colons of its own).
    const colon = broker.lastIndexOf(':');
    return colon > 0 && isPort(Number(broker.slice(colon + 1))) && broker.slice(colon + 1).trim() !== '';
  }
  if (typeof broker !== 'object' || broker === null) return false;
  const { host, port } = broker as { host?: unknown; port?: unknown };
  return typeof host === 'string' && host.length > 0 && isPort(port);
}

function isPort(port: unknown): boolean {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65_535;
}
