import { COLL_CMDS, CollCmd, type CollReply, EntryType, MAX_RANDOM_PICKS, WRONG_TYPE_MESSAGE } from '../../shared/collections';
import { decodePayload, encodeFrame } from '../../shared/frame';
import { Status } from '../../shared/protocol';
import { applyRecord, chunkTypes, forEachChunkEntry, snapshotFrame } from '../../storage-node/replication/records';
import { ReplicationLog } from '../../storage-node/replication/log';
import { countOf } from '../../storage-node/store/collections';
import { b, makeStore, opError } from './store-helpers';

type StoreT = ReturnType<typeof makeStore>['store'];

const def = (name: keyof typeof CollCmd) => COLL_CMDS.get(CollCmd[name])!;
/** Runs a command as the node's handlers do: its arguments as latin1 strings. */
function run(store: StoreT, name: keyof typeof CollCmd, key: string, args: string[] = [], others: string[] = []): CollReply {
  const d = def(name);
  return d.write ? store.collWrite('app', key, d, args).reply : store.collRead('app', key, d, args, others);
}
/** A reply with its bytes as strings, for comparisons. */
function plain(r: CollReply): unknown {
  if (r instanceof Uint8Array) return Buffer.from(r).toString('latin1');
  if (Array.isArray(r)) return r.map((x) => (x instanceof Uint8Array ? Buffer.from(x).toString('latin1') : x));
  return r;
}
const cmd = (store: StoreT, name: keyof typeof CollCmd, key: string, ...args: string[]): unknown => plain(run(store, name, key, args));
const pairsOf = (flat: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  const list = flat as string[];
  for (let i = 0; i < list.length; i += 2) out[list[i]] = list[i + 1];
  return out;
};

describe('hashes in the store', () => {
  test('HSET adds and replaces fields and answers how many were new; HGET, HMGET, HGETALL, HKEYS, HVALS, HLEN, HEXISTS, HSTRLEN read them', () => {
    const { store } = makeStore();
    expect(cmd(store, 'HSET', 'h', 'a', '1', 'b', '22')).toBe(2);
    expect(cmd(store, 'HSET', 'h', 'b', '3', 'c', '4', 'c', '5')).toBe(1); // b replaced, c added once (the last value wins)
    expect(cmd(store, 'HGET', 'h', 'b')).toBe('3');
    expect(cmd(store, 'HGET', 'h', 'zz')).toBeNull();
    expect(cmd(store, 'HGET', 'missing', 'a')).toBeNull();
    expect(cmd(store, 'HMGET', 'h', 'a', 'nope', 'c', 'a')).toEqual(['1', null, '5', '1']);
    expect(cmd(store, 'HMGET', 'missing', 'a', 'b')).toEqual([null, null]);
    expect(pairsOf(cmd(store, 'HGETALL', 'h'))).toEqual({ a: '1', b: '3', c: '5' });
    expect(cmd(store, 'HKEYS', 'h')).toEqual(['a', 'b', 'c']);
    expect(cmd(store, 'HVALS', 'h')).toEqual(['1', '3', '5']);
    expect(cmd(store, 'HLEN', 'h')).toBe(3);
    expect(cmd(store, 'HLEN', 'missing')).toBe(0);
    expect(cmd(store, 'HEXISTS', 'h', 'a')).toBe(1);
    expect(cmd(store, 'HEXISTS', 'h', 'x')).toBe(0);
    expect(cmd(store, 'HSTRLEN', 'h', 'b')).toBe(1);
    expect(cmd(store, 'HSTRLEN', 'h', 'x')).toBe(0);
    expect(cmd(store, 'HGETALL', 'missing')).toEqual([]);
  });

  test('fields and values are bytes: empty, binary, and long enough for four-byte lengths', () => {
    const { store } = makeStore();
    const long = 'x'.repeat(70_000);
    const binary = '\x00\xff\x80\x7f';
    expect(cmd(store, 'HSET', 'h', '', 'empty-field', binary, long, 'e', '')).toBe(3);
    expect(cmd(store, 'HGET', 'h', '')).toBe('empty-field');
    expect(cmd(store, 'HGET', 'h', binary)).toBe(long);
    expect(cmd(store, 'HGET', 'h', 'e')).toBe('');
    expect(cmd(store, 'HSTRLEN', 'h', binary)).toBe(70_000);
    expect(cmd(store, 'HDEL', 'h', binary)).toBe(1);
    expect(pairsOf(cmd(store, 'HGETALL', 'h'))).toEqual({ '': 'empty-field', e: '' });
  });

  test('a hash past 127 elements keeps its count in four bytes', () => {
    const { store } = makeStore();
    for (let i = 0; i < 300; i++) cmd(store, 'HSET', 'h', `f${i}`, `v${i}`);
    expect(cmd(store, 'HLEN', 'h')).toBe(300);
    expect(cmd(store, 'HGET', 'h', 'f299')).toBe('v299');
    const all = pairsOf(cmd(store, 'HGETALL', 'h'));
    expect(Object.keys(all)).toHaveLength(300);
    for (let i = 0; i < 300; i += 2) expect(cmd(store, 'HDEL', 'h', `f${i}`)).toBe(1);
    expect(cmd(store, 'HLEN', 'h')).toBe(150);
    expect(cmd(store, 'HGET', 'h', 'f1')).toBe('v1');
    expect(cmd(store, 'HGET', 'h', 'f0')).toBeNull();
  });

  test('HDEL answers the fields removed, and the last one removes the key', () => {
    const { store } = makeStore();
    cmd(store, 'HSET', 'h', 'a', '1', 'b', '2');
    const before = store.versionClock;
    expect(store.collWrite('app', 'h', def('HDEL'), ['x']).version).toBe(0); // nothing removed: nothing written
    expect(store.versionClock).toBe(before);
    expect(cmd(store, 'HDEL', 'h', 'a', 'a', 'x')).toBe(1);
    expect(store.typeOf('app', 'h')).toBe('hash');
    const r = store.collWrite('app', 'h', def('HDEL'), ['b']);
    expect(r).toMatchObject({ reply: 1, deleted: true });
    expect(store.typeOf('app', 'h')).toBe('none');
    expect(store.exists('app', ['h'])).toBe(0);
    expect(cmd(store, 'HDEL', 'h', 'b')).toBe(0);
  });

  test('HSETNX sets a field only when it is missing', () => {
    const { store } = makeStore();
    expect(cmd(store, 'HSETNX', 'h', 'a', '1')).toBe(1);
    expect(cmd(store, 'HSETNX', 'h', 'a', '2')).toBe(0);
    expect(cmd(store, 'HGET', 'h', 'a')).toBe('1');
  });

  test('HINCRBY and HINCRBYFLOAT: Redis arithmetic and messages', () => {
    const { store } = makeStore();
    expect(cmd(store, 'HINCRBY', 'h', 'n', '5')).toBe(5);
    expect(cmd(store, 'HINCRBY', 'h', 'n', '-7')).toBe(-2);
    expect(cmd(store, 'HINCRBY', 'h', 'big', '9223372036854775807')).toBe(9223372036854775807n);
    expect(opError(() => run(store, 'HINCRBY', 'h', ['big', '1'])).message).toBe('increment or decrement would overflow');
    expect(opError(() => run(store, 'HINCRBY', 'h', ['n', '1.5'])).message).toBe('value is not an integer or out of range');
    cmd(store, 'HSET', 'h', 's', 'abc');
    expect(opError(() => run(store, 'HINCRBY', 'h', ['s', '1'])).message).toBe('hash value is not an integer');
    expect(cmd(store, 'HINCRBYFLOAT', 'h', 'f', '10.50')).toBe('10.5');
    expect(cmd(store, 'HINCRBYFLOAT', 'h', 'f', '0.1')).toBe('10.6');
    expect(cmd(store, 'HGET', 'h', 'f')).toBe('10.6');
    expect(opError(() => run(store, 'HINCRBYFLOAT', 'h', ['s', '1'])).message).toBe('hash value is not a float');
    expect(opError(() => run(store, 'HINCRBYFLOAT', 'h', ['f', 'x'])).message).toBe('value is not a valid float');
    expect(opError(() => run(store, 'HINCRBYFLOAT', 'h', ['f', 'inf'])).message).toBe('value is not a valid float');
    expect(cmd(store, 'HGET', 'h', 'n')).toBe('-2'); // a refused command changed nothing
  });

  test('HRANDFIELD: one, distinct with a positive count, repeats with a negative one, WITHVALUES, and a bound on repeats', () => {
    const { store } = makeStore();
    expect(cmd(store, 'HRANDFIELD', 'missing')).toBeNull();
    expect(cmd(store, 'HRANDFIELD', 'missing', '3')).toEqual([]);
    cmd(store, 'HSET', 'h', 'a', '1', 'b', '2', 'c', '3');
    expect(['a', 'b', 'c']).toContain(cmd(store, 'HRANDFIELD', 'h'));
    const two = cmd(store, 'HRANDFIELD', 'h', '2') as string[];
    expect(new Set(two).size).toBe(2);
    expect((cmd(store, 'HRANDFIELD', 'h', '10') as string[]).sort()).toEqual(['a', 'b', 'c']);
    const repeats = cmd(store, 'HRANDFIELD', 'h', '-20') as string[];
    expect(repeats).toHaveLength(20);
    expect(repeats.every((f) => ['a', 'b', 'c'].includes(f))).toBe(true);
    const withValues = cmd(store, 'HRANDFIELD', 'h', '-4', 'WITHVALUES') as string[];
    expect(withValues).toHaveLength(8);
    for (let i = 0; i < 8; i += 2) expect(withValues[i + 1]).toBe({ a: '1', b: '2', c: '3' }[withValues[i]]);
    expect(cmd(store, 'HRANDFIELD', 'h', '0')).toEqual([]);
    expect(opError(() => run(store, 'HRANDFIELD', 'h', ['1', 'WITHSCORES'])).message).toBe('syntax error');
    expect(opError(() => run(store, 'HRANDFIELD', 'h', ['x'])).message).toBe('value is not an integer or out of range');
    expect(opError(() => run(store, 'HRANDFIELD', 'h', [String(-MAX_RANDOM_PICKS - 1)])).message).toMatch(/out of range/);
    expect(opError(() => run(store, 'HRANDFIELD', 'h', ['-9223372036854775808'])).message).toMatch(/out of range/);
  });

  test('arity is checked by the store too, in Redis words', () => {
    const { store } = makeStore();
    expect(opError(() => run(store, 'HSET', 'h', ['a'])).message).toBe("wrong number of arguments for 'hset' command");
    expect(opError(() => run(store, 'HSET', 'h', ['a', '1', 'b'])).message).toBe("wrong number of arguments for 'hset' command");
    expect(opError(() => run(store, 'HGET', 'h', [])).status).toBe(Status.BAD_REQUEST);
    expect(store.typeOf('app', 'h')).toBe('none');
  });
});

describe('sets in the store', () => {
  test('SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD', () => {
    const { store } = makeStore();
    expect(cmd(store, 'SADD', 's', 'a', 'b', 'a')).toBe(2);
    expect(cmd(store, 'SADD', 's', 'b', 'c')).toBe(1);
    expect(cmd(store, 'SMEMBERS', 's')).toEqual(['a', 'b', 'c']);
    expect(cmd(store, 'SCARD', 's')).toBe(3);
    expect(cmd(store, 'SISMEMBER', 's', 'b')).toBe(1);
    expect(cmd(store, 'SISMEMBER', 's', 'z')).toBe(0);
    expect(cmd(store, 'SMISMEMBER', 's', 'a', 'z', 'c')).toEqual([1, 0, 1]);
    expect(cmd(store, 'SMISMEMBER', 'missing', 'a')).toEqual([0]);
    expect(cmd(store, 'SREM', 's', 'a', 'z')).toBe(1);
    expect(cmd(store, 'SMEMBERS', 's')).toEqual(['b', 'c']);
    expect(cmd(store, 'SREM', 's', 'b', 'c')).toBe(2);
    expect(store.typeOf('app', 's')).toBe('none');
    expect(cmd(store, 'SMEMBERS', 's')).toEqual([]);
    expect(cmd(store, 'SCARD', 's')).toBe(0);
  });

  test('SADD of members already there writes nothing (no new version)', () => {
    const { store } = makeStore();
    const first = store.collWrite('app', 's', def('SADD'), ['a']);
    expect(first.version).toBeGreaterThan(0);
    expect(store.collWrite('app', 's', def('SADD'), ['a'])).toMatchObject({ reply: 0, version: 0 });
  });

  test('SPOP removes what it answers, and the set goes with its last member', () => {
    const { store } = makeStore();
    cmd(store, 'SADD', 's', 'a', 'b', 'c', 'd');
    const one = cmd(store, 'SPOP', 's') as string;
    expect(['a', 'b', 'c', 'd']).toContain(one);
    expect(cmd(store, 'SISMEMBER', 's', one)).toBe(0);
    const two = cmd(store, 'SPOP', 's', '2') as string[];
    expect(two).toHaveLength(2);
    expect(new Set([one, ...two]).size).toBe(3);
    expect(cmd(store, 'SCARD', 's')).toBe(1);
    expect(cmd(store, 'SPOP', 's', '0')).toEqual([]);
    expect(cmd(store, 'SPOP', 's', '5')).toHaveLength(1);
    expect(store.typeOf('app', 's')).toBe('none');
    expect(cmd(store, 'SPOP', 's')).toBeNull();
    expect(cmd(store, 'SPOP', 's', '3')).toEqual([]);
    expect(opError(() => run(store, 'SPOP', 's', ['-1'])).message).toBe('value is out of range, must be positive');
  });

  test('SRANDMEMBER leaves the set as it was', () => {
    const { store } = makeStore();
    cmd(store, 'SADD', 's', 'a', 'b', 'c');
    expect(['a', 'b', 'c']).toContain(cmd(store, 'SRANDMEMBER', 's'));
    expect((cmd(store, 'SRANDMEMBER', 's', '3') as string[]).sort()).toEqual(['a', 'b', 'c']);
    expect(cmd(store, 'SRANDMEMBER', 's', '-7')).toHaveLength(7);
    expect(cmd(store, 'SCARD', 's')).toBe(3);
    expect(cmd(store, 'SRANDMEMBER', 'missing')).toBeNull();
  });

  test('SINTER, SUNION, SDIFF over several keys; a missing key is an empty set', () => {
    const { store } = makeStore();
    cmd(store, 'SADD', '{t}a', '1', '2', '3', '4');
    cmd(store, 'SADD', '{t}b', '2', '3', '5');
    cmd(store, 'SADD', '{t}c', '3', '6');
    const multi = (name: 'SINTER' | 'SUNION' | 'SDIFF', ...keys: string[]) => plain(run(store, name, keys[0], [], keys.slice(1)));
    expect(multi('SINTER', '{t}a', '{t}b')).toEqual(['2', '3']);
    expect(multi('SINTER', '{t}a', '{t}b', '{t}c')).toEqual(['3']);
    expect(multi('SINTER', '{t}a', '{t}none')).toEqual([]);
    expect(multi('SUNION', '{t}a', '{t}b', '{t}c')).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(multi('SUNION', '{t}none', '{t}c')).toEqual(['3', '6']);
    expect(multi('SDIFF', '{t}a', '{t}b', '{t}c')).toEqual(['1', '4']);
    expect(multi('SDIFF', '{t}a', '{t}none')).toEqual(['1', '2', '3', '4']);
    expect(multi('SDIFF', '{t}none', '{t}a')).toEqual([]);
    cmd(store, 'HSET', '{t}h', 'f', 'v');
    expect(opError(() => multi('SUNION', '{t}a', '{t}h')).status).toBe(Status.WRONG_TYPE);
  });
});

describe('types, WRONGTYPE and the key space', () => {
  test('every command refuses a key of another type with WRONGTYPE, and changes nothing', () => {
    const { store } = makeStore();
    store.set('app', 'str', b('text'));
    cmd(store, 'HSET', 'h', 'f', 'v');
    cmd(store, 'SADD', 's', 'm');
    for (const d of COLL_CMDS.values()) {
      const args = Array.from({ length: d.min }, () => '1');
      for (const key of d.type === EntryType.HASH ? ['str', 's'] : ['str', 'h']) {
        const err = opError(() => (d.write ? store.collWrite('app', key, d, args) : store.collRead('app', key, d, args)));
        expect([d.name, key, err.status, err.message]).toEqual([d.name, key, Status.WRONG_TYPE, WRONG_TYPE_MESSAGE]);
      }
    }
    expect(store.get('app', 'str')?.value.toString()).toBe('text');
    expect(cmd(store, 'HGETALL', 'h')).toEqual(['f', 'v']);
    expect(cmd(store, 'SMEMBERS', 's')).toEqual(['m']);
  });

  test('string commands refuse a hash or set; MGET reads it as missing; SET replaces it', () => {
    const { store } = makeStore();
    cmd(store, 'HSET', 'h', 'f', 'v');
    expect(store.read('app', 'h')).toBeUndefined();
    expect(store.missWasType).toBe(true);
    expect(store.read('app', 'nothing')).toBeUndefined();
    expect(store.missWasType).toBe(false);
    expect(store.mget('app', ['h', 'nothing'])).toEqual([undefined, undefined]);
    for (const write of [
      () => store.incr('app', 'h', 1),
      () => store.incrAscii('app', b('h'), 0, 1, 1, 0),
      () => store.append('app', 'h', b('x')),
      () => store.setRange('app', 'h', 0, b('x')),
      () => store.incrByFloat('app', 'h', '1'),
      () => store.setGet('app', 'h', b('x'), 0, 0),
    ]) expect(opError(write).status).toBe(Status.WRONG_TYPE);
    expect(cmd(store, 'HGET', 'h', 'f')).toBe('v');
    store.set('app', 'h', b('now a string'));
    expect(store.typeOf('app', 'h')).toBe('string');
    expect(store.get('app', 'h')?.value.toString()).toBe('now a string');
  });

  test('TYPE, OBJECT ENCODING, EXISTS, DEL, TTL, EXPIRE and PERSIST work on every type', () => {
    const { store, clock } = makeStore();
    store.set('app', 'str', b('1'));
    cmd(store, 'HSET', 'h', 'f', 'v');
    cmd(store, 'SADD', 's', 'm');
    expect(['str', 'h', 's', 'none'].map((k) => store.typeOf('app', k))).toEqual(['string', 'hash', 'set', 'none']);
    expect(store.objectInfo('app', 'h')?.encoding).toBe('listpack');
    expect(store.objectInfo('app', 's')?.encoding).toBe('listpack');
    expect(store.exists('app', ['h', 's', 'str', 'x'])).toBe(3);
    expect(store.ttl('app', 'h')).toBe(-1);
    expect(store.expire('app', 'h', 1000)).toBe(true);
    expect(store.ttl('app', 'h')).toBe(1000);
    cmd(store, 'HSET', 'h', 'g', 'w'); // a write keeps the key's expiry
    expect(store.ttl('app', 'h')).toBe(1000);
    expect(store.persist('app', 'h')).toBe(true);
    expect(store.expire('app', 's', 500)).toBe(true);
    clock.advance(500);
    expect(store.typeOf('app', 's')).toBe('none');
    expect(cmd(store, 'SMEMBERS', 's')).toEqual([]);
    expect(cmd(store, 'HLEN', 'h')).toBe(2);
    expect(store.delete('app', 'h')).toBe(true);
    expect(cmd(store, 'HLEN', 'h')).toBe(0);
  });

  test('a hash or set created by a write takes the TTL given for new keys', () => {
    const { store, clock } = makeStore();
    store.collWrite('app', 'h', def('HSET'), ['f', 'v'], 2000);
    store.collWrite('app', 'h', def('HSET'), ['g', 'w'], 9000); // not new: keeps its expiry
    expect(store.ttl('app', 'h')).toBe(2000);
    clock.advance(2000);
    expect(cmd(store, 'HGET', 'h', 'f')).toBeNull();
  });

  test('RENAME and COPY carry the type; SCAN filters by it', () => {
    const { store } = makeStore();
    cmd(store, 'HSET', '{k}h', 'f', 'v');
    cmd(store, 'SADD', '{k}s', 'm');
    store.set('app', '{k}str', b('x'));
    expect(store.rename('app', '{k}h', '{k}h2', false)).toBe(1);
    expect(store.typeOf('app', '{k}h2')).toBe('hash');
    expect(cmd(store, 'HGET', '{k}h2', 'f')).toBe('v');
    expect(store.copy('app', '{k}s', '{k}s2', false)).toBe(true);
    expect(cmd(store, 'SMEMBERS', '{k}s2')).toEqual(['m']);
    expect(store.copy('app', '{k}h2', '{k}str', true)).toBe(true);
    expect(store.typeOf('app', '{k}str')).toBe('hash');
    const scan = (type: number) => store.keys.scan('app', 0, 1000, () => true, type).keys.sort();
    expect(scan(EntryType.HASH)).toEqual(['{k}h2', '{k}str']);
    expect(scan(EntryType.SET)).toEqual(['{k}s', '{k}s2']);
    expect(scan(EntryType.STRING)).toEqual([]);
    expect(scan(-1)).toHaveLength(4);
  });

  test('memory: a hash is accounted by its packed bytes, refused past the item limit, and evicted like any entry', () => {
    const { store } = makeStore({ maxMemoryBytes: 200_000, defaultMaxItemBytes: 4096 });
    cmd(store, 'HSET', 'h', 'f', 'v'.repeat(40));
    const one = store.memoryUsage('app', 'h');
    cmd(store, 'HSET', 'h', 'g', 'w'.repeat(40));
    expect(store.memoryUsage('app', 'h') - one).toBe(1 + 1 + 1 + 40); // two lengths, the field, the value
    expect(opError(() => run(store, 'HSET', 'h', ['big', 'x'.repeat(5000)])).status).toBe(Status.TOO_LARGE);
    expect(cmd(store, 'HLEN', 'h')).toBe(2);
    expect(store.objectInfo('app', 'h')?.encoding).toBe('listpack'); // the refused write changed nothing
    for (let i = 0; i < 2000; i++) cmd(store, 'HSET', `session:${i}`, 'user', `u${i}`, 'data', 'd'.repeat(200));
    const stats = store.stats();
    expect(stats.bytes).toBeLessThanOrEqual(200_000);
    expect(stats.evictedMemory).toBeGreaterThan(0);
    expect(cmd(store, 'HGET', 'session:1999', 'user')).toBe('u1999'); // the newest survives
  });

  test('countOf reads the packed count', () => {
    const { store } = makeStore();
    cmd(store, 'SADD', 's', ...Array.from({ length: 200 }, (_, i) => `m${i}`));
    expect(store.collCount('app', 's')).toBe(200);
    expect(countOf(undefined)).toBe(0);
  });
});

describe('replication and migration carry the type', () => {
  test('a hash written on a primary reaches a replica through the log, and a snapshot chunk carries types', () => {
    const primary = makeStore();
    const replica = makeStore();
    const log = new ReplicationLog(primary.store, 1 << 20, () => undefined);
    log.recording = true;
    const start = log.offset;
    const write = (key: string, name: keyof typeof CollCmd, ...args: string[]) => {
      const r = primary.store.collWrite('app', key, def(name), args);
      if (r.deleted) log.deleted('app', key);
      else if (r.version !== 0) log.changed('app', key);
    };
    write('h', 'HSET', 'a', '1', 'b', '2');
    write('s', 'SADD', 'x', 'y');
    write('s', 'SREM', 'x');
    write('gone', 'SADD', 'only');
    write('gone', 'SPOP');
    const tail = log.backlog.read(start);
    for (let at = 0; at < tail.length;) {
      const n = tail.readUInt32BE(at);
      applyRecord(replica.store, decodePayload(tail.subarray(at + 4, at + 4 + n)));
      at += 4 + n;
    }
    for (const key of ['h', 's', 'gone']) expect([key, replica.store.typeOf('app', key)]).toEqual([key, primary.store.typeOf('app', key)]);
    expect(plain(replica.store.collRead('app', 'h', def('HGETALL'), []))).toEqual(['a', '1', 'b', '2']);
    expect(replica.store.replication.peek('app', 'h')).toEqual(primary.store.replication.peek('app', 'h'));

    // A full sync's chunk: types ride beside the entries, and only when one is not a string.
    primary.store.set('app', 'str', b('v'));
    const chunk = primary.store.replication.snapshotChunk(0, 100, 1 << 20);
    const flat: unknown[] = [];
    const types: number[] = [];
    for (const e of chunk.entries) {
      flat.push(e.ns, e.key, e.value, e.version, e.expiresAt, e.flags, e.tags);
      types.push(e.type);
    }
    const frame = decodePayload(encodeFrame(snapshotFrame(flat, types)).subarray(4)) as unknown[];
    expect(frame).toHaveLength(4);
    const fresh = makeStore();
    applyRecord(fresh.store, frame);
    for (const key of ['h', 's', 'str']) expect(fresh.store.replication.peek('app', key)).toEqual(primary.store.replication.peek('app', key));
    expect(snapshotFrame(flat.slice(0, 7), [EntryType.STRING])).toHaveLength(3); // all strings: the frame an older node reads
  });

  test('a malformed types list or type is a protocol error', () => {
    expect(() => chunkTypes([1], 2)).toThrow(/snapshot types/);
    expect(() => chunkTypes([7], 1)(0)).toThrow(/type/);
    expect(() => forEachChunkEntry([0, 32, ['app', 'k', b('v'), 1, 0, 0, null], [9]], () => undefined)).toThrow(/type/);
    const { store } = makeStore();
    expect(() => applyRecord(store, [0, 34, 'app', 'k', b('v'), 1, 0, 0, null, 3])).toThrow(/type/);
  });

  test('importEntry writes the type a migration brings', () => {
    const source = makeStore();
    source.store.collWrite('app', 'h', def('HSET'), ['f', 'v']);
    const e = source.store.replication.peek('app', 'h')!;
    const target = makeStore();
    target.store.importEntry('app', 'h', b(e.value), 0, 0, null, e.type);
    expect(plain(target.store.collRead('app', 'h', def('HGET'), ['f']))).toBe('v');
  });
});

describe('large hashes and sets: indexed past 128 elements or 64-byte elements, as Redis', () => {
  test('the encoding turns to hashtable past 128 elements or a 65-byte element, and back within both', () => {
    const { store } = makeStore();
    for (let i = 0; i < 128; i++) cmd(store, 'SADD', 's', `m${i}`);
    expect(store.objectInfo('app', 's')?.encoding).toBe('listpack');
    cmd(store, 'SADD', 's', 'one-more');
    expect(store.objectInfo('app', 's')?.encoding).toBe('hashtable');
    cmd(store, 'SREM', 's', 'one-more', 'm0', 'm1');
    expect(store.objectInfo('app', 's')?.encoding).toBe('listpack'); // a function of the contents: replicas and snapshots agree
    expect(store.collCount('app', 's')).toBe(126);
    cmd(store, 'HSET', 'h', 'f', 'x'.repeat(64));
    expect(store.objectInfo('app', 'h')?.encoding).toBe('listpack');
    cmd(store, 'HSET', 'h', 'g', 'x'.repeat(65));
    expect(store.objectInfo('app', 'h')?.encoding).toBe('hashtable');
    expect(cmd(store, 'HGET', 'h', 'g')).toBe('x'.repeat(65));
  });

  test('an indexed write is refused whole past the item limit, and accounted per element', () => {
    const { store } = makeStore({ defaultMaxItemBytes: 4000 });
    for (let i = 0; i < 150; i++) cmd(store, 'HSET', 'h', `f${i}`, 'v');
    const before = store.memoryUsage('app', 'h');
    expect(store.objectInfo('app', 'h')?.encoding).toBe('hashtable');
    expect(opError(() => run(store, 'HSET', 'h', ['big', 'x'.repeat(4000)])).status).toBe(Status.TOO_LARGE);
    expect(cmd(store, 'HEXISTS', 'h', 'big')).toBe(0);
    expect(store.memoryUsage('app', 'h')).toBe(before);
    cmd(store, 'HSET', 'h', 'extra', 'value');
    expect(store.memoryUsage('app', 'h') - before).toBe(1 + 5 + 1 + 5 + 80); // the field and the value packed (length, bytes), the element's overhead
    cmd(store, 'HDEL', 'h', 'extra');
    expect(store.memoryUsage('app', 'h')).toBe(before);
  });

  test('the item limit counts an indexed value as its packed length: a hash filled to the limit migrates and replicates under the same limit', () => {
    const limit = 20_000;
    const source = makeStore({ defaultMaxItemBytes: limit }).store;
    let i = 0;
    for (;; i++) {
      try {
        run(source, 'HSET', 'h', [`f${i}`, 'v'.repeat(120)]);
      } catch (err) {
        expect((err as { status: number }).status).toBe(Status.TOO_LARGE);
        break;
      }
    }
    expect(i).toBeGreaterThan(100);
    const e = source.replication.peek('app', 'h')!;
    expect(e.value.length + 1).toBeLessThanOrEqual(limit); // key + packed value: what the limit counted
    const target = makeStore({ defaultMaxItemBytes: limit }).store;
    expect(target.importEntry('app', 'h', b(e.value), 0, 0, null, e.type)).toBeGreaterThan(0);
    expect(target.collCount('app', 'h')).toBe(i);
    expect(target.memoryUsage('app', 'h')).toBe(source.memoryUsage('app', 'h'));
  });

  test('a reply past MAX_REPLY_BYTES is refused, not built (random picks with repeats, HMGET of one field many times)', () => {
    const { store } = makeStore();
    cmd(store, 'SADD', 's', 'm'.repeat(1000));
    expect(opError(() => run(store, 'SRANDMEMBER', 's', ['-100000'])).message).toMatch(/over the 8388608 bytes one reply may carry/);
    cmd(store, 'HSET', 'h', 'f', 'v'.repeat(100_000));
    expect(opError(() => run(store, 'HMGET', 'h', Array.from({ length: 100 }, () => 'f'))).status).toBe(Status.BAD_REQUEST);
    expect((cmd(store, 'HMGET', 'h', 'f', 'f') as string[]).length).toBe(2);
    expect(cmd(store, 'SRANDMEMBER', 's', '-5')).toHaveLength(5);
  });

  /** A seeded model check: random commands on small and large keys, against Maps and Sets; a replica fed the log and a store fed a snapshot end equal. */
  test.each([1, 2, 3])('random commands agree with a model, and the replica and a snapshot agree with the primary (seed %i)', (seed) => {
    const { store } = makeStore({}, seed);
    const replica = makeStore({}, seed + 100).store;
    const log = new ReplicationLog(store, 1 << 24, () => undefined);
    log.recording = true;
    let rnd = seed * 7919;
    const random = (n: number): number => {
      rnd = (rnd * 1103515245 + 12345) % 2147483648;
      return rnd % n;
    };
    const hashes = new Map<string, Map<string, string>>();
    const sets = new Map<string, Set<string>>();
    const field = (): string => `f${random(random(2) === 0 ? 20 : 300)}`;
    const value = (): string => 'v'.repeat(random(3) === 0 ? 70 + random(30) : random(20));
    const member = (): string => `m${random(500)}`;
    const seenEncodings = new Set<string>();
    const write = (key: string, name: keyof typeof CollCmd, args: string[]): CollReply => {
      const r = store.collWrite('app', key, def(name), args);
      if (r.deleted) log.deleted('app', key);
      else if (r.version !== 0) log.collChanged('app', key, r.changes);
      return r.reply;
    };
    for (let step = 0; step < 3000; step++) {
      const hk = `h${random(4)}`;
      const sk = `s${random(4)}`;
      const h = hashes.get(hk) ?? new Map<string, string>();
      const s = sets.get(sk) ?? new Set<string>();
      switch (random(9)) {
        case 0: case 1: {
          const args = Array.from({ length: 1 + random(6) }, () => [field(), value()]).flat();
          const added = new Set(args.filter((_, i) => i % 2 === 0 && !h.has(args[i]))).size;
          expect(write(hk, 'HSET', args)).toBe(added);
          for (let i = 0; i < args.length; i += 2) h.set(args[i], args[i + 1]);
          break;
        }
        case 2: {
          const fields = Array.from({ length: 1 + random(20) }, field);
          const removed = new Set(fields.filter((f) => h.has(f))).size;
          expect(write(hk, 'HDEL', fields)).toBe(removed);
          for (const f of fields) h.delete(f);
          break;
        }
        case 3: {
          const f = field();
          const n = (Number(h.get(f) ?? '0') || 0) + 3;
          if (h.has(f) && !/^-?\d+$/.test(h.get(f)!) && h.get(f) !== '') {
            expect(opError(() => write(hk, 'HINCRBY', [f, '3'])).message).toBe('hash value is not an integer');
          } else if (h.get(f) === '') {
            expect(opError(() => write(hk, 'HINCRBY', [f, '3'])).message).toBe('hash value is not an integer');
          } else {
            expect(write(hk, 'HINCRBY', [f, '3'])).toBe(n);
            h.set(f, String(n));
          }
          break;
        }
        case 4: {
          const fields = Array.from({ length: 1 + random(4) }, field);
          expect(plain(run(store, 'HMGET', hk, fields))).toEqual(fields.map((f) => h.get(f) ?? null));
          expect(run(store, 'HLEN', hk)).toBe(h.size);
          break;
        }
        case 5: case 6: {
          const members = Array.from({ length: 1 + random(40) }, member);
          expect(write(sk, 'SADD', members)).toBe(new Set(members.filter((m) => !s.has(m))).size);
          for (const m of members) s.add(m);
          break;
        }
        case 7: {
          const members = Array.from({ length: 1 + random(4) }, member);
          expect(write(sk, 'SREM', members)).toBe(new Set(members.filter((m) => s.has(m))).size);
          for (const m of members) s.delete(m);
          break;
        }
        default: {
          const popped = plain(write(sk, 'SPOP', ['2'])) as string[];
          expect(popped.length).toBe(Math.min(2, s.size));
          for (const m of popped) {
            expect(s.has(m)).toBe(true);
            s.delete(m);
          }
          expect(run(store, 'SCARD', sk)).toBe(s.size);
        }
      }
      hashes.set(hk, h);
      sets.set(sk, s);
      for (const k of [hk, sk]) seenEncodings.add(`${store.typeOf('app', k)} ${store.objectInfo('app', k)?.encoding}`);
    }
    for (const [key, h] of hashes) expect([key, pairsOf(cmd(store, 'HGETALL', key))]).toEqual([key, Object.fromEntries(h)]);
    for (const [key, s] of sets) expect([key, (cmd(store, 'SMEMBERS', key) as string[]).sort()]).toEqual([key, [...s].sort()]);
    // Both encodings of both types were exercised.
    for (const e of ['hash hashtable', 'set hashtable', 'hash listpack', 'set listpack']) expect(seenEncodings).toContain(e);

    // The replica, fed the stream's records (REPL_COLL for changes), holds the same entries and sizes.
    const tail = log.backlog.read(0);
    let colls = 0;
    for (let at = 0; at < tail.length;) {
      const n = tail.readUInt32BE(at);
      const frame = decodePayload(tail.subarray(at + 4, at + 4 + n)) as unknown[];
      if (frame[1] === 37) colls++;
      applyRecord(replica, frame);
      at += 4 + n;
    }
    expect(colls).toBeGreaterThan(1000);
    const keys = [...hashes.keys(), ...sets.keys()];
    for (const key of keys) {
      expect([key, replica.replication.peek('app', key)]).toEqual([key, store.replication.peek('app', key)]);
      expect([key, replica.memoryUsage('app', key), replica.objectInfo('app', key)?.encoding]).toEqual([key, store.memoryUsage('app', key), store.objectInfo('app', key)?.encoding]);
    }
    // A store loaded from a snapshot holds them in the same encodings and sizes.
    const fresh = makeStore().store;
    for (const e of store.replication.snapshotChunk(0, 1000, 1 << 26).entries) fresh.replication.applySet(e.ns, e.key, e.value, e.version, e.expiresAt, e.flags, e.tags, e.type);
    for (const key of keys) {
      expect([key, fresh.memoryUsage('app', key), fresh.objectInfo('app', key)?.encoding]).toEqual([key, store.memoryUsage('app', key), store.objectInfo('app', key)?.encoding]);
    }
    // COPY makes an independent copy of a large one; RENAME moves it.
    const big = keys.find((k) => store.objectInfo('app', k)?.encoding === 'hashtable')!;
    const type = store.typeOf('app', big);
    expect(store.copy('app', big, `${big}-copy`, false)).toBe(true);
    const grow = type === 'hash' ? ['HSET', `${big}-copy`, 'new-field', 'v'] : ['SADD', `${big}-copy`, 'new-member'];
    cmd(store, grow[0] as 'HSET', grow[1], ...grow.slice(2));
    expect(store.collCount('app', `${big}-copy`)).toBe(store.collCount('app', big) + 1);
    expect(store.rename('app', `${big}-copy`, `${big}-moved`, false)).toBe(1);
    expect(store.collCount('app', `${big}-moved`)).toBe(store.collCount('app', big) + 1);
  });
});
