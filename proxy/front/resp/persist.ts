import type { GetResult } from '../../backend';
import { ProxyErrorCode } from '../../errors';
import type { RespDoor } from './door';
import { RespCommandError } from './errors';

/**
 * PERSIST (and GETEX PERSIST) without a persist operation in the data plane: read the entry from
 * the primary, then rewrite the same bytes and flags with no expiry as a compare-and-set on the
 * version read. A write in between makes the CAS fail and the read is retried, so a newer value is
 * never overwritten. The rewrite bumps the version and drops the entry's tags.
 */
const ATTEMPTS = 3;

/** Removes the key's TTL. `read` is the entry as last read; `changed` whether a TTL was removed. */
export async function removeTtl(door: RespDoor, ns: string, key: string): Promise<{ read: GetResult; changed: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const read = await door.get(ns, key, 'primary');
    if (!read.hit || read.expiresAt === 0) return { read, changed: false };
    try {
      await door.set(ns, key, read.value, 0, read.flags, read.version);
      return { read, changed: true };
    } catch (err) {
      const conflict = err instanceof RespCommandError && err.code === ProxyErrorCode.VERSION_CONFLICT;
      if (!conflict || attempt >= ATTEMPTS) throw err;
    }
  }
}
