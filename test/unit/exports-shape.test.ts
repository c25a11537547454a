import fs from 'node:fs';
import path from 'node:path';

/**
 * The built modules' exports are plain data properties. TypeScript's CommonJS output turns a
 * value re-export (`export { X } from './y'`, or `export { X }` of an imported X) into a getter
 * defined on `exports`, which puts the module's exports object in dictionary mode: every
 * `protocol_1.Op` on the request path then became a generic property load plus a getter call
 * (Builtins_LoadIC was ~8 % of a storage node's CPU under pipelined INCR). Re-export values as
 * constants (`export const X = y.X`) instead. Checked on `dist/` (what runs; built by `pretest`),
 * and on the sources for `export { } from` (so `jest` alone, with a stale `dist/`, still catches it).
 */
const ROOT = path.join(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const GETTER_EXPORT = /Object\.defineProperty\(exports, "([A-Za-z0-9_$]+)", \{ enumerable: true, get: /;

/** Files under `dir` (none when it does not exist) whose names end with `suffix`. */
function filesEnding(dir: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesEnding(full, suffix) : e.name.endsWith(suffix) ? [full] : [];
  });
}

test('no module of the built code exports a value through a getter', () => {
  const files = ['shared', 'proxy', 'storage-node', 'control-plane', 'client'].flatMap((d) => filesEnding(path.join(DIST, d), '.js'));
  expect(files.length).toBeGreaterThan(100); // dist/ is built (npm test builds it first)
  const getters = files.flatMap((f) => {
    const m = GETTER_EXPORT.exec(fs.readFileSync(f, 'utf8'));
    return m ? [`${path.relative(DIST, f)}: ${m[1]}`] : [];
  });
  expect(getters).toEqual([]);
});

/** `export { a, type B } from '...'` statements of a source file that re-export a value (not only types). */
function valueReExports(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/^export\s*\{([^}]*)\}\s*from\s/gm)) {
    const names = m[1].split(',').map((n) => n.trim()).filter((n) => n !== '' && !n.startsWith('type '));
    if (names.length > 0) found.push(names.join(', '));
  }
  return found;
}

test('no source file re-exports a value with `export { } from` (what the built code would make a getter)', () => {
  const sources = ['shared', 'proxy', 'storage-node', 'control-plane', 'client'].flatMap((d) => filesEnding(path.join(ROOT, d), '.ts'));
  expect(sources.length).toBeGreaterThan(100);
  const found = sources.flatMap((f) => valueReExports(fs.readFileSync(f, 'utf8')).map((names) => `${path.relative(ROOT, f)}: ${names}`));
  expect(found).toEqual([]);
  expect(valueReExports("export { Op, type OpCode } from './opcodes';\nexport type { X } from './x';\nexport { type Y } from './y';")).toEqual(['Op']);
});

test('the check sees a getter re-export when there is one', () => {
  const sample = 'Object.defineProperty(exports, "Op", { enumerable: true, get: function () { return opcodes_1.Op; } });';
  expect(GETTER_EXPORT.exec(sample)?.[1]).toBe('Op');
});
