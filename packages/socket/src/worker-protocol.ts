/** What the main thread and a reactor thread tell each other (kept apart from the worker entry, which runs on import). */
import { InvalidArgumentError } from '@x/core';
import { SyscallError } from './errors.js';
import { type ReactorOptions } from './reactor.js';
import { type UdpReactorOptions } from './udp-reactor.js';

/** What every reactor thread is given besides its own options. */
export interface SharedWithThread {
  /** The thread's command ring (main thread → reactor). */
  commandBuffer: SharedArrayBuffer;
  /** The server's FdLedger, where the reactor records the descriptors it opens. */
  fdBuffer: SharedArrayBuffer;
}

/** What the main thread passes to each reactor thread. */
export interface ReactorWorkerData extends SharedWithThread {
  id: number;
  reactors: number;
  /** Undefined in proxy mode, where no handler runs. */
  handlerModule: string | undefined;
  handlerOptions: unknown;
  host: string;
  port: number;
  backlog: number | undefined;
  pinCpu: number | undefined;
  steering: 'incoming-cpu' | 'cpu-bpf' | undefined;
  reactor: Omit<ReactorOptions, 'id' | 'stats'>;
  statsBuffer: SharedArrayBuffer;
}

/** What the main thread passes to each UDP reactor thread. */
export interface UdpWorkerData extends SharedWithThread {
  id: number;
  reactors: number;
  handlerModule: string;
  handlerOptions: unknown;
  host: string;
  port: number;
  pinCpu: number | undefined;
  steering: 'incoming-cpu' | 'cpu-bpf' | undefined;
  reactor: Omit<UdpReactorOptions, 'id' | 'stats'>;
  statsBuffer: SharedArrayBuffer;
}

/** Commands on the ring, main thread → reactor. */
export const Command = { Shutdown: 1, Stop: 2 } as const;

/** Messages reactor → main thread. */
export type ReactorMessage =
  | { type: 'listening'; host: string; port: number; wakeFd: number; cpu: number | undefined }
  | { type: 'failed'; error: ThreadError };

/** An error as it crosses threads: structured clone keeps only message and stack of an Error, not its fields. */
export interface ThreadError {
  message: string;
  stack: string | undefined;
  code: string | undefined;
  syscall: string | undefined;
  errnoValue: number | undefined;
  /** InvalidArgumentError's argument and expectation, to rebuild it as one. */
  argument: string | undefined;
  expected: string | undefined;
}

export function errorToThread(error: unknown): ThreadError {
  const fields = (typeof error === 'object' && error !== null ? error : {}) as Partial<Record<keyof ThreadError, unknown>>;
  return {
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
    code: typeof fields.code === 'string' ? fields.code : undefined,
    syscall: typeof fields.syscall === 'string' ? fields.syscall : undefined,
    errnoValue: typeof fields.errnoValue === 'number' ? fields.errnoValue : undefined,
    argument: typeof fields.argument === 'string' ? fields.argument : undefined,
    expected: typeof fields.expected === 'string' ? fields.expected : undefined,
  };
}

/** Rebuilds the error on the receiving side: a SyscallError again where it was one. */
export function errorFromThread(error: ThreadError): Error {
  if (error.code === 'ERR_SYSCALL' && error.syscall !== undefined && error.errnoValue !== undefined) {
    return new SyscallError(error.syscall, error.errnoValue);
  }
  if (error.code === 'ERR_INVALID_ARGUMENT' && error.argument !== undefined && error.expected !== undefined) {
    // The value stayed in the thread; the message, which describes it, came across.
    const invalid = new InvalidArgumentError(error.argument, undefined, error.expected);
    Object.defineProperty(invalid, 'message', { value: error.message, writable: true, configurable: true });
    if (error.stack !== undefined) invalid.stack = error.stack;
    return invalid;
  }
  const rebuilt = new Error(error.message);
  if (error.code !== undefined) Object.assign(rebuilt, { code: error.code });
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}
