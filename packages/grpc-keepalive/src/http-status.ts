/** gRPC status codes as HTTP statuses, grpc-gateway's mapping (runtime.HTTPStatusFromCode). */
import { status } from '@grpc/grpc-js';

const MAPPING: Record<number, number> = {
  [status.OK]: 200,
  [status.CANCELLED]: 499, // nginx's "client closed request": the caller went away
  [status.UNKNOWN]: 500,
  [status.INVALID_ARGUMENT]: 400,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.PERMISSION_DENIED]: 403,
  [status.UNAUTHENTICATED]: 401,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.FAILED_PRECONDITION]: 400, // grpc-gateway deliberately not 412: it is about the system, not the request headers
  [status.ABORTED]: 409,
  [status.OUT_OF_RANGE]: 400,
  [status.UNIMPLEMENTED]: 501,
  [status.INTERNAL]: 500,
  [status.UNAVAILABLE]: 503,
  [status.DATA_LOSS]: 500,
};

/**
 * The HTTP status grpc-gateway answers for a gRPC status code; 500 for codes it does not know.
 *
 * @example
 * ```ts
 * httpStatusFromGrpcCode(status.RESOURCE_EXHAUSTED); // 429
 * ```
 */
export function httpStatusFromGrpcCode(code: number): number {
  return MAPPING[code] ?? 500;
}
