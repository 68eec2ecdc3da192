import { XError } from '@x/core';

/** A `google.api.http` rule that cannot be served as written: a bad template, a body or field that is not there. */
export class HttpRuleError extends XError<'ERR_HTTP_RULE'> {
  constructor(
    /** The method whose rule it is (`library.v1.Library.GetBook`). */
    readonly method: string,
    reason: string,
  ) {
    super('ERR_HTTP_RULE', `${method}: ${reason}`);
  }
}

/** Two rules would serve the same requests (same verb, same path pattern): found when the gateway is made. */
export class RouteConflictError extends XError<'ERR_ROUTE_CONFLICT'> {
  constructor(
    /** `GET /v1/{name=shelves/*}` as written in the first rule. */
    readonly route: string,
    readonly methods: readonly [string, string],
  ) {
    super('ERR_ROUTE_CONFLICT', `${methods[0]} and ${methods[1]} both serve ${route}`);
  }
}
