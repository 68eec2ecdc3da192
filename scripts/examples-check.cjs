/**
 * Every example's documented command, run as its README says (the first command of its README, the one a
 * newcomer runs first, except where a shorter one the README gives checks the same; `npm run demo` for the demo), with the services `npm test` started: each must exit 0
 * within its time and print the lines that say its work came out right (invariants, not figures). The
 * observability example, a server, has a jest test of its own.
 *
 * Run from the repository root after a build (`npm start` builds what an example needs; here that is cached).
 */
'use strict';
const { spawnSync } = require('node:child_process');

/** [example, command, arguments, time limit in ms, lines the output must have]. */
const EXAMPLES = [
  ['broker-reminders', 'npm', ['start', '-w', '@x/example-broker-reminders'], 120_000, [/sent (\d+) of \1 reminders/, /early: 0$/m]],
  ['grpc-gateway', 'npm', ['start', '-w', '@x/example-grpc-gateway'], 60_000, [/-> 200 \{"id":"A-3","item":"teapot","quantity":3,/, /-> 404 \{"code":5,"message":"no order Z-9"/, /^ +\{"result":\{"id":"A-2","state":"PACKED"\}\}$/m, /GOAWAY code 11 "too_many_pings"/]],
  ['idle-timeouts', 'npm', ['start', '-w', '@x/example-idle-timeouts'], 60_000, [/closed for idleness (\d+) \(expected \1\), closed by peer (\d+) \(expected \2\)/]],
  ['kafka-orders', 'npm', ['start', '-w', '@x/example-kafka-orders'], 120_000, [/20,000 orders in .*out of order per customer: 0/, /committed offset after close: 20000 of 20,000/]],
  ['lock-workers', 'npm', ['start', '-w', '@x/example-lock-workers'], 120_000, [/orders processed more than once: 0; orders missed: 0/, /fencing tokens did not strictly increase from hold to hold: 0/]],
  ['reminder-workers', 'npm', ['start', '-w', '@x/example-reminder-workers'], 120_000, [/sent (\d+) of \1 reminders/, /early: 0$/m, /counts across the workers once all were sent: \{"delayed":0,"ready":0,"reserved":0,"dead":0\}/]],
  ['socket-servers', 'npm', ['start', '-w', '@x/example-socket-servers'], 60_000, [/sha (\w+) \(file \1\)/, /sha \w+: identical/, /8,000 of 8,000 datagrams answered/]],
  ['worker-pipeline', 'npm', ['start', '-w', '@x/example-worker-pipeline'], 120_000, [/matches the known pi\(20000000\) = 1270607/]],
  // Its README's second command: the first (1,000,000 fields, 5 rounds) takes about a minute for the same lines.
  ['redis-unlink', 'npm', ['start', '-w', '@x/example-redis-unlink', '--', '--fields', '200000', '--rounds', '3'], 120_000, [/\| 65 +\| background thread/]],
  ['demo', 'npm', ['run', 'demo'], 300_000, [/▶ @x\/timewheel/, /▶ @x\/kafka-fast/]],
];

let failed = 0;
for (const [name, command, args, timeout, expected] of EXAMPLES) {
  const started = Date.now();
  const run = spawnSync(command, args, { encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0' } });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  const missing = expected.filter((pattern) => !pattern.test(output));
  const problem = run.error ? String(run.error) : run.status !== 0 ? `exit ${run.status ?? run.signal}` : missing.length > 0 ? `missing ${missing.join(', ')}` : '';
  if (problem === '') {
    console.log(`ok   ${name} (${seconds} s)`);
  } else {
    failed++;
    console.log(`FAIL ${name} (${seconds} s): ${problem}\n${output.split('\n').slice(-30).join('\n')}`);
  }
}
console.log(`examples: ${EXAMPLES.length - failed} of ${EXAMPLES.length} ran as documented`);
process.exit(failed === 0 ? 0 : 1);
