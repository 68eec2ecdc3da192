/**
 * Closing several resources as one: in reverse order of acquisition (what was opened last may depend on what
 * was opened first), every one of them even when some fail, failures reported together.
 */
import { ClosedError, XError } from './errors.js';

/** Anything `ResourceStack` knows how to close. */
export type Closeable =
  | AsyncDisposable
  | Disposable
  | { close(): unknown }
  | (() => unknown);

/** Raised when one or more resources failed to close; every failure is in `errors`. */
export class CloseError extends XError<'ERR_CLOSE'> {
  constructor(readonly errors: readonly unknown[]) {
    super('ERR_CLOSE', `${errors.length} resource(s) failed to close`, { cause: errors[0] });
  }
}

/**
 * A stack of resources closed together, LIFO. Closing is idempotent: the second call returns the first call's
 * promise.
 *
 * @example
 * ```ts
 * class Service implements AsyncDisposable {
 *   private readonly resources = new ResourceStack();
 *   async start() {
 *     const redis = this.resources.use(new Redis());
 *     this.resources.defer(() => clearInterval(ticker));
 *   }
 *   close() { return this.resources.close(); }
 *   [Symbol.asyncDispose]() { return this.close(); }
 * }
 * ```
 */
export class ResourceStack implements AsyncDisposable {
  private readonly stack: Closeable[] = [];
  private closing: Promise<void> | undefined;

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Registers `resource` to be closed with the stack, and returns it. Throws {@link ClosedError} after close. */
  use<T extends Closeable>(resource: T): T {
    if (this.closing !== undefined) throw new ClosedError('resource stack');
    this.stack.push(resource);
    return resource;
  }

  /** Registers a cleanup callback (same as `use(fn)`). */
  defer(cleanup: () => unknown): void {
    this.use(cleanup);
  }

  /** Closes everything, most recent first; rejects with {@link CloseError} if anything failed. */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (let resource = this.stack.pop(); resource !== undefined; resource = this.stack.pop()) {
      try {
        await closeOne(resource);
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new CloseError(errors);
  }
}

function closeOne(resource: Closeable): unknown {
  if (typeof resource === 'function') return resource();
  if (Symbol.asyncDispose in resource) return resource[Symbol.asyncDispose]();
  if ('close' in resource) return resource.close();
  return resource[Symbol.dispose]();
}
