import * as vm from 'node:vm';

/**
 * Whether a test under jest can load an ES-module-only package (such as @platformatic/kafka) by `require`. Node
 * does so from 22.12 on, but jest's module system only on Node 24.9+ started with --experimental-vm-modules (as
 * `npm test` starts it): elsewhere the tests that need such a package are left out (the packed packages are
 * loaded by `require` on every line by the consumer check).
 */
export function jestCanRequireEsm(): boolean {
  return typeof (vm as { SourceTextModule?: { prototype: { hasAsyncGraph?: unknown } } }).SourceTextModule?.prototype.hasAsyncGraph === 'function';
}
