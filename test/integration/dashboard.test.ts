import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { httpCall, startTestCluster, type TestCluster } from '../helpers/cluster';
import { ROOT, startProgram, type Started } from '../helpers/process';
import { waitFor } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * The control plane's live dashboard in a real browser (headless Chromium through playwright-core,
 * never a downloaded browser): a cluster of 2 shards × 2 nodes and a proxy as processes, the
 * control plane told the proxy's admin port. The page shows the cluster; its figures move under
 * load without a reload, from one shared sampler however many pages are open; a primary killed
 * with SIGKILL turns its shard unhealthy within seconds; a hot key shows with its rule; with auth
 * on, the page wants the admin's credentials (HTTP Basic, which EventSource sends too).
 *
 * UPDATE_SCREENSHOT=1 writes docs/img/dashboard.png (else the screenshot goes to a temp dir), so
 * `npm test` leaves the tree clean.
 */
jest.setTimeout(180_000);

const CHROMIUM = process.env.SHARDCACHE_CHROMIUM ?? '/usr/bin/chromium';
const ADMIN_PASSWORD = 'dashboard-admin-password-0123';
const NS = 'app';

let c: TestCluster;
let control: Started;
let url: string;
let browser: Browser;
let tmp: string;

beforeAll(async () => {
  // No silent skip: CI installs chromium (.ci/run); without it this suite fails and says so.
  if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: install it (apt-get install --no-install-recommends chromium, as .ci/run does) or set SHARDCACHE_CHROMIUM`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-test-'));
  c = await startTestCluster({ shards: 2, perShard: 2, cluster: 'dash' });
  // The admin's password is known before auth is turned on: with auth off the proxies ignore it.
  control = await startProgram('control-plane/main.js', ['--etcd', c.etcd.endpoint, '--cluster', c.cluster, '--admin-port', '0', '--proxy-admin', c.adminUrl], { SHARDCACHE_ADMIN_PASSWORD: ADMIN_PASSWORD });
  url = `http://127.0.0.1:${control.ready.adminPort as number}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'], timeout: 30_000 });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await control?.stop();
  await c?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', c.etcd.endpoint, '--cluster', c.cluster]);
const text = (page: Page, selector: string): Promise<string> => page.locator(selector).first().innerText();

/** Load through the proxy until `stop()`: writes and reads over 200 keys, `workers` at a time. */
function load(workers = 4): { stop(): Promise<void> } {
  let running = true;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; running; i++) {
      const key = `k${(i * 7 + w) % 200}`;
      await (i % 4 === 0 ? c.call('PUT', `/v1/cache/${NS}/${key}`, { value: `v${i}` }) : c.call('GET', `/v1/cache/${NS}/${key}`)).catch(() => undefined);
    }
  };
  const all = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return { stop: async () => { running = false; await all; } };
}

/**
 * Waits until a page has received at least `n` frames. A function, not a string: the page's
 * content security policy forbids eval. (`globalThis`: the tests are not type-checked against the DOM.)
 */
const framesAtLeast = (page: Page, n: number, timeout = 10_000) =>
  page.waitForFunction((min: number) => Number((globalThis as any).document.body.getAttribute('data-frames')) >= min, n, { timeout });

/** The frames a page has received (the page counts them on <body data-frames>). */
const frames = async (page: Page): Promise<number> => Number(await page.locator('body').getAttribute('data-frames') ?? 0);

describe('dashboard', () => {
  test('the page shows the cluster; figures move under load without a reload; N pages share one sampler', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const res = await page.goto(url);
    expect(res?.status()).toBe(200);
    await page.waitForSelector('tr[data-shard="1"][data-healthy="true"]', { timeout: 10_000 });
    expect(await text(page, '#cluster')).toBe('dash');
    expect(await text(page, '#summary-shards')).toBe('2 / 2');
    expect(await page.locator('tr[data-node]').count()).toBe(4);
    expect(await page.locator(`tr[data-proxy="${c.adminUrl}"]`).count()).toBe(1);
    // A marker survives only if the page is never reloaded.
    await page.evaluate(() => ((globalThis as any).marker = 42));

    const running = load();
    try {
      await page.waitForFunction(() => Number((globalThis as any).document.getElementById('summary-ops').textContent) > 0, undefined, { timeout: 10_000 });
      const before = await frames(page);
      await framesAtLeast(page, before + 2, 5000);
      // The proxy's row: requests/s, error share and p99 from its /metrics.
      const proxyCells = await page.locator(`tr[data-proxy="${c.adminUrl}"] td`).allInnerTexts();
      expect(Number(proxyCells[1])).toBeGreaterThan(0);
      expect(proxyCells[2]).toMatch(/^\d+\.\d%$/);
      expect(proxyCells[3]).toMatch(/ ms$/);
      expect(proxyCells[4]).toMatch(/closed/);
      // Every shard's primary serves ops; the charts are drawn (uPlot canvases).
      for (const shard of [0, 1]) expect(Number((await page.locator(`tr[data-shard="${shard}"] td`).allInnerTexts())[3])).toBeGreaterThan(0);
      expect(await page.locator('#chart-ops canvas').count()).toBe(1);
      expect(await page.locator('#chart-req .u-legend').innerText()).toContain('req/s');

      // Two more pages: still one STATS per node per second (the control plane's sampler), not three.
      const more = await Promise.all([browser.newPage(), browser.newPage()]);
      await Promise.all(more.map((p) => p.goto(url)));
      await Promise.all(more.map((p) => framesAtLeast(p, 2)));
      const node = c.nodes[0][0];
      const statsOps = async (): Promise<number> => Number((await node.stats()).ops.stats ?? 0);
      const s0 = await statsOps();
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 4000));
      const s1 = await statsOps();
      const seconds = (Date.now() - t0) / 1000;
      // One per second from the sampler, plus our own read.
      expect(s1 - s0).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
      await Promise.all(more.map((p) => p.close()));
    } finally {
      await running.stop();
    }
    expect(await page.evaluate(() => (globalThis as any).marker)).toBe(42);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('the sampler stops when the last page closes', async () => {
    const node = c.nodes[0][0];
    const statsOps = async (): Promise<number> => Number((await node.stats()).ops.stats ?? 0);
    await new Promise((r) => setTimeout(r, 1500)); // the loop ends after its sample in flight
    const s0 = await statsOps();
    await new Promise((r) => setTimeout(r, 2500));
    expect((await statsOps()) - s0).toBe(1); // only our own read
  });

  test('a hot key shows with its rule; the screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(url);
    expect((await c.call('PUT', `/v1/cache/${NS}/hot:item`, { value: 'v' })).status).toBe(201);
    expect((await ctl('ns', 'set', NS, '--default-ttl', '300', '--quota-bytes', '64mb')).code).toBe(0);
    const r = await ctl('hotkey', 'add', NS, 'hot:item', '--mode', 'near-cache', '--ttl-ms', '500');
    expect([r.code, r.stderr]).toEqual([0, '']);
    const running = load(2);
    let reading = true;
    const hot = Promise.all(Array.from({ length: 8 }, async () => {
      while (reading) await c.call('GET', `/v1/cache/${NS}/hot:item`).catch(() => undefined);
    }));
    try {
      const row = page.locator(`tr[data-hot-key="${NS}/hot:item"]`);
      await row.waitFor({ timeout: 10_000 });
      // The row appears with the first frame that lists the key, which may have counted only the
      // first few GETs over the 5 s window; the rate climbs with the next frames (one a second).
      const cells = await waitFor('the hot key\'s rate above 10 GETs/s', async () => {
        const now = await row.locator('td').allInnerTexts();
        return Number(now[2]) > 10 ? now : undefined;
      }, 15_000, 200);
      expect(cells.slice(0, 2)).toEqual([NS, 'hot:item']);
      expect(Number(cells[2])).toBeGreaterThan(10);
      expect(cells[5]).toMatch(/^near-cache · operator · ttl 500 ms/);
      expect(await text(page, `tr[data-rule="${NS}/hot:item"]`)).toContain('near-cache');
      expect(await text(page, `tr[data-namespace="${NS}"]`)).toMatch(/defaultTtlSeconds=300/);
      // Let the charts hold a few seconds of history before the picture.
      const now = await frames(page);
      await framesAtLeast(page, now + 4);
      const file = process.env.UPDATE_SCREENSHOT === '1' ? path.join(ROOT, 'docs/img/dashboard.png') : path.join(tmp, 'dashboard.png');
      await page.screenshot({ path: file, fullPage: true });
      expect(fs.statSync(file).size).toBeGreaterThan(10_000);
    } finally {
      reading = false;
      await hot;
      await running.stop();
    }
    await page.close();
  });

  test('kill -9 of a shard\'s primary: the page marks the shard unhealthy within seconds, without a reload', async () => {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForSelector('tr[data-shard="1"][data-healthy="true"]', { timeout: 10_000 });
    const primaryId = (await page.locator('tr[data-shard="1"] td').allInnerTexts())[1];
    const victim = c.nodes[1].find((n) => n.nodeId === primaryId)!;
    expect(victim).toBeDefined();
    const killedAt = Date.now();
    victim.proc.child.kill('SIGKILL');
    await page.waitForSelector('tr[data-shard="1"][data-healthy="false"]', { timeout: 5000 });
    const after = Date.now() - killedAt;
    console.log(`dashboard: shard 1 shown unhealthy ${after} ms after kill -9 of its primary ${primaryId}`);
    expect(await text(page, 'tr[data-shard="1"]')).toMatch(/UNHEALTHY/);
    expect(await text(page, 'tr[data-shard="0"]')).not.toMatch(/UNHEALTHY/);
    expect(await page.locator('#card-shards.bad').count()).toBe(1);
    await page.close();
  });

  test('with auth on: 401 without credentials (a Basic challenge), the page and its live stream with them', async () => {
    const file = path.join(tmp, 'admin-password');
    fs.writeFileSync(file, `${ADMIN_PASSWORD}\n`);
    expect((await ctl('user', 'add', 'admin', '--grant', '*=admin', '--password-file', file)).code).toBe(0);
    expect((await ctl('auth', 'on')).code).toBe(0);
    await waitFor('the control plane to require auth', async () => (await httpCall(url, 'GET', '/v1/status')).status === 401, 10_000, 50);
    const refused = await httpCall(url, 'GET', '/');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/Basic realm="shardcache-admin"/);
    expect((await httpCall(url, 'GET', '/v1/dashboard/events')).status).toBe(401);
    expect((await httpCall(url, 'GET', '/v1/dashboard')).status).toBe(401);
    // The page's code holds no data: open (the page names it).
    const asset = /src="(\/assets\/dashboard\.[0-9a-f]+\.js)"/.exec((await httpCall(url, 'GET', '/', undefined, { authorization: `Bearer admin:${ADMIN_PASSWORD}` })).text)![1];
    expect((await httpCall(url, 'GET', asset)).status).toBe(200);

    // A browser without (or with wrong) credentials gets the 401 and no page: headless Chromium
    // cancels its login prompt (net::ERR_INVALID_AUTH_CREDENTIALS) and shows nothing of the cluster.
    for (const httpCredentials of [undefined, { username: 'admin', password: 'not-the-password' }]) {
      const context = await browser.newContext({ httpCredentials });
      const page = await context.newPage();
      const statuses: number[] = [];
      page.on('response', (r) => statuses.push(r.status()));
      const outcome = await page.goto(url).then((r) => r?.status(), (err: Error) => err.message);
      expect(String(outcome)).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/);
      expect(statuses).toContain(401);
      expect(statuses).not.toContain(200);
      await context.close();
    }

    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN_PASSWORD } });
    const page = await context.newPage();
    expect((await page.goto(url))?.status()).toBe(200);
    // Frames arrive over the EventSource (the browser sends the Basic credentials on it too);
    // the sampler reads the proxy with its own admin credential (SHARDCACHE_ADMIN_PASSWORD).
    await framesAtLeast(page, 2);
    expect(await text(page, '#cluster')).toBe('dash');
    expect(await page.locator(`tr[data-proxy="${c.adminUrl}"].bad`).count()).toBe(0);
    expect((await httpCall(url, 'GET', '/v1/dashboard', undefined, { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` })).json)
      .toMatchObject({ cluster: 'dash', proxies: [{ url: c.adminUrl, error: null }] });

    // SIGTERM with a dashboard open: the stream ends and the service exits 0 promptly.
    const stoppedAt = Date.now();
    expect(await control.stop()).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt).toBeLessThan(4000);
    await context.close();
  });
});
