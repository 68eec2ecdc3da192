import { isQuick, median, ratio, runBench } from '../src/index.js';

describe('bench harness', () => {
  it('takes medians and orients ratios so that above 1 means ours wins', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/no values/);
    expect(ratio('higher', 200, 100)).toBe(2);
    expect(ratio('lower', 50, 100)).toBe(2);
    expect(isQuick(['node', 'bench', '--quick'])).toBe(true);
    expect(isQuick(['node', 'bench'])).toBe(false);
  });

  it('alternates ours and the peer and prints one JSON line per case', async () => {
    const calls: string[] = [];
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
    try {
      let n = 0;
      const results = await runBench('pkg', [
        {
          id: 'case',
          unit: 'ops/s',
          better: 'higher',
          peer: 'them',
          rounds: 3,
          warmup: 1,
          ours: () => (calls.push('ours'), 300 + n++),
          theirs: () => (calls.push('theirs'), 100),
        },
      ]);
      expect(calls).toEqual(['ours', 'theirs', 'ours', 'theirs', 'theirs', 'ours', 'ours', 'theirs']);
      expect(results).toEqual([{ bench: 'pkg.case', unit: 'ops/s', better: 'higher', ours: 302, peer: 'them', peerValue: 100, ratio: 3.02 }]);
      expect(JSON.parse(lines[lines.length - 1]!)).toEqual(results[0]);
    } finally {
      log.mockRestore();
    }
  });
});
