import { type BenchCase, countOption, isQuick, median, onlyCases, ratio, runBench } from '../src/index.js';

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

  it('runs only the cases named by --only=, and refuses a name that matches none', async () => {
    const ran: string[] = [];
    const make = (id: string): BenchCase => ({ id, unit: 'x', better: 'higher', peer: 'p', rounds: 1, warmup: 0, ours: () => (ran.push(id), 2), theirs: () => 1 });
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(onlyCases(['node', 'bench'])).toBeUndefined();
      expect(onlyCases(['node', 'bench', '--only=b,c'])).toEqual(['b', 'c']);
      const results = await runBench('pkg', [make('a'), make('b'), make('c')], ['node', 'bench', '--only=c,b']);
      expect(ran).toEqual(['b', 'c']);
      expect(results.map((r) => r.bench)).toEqual(['pkg.b', 'pkg.c']);
      await expect(runBench('pkg', [make('a')], ['node', 'bench', '--only=a,typo'])).rejects.toThrow(/--only names no case typo; cases: a/);
      expect(ran).toEqual(['b', 'c']);
    } finally {
      log.mockRestore();
    }
  });

  it('takes --rounds= and --warmup= over every case\'s own counts, and refuses what is not a count', async () => {
    const calls: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const c: BenchCase = { id: 'a', unit: 'x', better: 'higher', peer: 'p', rounds: 3, warmup: 1, ours: () => (calls.push('o'), 2), theirs: () => (calls.push('t'), 1) };
      await runBench('pkg', [c], ['node', 'bench', '--rounds=2', '--warmup=0']);
      expect(calls).toEqual(['o', 't', 't', 'o']);
      expect(countOption('rounds', ['node', 'bench'])).toBeUndefined();
      expect(countOption('rounds', ['node', 'bench', '--rounds=9'])).toBe(9);
      for (const bad of ['--rounds=', '--rounds=-1', '--rounds=2.5', '--rounds=x', '--rounds=1e3']) {
        expect(() => countOption('rounds', ['node', 'bench', bad])).toThrow(/--rounds wants a whole number/);
      }
      await expect(runBench('pkg', [c], ['node', 'bench', '--rounds=0'])).rejects.toThrow(/at least 1/);
      expect(calls).toHaveLength(4);
    } finally {
      log.mockRestore();
    }
  });
});
