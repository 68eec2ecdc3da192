/**
 * The dashboard's HTTP plumbing: who may ask (loopback by default), whether a POST came from the dashboard's own
 * page (a token only that page holds, and the browser's own word on where the request came from), reading a small
 * JSON body, and answering.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest action body, bytes: an action names one job or topic. */
const MAX_BODY = 4096;

/** The default `authorize`: requests from this machine only (127.0.0.0/8, ::1). */
export function fromLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * Whether a POST comes from the dashboard's page: it carries the page's token in `x-dashboard-token` and is JSON
 * (a form on another site can send neither without the browser asking this server first), and where the browser
 * says where it came from (`Origin`, `Sec-Fetch-Site`), that is this host.
 */
export function fromOwnPage(req: IncomingMessage, token: string): boolean {
  const sent = req.headers['x-dashboard-token'];
  if (typeof sent !== 'string' || !sameText(sent, token)) return false;
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return false;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return false;
    }
    if (host !== req.headers.host) return false;
  }
  return true;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The loopback names a dashboard answers to by default (any port). */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Whether the request names a host the dashboard is served at (`Host`, port aside). Without this check a page of
 * another site whose name was made to resolve to this machine (DNS rebinding) would be this origin to the
 * browser, read the page's token and act with it; a loopback-only `authorize` sees only a loopback peer.
 */
export function toAllowedHost(req: IncomingMessage, hosts: readonly string[]): boolean {
  const host = (req.headers.host ?? '').toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  return hosts.includes(name);
}

/**
 * Reads a JSON body of at most MAX_BODY bytes; undefined when it is larger or not JSON. A body a framework's
 * parser already read (express.json() puts it on `req.body`) is taken from there.
 */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed !== undefined && req.readableEnded) {
    if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) return parseJson(parsed.toString());
    return typeof parsed === 'object' && parsed !== null && Object.keys(parsed).length > 0 ? parsed : undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return parseJson(Buffer.concat(chunks).toString('utf8'));
}

function parseJson(text: string): unknown {
  if (Buffer.byteLength(text) > MAX_BODY) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Headers every answer carries: nothing cached, framed, sniffed or referred. */
const BASE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, allow?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...BASE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(allow === undefined ? {} : { allow }),
  });
  res.end(text);
}

export function sendHtml(res: ServerResponse, html: string, nonce: string): void {
  res.writeHead(200, {
    ...BASE_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    // Only the page's own script and style run; it talks to this server alone and cannot be framed.
    'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  });
  res.end(html);
}
