import { CloseError, ClosedError, ResourceStack } from '../src/index.js';

describe('ResourceStack', () => {
  it('closes every kind of resource, most recent first, once', async () => {
    const order: string[] = [];
    const stack = new ResourceStack();
    stack.defer(() => order.push('fn'));
    stack.use({ close: async () => void order.push('close') });
    stack.use({ [Symbol.dispose]: () => void order.push('dispose') });
    stack.use({ [Symbol.asyncDispose]: async () => void order.push('asyncDispose') });
    expect(stack.closed).toBe(false);
    const first = stack.close();
    expect(stack.close()).toBe(first);
    await first;
    expect(order).toEqual(['asyncDispose', 'dispose', 'close', 'fn']);
    expect(stack.closed).toBe(true);
  });

  it('keeps closing after a failure and reports every failure', async () => {
    const closed: string[] = [];
    const stack = new ResourceStack();
    stack.defer(() => closed.push('a'));
    stack.defer(() => {
      throw new Error('b failed');
    });
    stack.use({ close: () => Promise.reject(new Error('c failed')) });
    const error: unknown = await stack.close().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloseError);
    expect((error as CloseError).code).toBe('ERR_CLOSE');
    expect((error as CloseError).errors.map((e) => (e as Error).message)).toEqual(['c failed', 'b failed']);
    expect(closed).toEqual(['a']);
  });

  it('refuses new resources after close, and works with await using', async () => {
    let closed = false;
    {
      await using stack = new ResourceStack();
      stack.defer(() => (closed = true));
    }
    expect(closed).toBe(true);
    const stack = new ResourceStack();
    await stack.close();
    expect(() => stack.defer(() => undefined)).toThrow(ClosedError);
  });
});
