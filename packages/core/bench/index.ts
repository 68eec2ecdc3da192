import { isQuick, runBench } from '@x/testkit';
import { ADJACENT_STRIDE, incrementsPerSecond, paddedStride } from './false-sharing.js';
import { handoffsPerSecond } from './ring.js';

const quick = isQuick();
const increments = quick ? 5_000_000 : 50_000_000;
const handoffs = quick ? 200_000 : 2_000_000;

void runBench('core', [
  {
    id: 'false-sharing',
    unit: 'increments/s',
    better: 'higher',
    peer: 'adjacent counters',
    rounds: quick ? 3 : 5,
    ours: () => incrementsPerSecond(paddedStride(), increments),
    theirs: () => incrementsPerSecond(ADJACENT_STRIDE, increments),
  },
  {
    id: 'ring',
    unit: 'msgs/s',
    better: 'higher',
    peer: 'postMessage',
    rounds: quick ? 3 : 5,
    ours: () => handoffsPerSecond('ring', handoffs),
    theirs: () => handoffsPerSecond('postMessage', handoffs),
  },
]).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
