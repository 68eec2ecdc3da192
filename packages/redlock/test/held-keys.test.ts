import type { Instance } from '../src/instance.js';
import { HeldKeys } from '../src/held-keys.js';

// HeldKeys only tells instances apart by identity.
const instances = [0, 1, 2].map((i) => ({ name: `instance-${i}` }) as unknown as Instance);
const [a, b, c] = instances as [Instance, Instance, Instance];
const always = (): boolean => true;

describe('HeldKeys', () => {
  it('counts a majority from the latest starts it can vouch for', () => {
    const held = new HeldKeys();
    held.sent(1, 100);
    held.sent(2, 200);
    held.grant(a, 1, 7);
    held.grant(b, 2, 8);
    expect(held.majority(2, always)).toEqual({ instances: new Set([a, b]), since: 100, tokens: [8, 7] });
    // A later attempt's grant refreshes an instance; an attempt not sent in line is ignored.
    held.grant(a, 2, 9);
    held.grant(c, 3, 1);
    expect(held.majority(2, always)).toMatchObject({ since: 200, tokens: [9, 8] });
    expect(held.size).toBe(2);
  });

  it('forgets an instance that did not grant an attempt, and any hand-over there naming an earlier attempt', () => {
    const held = new HeldKeys();
    held.sent(1, 100);
    held.sent(2, 200);
    held.grant(a, 1, 1);
    held.grant(b, 1, 1);
    // Attempt 2 was refused on b: b may have given the key back to a waiter ahead in line.
    held.grant(a, 2, 2);
    held.forget(b, 2);
    expect(held.majority(2, always)).toBeUndefined();
    expect([...held.instances]).toEqual([a]);
    // A hand-over on b heard late names attempt 1 (it came before attempt 2 arrived there): it must not count.
    held.grant(b, 1, 3, 50);
    expect(held.majority(2, always)).toBeUndefined();
    // One that names attempt 2 came after that attempt: the key is the waiter's again.
    held.grant(b, 2, 4, 10);
    expect(held.majority(2, always)).toMatchObject({ instances: new Set([a, b]), since: 200 });
    // The floor only rises: forgetting after an older attempt still refuses grants older than the newest one.
    held.forget(b, 1);
    held.grant(b, 1, 5);
    expect([...held.instances]).toEqual([a]);
  });
});
