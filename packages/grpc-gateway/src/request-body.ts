/**
 * Reads a request's body for the gateway: within `maxBytes` (413 at once when the declared length is above it,
 * and as soon as more arrives) and `timeoutMs` (408 for a body that stalls), as UTF-8 that must be valid (a body
 * that is not is 400, rather than decoded with replacement characters).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { status } from '@grpc/grpc-js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Answers an error itself: what the gateway's sendError does. */
export type ErrorSender = (response: ServerResponse, code: number, message: string, httpStatus?: number) => void;

/** Calls `then` with the body's text, or answers 413 / 408 / 400 itself. */
export function readBody(request: IncomingMessage, response: ServerResponse, maxBytes: number, timeoutMs: number, sendError: ErrorSender, then: (text: string) => void): void {
  const declared = request.headers['content-length'];
  // A request that declares no body (a GET, usually) has none: no timer, no listeners.
  if (declared === undefined && request.headers['transfer-encoding'] === undefined) {
    request.resume();
    return then('');
  }
  if (declared !== undefined && Number(declared) > maxBytes) return tooLarge(request, response, maxBytes, sendError);
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const finish = (): void => {
    done = true;
    clearTimeout(timer);
  };
  const timer = setTimeout(() => {
    if (done) return;
    finish();
    response.setHeader('connection', 'close');
    sendError(response, status.DEADLINE_EXCEEDED, `the request body did not arrive within ${timeoutMs} ms`, 408);
    request.destroy();
  }, timeoutMs);
  request.on('data', (chunk: Buffer) => {
    if (done) return;
    size += chunk.length;
    if (size > maxBytes) {
      finish();
      chunks.length = 0;
      return tooLarge(request, response, maxBytes, sendError);
    }
    chunks.push(chunk);
  });
  request.on('end', () => {
    if (done) return;
    finish();
    let text: string;
    try {
      text = utf8.decode(Buffer.concat(chunks));
    } catch {
      return sendError(response, status.INVALID_ARGUMENT, 'the request body is not valid UTF-8');
    }
    then(text);
  });
  request.on('error', () => finish());
  response.on('close', () => finish());
}

/** 413, and the rest of the body left unread: the connection is not reused after it. */
function tooLarge(request: IncomingMessage, response: ServerResponse, maxBytes: number, sendError: ErrorSender): void {
  response.setHeader('connection', 'close');
  sendError(response, status.RESOURCE_EXHAUSTED, `request body above ${maxBytes} bytes`, 413);
  request.resume();
}
