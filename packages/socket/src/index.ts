export { createServer, Server, type ServerOptions, type ReactorInfo } from './server.js';
export { Reactor, type ReactorOptions } from './reactor.js';
export { Connection, type ConnectionState } from './connection.js';
export { type Handler, type HandlerContext, type HandlerModule } from './handler.js';
export { LengthPrefixedDecoder, LineDecoder, encodeLengthPrefixed, type LengthPrefixedOptions, type LineDecoderOptions } from './codecs.js';
export { STAT_FIELDS, type ReactorCounters } from './stats.js';
export { SyscallError, PlatformUnsupportedError, FrameError, SocketStateError, errnoName } from './errors.js';
export { isSupported, assertSupported } from './libc/library.js';
export { type SocketAddress } from './libc/address.js';
