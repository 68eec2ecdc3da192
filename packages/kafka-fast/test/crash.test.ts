/**
 * A consumer process SIGKILLed mid-stream and a new one started in its place: every record is handled at least
 * once; the repeats are bounded by what was in flight or not yet committed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaBrokers, requireKafka, significantStderr, spawnTsProcess } from '@x/testkit';
import { eventually, freshTopic, produce, uniqueName } from './kafka.js';

const dir = mkdtempSync(join(tmpdir(), 'kf-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fixture's commitIntervalMs. */
const COMMIT_INTERVAL_MS = 100;

function handled(log: string): number[] {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

it('loses nothing when a consumer is SIGKILLed mid-stream and replaced', async () => {
  await (await requireKafka()).disconnect();
  const topic = await freshTopic(2);
  const group = uniqueName('g');
  const total = 20_000;
  await produce(topic, total, 2_000);
  const log = join(dir, 'handled.log');
  const env = { X_KAFKA_BROKERS: kafkaBrokers().join(','), X_TOPIC: topic, X_GROUP: group, X_LOG: log };
  const victim = spawnTsProcess(join(__dirname, 'fixtures', 'consumer-process.ts'), env);
  await eventually(() => handled(log).length >= 1_500, '1,500 records handled by the first consumer', 90_000);
  // The rate at the kill, read from the log over the last 200 ms: what one commit interval's worth of completions is.
  const before = handled(log).length;
  await new Promise((r) => setTimeout(r, 200));
  const perInterval = Math.round(((handled(log).length - before) / 200) * COMMIT_INTERVAL_MS);
  victim.kill('SIGKILL');
  await new Promise((resolve) => (victim.exitCode !== null || victim.signalCode !== null ? resolve(undefined) : victim.once('exit', resolve)));
  const beforeRestart = new Set(handled(log)).size;
  expect(beforeRestart).toBeLessThan(total);
  const replacement = spawnTsProcess(join(__dirname, 'fixtures', 'consumer-process.ts'), env);
  try {
    await eventually(() => new Set(handled(log)).size === total, `all ${total} records handled`, 120_000);
  } finally {
    replacement.kill('SIGTERM');
    await new Promise((resolve) => (replacement.exitCode !== null || replacement.signalCode !== null ? resolve(undefined) : replacement.once('exit', resolve)));
  }
  const all = handled(log);
  const duplicates = all.length - new Set(all).size;
  console.log(
    `SIGKILL + restart: ${total} records, ${duplicates} handled twice (completed but not yet committed at the kill); ` +
      `records completed per commit interval (${COMMIT_INTERVAL_MS} ms) at the kill: ${perInterval}`,
  );
  // The repeats are what completed since the last commit was taken: one interval, plus the commit's own round
  // trip. Twice the interval's worth leaves room for a slow round trip on a loaded machine.
  expect(duplicates).toBeLessThanOrEqual(Math.max(2 * perInterval, 100));
  expect(significantStderr(replacement.stderrText())).toEqual([]);
}, 240_000);
