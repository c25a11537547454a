import fs from 'node:fs';
import path from 'node:path';

/**
 * The built modules' exports are plain data properties. TypeScript's CommonJS output turns a
 * value re-export (`export { X } from './y'`, or `export { X }` of an imported X) into a getter
 * defined on `exports`, which puts the module's exports object in dictionary mode: every
 * `protocol_1.Op` on the request path then became a generic property load plus a getter call
 * (Builtins_LoadIC was ~8 % of a storage node's CPU under pipelined INCR). Re-export values as
 * constants (`export const X = y.X`) instead. Checked on `dist/` (what runs), built by `pretest`.
 */
const ROOT = path.join(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');
const GETTER_EXPORT = /Object\.defineProperty\(exports, "([A-Za-z0-9_$]+)", \{ enumerable: true, get: /;

function jsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? jsFiles(full) : e.name.endsWith('.js') ? [full] : [];
  });
}

test('no module of the built code exports a value through a getter', () => {
  const files = ['shared', 'proxy', 'storage-node', 'control-plane', 'client'].flatMap((d) => jsFiles(path.join(DIST, d)));
  expect(files.length).toBeGreaterThan(100); // dist/ is built (npm test builds it first)
  const getters = files.flatMap((f) => {
    const m = GETTER_EXPORT.exec(fs.readFileSync(f, 'utf8'));
    return m ? [`${path.relative(DIST, f)}: ${m[1]}`] : [];
  });
  expect(getters).toEqual([]);
});

test('the check sees a getter re-export when there is one', () => {
  const sample = 'Object.defineProperty(exports, "Op", { enumerable: true, get: function () { return opcodes_1.Op; } });';
  expect(GETTER_EXPORT.exec(sample)?.[1]).toBe('Op');
});
