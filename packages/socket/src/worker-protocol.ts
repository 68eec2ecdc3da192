/** What the main thread and a reactor thread tell each other (kept apart from the worker entry, which runs on import). */
import { type ReactorOptions } from './reactor.js';

/** What the main thread passes to each reactor thread. */
export interface ReactorWorkerData {
  id: number;
  reactors: number;
  /** Undefined in proxy mode, where no handler runs. */
  handlerModule: string | undefined;
  handlerOptions: unknown;
  host: string;
  port: number;
  backlog: number | undefined;
  pinCpu: number | undefined;
  steerByIncomingCpu: boolean;
  reactor: Omit<ReactorOptions, 'id' | 'stats'>;
  statsBuffer: SharedArrayBuffer;
  commandBuffer: SharedArrayBuffer;
}

/** Commands on the ring, main thread → reactor. */
export const Command = { Shutdown: 1, Stop: 2 } as const;

/** Messages reactor → main thread. */
export type ReactorMessage =
  | { type: 'listening'; host: string; port: number; wakeFd: number; cpu: number | undefined }
  | { type: 'failed'; error: unknown };
