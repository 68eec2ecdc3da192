/**
 * Preloaded (`node --require`) by a bench's child process that measures a package as if `@opentelemetry/api` were
 * not installed: resolving it fails as it does in a project without it. Only this kit's own files and the SDK
 * packages (loaded with the kit's metrics helpers, unused in such a child) still find it.
 */
import Module from 'node:module';

/** This kit's compiled files (this file is one of them). */
const KIT = __dirname;
type Resolve = (request: string, parent: { filename?: string | null } | undefined, ...rest: unknown[]) => string;
const resolver = Module as unknown as { _resolveFilename: Resolve };
const resolve = resolver._resolveFilename;

resolver._resolveFilename = function hidingOtelApi(this: unknown, request, parent, ...rest) {
  const from = parent?.filename ?? '';
  const fromKit = from.startsWith(`${KIT}/`) || from.includes('/node_modules/@opentelemetry/');
  if (!fromKit && (request === '@opentelemetry/api' || request.startsWith('@opentelemetry/api/'))) {
    throw Object.assign(new Error(`Cannot find module '${request}' (hidden by the bench: measured as not installed)`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, parent, ...rest);
};
