import { gate } from '../src/index.js';

describe('gate', () => {
  it('holds its waiters until opened, then lets every one through', async () => {
    const held = gate();
    const passed: number[] = [];
    const waiters = [1, 2].map(async (n) => {
      await held.opened;
      passed.push(n);
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(passed).toEqual([]);
    held.open();
    await Promise.all(waiters);
    expect(passed.sort()).toEqual([1, 2]);
  });
});
