import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { metricPoints as points, registerMetricsSdk } from '@x/testkit';
import { ProcessTotals, packageMeter } from '../src/index.js';

describe('ProcessTotals', () => {
  it('sums the counts of every object per attribute set, keeps closed and collected objects in the counters, and drops them from the levels', async () => {
    const sdk = registerMetricsSdk();
    try {
      const totals = new ProcessTotals<'done' | 'open'>(
        packageMeter('@x/test', '1.0.0'),
        [{ name: 'x.test.done', count: 'done', description: 'done', unit: '{thing}' }],
        [{ name: 'x.test.open', count: 'open', description: 'open', unit: '{thing}' }],
      );
      const red = { colour: 'red' };
      const blue = { colour: 'blue' };
      const [a, b, c] = [{ done: 1, open: 2 }, { done: 10, open: 20 }, { done: 100, open: 200 }];
      const sources = [{ attributes: red, counts: a }, { attributes: red, counts: b }, { attributes: blue, counts: c }];
      const owners = sources.map(() => ({}));
      sources.forEach((source, i) => totals.add(owners[i]!, source));
      const read = async (name: string): Promise<Record<string, unknown>> =>
        Object.fromEntries(points(await sdk.collect(), name).map((p) => [String(p.attributes.colour), p.value]));
      expect(await read('x.test.done')).toEqual({ red: 11, blue: 100 });
      expect(await read('x.test.open')).toEqual({ red: 22, blue: 200 });
      // Counts are read at collection.
      a.done = 5;
      expect(await read('x.test.done')).toEqual({ red: 15, blue: 100 });
      // A closed object's count stays in the counter (a counter never goes back); its level leaves the gauge.
      totals.remove(sources[1]!);
      totals.remove(sources[1]!);
      expect(await read('x.test.done')).toEqual({ red: 15, blue: 100 });
      expect(await read('x.test.open')).toEqual({ red: 2, blue: 200 });
      totals.remove(sources[0]!);
      expect(await read('x.test.open')).toEqual({ red: 0, blue: 200 });

      // An object dropped without closing is counted out once it is garbage collected.
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const dropOwner = (): void => {
        owners[2] = undefined as unknown as object;
      };
      dropOwner();
      for (let i = 0; i < 50 && (await read('x.test.open')).blue !== 0; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(await read('x.test.open')).toEqual({ red: 0, blue: 0 });
      expect(await read('x.test.done')).toEqual({ red: 15, blue: 100 });
    } finally {
      await sdk.shutdown();
    }
  });

  it('sums objects whose attribute sets are equal but made apart (two consumers of one group)', async () => {
    const sdk = registerMetricsSdk();
    try {
      const totals = new ProcessTotals<'done' | 'open'>(
        packageMeter('@x/test-apart', '1.0.0'),
        [{ name: 'x.test.apart.done', count: 'done', description: 'done', unit: '{thing}' }],
        [{ name: 'x.test.apart.open', count: 'open', description: 'open', unit: '{thing}' }],
      );
      const first = { attributes: { group: 'g', colour: 'red' }, counts: { done: 1, open: 2 } };
      // The same attributes, written in another order, in an object of its own.
      const second = { attributes: { colour: 'red', group: 'g' }, counts: { done: 10, open: 20 } };
      const owners = [{}, {}];
      totals.add(owners[0]!, first);
      totals.add(owners[1]!, second);
      const read = async (name: string): Promise<unknown[]> => points(await sdk.collect(), name).map((p) => [p.attributes, p.value]);
      expect(await read('x.test.apart.done')).toEqual([[{ group: 'g', colour: 'red' }, 11]]);
      expect(await read('x.test.apart.open')).toEqual([[{ group: 'g', colour: 'red' }, 22]]);
      totals.remove(first);
      expect(await read('x.test.apart.done')).toEqual([[{ group: 'g', colour: 'red' }, 11]]);
      expect(await read('x.test.apart.open')).toEqual([[{ group: 'g', colour: 'red' }, 20]]);
      totals.remove(second);
      expect(await read('x.test.apart.open')).toEqual([[{ group: 'g', colour: 'red' }, 0]]);
    } finally {
      await sdk.shutdown();
    }
  });
});
