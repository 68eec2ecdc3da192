import { isRebalanceError } from '../src/rebalance-error.js';

describe('isRebalanceError', () => {
  it('recognises a rebalance answer, also wrapped by kafkajs once its retries give up', () => {
    const illegalGeneration = Object.assign(new Error('Specified group generation id is not valid'), { type: 'ILLEGAL_GENERATION' });
    expect(isRebalanceError(illegalGeneration)).toBe(true);
    expect(isRebalanceError(new Error('KafkaJSNonRetriableError', { cause: illegalGeneration }))).toBe(true);
    expect(isRebalanceError({ type: 'REBALANCE_IN_PROGRESS' })).toBe(true);
  });

  it('reports everything else', () => {
    expect(isRebalanceError(new Error('broker down'))).toBe(false);
    expect(isRebalanceError(Object.assign(new Error('x'), { type: 'TOPIC_AUTHORIZATION_FAILED' }))).toBe(false);
    expect(isRebalanceError(undefined)).toBe(false);
    const cycle: { cause?: unknown } = {};
    cycle.cause = cycle;
    expect(isRebalanceError(cycle)).toBe(false);
  });
});
