import { status } from '@grpc/grpc-js';
import { httpStatusFromGrpcCode } from '../src/index.js';

it("maps every gRPC status to grpc-gateway's HTTP status (HTTPStatusFromCode)", () => {
  const expected: Record<number, number> = { 0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401 };
  for (let code = status.OK; code <= status.UNAUTHENTICATED; code++) expect([code, httpStatusFromGrpcCode(code)]).toEqual([code, expected[code]]);
  // A code outside the list, as grpc-gateway answers it.
  expect(httpStatusFromGrpcCode(99)).toBe(500);
});
