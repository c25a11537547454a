import http from 'node:http';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderTable } from '../control-plane/status/table';
import { runBounded, type ChildRegistry } from './children';
import { readCpuSeconds } from './procfs';
import { startBenchCluster, startProgram } from './proxy-cluster';

export const DASHBOARD_BENCH_USAGE = `npm run bench -- dashboard [--seconds S] [--dashboards 1,5] [--timeout S]
  What the control plane's live dashboard costs the cluster: a local cluster (etcd, 2 shards × 2
  nodes, a proxy, the control plane with --proxy-admin), idle (no client load), then each
  process's CPU seconds per second (utime + stime from /proc/<pid>/stat) over --seconds (default
  20) with no dashboard open, then with each count of --dashboards open (default 1 and 5; event
  stream clients of /v1/dashboard/events, as browsers hold them). Prints one table.`;

interface Options {
  seconds: number;
  dashboards: number[];
  timeoutSeconds: number;
}

export function parseDashboardBenchOptions(args: string[]): Options | undefined {
  const { values } = parseArgs({ args, options: { seconds: { type: 'string' }, dashboards: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return undefined;
  const seconds = Number(values.seconds ?? 20);
  if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
  const dashboards = (values.dashboards ?? '1,5').split(',').map(Number);
  if (!dashboards.every((n) => Number.isInteger(n) && n > 0 && n <= 32)) throw new Error('--dashboards must be counts 1-32, comma-separated');
  return { seconds, dashboards, timeoutSeconds: Number(values.timeout ?? 600) };
}

/** An open event stream to the dashboard, counting the frames it receives. */
interface Stream {
  frames: number;
  close(): void;
}

function openStream(port: number): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v1/dashboard/events' }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`/v1/dashboard/events answered ${res.statusCode}`));
      const stream: Stream = { frames: 0, close: () => req.destroy() };
      res.setEncoding('utf8');
      let buffered = '';
      res.on('data', (chunk: string) => {
        buffered += chunk;
        const events = buffered.split('\n\n');
        buffered = events.pop() ?? '';
        for (const e of events) if (e.startsWith('data: ')) stream.frames += 1;
      });
      res.on('error', () => undefined);
      resolve(stream);
    });
    req.on('error', reject);
  });
}

/** CPU seconds per second of each pid over `seconds`. */
async function cpuPerSecond(pids: ReadonlyArray<{ name: string; pid: number }>, seconds: number): Promise<number[]> {
  const before = pids.map((p) => readCpuSeconds(p.pid));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  return pids.map((p, i) => (readCpuSeconds(p.pid) - before[i]) / elapsed);
}

export async function runDashboardBench(o: Options): Promise<number> {
  return runBounded('dashboard benchmark', o.timeoutSeconds, async (children: ChildRegistry) => {
    const cluster = await startBenchCluster(children, { cluster: 'bench', shards: 2, replicas: 1, proxyNodeFlags: [] });
    try {
      const control = await startProgram(children, 'control-plane', 'control-plane/main.js', [
        '--etcd', cluster.etcdEndpoint, '--cluster', 'bench', '--admin-port', '0', '--proxy-admin', `127.0.0.1:${cluster.adminPort}`,
      ]);
      const port = control.ready.adminPort as number;
      const watched = [
        ...cluster.nodes.map((n) => ({ name: n.name, pid: n.pid })),
        { name: 'proxy', pid: cluster.proxy.pid },
        { name: 'control-plane', pid: control.pid },
        { name: 'etcd', pid: cluster.etcd.pid! },
      ];
      const phases: Array<{ label: string; cpu: number[]; frames: string }> = [];
      await sleep(2000); // the programs settle after their start
      console.error(`dashboard bench: measuring ${o.seconds} s with no dashboard open`);
      phases.push({ label: '0 dashboards', cpu: await cpuPerSecond(watched, o.seconds), frames: '-' });
      for (const count of o.dashboards) {
        const streams = await Promise.all(Array.from({ length: count }, () => openStream(port)));
        await sleep(2000); // the sampler's first frames, connections to the nodes made
        const before = streams.map((s) => s.frames);
        console.error(`dashboard bench: measuring ${o.seconds} s with ${count} dashboard(s) open`);
        const cpu = await cpuPerSecond(watched, o.seconds);
        const got = streams.map((s, i) => s.frames - before[i]);
        phases.push({ label: `${count} dashboard${count === 1 ? '' : 's'}`, cpu, frames: `${(got.reduce((a, b) => a + b, 0) / got.length / o.seconds).toFixed(2)}/s each` });
        for (const s of streams) s.close();
        await sleep(2000); // the sampler stops after the last client leaves
      }
      const ms = (v: number): string => `${(v * 1000).toFixed(1)}`;
      const rows = watched.map((p, i) => [p.name, ...phases.map((ph) => ms(ph.cpu[i]))]);
      const total = (ph: { cpu: number[] }, names?: (n: string) => boolean) => ph.cpu.filter((_, i) => !names || names(watched[i].name)).reduce((a, b) => a + b, 0);
      rows.push(['nodes + proxy', ...phases.map((ph) => ms(total(ph, (n) => n.startsWith('node') || n === 'proxy')))]);
      rows.push(['all', ...phases.map((ph) => ms(total(ph)))]);
      rows.push(['frames received', ...phases.map((ph) => ph.frames)]);
      console.log(`CPU ms per second of each process (utime + stime), idle cluster, ${o.seconds} s per column:`);
      console.log(renderTable(['PROCESS', ...phases.map((p) => p.label.toUpperCase())], rows));
      await children.stop(control.child);
      return 0;
    } finally {
      await cluster.stop();
    }
  });
}
