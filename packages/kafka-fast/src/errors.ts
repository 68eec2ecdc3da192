/** The failure vocabulary of @x/kafka-fast. Bad options throw core's `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`). */
import { XError } from '@x/core';

/** `close()` gave up waiting for handlers; their records were not committed and will be consumed again. */
export class CloseTimeoutError extends XError<'ERR_CLOSE_TIMEOUT'> {
  constructor(
    readonly timeoutMs: number,
    readonly running: number,
  ) {
    super('ERR_CLOSE_TIMEOUT', `${running} handler(s) still running after ${timeoutMs} ms; their records will be consumed again`);
  }
}

/** Reason given to a handler's signal when its partition was taken away by a rebalance or the consumer closed. */
export class RecordRevokedError extends XError<'ERR_RECORD_REVOKED'> {
  constructor(topic: string, partition: number, offset: string) {
    super('ERR_RECORD_REVOKED', `${topic}[${partition}]@${offset} is no longer this consumer's to finish`);
  }
}
