/**
 * What a user's callbacks and settings can break: a `notBefore` that throws or answers nonsense and event
 * listeners that throw (each reported as a CallbackError on `error`; the consumer goes on: nothing stalls, every
 * record completes and is committed), and a `metadataLimitBytes` above the broker's (a typed error naming it).
 */
import { requireKafka, uniqueName } from '@x/testkit';
import { ParallelConsumer, isXError } from '../src/index.js';
import { eventually, freshTopic, kafka, produce } from './kafka.js';

const consumers: ParallelConsumer[] = [];

beforeAll(async () => {
  await (await requireKafka()).disconnect();
});
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close({ timeout: 5_000 }).catch(() => undefined)));
});

/** A consumer of `topic` from its start, its errors collected. */
function consumerOf(topic: string, options: Partial<ConstructorParameters<typeof ParallelConsumer>[0]>): { consumer: ParallelConsumer; errors: unknown[] } {
  const consumer = new ParallelConsumer({ kafka, groupId: uniqueName('g'), topics: [topic], fromBeginning: true, commitIntervalMs: 50, handler: () => undefined, ...options });
  const errors: unknown[] = [];
  consumer.on('error', (error) => errors.push(error));
  consumers.push(consumer);
  return { consumer, errors };
}

/** Every record completed and committed: the partition's commit point at its end. */
async function allCommitted(consumer: ParallelConsumer, count: number): Promise<void> {
  await eventually(() => consumer.metrics().completed === count, `${count} records completed`, 20_000);
  await eventually(() => consumer.metrics().partitions.reduce((sum, p) => sum + Number(p.committedOffset), 0) === count, 'everything committed', 20_000);
}

describe('callbacks that fail', () => {
  it.each([
    ['throws', () => {
      throw new RangeError('no due time for this one');
    }, 'no due time for this one'],
    ['returns NaN', () => Number.NaN, 'it returned NaN, not epoch ms'],
    ['returns a string', () => 'soon' as unknown as number, "it returned 'soon', not epoch ms"],
  ])('a notBefore that %s for one record: that record is taken on at once, reported, and the partition goes on', async (_, failing, message) => {
    const topic = await freshTopic(1);
    await produce(topic, 20, 20);
    const { consumer, errors } = consumerOf(topic, { notBefore: (record) => (Number(record.value) === 3 ? failing() : Date.now() - 1) });
    await consumer.start();
    await allCommitted(consumer, 20);
    expect(errors).toHaveLength(1);
    expect(isXError(errors[0], 'ERR_CALLBACK_FAILED') && errors[0].message).toContain(message);
    expect((errors[0] as { callback: string }).callback).toBe('options.notBefore');
  }, 60_000);

  it("a 'dead' listener that throws: the dead record completes all the same and the commit point moves past it", async () => {
    const topic = await freshTopic(1);
    await produce(topic, 20, 20);
    const { consumer, errors } = consumerOf(topic, {
      maxAttempts: 1,
      handler: (record) => {
        if (Number(record.value) === 1) throw new Error('poison');
      },
    });
    consumer.on('dead', () => {
      throw new Error('listener broke');
    });
    consumer.on('committed', () => {
      throw new Error('this listener broke too');
    });
    await consumer.start();
    await allCommitted(consumer, 20);
    expect(consumer.metrics()).toMatchObject({ deadLettered: 1, buffered: 0, inFlight: 0 });
    const failures = errors.filter((error) => isXError(error, 'ERR_CALLBACK_FAILED')).map((error) => (error as unknown as { callback: string }).callback);
    expect(new Set(failures)).toEqual(new Set(["a 'dead' listener", "a 'committed' listener"]));
    expect(errors.length).toBe(failures.length);
  }, 60_000);

  it("a metadataLimitBytes above the broker's offset.metadata.max.bytes: the refused commit is a MetadataTooLargeError naming both", async () => {
    const topic = await freshTopic(1);
    await produce(topic, 40_000, 1_000);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // Every eighth record waits: a map of 5,000 holes over 40,000 offsets, over the broker's default 4,096 bytes
    // in either of its encodings (runs, or a bit per offset).
    const { consumer, errors } = consumerOf(topic, {
      ordering: 'unordered',
      maxConcurrency: 6_000,
      maxBuffered: 40_000,
      metadataLimitBytes: 1_000_000,
      handler: async (record) => {
        if (Number(record.value) % 8 === 0) await held;
      },
    });
    await consumer.start();
    await eventually(() => errors.length > 0, 'a refused commit', 30_000);
    release();
    const [error] = errors;
    expect(isXError(error, 'ERR_METADATA_TOO_LARGE')).toBe(true);
    expect(error).toMatchObject({ metadataLimitBytes: 1_000_000 });
    expect((error as unknown as { metadataBytes: number }).metadataBytes).toBeGreaterThan(4_096);
    expect((error as Error).message).toContain('offset.metadata.max.bytes');
  }, 60_000);
});
