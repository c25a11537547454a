#!/usr/bin/env node
'use strict';
/**
 * House rule check: proxy/, storage-node/ and control-plane/ never import each other, and the
 * project's shared/ imports none of them. Written by hand because the usual import linters parse
 * TypeScript through the compiler's JavaScript API, which TypeScript 7 no longer ships; matching
 * import specifiers is all this rule needs.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PROGRAMS = ['proxy', 'storage-node', 'control-plane'];
const CHECKED = [...PROGRAMS, 'shared', 'client'];
const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function* tsFiles(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(full);
    else if (entry.name.endsWith('.ts')) yield full;
  }
}

/** Folder of the house a file belongs to (first path segment), or undefined. */
function houseOf(file) {
  return path.relative(ROOT, file).split(path.sep)[0];
}

function forbidden(from, to) {
  if (from === to || to === undefined) return false;
  if (from === 'shared' || from === 'client') return PROGRAMS.includes(to);
  return PROGRAMS.includes(from) && PROGRAMS.includes(to);
}

const problems = [];
for (const top of CHECKED) {
  for (const file of tsFiles(path.join(ROOT, top))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1];
      if (!spec.startsWith('.')) continue;
      const target = houseOf(path.resolve(path.dirname(file), spec));
      if (forbidden(top, target)) {
        const line = text.slice(0, match.index).split('\n').length;
        problems.push(`${path.relative(ROOT, file)}:${line}: ${top}/ must not import ${target}/ ('${spec}')`);
      }
    }
  }
}

if (problems.length > 0) {
  console.error(`house rule broken (see docs/decisions.md, "one folder per process"):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('house rule: ok');
