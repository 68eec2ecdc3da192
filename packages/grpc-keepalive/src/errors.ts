/** The package's failure vocabulary. */
import { XError } from '@x/core';

/**
 * grpc-js changed in a way the enforcer cannot follow: it reaches into one private field of `Server` (its map of
 * HTTP/2 servers) because grpc-js offers no public hook on connections. Says which version was found.
 */
export class GrpcInternalsError extends XError<'ERR_GRPC_JS_INTERNALS'> {
  constructor(detail: string) {
    super('ERR_GRPC_JS_INTERNALS', `@grpc/grpc-js internals not as expected (${detail}); @x/grpc-keepalive supports @grpc/grpc-js ^1.14`);
  }
}

/** A `grpc-timeout` header value that does not follow the gRPC wire format. */
export class GrpcTimeoutFormatError extends XError<'ERR_GRPC_TIMEOUT_FORMAT'> {
  constructor(readonly value: string) {
    super('ERR_GRPC_TIMEOUT_FORMAT', `grpc-timeout ${JSON.stringify(value)} is not 1-8 digits followed by one of H M S m u n`);
  }
}
