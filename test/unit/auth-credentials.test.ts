import fc from 'fast-check';
import { GrantSchema, grantedLevel, hashSecret, patternCovers, respNamespaceOf, verifySecret, type Grant } from '../../shared/credentials';

const CHEAP = { N: 1024, r: 8, p: 1 };

test('a secret verifies against its own hash only; two hashes of one secret differ (salted)', async () => {
  const a = await hashSecret('correct horse battery staple', CHEAP);
  const b = await hashSecret('correct horse battery staple', CHEAP);
  expect(a.salt).not.toBe(b.salt);
  expect(a.hash).not.toBe(b.hash);
  expect(await verifySecret('correct horse battery staple', a)).toBe(true);
  expect(await verifySecret('correct horse battery staple', b)).toBe(true);
  expect(await verifySecret('correct horse battery stapler', a)).toBe(false);
  expect(await verifySecret('', a)).toBe(false);
  expect(JSON.stringify(a)).not.toContain('horse');
});

test('grant patterns: a namespace, a prefix, everything; ":*" means every key of it', () => {
  expect(patternCovers('orders', 'orders')).toBe(true);
  expect(patternCovers('orders:*', 'orders')).toBe(true);
  expect(patternCovers('orders', 'orders2')).toBe(false);
  expect(patternCovers('orders:*', 'orders-eu')).toBe(false);
  expect(patternCovers('tenant-a-*', 'tenant-a-carts')).toBe(true);
  expect(patternCovers('tenant-a-*:*', 'tenant-a-')).toBe(true);
  expect(patternCovers('tenant-a-*', 'tenant-b-carts')).toBe(false);
  expect(patternCovers('*', 'anything')).toBe(true);
  expect(patternCovers('*:*', 'anything')).toBe(true);
  for (const bad of ['', 'a*b', '**', 'orders:k*', 'a b', 'orders:', `${'n'.repeat(65)}`]) expect(GrantSchema.safeParse({ pattern: bad, level: 'read' }).success).toBe(false);
  expect(GrantSchema.safeParse({ pattern: 'orders', level: 'owner' }).success).toBe(false);
});

test('the highest level of every covering grant wins', () => {
  const grants: Grant[] = [{ pattern: 'orders:*', level: 'read' }, { pattern: 'ord*', level: 'write' }, { pattern: 'audit', level: 'admin' }];
  expect(grantedLevel(grants, 'orders')).toBe('write');
  expect(grantedLevel(grants, 'ordinal')).toBe('write');
  expect(grantedLevel(grants, 'audit')).toBe('admin');
  expect(grantedLevel(grants, 'carts')).toBeUndefined();
  expect(grantedLevel([], 'orders')).toBeUndefined();
});

test('pattern matching is linear: a namespace covered by a prefix grant equals startsWith', () => {
  fc.assert(fc.property(fc.stringMatching(/^[a-z-]{0,20}$/), fc.stringMatching(/^[a-z-]{1,40}$/), (prefix, ns) => {
    expect(patternCovers(`${prefix}*`, ns)).toBe(ns.startsWith(prefix));
    expect(patternCovers(prefix || 'x', ns)).toBe(ns === (prefix || 'x'));
  }), { numRuns: 500 });
});

test('the RESP namespace: the user setting, else the first grant naming one namespace', () => {
  const base = { secrets: [], createdAt: 0, updatedAt: 0 } as never;
  expect(respNamespaceOf({ ...(base as object), grants: [{ pattern: 'tenant-*', level: 'read' }, { pattern: 'orders:*', level: 'read' }] } as never)).toBe('orders');
  expect(respNamespaceOf({ ...(base as object), namespace: 'carts', grants: [{ pattern: 'orders', level: 'read' }] } as never)).toBe('carts');
  expect(respNamespaceOf({ ...(base as object), grants: [{ pattern: '*', level: 'admin' }] } as never)).toBeUndefined();
});
