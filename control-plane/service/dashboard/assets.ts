import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AdminAnswer } from '../../../shared/admin-http';

/**
 * The dashboard's files, read once at startup and served from memory:
 *
 *   /                                   index.html (no cache: it names the versioned files below)
 *   /assets/dashboard.<hash>.js, .css   the page's own script and style (static/ beside this file)
 *   /assets/uplot-<version>/uPlot.iife.min.js, uPlot.min.css   uPlot from node_modules, no CDN
 *
 * Every asset's path carries its version or content hash, so it is served with a year-long,
 * immutable cache. The files hold code only, no cluster data: the gate lets them through (the
 * page and its data, /v1/dashboard and its event stream, want the admin credential).
 * `npm run build` copies static/ into dist (scripts/copy-static.js); from sources (tests) the
 * folder beside this file is read.
 */

/** Where the page's own files are: beside this module (dist after the copy, or the sources). */
const STATIC_DIRS = [path.join(__dirname, 'static'), path.resolve(__dirname, '../../../../control-plane/service/dashboard/static')];

const LONG_CACHE = 'public, max-age=31536000, immutable';

export interface DashboardAssets {
  /** The page at `/`. */
  page: AdminAnswer;
  /** Versioned assets by path. */
  files: Record<string, AdminAnswer>;
}

function staticDir(): string {
  const found = STATIC_DIRS.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
  if (found === undefined) throw new Error(`dashboard files not found in ${STATIC_DIRS.join(' or ')} (run npm run build)`);
  return found;
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 12);

/** Reads the page, its script and style, and uPlot; throws naming what is missing. */
export function loadDashboardAssets(): DashboardAssets {
  const dir = staticDir();
  const read = (file: string): string => fs.readFileSync(file, 'utf8');
  const js = read(path.join(dir, 'dashboard.js'));
  const css = read(path.join(dir, 'dashboard.css'));
  const uplotDir = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const uplotVersion = (JSON.parse(read(path.join(uplotDir, '..', 'package.json'))) as { version: string }).version;
  const paths = {
    js: `/assets/dashboard.${hash(js)}.js`,
    css: `/assets/dashboard.${hash(css)}.css`,
    uplotJs: `/assets/uplot-${uplotVersion}/uPlot.iife.min.js`,
    uplotCss: `/assets/uplot-${uplotVersion}/uPlot.min.css`,
  };
  const asset = (text: string, contentType: string): AdminAnswer => ({ status: 200, text, contentType, headers: { 'cache-control': LONG_CACHE } });
  const html = read(path.join(dir, 'index.html'))
    .replace('{{dashboard.js}}', paths.js)
    .replace('{{dashboard.css}}', paths.css)
    .replace('{{uplot.js}}', paths.uplotJs)
    .replace('{{uplot.css}}', paths.uplotCss);
  return {
    page: {
      status: 200, text: html, contentType: 'text/html; charset=utf-8',
      headers: { 'cache-control': 'no-cache', 'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'", 'x-content-type-options': 'nosniff' },
    },
    files: {
      [paths.js]: asset(js, 'text/javascript; charset=utf-8'),
      [paths.css]: asset(css, 'text/css; charset=utf-8'),
      [paths.uplotJs]: asset(read(path.join(uplotDir, 'uPlot.iife.min.js')), 'text/javascript; charset=utf-8'),
      [paths.uplotCss]: asset(read(path.join(uplotDir, 'uPlot.min.css')), 'text/css; charset=utf-8'),
    },
  };
}
