#!/usr/bin/env node
'use strict';
/**
 * Part of `npm run build`: copies the files tsc does not emit into dist/, so a built program (and
 * the image, which ships dist/ only) finds them beside its compiled module:
 *   control-plane/service/dashboard/static/ -> dist/control-plane/service/dashboard/static/
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIRS = ['control-plane/service/dashboard/static'];

for (const dir of DIRS) {
  const from = path.join(ROOT, dir);
  const to = path.join(ROOT, 'dist', dir);
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true });
}
