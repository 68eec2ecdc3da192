import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../src/index.js';

const { buffer, role, count } = workerData as { buffer: SharedArrayBuffer; role: 'produce' | 'consume'; count: number };
const ring = SpscRing.attach(buffer);
if (role === 'produce') {
  for (let i = 0; i < count; i++) ring.push(i);
  parentPort!.postMessage('produced');
} else {
  // Checks order inside the worker and reports the first gap, so the test sees exactly what went wrong.
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const value = ring.pop(10_000);
    if (value !== i) {
      parentPort!.postMessage({ error: `expected ${i}, got ${value}` });
      process.exit(0);
    }
    sum += value;
  }
  parentPort!.postMessage({ sum });
}
