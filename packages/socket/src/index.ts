export { createServer, createProxyServer, Server, type ProxyServerOptions } from './server.js';
export { type ServerOptions, type ReactorInfo, type SocketServer, type PlacementOptions } from './server-common.js';
export { type SplicePair } from './splice-proxy.js';
export { Reactor, type ReactorOptions, type ConnectionSocketOptions } from './reactor.js';
export { type Connection, type ConnectionState, type Handler, type HandlerContext, type HandlerModule } from './handler.js';
export { LengthPrefixedDecoder, LineDecoder, encodeLengthPrefixed, type LengthPrefixedOptions, type LineDecoderOptions } from './codecs.js';
export { STAT_FIELDS, UDP_STAT_FIELDS, type ReactorCounters, type UdpCounters } from './stats.js';
export { createUdpServer, UdpServer, type UdpServerOptions, type UdpReactorInfo } from './udp-server.js';
export { UdpReactor, type UdpReactorOptions } from './udp-reactor.js';
export { UdpPeer } from './udp-peer.js';
export { type UdpHandler, type UdpHandlerModule, type UdpSocket } from './udp-handler.js';
export { SyscallError, PlatformUnsupportedError, FrameError, type FrameErrorCode, SocketStateError, errnoName } from './errors.js';
export { isSupported, assertSupported } from './libc/library.js';
export { type SocketAddress } from './libc/address.js';
export { readNicQueues, planIrqSpread, applyIrqSpread, parseCpuList, type NicQueues, type NicIrq, type IrqMove } from './nic.js';
// Errors its functions throw, so `instanceof` and `isXError` need no direct install of @x/core.
export { XError, isXError, InvalidArgumentError, TimeoutError } from '@x/core';
