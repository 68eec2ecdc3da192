/**
 * grpc-js ignores option keys it does not know, so `grpc.keepalive_time` (no `_ms`) or a key from grpc core that
 * grpc-js never implemented silently does nothing. This checks a set of options against the keys grpc-js 1.14
 * reads and names what would be ignored.
 */

/** Keys grpc-js 1.14 reads (its `recognizedOptions`, plus the keys it reads without listing them there). */
export const GRPC_JS_OPTION_KEYS: ReadonlySet<string> = new Set([
  'grpc.ssl_target_name_override',
  'grpc.primary_user_agent',
  'grpc.secondary_user_agent',
  'grpc.default_authority',
  'grpc.keepalive_time_ms',
  'grpc.keepalive_timeout_ms',
  'grpc.keepalive_permit_without_calls',
  'grpc.service_config',
  'grpc.max_concurrent_streams',
  'grpc.initial_reconnect_backoff_ms',
  'grpc.max_reconnect_backoff_ms',
  'grpc.use_local_subchannel_pool',
  'grpc.max_send_message_length',
  'grpc.max_receive_message_length',
  'grpc.enable_http_proxy',
  'grpc.http_connect_target',
  'grpc.http_connect_creds',
  'grpc.default_compression_algorithm',
  'grpc.enable_channelz',
  'grpc.dns_min_time_between_resolutions_ms',
  'grpc.enable_retries',
  'grpc.per_rpc_retry_buffer_size',
  'grpc.retry_buffer_size',
  'grpc.max_connection_age_ms',
  'grpc.max_connection_age_grace_ms',
  'grpc.max_connection_idle_ms',
  'grpc-node.max_session_memory',
  'grpc.service_config_disable_resolution',
  'grpc.client_idle_timeout_ms',
  'grpc-node.tls_enable_trace',
  'grpc.lb.ring_hash.ring_size_cap',
  'grpc-node.retry_max_attempts_limit',
  'grpc-node.flow_control_window',
  'grpc.server_call_metric_recording',
  // Client constructor options grpc-js takes from the same object (not channel options, but not ignored).
  'interceptors',
  'interceptor_providers',
  'channelOverride',
  'channelFactoryOverride',
  'callInvocationTransformer',
]);

/** Keys from grpc core / grpc-go docs that people set on grpc-js, and what to use instead. */
const KNOWN_MISTAKES: Record<string, string> = {
  'grpc.keepalive_time': 'grpc.keepalive_time_ms',
  'grpc.keepalive_timeout': 'grpc.keepalive_timeout_ms',
  'grpc.http2.min_time_between_pings_ms': 'KeepaliveEnforcer (grpc-js has no ping policy)',
  'grpc.http2.min_ping_interval_without_data_ms': 'KeepaliveEnforcer({ policy: { minTimeMs } })',
  'grpc.http2.max_pings_without_data': 'nothing: grpc-js does not limit pings without data',
  'grpc.http2.max_ping_strikes': 'KeepaliveEnforcer (Go and core use 2 strikes)',
  'grpc.max_connection_idle': 'grpc.max_connection_idle_ms',
  'grpc.max_connection_age': 'grpc.max_connection_age_ms',
};

/** One option grpc-js would ignore. */
export interface IgnoredOption {
  key: string;
  /** What to use instead, when known. */
  suggestion: string | undefined;
}

/**
 * The keys of `options` that grpc-js 1.14 would silently ignore.
 *
 * @example
 * ```ts
 * const ignored = ignoredChannelOptions({ 'grpc.keepalive_time': 10_000 });
 * // [{ key: 'grpc.keepalive_time', suggestion: 'grpc.keepalive_time_ms' }]
 * ```
 */
export function ignoredChannelOptions(options: Record<string, unknown>): IgnoredOption[] {
  return Object.keys(options)
    .filter((key) => !GRPC_JS_OPTION_KEYS.has(key))
    .map((key) => ({ key, suggestion: KNOWN_MISTAKES[key] }));
}
