/**
 * A consumer process SIGKILLed mid-stream and a new one started in its place: every record is handled at least
 * once; the repeats are bounded by what was in flight or not yet committed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, kafkaBrokers, requireKafka, significantStderr, spawnTsProcess } from '@x/testkit';
import { eventually, freshTopic, kafka, produce, uniqueName } from './kafka.js';

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
  await exited(victim);
  const beforeRestart = new Set(handled(log)).size;
  expect(beforeRestart).toBeLessThan(total);
  const replacement = spawnTsProcess(join(__dirname, 'fixtures', 'consumer-process.ts'), env);
  try {
    await eventually(() => new Set(handled(log)).size === total, `all ${total} records handled`, 120_000);
  } finally {
    replacement.kill('SIGTERM');
    await exited(replacement);
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

it('a member SIGKILLed beside two others: the survivors never run again what they completed', async () => {
  await (await requireKafka()).disconnect();
  const topic = await freshTopic(6);
  const group = uniqueName('g');
  const total = 120_000;
  await produce(topic, total, 6_000);
  const logs = ['a', 'b', 'c'].map((name) => join(dir, `member-${name}.log`));
  const members = logs.map((log) =>
    spawnTsProcess(join(__dirname, 'fixtures', 'consumer-process.ts'), { X_KAFKA_BROKERS: kafkaBrokers().join(','), X_TOPIC: topic, X_GROUP: group, X_LOG: log, X_HANDLER_MS: '20' }),
  );
  const [victim, ...survivors] = members;
  let perInterval: number;
  try {
    await eventually(() => logs.every((log) => handled(log).length >= 500), 'every member handling records', 90_000);
    const before = handled(logs[0]!).length;
    await new Promise((r) => setTimeout(r, 200));
    perInterval = Math.round(((handled(logs[0]!).length - before) / 200) * COMMIT_INTERVAL_MS);
    victim!.kill('SIGKILL');
    await eventually(() => new Set(logs.flatMap(handled)).size === total, `all ${total} records handled`, 180_000);
  } finally {
    for (const member of survivors) member.kill('SIGTERM');
    await Promise.all(members.map(exited));
  }
  const [byVictim, ...bySurvivors] = logs.map(handled);
  const again = (first: number[], second: number[]): number => {
    const seen = new Set(first);
    return second.filter((value) => seen.has(value)).length;
  };
  const withinSurvivor = bySurvivors.map((list) => list.length - new Set(list).size);
  const acrossSurvivors = again(bySurvivors[0]!, bySurvivors[1]!);
  const afterVictim = bySurvivors.reduce((sum, list) => sum + again(byVictim!, list), 0);
  console.log(
    `3 members, one SIGKILLed: run twice by one survivor ${withinSurvivor.join('+')}, by both survivors ${acrossSurvivors}, ` +
      `by the victim then a survivor ${afterVictim} (the victim completed ${perInterval} per commit interval of ${COMMIT_INTERVAL_MS} ms at the kill)`,
  );
  // The survivors rejoin in turn (the second when the first's JoinGroup is pending): each waits for its running
  // handlers and commits before it rejoins, so no partition that moves between them repeats anything.
  expect(withinSurvivor).toEqual([0, 0]);
  expect(acrossSurvivors).toBe(0);
  for (const member of survivors) expect(significantStderr(member.stderrText())).toEqual([]);
  // The victim's repeats: what it completed since its last commit, as in the test above.
  expect(afterVictim).toBeLessThanOrEqual(Math.max(2 * perInterval, 100));
}, 300_000);

it('a member stopped (SIGSTOP) past its session timeout, its partition moved on meanwhile: after SIGCONT it never commits an offset back', async () => {
  const admin = await requireKafka();
  const topic = await freshTopic(1);
  const group = uniqueName('g');
  const total = 40_000;
  await produce(topic, total, 4_000);
  const log = join(dir, 'stop.log');
  const member = spawnTsProcess(join(__dirname, 'fixtures', 'consumer-process.ts'), { X_KAFKA_BROKERS: kafkaBrokers().join(','), X_TOPIC: topic, X_GROUP: group, X_LOG: log, X_HANDLER_MS: '20' });
  const committed = async (): Promise<number> => Number((await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions[0]?.offset ?? -1);
  let movedOn: number;
  let lowestAfter = Infinity;
  let atResume: number;
  try {
    await eventually(() => handled(log).length >= 1_000, '1,000 records handled', 90_000);
    member.kill('SIGSTOP');
    // Past the fixture's 6 s session timeout the group has no member; another consumer of the same group then
    // takes the partition, moves its committed offset 10,000 records on and leaves.
    await new Promise((r) => setTimeout(r, 7_000));
    const start = await committed();
    const interloper = kafka.consumer({ groupId: group, sessionTimeout: 6_000, heartbeatInterval: 500 });
    await interloper.connect();
    await interloper.subscribe({ topic, fromBeginning: true });
    let last = -1;
    await interloper.run({ eachBatch: async ({ batch }) => void (last = Number(batch.lastOffset())) });
    await eventually(async () => last >= start + 10_000 && (await committed()) >= start + 10_000, 'the other consumer 10,000 records on', 60_000);
    await interloper.disconnect();
    movedOn = await committed();
    atResume = handled(log).length;
    member.kill('SIGCONT');
    // From outside, every 100 ms for 5 s: the lowest committed offset after the stopped member came back.
    for (let i = 0; i < 50; i++) {
      lowestAfter = Math.min(lowestAfter, await committed());
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.disconnect();
    member.kill('SIGCONT');
    member.kill('SIGTERM');
    await exited(member);
  }
  const again = handled(log).slice(atResume).filter((value) => value < movedOn).length;
  console.log(`SIGSTOP past the session, partition moved on to ${movedOn} meanwhile: lowest committed offset after SIGCONT ${lowestAfter}; records below it run after SIGCONT: ${again}`);
  // Before: the member rejoined under a new member id, got the partition back and kept what it knew of it,
  // so it went on with its buffered records and committed its old position.
  expect(lowestAfter).toBeGreaterThanOrEqual(movedOn);
  // What was running at the stop (64 slots) finishes; nothing more below the moved-on offset starts.
  expect(again).toBeLessThanOrEqual(64);
}, 300_000);
