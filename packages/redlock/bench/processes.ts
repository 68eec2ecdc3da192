/** Several processes contending for one key, as deployments run a lock: each a child running contender.ts. */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { LockerName } from './peers.js';
import { type ContentionLog, type ContentionResult, contentionKeys, summarize } from './scenarios.js';

export async function acrossProcesses(
  name: LockerName,
  counterClient: Redis,
  processes: number,
  workersEach: number,
  holdMs: number,
  durationMs: number,
): Promise<ContentionResult & { lostUpdates: number }> {
  const { resource, counterKey } = contentionKeys();
  const children = Array.from({ length: processes }, () =>
    fork(join(__dirname, 'contender.js'), [name, resource, counterKey, String(workersEach), String(holdMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  try {
    await Promise.all(children.map((child) => new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`a ${name} contender exited with code ${code} before it was ready`)));
    })));
    const startAt = Date.now() + 100;
    const logs = children.map((child) => new Promise<ContentionLog>((resolve, reject) => {
      child.removeAllListeners('exit');
      child.once('message', (log) => resolve(log as ContentionLog));
      child.once('exit', (code) => reject(new Error(`a ${name} contender exited with code ${code} before reporting`)));
    }));
    for (const child of children) child.send({ startAt, stopAt: startAt + durationMs });
    const result = summarize(await Promise.all(logs));
    const lostUpdates = result.locks - Number(await counterClient.get(counterKey));
    await counterClient.del(counterKey);
    return { ...result, lostUpdates };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}
