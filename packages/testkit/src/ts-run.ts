/**
 * Runs a package's TypeScript sources in another thread or process without a build step, so tests of worker
 * threads and of process lifetime exercise the same code as the rest of the suite. The bootstrap transpiles
 * `.ts` on require (typescript's transpileModule) and maps NodeNext-style './x.js' imports to './x.ts'.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';

/** JavaScript that installs the `.ts` loader and then requires `file`. */
export function tsBootstrap(file: string): string {
  return `
    const ts = require(${JSON.stringify(require.resolve('typescript'))});
    const fs = require('node:fs');
    const Module = require('node:module');
    require.extensions['.ts'] = (module, filename) => {
      const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
        fileName: filename,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      module._compile(outputText, filename);
    };
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      try {
        return resolve.call(this, request, ...rest);
      } catch (error) {
        if (request.startsWith('.') && request.endsWith('.js')) return resolve.call(this, request.slice(0, -3) + '.ts', ...rest);
        throw error;
      }
    };
    require(${JSON.stringify(file)});
  `;
}

/** Starts a worker thread running the TypeScript file `file`. */
export function startTsWorker(file: string, workerData: unknown): Worker {
  return new Worker(tsBootstrap(file), { eval: true, workerData });
}

/** Resolves with the worker's first message; rejects on its error or an exit before one. */
export function firstMessage<T>(worker: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before replying`)));
  });
}

/** How a child process ended. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  elapsedMs: number;
}

/**
 * Runs the TypeScript file `file` in a new Node process (the running `node` binary) and resolves when it exits;
 * kills it and rejects after `timeoutMs`.
 */
export function runTsProcess(file: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProcessResult> {
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['-e', tsBootstrap(file)], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<ProcessResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not exit within ${options.timeoutMs ?? 20_000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}

/**
 * Starts the TypeScript file `file` in a new Node process and returns it at once, for tests that signal it
 * (SIGKILL, SIGSTOP). Its stderr is kept in `stderrText()` for failure messages.
 */
export function spawnTsProcess(file: string, env: NodeJS.ProcessEnv = {}): ChildProcess & { stderrText(): string } {
  const child = spawn(process.execPath, ['-e', tsBootstrap(file)], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return Object.assign(child, { stderrText: () => stderr });
}

/** Resolves once `child` has exited (at once when it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * The lines of a child's stderr that say something: without the warning kafkajs 2.2.4 prints on Node 24 (it
 * sets a negative timeout; harmless, known upstream).
 */
export function significantStderr(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '' && !/TimeoutNegativeWarning|Timeout duration was set to 1|--trace-warnings/.test(line));
}
