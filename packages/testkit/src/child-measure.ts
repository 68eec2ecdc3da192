/**
 * Measurements made in a process of their own, for what one process cannot compare with itself: a package with
 * `@opentelemetry/api` installed (and no SDK registered) against the same package where it is not installed.
 * The bench's entry file serves both roles: started with X_BENCH_MEASURE set, it runs that one measurement,
 * prints it and exits (childMeasurement); otherwise the cases it runs spawn it (otelApiCase).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { BenchCase } from './bench.js';

const MEASURE_ENV = 'X_BENCH_MEASURE';
const RESULT_PREFIX = 'x-bench-measured ';

/**
 * The preload that hides `@opentelemetry/api` from everything but this kit (see hide-otel-api.ts): the compiled
 * file, also when this module runs from its source (under jest).
 */
export const HIDE_OTEL_API = join(__dirname, '..', 'dist', 'hide-otel-api.js');

/** Whether `@opentelemetry/api` resolves for code outside this kit in this process. */
function otelApiResolves(): boolean {
  try {
    // Resolved as a package would resolve it: the hook tells this kit's files apart by the requiring file.
    createRequire(join(process.cwd(), 'index.js')).resolve('@opentelemetry/api');
    return true;
  } catch {
    return false;
  }
}

/**
 * In a child started by measureInChild: runs the measurement named by its environment, prints it (with whether
 * the API resolved, so the parent can tell a hook that did nothing) and returns true; the caller then ends.
 * Anywhere else returns false at once.
 */
export async function childMeasurement(measures: Record<string, () => Promise<number> | number>): Promise<boolean> {
  const name = process.env[MEASURE_ENV];
  if (name === undefined) return false;
  const measure = measures[name];
  if (measure === undefined) throw new Error(`no measurement named ${name}: ${Object.keys(measures).join(', ')}`);
  const value = await measure();
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify({ value, otelApi: otelApiResolves() })}\n`);
  return true;
}

/**
 * Runs measurement `name` of `entry` (default: this bench's entry file, with its arguments) in a fresh node
 * process, the API hidden or not.
 */
export function measureInChild(name: string, options: { otelApi: boolean; env?: NodeJS.ProcessEnv; entry?: string }): Promise<number> {
  const script = options.entry === undefined ? [process.argv[1]!, ...process.argv.slice(2)] : [options.entry];
  const args = [...(options.otelApi ? [] : ['--require', HIDE_OTEL_API]), ...script];
  const child = spawn(process.execPath, args, { env: { ...process.env, ...options.env, [MEASURE_ENV]: name }, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const line = output.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || line === undefined) return reject(new Error(`measurement ${name} exited with ${code}: ${output.slice(-500)}`));
      const { value, otelApi } = JSON.parse(line.slice(RESULT_PREFIX.length)) as { value: number; otelApi: boolean };
      if (otelApi !== options.otelApi) return reject(new Error(`measurement ${name}: @opentelemetry/api ${otelApi ? 'resolved' : 'did not resolve'} in the child`));
      resolve(value);
    });
  });
}

/**
 * A case `otel-api-<id>`: measurement `name` with `@opentelemetry/api` installed and no SDK registered (ours)
 * against the same where it is not installed (the peer), each in a fresh process per round.
 */
export function otelApiCase(id: string, name: string, shape: Pick<BenchCase, 'unit' | 'better' | 'rounds' | 'warmup'>, env?: NodeJS.ProcessEnv): BenchCase {
  return {
    id: `otel-api-${id}`,
    peer: '@opentelemetry/api not installed',
    ...shape,
    ours: () => measureInChild(name, { otelApi: true, env }),
    theirs: () => measureInChild(name, { otelApi: false, env }),
  };
}
