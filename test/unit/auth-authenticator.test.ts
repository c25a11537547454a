import { hashSecret, type UserRecord } from '../../shared/credentials';
import { Authenticator } from '../../shared/authenticator';

const CHEAP = { N: 1024, r: 8, p: 1 };

async function userWith(secrets: string[], grants: UserRecord['grants']): Promise<UserRecord> {
  return { secrets: await Promise.all(secrets.map((s) => hashSecret(s, CHEAP))), grants, createdAt: 0, updatedAt: 0 };
}

test('a right secret authenticates, is cached, and grants decide the level per namespace', async () => {
  const users = new Map([['alice', await userWith(['alice-secret-0123456'], [{ pattern: 'orders:*', level: 'read' }])]]);
  const verifies: boolean[] = [];
  const auth = new Authenticator({ users: () => users, enabled: () => true, onVerify: (ok) => verifies.push(ok) });
  expect(auth.cached('alice', 'alice-secret-0123456')).toBeUndefined();
  const r = await auth.authenticate('alice', 'alice-secret-0123456');
  expect(r.ok).toBe(true);
  const p = r.ok ? r.principal : undefined!;
  expect(auth.cached('alice', 'alice-secret-0123456')).toEqual(p);
  expect(await auth.authenticate('alice', 'alice-secret-0123456')).toEqual({ ok: true, principal: p });
  expect(verifies).toEqual([true]); // the second one came from the cache
  expect(auth.allows(p, 'orders', 'read')).toBe(true);
  expect(auth.allows(p, 'orders', 'write')).toBe(false);
  expect(auth.allows(p, 'carts', 'read')).toBe(false);
});

test('wrong secrets and unknown users get WRONGPASS; nothing is cached for them', async () => {
  const users = new Map([['alice', await userWith(['alice-secret-0123456'], [])]]);
  const auth = new Authenticator({ users: () => users, enabled: () => true });
  expect(await auth.authenticate('alice', 'wrong')).toEqual({ ok: false, reason: 'WRONGPASS' });
  expect(await auth.authenticate('mallory', 'alice-secret-0123456')).toEqual({ ok: false, reason: 'WRONGPASS' });
  expect(auth.cached('alice', 'wrong')).toBeUndefined();
  // Longer than any stored password: refused at once, never verified or held.
  let verified = 0;
  const counting = new Authenticator({ users: () => users, enabled: () => true, onVerify: () => verified++ });
  expect(await counting.authenticate('alice', 'x'.repeat(16 * 1024 * 1024))).toEqual({ ok: false, reason: 'WRONGPASS' });
  expect(await counting.authenticate('u'.repeat(65), 'alice-secret-0123456')).toEqual({ ok: false, reason: 'WRONGPASS' });
  expect(verified).toBe(0);
});

test('a removed user, a revoked grant and a rotated-out secret stop working at once', async () => {
  const users = new Map([['bob', await userWith(['old-secret-0123456789'], [{ pattern: 'carts', level: 'write' }])]]);
  const auth = new Authenticator({ users: () => users, enabled: () => true });
  const r = await auth.authenticate('bob', 'old-secret-0123456789');
  const p = r.ok ? r.principal : undefined!;
  expect(auth.allows(p, 'carts', 'write')).toBe(true);
  // A rotation keeps the old secret beside the new one: still valid.
  const rotated = await userWith(['new-secret-0123456789'], [{ pattern: 'carts', level: 'write' }]);
  users.set('bob', { ...rotated, secrets: [users.get('bob')!.secrets[0], rotated.secrets[0]] });
  expect(auth.allows(p, 'carts', 'write')).toBe(true);
  expect((await auth.authenticate('bob', 'new-secret-0123456789')).ok).toBe(true);
  // The end of the rotation: the old one is gone.
  users.set('bob', rotated);
  expect(auth.allows(p, 'carts', 'write')).toBe(false);
  expect(auth.cached('bob', 'old-secret-0123456789')).toBeUndefined();
  users.set('bob', { ...rotated, grants: [] });
  const q = await auth.authenticate('bob', 'new-secret-0123456789');
  expect(q.ok && auth.levelIn(q.principal, 'carts')).toBeUndefined();
  users.delete('bob');
  expect(auth.cached('bob', 'new-secret-0123456789')).toBeUndefined();
});

test('verifications are bounded: concurrent ones past the queue get BUSY, identical ones share one', async () => {
  const users = new Map([['carol', await userWith(['carol-secret-01234567'], [])]]);
  let verified = 0;
  const auth = new Authenticator({ users: () => users, enabled: () => true, maxConcurrent: 1, maxWaiting: 2, onVerify: () => verified++ });
  const same = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate('carol', 'carol-secret-01234567')));
  expect(same.every((r) => r.ok)).toBe(true);
  expect(verified).toBe(1);
  const wrong = await Promise.all(Array.from({ length: 10 }, (_, i) => auth.authenticate('carol', `guess-${i}`)));
  expect(wrong.filter((r) => !r.ok && r.reason === 'BUSY').length).toBe(7); // 1 running + 2 waiting
  expect(wrong.filter((r) => !r.ok && r.reason === 'WRONGPASS').length).toBe(3);
});

test('the cache is bounded: the oldest verified secret is forgotten first', async () => {
  const users = new Map([['dave', await userWith(['dave-secret-a-012345', 'dave-secret-b-012345'], [])]]);
  const auth = new Authenticator({ users: () => users, enabled: () => true, cacheSize: 1 });
  await auth.authenticate('dave', 'dave-secret-a-012345');
  await auth.authenticate('dave', 'dave-secret-b-012345');
  expect(auth.cached('dave', 'dave-secret-a-012345')).toBeUndefined();
  expect(auth.cached('dave', 'dave-secret-b-012345')).toBeDefined();
});
