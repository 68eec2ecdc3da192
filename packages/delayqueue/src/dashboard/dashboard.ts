/**
 * `createDashboard(queue)`: an HTTP request listener serving one page for the people who run the queue: jobs per
 * topic and state, lateness over the last minutes, dead letters with buttons to requeue or delete them, paused
 * topics with a button to resume them, and schedules with their next run. Mount it on node:http, or under a
 * path of an express app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError, assertFunction, assertKnownKeys, assertNumber, assertString, isXError, randomToken, systemClock, within } from '@x/core';
import { UnsupportedOperationError } from '../errors.js';
import type { DelayQueue } from '../queue.js';
import { LOOPBACK_HOSTS, fromLoopback, fromOwnPage, readJson, sendHtml, sendJson, toAllowedHost } from './http.js';
import { LatenessHistory } from './lateness-history.js';
import { renderPage } from './page.js';

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /**
   * Whether a request may see the page and act: true lets it through, anything else answers 403. Default: only
   * requests from this machine (127.0.0.0/8, ::1). Put your own session or SSO check here before exposing it.
   */
  authorize?: (req: IncomingMessage) => boolean | Promise<boolean>;
  /**
   * The host names the dashboard is served at (the `Host` header, port aside; IPv6 in brackets): requests naming
   * another are refused, so a site that makes its own name resolve to this machine cannot use the page. Default:
   * `localhost`, `127.0.0.1` and `[::1]`; add the name your operators use (`ops.example.com`).
   */
  allowedHosts?: readonly string[];
  /** The page's heading. Default "Delay queue". */
  title?: string;
  /** Dead letters shown per topic, newest first (1..200). Default 20. */
  deadPerTopic?: number;
  /** How often the lateness chart takes a sample of `queue.metrics()`, ms; it keeps the last 30. Default 10,000. */
  sampleMs?: number;
}

/** A request listener (`(req, res)`, also express middleware) with `close()` to stop its lateness sampling. */
export interface Dashboard {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  close(): void;
}

const OPTION_KEYS = ['authorize', 'allowedHosts', 'title', 'deadPerTopic', 'sampleMs'];
/** Longest a read of the queue's state may take before the page is told the backend does not answer. */
const STATE_TIMEOUT_MS = 5_000;
/** Samples the chart keeps: five minutes at the default rate. */
const SAMPLES = 30;
/** Longest payload text shown per dead letter. */
const PAYLOAD_CHARS = 2_000;

/**
 * Serves the dashboard of `queue`. Every request goes through `authorize` first (default: loopback only); its
 * actions are POSTs that must carry a token only the page holds, as JSON, from the page's own origin, so another
 * site cannot make an operator's browser requeue or delete jobs. Needs a backend that counts and lists jobs
 * (memory, Redis); pausing and schedules show where the backend has them.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { DelayQueue } from '@x/delayqueue';
 * import { createDashboard } from '@x/delayqueue/dashboard';
 *
 * const queue = new DelayQueue();
 * const server = createServer(createDashboard(queue)).listen(8080, '127.0.0.1');
 * ```
 * @throws InvalidArgumentError for a bad option; UnsupportedOperationError on a backend that cannot count and
 * list its jobs (RabbitMQ, Kafka).
 */
export function createDashboard(queue: DelayQueue, options: DashboardOptions = {}): Dashboard {
  if (typeof (queue as Partial<DelayQueue> | null)?.counts !== 'function') throw new InvalidArgumentError('queue', queue, 'a DelayQueue');
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
  assertKnownKeys('options', options, OPTION_KEYS);
  const authorize = options.authorize ?? fromLoopback;
  assertFunction('options.authorize', authorize);
  const allowedHosts = options.allowedHosts ?? LOOPBACK_HOSTS;
  if (!Array.isArray(allowedHosts) || allowedHosts.length === 0) throw new InvalidArgumentError('options.allowedHosts', allowedHosts, 'a non-empty array of host names');
  const hosts = allowedHosts.map((host: unknown, i) => assertString(`options.allowedHosts[${i}]`, host, 255).toLowerCase());
  const title = assertString('options.title', options.title ?? 'Delay queue', 200);
  const deadPerTopic = assertNumber('options.deadPerTopic', options.deadPerTopic ?? 20, { min: 1, max: 200, integer: true });
  const sampleMs = assertNumber('options.sampleMs', options.sampleMs ?? 10_000, { min: 100, max: 3_600_000, integer: true });
  if (!queue.supports.counts || !queue.supports.list) throw new UnsupportedOperationError('createDashboard (it counts and lists jobs)', "queue's");
  const token = randomToken(24, 'base64url');
  const history = new LatenessHistory(() => queue.metrics(), systemClock, sampleMs, SAMPLES);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let allowed: unknown;
    try {
      allowed = await authorize(req);
    } catch {
      allowed = false;
    }
    if (allowed !== true) return sendJson(res, 403, { error: 'not authorized' });
    if (!toAllowedHost(req, hosts)) return sendJson(res, 421, { error: 'not a host this dashboard is served at (see allowedHosts)' });
    // The path alone, without parsing it as a URL: '//' would read as a host.
    const path = (req.url ?? '/').split(/[?#]/)[0]!.replace(/\/+$/, '');
    if (path.endsWith('/api/state')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'GET only' }, 'GET, HEAD');
      return sendJson(res, 200, await within(readState(queue, deadPerTopic, title, history), STATE_TIMEOUT_MS, "the queue's backend did not answer"));
    }
    if (path.endsWith('/api/action')) {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' }, 'POST');
      if (!fromOwnPage(req, token)) return sendJson(res, 403, { error: "not from the dashboard's page" });
      const body = await readJson(req);
      if (body === undefined) return sendJson(res, 400, { error: 'a JSON body of at most 4 KiB' });
      return sendJson(res, 200, { done: await act(queue, body) });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'GET only' }, 'GET, HEAD');
    const nonce = randomToken(16, 'base64url');
    sendHtml(res, renderPage(title, token, nonce), nonce);
  };

  const dashboard = ((req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      // A bad action is the caller's; anything else (the queue closed, Redis unreachable) is this server's.
      const status = isXError(error, 'ERR_INVALID_ARGUMENT') ? 400 : isXError(error, 'ERR_CLOSED') || isXError(error, 'ERR_TIMEOUT') ? 503 : 500;
      sendJson(res, status, { error: error instanceof Error ? error.message : String(error) });
    });
  }) as Dashboard;
  dashboard.close = () => history.close();
  return dashboard;
}

interface DashboardState {
  title: string;
  supports: { pause: boolean; schedules: boolean };
  topics: { name: string; delayed: number; ready: number; reserved: number; dead: number; paused: boolean }[];
  dead: { topic: string; id: string; attempts: number; lastError: string | undefined; payload: string; at: number | undefined }[];
  schedules: { name: string; topic: string; rule: string; next: number; nextJobId: string; missed: string }[];
  lateness: ReturnType<LatenessHistory['list']>;
}

async function readState(queue: DelayQueue, deadPerTopic: number, title: string, history: LatenessHistory): Promise<DashboardState> {
  const supports = { pause: queue.supports.pause, schedules: queue.supports.schedules };
  const [counts, paused, schedules] = await Promise.all([
    queue.counts(),
    supports.pause ? queue.pausedTopics() : Promise.resolve([]),
    supports.schedules ? queue.schedules() : Promise.resolve([]),
  ]);
  const names = [...new Set([...Object.keys(counts), ...paused])].sort();
  const topics = names.map((name) => ({ name, ...(counts[name] ?? { delayed: 0, ready: 0, reserved: 0, dead: 0 }), paused: paused.includes(name) }));
  const pages = await Promise.all(topics.filter((t) => t.dead > 0).map((t) => queue.list(t.name, 'dead', { limit: deadPerTopic })));
  const dead = pages.flatMap((page) =>
    page.jobs.map((job) => {
      const text = JSON.stringify(job.payload) ?? '';
      return {
        topic: job.topic ?? '',
        id: job.id,
        attempts: job.attempts,
        lastError: job.lastError,
        payload: text.length > PAYLOAD_CHARS ? `${text.slice(0, PAYLOAD_CHARS)}…` : text,
        at: job.at,
      };
    }),
  );
  return {
    title,
    supports,
    topics,
    dead,
    schedules: schedules.map((s) => ({
      name: s.name,
      topic: s.topic,
      rule: 'everyMs' in s.rule ? `every ${s.rule.everyMs} ms` : `${s.rule.cron} (${s.rule.tz ?? 'UTC'})`,
      next: s.next,
      nextJobId: s.nextJobId,
      missed: s.missed,
    })),
    lateness: history.list(),
  };
}

/** Runs one action of the page; whether it changed anything (a job requeued or deleted meanwhile: false). */
async function act(queue: DelayQueue, body: unknown): Promise<boolean> {
  if (typeof body !== 'object' || body === null) throw new InvalidArgumentError('action', body, 'an object');
  const { action, id, topic } = body as { action?: unknown; id?: unknown; topic?: unknown };
  switch (action) {
    case 'requeue':
      return queue.requeue(id as string);
    case 'delete': {
      const job = await queue.get(id as string);
      // Only dead letters are deleted from here: a delayed or ready job of the same id is not the one on the page.
      return job?.state === 'dead' ? queue.cancel(id as string) : false;
    }
    case 'resume':
      await queue.resume(topic as string);
      return true;
    case 'pause':
      await queue.pause(topic as string);
      return true;
    default:
      throw new InvalidArgumentError('action', action, 'one of requeue, delete, resume, pause');
  }
}
