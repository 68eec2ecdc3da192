/**
 * Detects RabbitMQ's delayed-message exchange plugin. The backend does not use it even where present: the
 * plugin keeps delayed messages in one node's local table, not replicated, and its own documentation warns
 * against large numbers of delayed messages; TTL levels work on any broker and on quorum queues.
 */
import { connect } from 'amqplib';
import { settlesWithin } from '@x/core';

const PLUGIN_EXCHANGE_TYPE = 'x-delayed-message';

/**
 * True when the broker at `url` accepts exchanges of type `x-delayed-message` (the plugin is enabled).
 * Opens a connection of its own and declares a throwaway auto-delete exchange: RabbitMQ answers an unknown
 * exchange type with a connection error (503 COMMAND_INVALID), which would close any connection it was sent on.
 */
export async function hasDelayedMessagePlugin(url: string): Promise<boolean> {
  const connection = await connect(url);
  let connectionError: unknown;
  connection.on('error', (error) => (connectionError = error));
  const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
  const probe = `x-delayqueue.probe.${process.pid}.${Date.now()}`;
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.assertExchange(probe, PLUGIN_EXCHANGE_TYPE, { autoDelete: true, durable: false, arguments: { 'x-delayed-type': 'direct' } });
    await channel.deleteExchange(probe);
    return true;
  } catch (error) {
    // The declaration's own rejection only says the channel ended; the reason comes with the connection's close.
    await settlesWithin(closed, 2_000, { ref: false });
    if (codeOf(connectionError) === COMMAND_INVALID || codeOf(error) === COMMAND_INVALID) return false;
    throw connectionError ?? error;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

const COMMAND_INVALID = 503;

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}
