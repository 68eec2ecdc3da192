/** The producer of {@link platformaticClient}: kafkajs's `send` and `sendBatch` shapes on @platformatic/kafka. */
import { type BaseOptions, Producer } from '@platformatic/kafka';
import type { BatchMessage, BatchProducer, ClientProducer, RecordHeaders } from '../client.js';
import { NotConnectedError } from '../errors.js';
import { firstAnswer } from './first-answer.js';

/** A producer; of kafkajs's producer config it reads `allowAutoTopicCreation` and `idempotent`. */
export function platformaticProducer(clientOptions: BaseOptions, config: Record<string, unknown>): ClientProducer & BatchProducer {
  let made: Producer | undefined;
  const producer = (): Producer => {
    if (made === undefined) throw new NotConnectedError();
    return made;
  };
  return {
    async connect() {
      made ??= new Producer({ ...clientOptions, autocreateTopics: config.allowAutoTopicCreation === true, idempotent: config.idempotent === true });
      await firstAnswer(made, clientOptions).catch((error: unknown) => {
        made = undefined;
        throw error;
      });
    },
    send: ({ topic, acks, messages }) => producer().send({ acks, messages: messages.map((message) => record(topic, message)) }),
    sendBatch: ({ acks, topicMessages }) => producer().send({ acks, messages: topicMessages.flatMap(({ topic, messages }) => messages.map((message) => record(topic, message))) }),
    async disconnect() {
      await made?.close();
    },
  };
}

function record(topic: string, { key, value, headers, partition }: BatchMessage | { key: Buffer | null; value: Buffer | null; headers?: RecordHeaders; partition?: undefined }) {
  const made = { topic, key: bytes(key), value: bytes(value), headers: headerMap(headers ?? {}) };
  return partition === undefined ? made : { ...made, partition };
}

function bytes(value: Buffer | string | null): Buffer | undefined {
  return value === null ? undefined : Buffer.isBuffer(value) ? value : Buffer.from(value);
}

/** Headers as @platformatic/kafka writes them; a key with several values is written once per value. */
function headerMap(headers: RecordHeaders): Map<Buffer, Buffer> {
  const map = new Map<Buffer, Buffer>();
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    // Map keys are compared by identity: a Buffer per value keeps repeated keys apart.
    for (const one of Array.isArray(value) ? value : [value]) map.set(Buffer.from(key), Buffer.isBuffer(one) ? one : Buffer.from(one));
  }
  return map;
}
