/** Child processes of the benchmark: build the C tools, start servers pinned to CPUs, read their CPU time. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const C_SOURCES = join(__dirname, '..', 'bench', 'c');
const C_BINARIES = join(__dirname, 'c');
const CLOCK_TICKS = 100;

/** Compiles bench/c/NAME.c once per bench run; returns the binary's path. */
export function buildC(name: string): string {
  const binary = join(C_BINARIES, name);
  mkdirSync(C_BINARIES, { recursive: true });
  execFileSync('cc', ['-O2', '-o', binary, join(C_SOURCES, `${name}.c`)]);
  return binary;
}

/** CPU seconds (user + system) used so far by `pid` and its descendants. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  const visit = (id: number): void => {
    try {
      const fields = readFileSync(`/proc/${id}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      for (const task of readdirSync(`/proc/${id}/task`)) {
        const children = `/proc/${id}/task/${task}/children`;
        if (!existsSync(children)) continue;
        for (const child of readFileSync(children, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(child));
      }
    } catch {
      // The process ended between listing and reading.
    }
  };
  visit(pid);
  return ticks / CLOCK_TICKS;
}

/** A started server: its port, and a way to stop it. */
export interface Running {
  port: number;
  pid: number;
  process: ChildProcess;
  /** Everything the process printed after its ready line, once it has exited. */
  output: Promise<string>;
  stop(): Promise<void>;
}

/** Starts `command` (pinned to `cpus` when given) and waits for its "ready PORT" line. */
export function startProcess(command: string, args: readonly string[], cpus?: string): Promise<Running> {
  const [file, argv] = cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let output = '';
    child.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited with ${code} before ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready (\d+)/.exec(output);
      if (match === null) return;
      child.stdout!.removeAllListeners('data');
      child.removeAllListeners('exit');
      let rest = output.slice(match.index + match[0].length);
      child.stdout!.on('data', (more: Buffer) => (rest += more.toString()));
      const exited = new Promise<string>((done) => child.once('close', () => done(rest)));
      resolve({
        port: Number(match[1]),
        pid: child.pid!,
        process: child,
        output: exited,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 3000).unref();
          }),
      });
    });
  });
}

/** Runs a load tool to completion and parses the JSON line it prints. */
export function runTool<T>(binary: string, args: readonly string[], cpus?: string): T {
  const [file, argv] = cpus === undefined ? [binary, args] : ['taskset', ['-c', cpus, binary, ...args]];
  const output = execFileSync(file, argv, { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(output.trim().split('\n').pop()!) as T;
}

/** Starts one of serve.ts's servers in its own node process (with `nodeArgs` before the script, if any). */
export function startServer(kind: string, arg: string, cpus?: string, nodeArgs: readonly string[] = []): Promise<Running> {
  return startProcess(process.execPath, [...nodeArgs, join(__dirname, 'serve.js'), kind, arg], cpus);
}
