/**
 * The dashboard over HTTP (who may see it, which POSTs it takes) and in a real browser: Debian's Chromium driven
 * by playwright-core loads the page, reads the counts, and requeues a dead letter, which is then delivered.
 */
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { Redis } from 'ioredis';
import { startRedisServer } from '@x/testkit';
import { RedisBackend } from '../src/redis/index.js';
import { DelayQueue, type Job } from '../src/index.js';
import { createDashboard, type Dashboard, type DashboardOptions } from '../src/dashboard/index.js';
import { eventually } from './conformance.js';

const HOSTILE = '<script>alert("payload")</script><img src=x onerror=alert(1)>';

interface Served {
  queue: DelayQueue;
  dashboard: Dashboard;
  url: string;
  server: Server;
}

const opened: Served[] = [];
afterEach(async () => {
  for (const { queue, dashboard, server } of opened.splice(0)) {
    dashboard.close();
    await new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await queue.close({ timeout: 1_000 }).catch(() => undefined);
  }
});

/**
 * A memory queue whose dashboard is served under /ops/queue on a free loopback port. `mount` 'express' hands it
 * what express's `app.use('/ops/queue', ...)` does: the path below the mount, and a body express.json() read.
 */
async function serve(options: DashboardOptions = {}, queue = new DelayQueue({ attempts: 1 }), mount: 'node' | 'express' = 'node'): Promise<Served> {
  const dashboard = createDashboard(queue, options);
  const server = createServer((req, res) => {
    if (!req.url?.startsWith('/ops/queue')) return void res.writeHead(404).end();
    if (mount === 'node') return dashboard(req, res);
    req.url = req.url.slice('/ops/queue'.length) || '/';
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      (req as typeof req & { body: unknown }).body = /json/.test(req.headers['content-type'] ?? '') && text !== '' ? JSON.parse(text) : {};
      dashboard(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const served = { queue, dashboard, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ops/queue` };
  opened.push(served);
  return served;
}

/** One HTTP exchange: status, headers and body text. */
function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** The token the page hands its own script. */
async function tokenOf(url: string): Promise<string> {
  const page = await call(url);
  return /name="dashboard-token" content="([^"]+)"/.exec(page.text)![1]!;
}

/** A queue with a dead letter whose payload and error are hostile markup, on the memory backend. */
async function withDeadLetter(queue: DelayQueue, fixed: () => boolean, seen: Job[]): Promise<string> {
  queue.process<{ to: string }>('email', (job) => {
    seen.push(job);
    if (!fixed()) throw new Error(`smtp 550 ${HOSTILE}`);
  });
  const id = await queue.add('email', { to: HOSTILE });
  await eventually(async () => (await queue.get(id))?.state === 'dead', 'the job to die');
  return id;
}

describe('the dashboard over HTTP', () => {
  it('lets only what authorize allows see or act (loopback by default); an authorize that throws allows nothing', async () => {
    const open = await serve();
    expect((await call(open.url)).status).toBe(200);
    for (const authorize of [() => false, () => 'yes' as never, () => Promise.resolve(false), () => { throw new Error('session store down'); }]) {
      const closed = await serve({ authorize });
      const token = await tokenOf(open.url);
      for (const [path, method] of [['', 'GET'], ['/api/state', 'GET'], ['/api/action', 'POST']] as const) {
        const answer = await call(closed.url + path, { method, headers: { 'content-type': 'application/json', 'x-dashboard-token': token }, body: method === 'POST' ? '{"action":"pause","topic":"t"}' : undefined });
        expect({ path, status: answer.status, leaked: answer.text.includes('dashboard-token') }).toEqual({ path, status: 403, leaked: false });
      }
      expect(await closed.queue.pausedTopics()).toEqual([]);
    }
  });

  it('serves the page under a strict content security policy, unframeable and uncached', async () => {
    const { url } = await serve({ title: '<b>ops</b>' });
    const page = await call(url);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'nonce-[\w-]+'/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.text).toContain('<title>&#60;b&#62;ops&#60;/b&#62;</title>');
  });

  it('takes an action only as JSON with the page’s token from the page’s own origin; anything else changes nothing', async () => {
    const { url, queue } = await serve();
    await queue.add('sms', 'hi', { delay: 60_000 });
    await queue.pause('sms');
    const token = await tokenOf(url);
    const resume = JSON.stringify({ action: 'resume', topic: 'sms' });
    const refused: [string, Record<string, string>, string?][] = [
      ['no token', { 'content-type': 'application/json' }],
      ['a wrong token', { 'content-type': 'application/json', 'x-dashboard-token': token.slice(1) + 'x' }],
      ['a form post', { 'content-type': 'application/x-www-form-urlencoded', 'x-dashboard-token': token }],
      ['another origin', { 'content-type': 'application/json', 'x-dashboard-token': token, origin: 'https://evil.example' }],
      ['a cross-site fetch', { 'content-type': 'application/json', 'x-dashboard-token': token, 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [what, headers] of refused) {
      const answer = await call(`${url}/api/action`, { method: 'POST', headers, body: resume });
      expect({ what, status: answer.status }).toEqual({ what, status: 403 });
    }
    const json = { 'content-type': 'application/json', 'x-dashboard-token': token };
    expect((await call(`${url}/api/action`, { method: 'POST', headers: json, body: 'not json' })).status).toBe(400);
    expect((await call(`${url}/api/action`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'resume', topic: 'x'.repeat(5_000) }) })).status).toBe(400);
    expect((await call(`${url}/api/action`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'drop-everything' }) })).status).toBe(400);
    expect((await call(`${url}/api/action`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'requeue', id: '\u0000' }) })).status).toBe(400);
    expect((await call(`${url}/api/action`, { method: 'GET', headers: json })).status).toBe(405);
    expect(await queue.pausedTopics()).toEqual(['sms']);

    const ok = await call(`${url}/api/action`, { method: 'POST', headers: { ...json, origin: new URL(url).origin, 'sec-fetch-site': 'same-origin' }, body: resume });
    expect(ok).toMatchObject({ status: 200, text: '{"done":true}' });
    expect(await queue.pausedTopics()).toEqual([]);
    const unknown = await call(`${url}/api/action`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'requeue', id: 'no-such-job' }) });
    expect(unknown.text).toBe('{"done":false}');
  });

  it('reports counts, dead letters, paused topics and schedules as JSON; 503 once the queue is closed', async () => {
    const seen: Job[] = [];
    const { url, queue } = await serve();
    const id = await withDeadLetter(queue, () => false, seen);
    await queue.schedule('reports', 'nightly', { cron: '0 2 * * *', tz: 'Europe/Berlin' });
    await queue.pause('reports');
    const state = JSON.parse((await call(`${url}/api/state`)).text);
    expect(state.topics).toEqual([
      { name: 'email', delayed: 0, ready: 0, reserved: 0, dead: 1, paused: false },
      { name: 'reports', delayed: 1, ready: 0, reserved: 0, dead: 0, paused: true },
    ]);
    expect(state.dead).toEqual([{ topic: 'email', id, attempts: 1, lastError: `Error: smtp 550 ${HOSTILE}`, payload: JSON.stringify({ to: HOSTILE }), at: expect.any(Number) }]);
    expect(state.schedules).toEqual([expect.objectContaining({ name: 'nightly', topic: 'reports', rule: '0 2 * * * (Europe/Berlin)', missed: 'run-once' })]);
    expect(state.lateness.length).toBeGreaterThanOrEqual(1);
    await queue.close();
    expect((await call(`${url}/api/state`)).status).toBe(503);
  });

  it('refuses bad options with typed errors', () => {
    const queue = new DelayQueue();
    for (const options of [null, { authorise: () => true }, { authorize: true }, { deadPerTopic: 0 }, { deadPerTopic: 201 }, { sampleMs: 10 }, { title: '' }, { allowedHosts: [] }, { allowedHosts: [''] }]) {
      expect(() => createDashboard(queue, options as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => createDashboard(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    void queue.close();
  });

  it('answers only to the host names it is served at: a rebound name (DNS rebinding) gets neither the page nor its actions', async () => {
    const { url, queue } = await serve();
    const token = await tokenOf(url);
    const port = new URL(url).port;
    const rebound = { host: `evil.test:${port}`, origin: `http://evil.test:${port}`, 'sec-fetch-site': 'same-origin' };
    const page = await call(url, { headers: { host: rebound.host } });
    expect({ status: page.status, leaked: page.text.includes(token) }).toEqual({ status: 421, leaked: false });
    const action = await call(`${url}/api/action`, { method: 'POST', headers: { ...rebound, 'content-type': 'application/json', 'x-dashboard-token': token }, body: '{"action":"pause","topic":"email"}' });
    expect(action.status).toBe(421);
    expect(await queue.pausedTopics()).toEqual([]);
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, '127.0.0.1']) expect((await call(url, { headers: { host } })).status).toBe(200);
    const named = await serve({ allowedHosts: ['ops.example.com'] });
    expect((await call(named.url, { headers: { host: 'ops.example.com' } })).status).toBe(200);
    expect((await call(named.url)).status).toBe(421);
  });

  it('mounted as express mounts it: the path below the mount ("//" too), and a body express.json() already read', async () => {
    const { url, queue } = await serve({}, undefined, 'express');
    await queue.pause('sms');
    expect((await call(`${url}//`)).status).toBe(200);
    const token = await tokenOf(url);
    const answer = await call(`${url}/api/action`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-dashboard-token': token }, body: '{"action":"resume","topic":"sms"}' });
    expect(answer).toMatchObject({ status: 200, text: '{"done":true}' });
    expect(await queue.pausedTopics()).toEqual([]);
    const wrongMethod = await call(`${url}/api/state`, { method: 'PUT' });
    expect({ status: wrongMethod.status, allow: wrongMethod.headers.allow }).toEqual({ status: 405, allow: 'GET, HEAD' });
  });

  it("answers 503 within 5 s when the queue's Redis stops answering, and the server goes on", async () => {
    const redisServer = await startRedisServer();
    const client = new Redis({ port: redisServer.port, host: '127.0.0.1' });
    const { url } = await serve({}, new DelayQueue({ backend: new RedisBackend({ redis: client, name: 'dash-down' }) }));
    expect((await call(`${url}/api/state`)).status).toBe(200);
    redisServer.pause();
    const started = Date.now();
    const answer = await call(`${url}/api/state`);
    expect({ status: answer.status, error: JSON.parse(answer.text).error }).toEqual({ status: 503, error: "the queue's backend did not answer within 5000 ms" });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect((await call(url)).status).toBe(200);
    await redisServer.stop();
    client.disconnect();
  }, 30_000);
});

/** Debian's Chromium (installed by `scripts/services up`), or X_CHROMIUM. */
function chromiumPath(): string {
  if (process.env.X_CHROMIUM) return process.env.X_CHROMIUM;
  for (const candidate of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('Chromium not found: run `bash scripts/services up browser` (Debian: apt-get install chromium) or set X_CHROMIUM');
  }
}

describe('the dashboard in a real browser (Chromium)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath(),
      // Chromium's own background traffic only meets this machine's closed network.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the counts and the dead letter as text, and its Requeue button gets the job delivered again', async () => {
    let fixed = false;
    const seen: Job[] = [];
    const { url, queue } = await serve({ sampleMs: 100 });
    const id = await withDeadLetter(queue, () => fixed, seen);
    await queue.add('email', { to: 'later@example.com' }, { delay: 3_600_000 });
    await queue.schedule('reports', 'nightly', { cron: '0 2 * * *', tz: 'Europe/Berlin' });
    await queue.add('sms', { to: '+4930123' });
    await queue.pause('sms');
    await queue.add('rtl\u202Egnp.exe', 'x', { delay: 3_600_000 });

    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const failures: string[] = [];
    page.on('pageerror', (error) => failures.push(error.message));
    page.on('console', (message) => message.type() === 'error' && failures.push(message.text()));
    await page.goto(url);
    const cell = (topic: string, state: string) => page.locator(`[data-topic="${topic}"] [data-state="${state}"]`);
    await expect(cell('email', 'dead').textContent({ timeout: 10_000 })).resolves.toBe('1');
    expect(await cell('email', 'delayed').textContent()).toBe('1');
    const deadRow = page.locator(`[data-job="${id}"]`);
    // The hostile payload and error are on the page as text, and ran nothing.
    expect(await deadRow.locator('td.payload').textContent()).toBe(JSON.stringify({ to: HOSTILE }));
    expect(await deadRow.locator('td.error').textContent()).toBe(`Error: smtp 550 ${HOSTILE}`);
    expect(await page.locator('[data-schedule="nightly"]').textContent()).toContain('0 2 * * * (Europe/Berlin)');
    expect(await page.locator('[data-topic="sms"]').textContent()).toContain('paused');
    // A right-to-left override cannot make a name read as another: it shows as its code point.
    expect(await page.locator('#topics').textContent()).toContain('rtl<U+202E>gnp.exe');

    const shot = process.env.X_DASHBOARD_SCREENSHOT ?? join(mkdtempSync(join(tmpdir(), 'dashboard-')), 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);

    fixed = true;
    await deadRow.getByRole('button', { name: 'Requeue' }).click();
    await eventually(() => seen.filter((job) => job.id === id).length === 2, 'the requeued job to be delivered again');
    await page.waitForFunction(`document.querySelector('[data-topic="email"] [data-state="dead"]')?.textContent === '0'`, undefined, { timeout: 10_000 });
    expect(await page.locator('#dead').textContent()).toContain('no dead letters');

    await page.locator('[data-topic="sms"]').getByRole('button', { name: 'Resume' }).click();
    await eventually(async () => (await queue.pausedTopics()).length === 0, 'sms to resume');
    await page.locator('[data-topic="sms"]').getByRole('button', { name: 'Pause' }).waitFor({ timeout: 10_000 });
    // What an action did stays on the page after the reload that follows it.
    await page.waitForTimeout(2_500);
    expect(await page.locator('#result').textContent()).toMatch(/resume done$/);

    expect(dialogs).toEqual([]);
    expect(failures).toEqual([]);
    await page.close();
  }, 60_000);
});
