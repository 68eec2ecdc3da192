/** `@opentelemetry/api`, where the application installed it: the one place telemetry.ts and tracing.ts load it. */
import { createRequire } from 'node:module';

let api: unknown;
let looked = false;

/**
 * The API module when the application installed it, else null; looked up once. Typed by the caller with the part
 * of the API it uses (the API's own types are not imported: it is an optional peer).
 */
export function loadOtelApi<T>(): T | null {
  if (!looked) {
    looked = true;
    try {
      // Resolved from this file: the application's copy, hoisted beside this package.
      api = createRequire(__filename)('@opentelemetry/api');
    } catch {
      api = null;
    }
  }
  return api as T | null;
}
