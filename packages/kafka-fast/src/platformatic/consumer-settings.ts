/**
 * The consumer settings of `platformaticClient`, read from kafkajs-named `consumerConfig` and checked (apart from
 * the client, so that the checks load without @platformatic/kafka).
 */
import { InvalidArgumentError, assertNumber, assertOneOf } from '@x/core';
import type { GroupConsumerSettings } from './consumer.js';

export function consumerSettings(config: { groupId: string } & Record<string, unknown>): GroupConsumerSettings {
  const number = (name: string, fallback: number, min: number): number => {
    const value = config[name];
    if (value === undefined) return fallback;
    return assertNumber(`options.consumerConfig.${name}`, value, { min, max: 2 ** 31 - 1, integer: true });
  };
  return {
    groupId: config.groupId,
    rebalanceTimeout: number('rebalanceTimeout', 60_000, 1),
    maxWaitTimeInMs: number('maxWaitTimeInMs', 5_000, 0),
    minBytes: number('minBytes', 1, 0),
    maxBytes: number('maxBytes', 10 * 1024 * 1024, 1),
    maxBytesPerPartition: number('maxBytesPerPartition', 1024 * 1024, 1),
    isolationLevel: config.readUncommitted === true ? 0 : 1,
    ...(config.serverAssignor === undefined ? {} : { serverAssignor: assertOneOf('options.consumerConfig.serverAssignor', config.serverAssignor, SERVER_ASSIGNORS) }),
    ...(config.memberIdPrefix === undefined ? {} : { memberIdPrefix: memberIdPrefix(config.memberIdPrefix) }),
  };
}

/** The assignors Kafka 4's brokers offer (`group.consumer.assignors`). */
const SERVER_ASSIGNORS = ['uniform', 'range'] as const;

function memberIdPrefix(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,32}$/.test(value)) {
    throw new InvalidArgumentError('options.consumerConfig.memberIdPrefix', value, '1 to 32 letters, digits, ".", "_" or "-"');
  }
  return value;
}

/**
 * A member id: the UUID, after the prefix and `+` when there is one. The broker's range assignor orders members
 * by id, so members with prefixes must sort by their prefixes whatever their UUIDs: `+` sorts below every
 * character a prefix may hold, so of two prefixes where one begins the other (`a`, `a-5`) the shorter sorts
 * first in every group (with `-` between, `a-<uuid>` against `a-5-<uuid>` depended on the UUID).
 */
export function memberIdOf(prefix: string | undefined, uuid: string): string {
  return prefix === undefined ? uuid : `${prefix}+${uuid}`;
}
