#!/usr/bin/env node
'use strict';
/**
 * Restores lock entries for optional platform packages (darwin/win32 builds of @swc/core,
 * msgpackr-extract, ...) that npm leaves out of package-lock.json when the registry it talks to
 * does not serve them. Without those entries `npm ci` refuses the lockfile as out of sync. Run
 * after any `npm install` that rewrote the lockfile: `node scripts/complete-lockfile.js`.
 */
const fs = require('fs');
const file = require('path').join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pk = lock.packages;
let added = 0;
for (const [path, meta] of Object.entries(pk)) {
  for (const [name, version] of Object.entries(meta.optionalDependencies || {})) {
    const key = 'node_modules/' + name;
    if (!pk[key]) { pk[key] = { version, optional: true }; if (meta.dev) pk[key].dev = true; added++; }
  }
}
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`package-lock.json: ${added} optional platform entries restored`);
