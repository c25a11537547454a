import fs from 'node:fs';
import path from 'node:path';

/**
 * Reading a V8 CPU profile (`node --cpu-prof` writes one `.cpuprofile` per process on a clean
 * exit): self time per function and per script, from the profile's samples and time deltas.
 *
 *   { nodes: [{ id, callFrame: { functionName, url, lineNumber }, children? }], samples: [id…], timeDeltas: [µs…] }
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function or script. */
export interface SelfTime {
  name: string;
  selfMs: number;
  share: number;
}

/** What a profile says about where the time went. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  functions: SelfTime[];
  scripts: SelfTime[];
}

/** A short location for a script URL: the path below node_modules/ or dist/, else the base name. */
function shortScript(url: string): string {
  if (url === '') return '(native / V8)';
  const file = url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('node_modules/');
  if (modules >= 0) return file.slice(modules + 'node_modules/'.length);
  const dist = file.lastIndexOf('/dist/');
  if (dist >= 0) return file.slice(dist + '/dist/'.length);
  return file.startsWith('node:') ? file : path.basename(file);
}

function functionLabel(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  return `${name}  ${shortScript(frame.url)}:${frame.lineNumber + 1}`;
}

function ranked(totals: Map<string, number>, totalMs: number, top: number): SelfTime[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, selfMs]) => ({ name, selfMs, share: selfMs / totalMs }));
}

/** Summarises the profile at `file`: the `top` functions and scripts by self time. */
export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const functions = new Map<string, number>();
  const scripts = new Map<string, number>();
  let totalMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i]);
    if (!frame) continue;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const fn = functionLabel(frame);
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
    const script = frame.url === '' ? frame.functionName || '(native / V8)' : shortScript(frame.url);
    scripts.set(script, (scripts.get(script) ?? 0) + ms);
  }
  return { file, totalMs, functions: ranked(functions, totalMs, top), scripts: ranked(scripts, totalMs, top) };
}

/** The profile `node --cpu-prof` wrote for process `pid` in `dir`, if any. */
export function findProfile(dir: string, pid: number): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const name = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.`));
  return name === undefined ? undefined : path.join(dir, name);
}

/** Where `--cpu-prof` writes, from the node flags given to the process (cwd when not said). */
export function profileDir(nodeFlags: readonly string[], cwd: string): string | undefined {
  if (!nodeFlags.includes('--cpu-prof')) return undefined;
  const flag = nodeFlags.find((f) => f.startsWith('--cpu-prof-dir='));
  return flag === undefined ? cwd : path.resolve(cwd, flag.slice('--cpu-prof-dir='.length));
}

/** Lines describing a summary. */
export function formatProfile(s: ProfileSummary): string[] {
  const row = (t: SelfTime): string => `  ${(100 * t.share).toFixed(1).padStart(5)}%  ${t.selfMs.toFixed(0).padStart(7)} ms  ${t.name}`;
  return [
    `proxy CPU profile: ${s.file} (${(s.totalMs / 1000).toFixed(1)} s sampled)`,
    'top functions by self time:',
    ...s.functions.map(row),
    'self time by script:',
    ...s.scripts.map(row),
  ];
}

function main(): void {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node dist/bench/proxy-profile.js <file.cpuprofile> [top]');
    process.exitCode = 1;
    return;
  }
  for (const line of formatProfile(summarizeProfile(file, top ? Number(top) : 20))) console.log(line);
}

if (require.main === module) main();
