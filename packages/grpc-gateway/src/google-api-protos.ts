import { dirname } from 'node:path';

/**
 * The directory that holds `google/api/annotations.proto` and `google/api/http.proto` (shipped by protobufjs, which
 * @grpc/proto-loader loads protos with): give it to `loadSync` in `includeDirs` so that annotated protos load.
 *
 * @example
 * ```ts
 * const packageDefinition = loadSync('library.proto', { includeDirs: [googleApiProtos, 'protos'] });
 * ```
 */
export const googleApiProtos: string = dirname(require.resolve('protobufjs/package.json'));
