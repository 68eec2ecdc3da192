import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '@x/core';

// One side of a hand-off between two threads, over the ring or over a MessagePort (postMessage).
const { transport, role, count, ring: ringBuffer, port } = workerData as {
  transport: 'ring' | 'postMessage';
  role: 'produce' | 'consume';
  count: number;
  ring?: SharedArrayBuffer;
  port?: MessagePort;
};

function finish(started: number): void {
  parentPort!.postMessage(performance.now() - started);
}

parentPort!.once('message', () => {
  const started = performance.now();
  if (transport === 'ring') {
    const ring = SpscRing.attach(ringBuffer!);
    if (role === 'produce') {
      for (let i = 0; i < count; i++) ring.push(i);
    } else {
      let expected = 0;
      while (expected < count) if (ring.pop() === expected) expected++;
      else throw new Error('out of order');
    }
    finish(started);
  } else if (role === 'produce') {
    for (let i = 0; i < count; i++) port!.postMessage(i);
    finish(started);
  } else {
    let expected = 0;
    port!.on('message', (value: number) => {
      if (value !== expected++) throw new Error('out of order');
      if (expected === count) {
        finish(started);
        port!.close();
      }
    });
  }
});
