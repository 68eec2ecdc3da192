import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import { SpscRing } from '@x/core';

/**
 * Hands `count` numbers from a producer thread to a consumer thread, one at a time, and returns numbers per
 * second as the consumer saw them (start signal to last value received).
 */
export async function handoffsPerSecond(transport: 'ring' | 'postMessage', count: number): Promise<number> {
  const ring = transport === 'ring' ? SpscRing.create(4096).buffer : undefined;
  const channel = transport === 'postMessage' ? new MessageChannel() : undefined;
  const start = (role: 'produce' | 'consume'): Worker => {
    const port = role === 'produce' ? channel?.port1 : channel?.port2;
    return new Worker(join(__dirname, 'ring-worker.js'), {
      workerData: { transport, role, count, ring, port },
      transferList: port ? [port] : [],
    });
  };
  const consumer = start('consume');
  const producer = start('produce');
  const workers = [consumer, producer];
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('online', resolve))));
  const consumed = new Promise<number>((resolve, reject) => consumer.once('message', resolve).once('error', reject));
  const produced = new Promise<number>((resolve, reject) => producer.once('message', resolve).once('error', reject));
  consumer.postMessage('go');
  producer.postMessage('go');
  const [elapsed] = await Promise.all([consumed, produced]);
  await Promise.all(workers.map((worker) => worker.terminate()));
  return count / (elapsed / 1000);
}
