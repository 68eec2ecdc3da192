import { LibcFunction, declare } from '../src/libc/library.js';

describe('LibcFunction', () => {
  it('binds the C function at first use and hands out that one function from then on', () => {
    const abs = declare<(value: number) => number>('int abs(int)');
    expect(abs).toBeInstanceOf(LibcFunction);
    expect(abs.prototype).toBe('int abs(int)');
    const first = abs.native;
    // One function object per declaration: every call site that uses it sees a single target.
    expect(abs.native).toBe(first);
    expect(abs.native(-42)).toBe(42);
  });

  it('reports a prototype koffi cannot parse when it is first used, not when it is declared', () => {
    let broken: LibcFunction<() => number> | undefined;
    expect(() => (broken = declare<() => number>('int ('))).not.toThrow();
    expect(() => broken!.native).toThrow();
  });
});
