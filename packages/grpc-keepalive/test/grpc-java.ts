/**
 * Runs the grpc-java reference client (test/java/EchoLoad.java, launched as a single source file) with the jars
 * `scripts/services libs grpc-java` resolves from Maven Central.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

export interface EchoLoadResult {
  calls: number;
  ok: number;
  wrong: number;
  failed: Record<string, number>;
}

/** Calls test.Echo/Say `rate` times a second for `seconds` over `channels` connections; resolves with the tally. */
export function grpcJavaEchoLoad(port: number, channels: number, rate: number, seconds: number): Promise<EchoLoadResult> {
  const libs = execFileSync('bash', [join(ROOT, 'scripts', 'services'), 'libs', 'grpc-java'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const child = spawn('java', ['-cp', `${libs}/*`, join(__dirname, 'java', 'EchoLoad.java'), String(port), String(channels), String(rate), String(seconds)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`grpc-java client exited with ${code}: ${stderr.slice(-2000)}`));
      else resolve(JSON.parse(line) as EchoLoadResult);
    });
  });
}
