import { array, bulk, integer, map, simple } from './reply';

/**
 * COMMAND DOCS's data for every command the RESP front serves: summary, the Redis version that
 * brought the command (`since`), its group, its complexity and its arguments (names, types,
 * tokens, optional / multiple), with the sub-commands of the container commands. One entry per
 * name of `RESP_COMMANDS` (commands.ts); test/unit/resp-command-docs.test.ts fails for a command
 * without one, so a command added later brings its docs here.
 *
 * The texts follow Redis's own docs; where shardcache differs (docs/resp.md) the summary says so.
 */

export type ArgType = 'string' | 'integer' | 'double' | 'key' | 'pattern' | 'unix-time' | 'pure-token' | 'oneof' | 'block';

export interface ArgDoc {
  name: string;
  type: ArgType;
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  /** The arguments of a oneof or a block. */
  args?: readonly ArgDoc[];
}

export interface CommandDoc {
  summary: string;
  since: string;
  group: string;
  complexity: string;
  args?: readonly ArgDoc[];
  /** Container commands (CLIENT, CONFIG, ...): by sub-command name, lower case. */
  subcommands?: Readonly<Record<string, CommandDoc>>;
}

// Argument builders: Redis's argument types.
const key = (name = 'key'): ArgDoc => ({ name, type: 'key' });
const str = (name: string): ArgDoc => ({ name, type: 'string' });
const int = (name: string): ArgDoc => ({ name, type: 'integer' });
const dbl = (name: string): ArgDoc => ({ name, type: 'double' });
const time = (name: string): ArgDoc => ({ name, type: 'unix-time' });
const pattern = (name = 'pattern'): ArgDoc => ({ name, type: 'pattern' });
const tok = (token: string, name = token.toLowerCase()): ArgDoc => ({ name, type: 'pure-token', token });
const opt = (arg: ArgDoc): ArgDoc => ({ ...arg, optional: true });
const many = (arg: ArgDoc): ArgDoc => ({ ...arg, multiple: true });
const tokened = (token: string, arg: ArgDoc): ArgDoc => ({ ...arg, token });
const oneof = (name: string, ...args: ArgDoc[]): ArgDoc => ({ name, type: 'oneof', args });
const block = (name: string, ...args: ArgDoc[]): ArgDoc => ({ name, type: 'block', args });

const O1 = 'O(1)';
const ON_KEYS = 'O(N) where N is the number of keys';
const ON_CLIENTS = 'O(N) where N is the number of client connections';

const doc = (group: string, since: string, summary: string, complexity: string, ...args: ArgDoc[]): CommandDoc => ({ summary, since, group, complexity, ...(args.length > 0 ? { args } : {}) });
const strings = (since: string, summary: string, complexity: string, ...args: ArgDoc[]): CommandDoc => doc('string', since, summary, complexity, ...args);
const hash = (since: string, summary: string, complexity: string, ...args: ArgDoc[]): CommandDoc => doc('hash', since, summary, complexity, ...args);
const sets = (since: string, summary: string, complexity: string, ...args: ArgDoc[]): CommandDoc => doc('set', since, summary, complexity, ...args);
const gen = (since: string, summary: string, complexity: string, ...args: ArgDoc[]): CommandDoc => doc('generic', since, summary, complexity, ...args);
const conn = (since: string, summary: string, complexity: string, ...args: ArgDoc[]): CommandDoc => doc('connection', since, summary, complexity, ...args);
const srv = (since: string, summary: string, complexity: string, ...args: ArgDoc[]): CommandDoc => doc('server', since, summary, complexity, ...args);
const container = (group: string, since: string, summary: string, subcommands: Record<string, CommandDoc>): CommandDoc => ({
  summary, since, group, complexity: 'Depends on subcommand.', subcommands,
});

const expiryCondition = opt(oneof('condition', tok('NX'), tok('XX'), tok('GT'), tok('LT')));
const setExpiry = opt(oneof('expiration', tokened('EX', int('seconds')), tokened('PX', int('milliseconds')), tokened('EXAT', time('unix-time-seconds')),
  tokened('PXAT', time('unix-time-milliseconds')), tok('KEEPTTL')));
const getexExpiry = opt(oneof('expiration', tokened('EX', int('seconds')), tokened('PX', int('milliseconds')), tokened('EXAT', time('unix-time-seconds')),
  tokened('PXAT', time('unix-time-milliseconds')), tok('PERSIST')));
const clientFilters = [
  opt(tokened('ID', int('client-id'))), opt(tokened('TYPE', oneof('client-type', tok('NORMAL'), tok('MASTER'), tok('SLAVE'), tok('REPLICA'), tok('PUBSUB')))),
  opt(tokened('USER', str('username'))), opt(tokened('ADDR', str('ip:port'))), opt(tokened('LADDR', str('ip:port'))),
  opt(tokened('SKIPME', oneof('skipme', tok('YES'), tok('NO')))),
];

/** Every command's docs, by lower-case name. */
export const COMMAND_DOCS: Readonly<Record<string, CommandDoc>> = {
  // strings
  get: strings('1.0.0', 'Returns the string value of a key.', O1, key()),
  set: strings('1.0.0', 'Sets the string value of a key, ignoring its type. The key is created if it doesn\'t exist.', O1,
    key(), str('value'), opt(oneof('condition', tok('NX'), tok('XX'))), opt(tok('GET')), setExpiry),
  setex: strings('2.0.0', 'Sets the string value and expiration time of a key. Creates the key if it doesn\'t exist.', O1, key(), int('seconds'), str('value')),
  psetex: strings('2.6.0', 'Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn\'t exist.', O1,
    key(), int('milliseconds'), str('value')),
  setnx: strings('1.0.0', 'Set the string value of a key only when the key doesn\'t exist.', O1, key(), str('value')),
  getdel: strings('6.2.0', 'Returns the string value of a key after deleting the key.', O1, key()),
  getex: strings('6.2.0', 'Returns the string value of a key after setting its expiration time.', O1, key(), getexExpiry),
  getset: strings('1.0.0', 'Returns the previous string value of a key after setting it to a new value.', O1, key(), str('value')),
  mget: strings('1.0.0', 'Atomically returns the string values of one or more keys (not atomically in shardcache across shards).', 'O(N) where N is the number of keys to retrieve.', many(key())),
  mset: strings('1.0.1', 'Atomically creates or modifies the string values of one or more keys (key by key in shardcache).', 'O(N) where N is the number of keys to set.',
    many(block('data', key(), str('value')))),
  msetnx: strings('1.0.1', 'Atomically modifies the string values of one or more keys only when all keys don\'t exist (keys of one slot in shardcache).',
    'O(N) where N is the number of keys to set.', many(block('data', key(), str('value')))),
  incr: strings('1.0.0', 'Increments the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.', O1, key()),
  decr: strings('1.0.0', 'Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn\'t exist.', O1, key()),
  incrby: strings('1.0.0', 'Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.', O1, key(), int('increment')),
  decrby: strings('1.0.0', 'Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn\'t exist.', O1, key(), int('decrement')),
  incrbyfloat: strings('2.6.0', 'Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn\'t exist.', O1, key(), dbl('increment')),
  append: strings('2.0.0', 'Appends a string to the value of a key. Creates the key if it doesn\'t exist.', O1, key(), str('value')),
  setrange: strings('2.2.0', 'Overwrites a part of a string value with another by an offset. Creates the key if it doesn\'t exist.', O1, key(), int('offset'), str('value')),
  strlen: strings('2.2.0', 'Returns the length of a string value.', O1, key()),
  getrange: strings('2.4.0', 'Returns a substring of the string stored at a key.', 'O(N) where N is the length of the returned string.', key(), int('start'), int('end')),
  substr: strings('1.0.0', 'Returns a substring from a string value.', 'O(N) where N is the length of the returned string.', key(), int('start'), int('end')),
  // hashes
  hset: hash('2.0.0', 'Creates or modifies the value of a field in a hash.', 'O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.',
    key(), many(block('data', str('field'), str('value')))),
  hmset: hash('2.0.0', 'Sets the values of multiple fields.', 'O(N) where N is the number of fields being set.', key(), many(block('data', str('field'), str('value')))),
  hsetnx: hash('2.0.0', 'Sets the value of a field in a hash only when the field doesn\'t exist.', O1, key(), str('field'), str('value')),
  hget: hash('2.0.0', 'Returns the value of a field in a hash.', O1, key(), str('field')),
  hmget: hash('2.0.0', 'Returns the values of all fields in a hash.', 'O(N) where N is the number of fields being requested.', key(), many(str('field'))),
  hgetall: hash('2.0.0', 'Returns all fields and values in a hash.', 'O(N) where N is the size of the hash.', key()),
  hdel: hash('2.0.0', 'Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.', 'O(N) where N is the number of fields to be removed.', key(), many(str('field'))),
  hexists: hash('2.0.0', 'Determines whether a field exists in a hash.', O1, key(), str('field')),
  hlen: hash('2.0.0', 'Returns the number of fields in a hash.', O1, key()),
  hkeys: hash('2.0.0', 'Returns all fields in a hash.', 'O(N) where N is the size of the hash.', key()),
  hvals: hash('2.0.0', 'Returns all values in a hash.', 'O(N) where N is the size of the hash.', key()),
  hincrby: hash('2.0.0', 'Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn\'t exist.', O1, key(), str('field'), int('increment')),
  hincrbyfloat: hash('2.6.0', 'Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn\'t exist.', O1, key(), str('field'), dbl('increment')),
  hstrlen: hash('3.2.0', 'Returns the length of the value of a field.', O1, key(), str('field')),
  hrandfield: hash('6.2.0', 'Returns one or more random fields from a hash.', 'O(N) where N is the number of fields returned',
    key(), opt(block('options', int('count'), opt(tok('WITHVALUES'))))),
  hscan: hash('2.8.0', 'Iterates over fields and values of a hash (the whole hash in one reply, cursor 0).', 'O(1) for every call. O(N) for a complete iteration.',
    key(), int('cursor'), opt(tokened('MATCH', pattern())), opt(tokened('COUNT', int('count'))), opt(tok('NOVALUES'))),
  // sets
  sadd: sets('1.0.0', 'Adds one or more members to a set. Creates the key if it doesn\'t exist.', 'O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.',
    key(), many(str('member'))),
  srem: sets('1.0.0', 'Removes one or more members from a set. Deletes the set if the last member was removed.', 'O(N) where N is the number of members to be removed.', key(), many(str('member'))),
  sismember: sets('1.0.0', 'Determines whether a member belongs to a set.', O1, key(), str('member')),
  smismember: sets('6.2.0', 'Determines whether multiple members belong to a set.', 'O(N) where N is the number of elements being checked for membership', key(), many(str('member'))),
  smembers: sets('1.0.0', 'Returns all members of a set.', 'O(N) where N is the set cardinality.', key()),
  scard: sets('1.0.0', 'Returns the number of members in a set.', O1, key()),
  spop: sets('1.0.0', 'Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.', 'Without the count argument O(1), otherwise O(N) where N is the value of the passed count.',
    key(), opt(int('count'))),
  srandmember: sets('1.0.0', 'Get one or multiple random members from a set', 'Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.', key(), opt(int('count'))),
  sscan: sets('2.8.0', 'Iterates over members of a set (the whole set in one reply, cursor 0).', 'O(1) for every call. O(N) for a complete iteration.',
    key(), int('cursor'), opt(tokened('MATCH', pattern())), opt(tokened('COUNT', int('count')))),
  sinter: sets('1.0.0', 'Returns the intersect of multiple sets (keys of one slot in shardcache).', 'O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.', many(key())),
  sunion: sets('1.0.0', 'Returns the union of multiple sets (keys of one slot in shardcache).', 'O(N) where N is the total number of elements in all given sets.', many(key())),
  sdiff: sets('1.0.0', 'Returns the difference of multiple sets (keys of one slot in shardcache).', 'O(N) where N is the total number of elements in all given sets.', many(key())),
  // keys
  del: gen('1.0.0', 'Deletes one or more keys.', ON_KEYS, many(key())),
  unlink: gen('4.0.0', 'Asynchronously deletes one or more keys.', ON_KEYS, many(key())),
  exists: gen('1.0.0', 'Determines whether one or more keys exist.', ON_KEYS, many(key())),
  touch: gen('3.2.1', 'Returns the number of existing keys out of those specified after updating the time they were last accessed.', ON_KEYS, many(key())),
  expire: gen('1.0.0', 'Sets the expiration time of a key in seconds.', O1, key(), int('seconds'), expiryCondition),
  pexpire: gen('2.6.0', 'Sets the expiration time of a key in milliseconds.', O1, key(), int('milliseconds'), expiryCondition),
  expireat: gen('1.2.0', 'Sets the expiration time of a key to a Unix timestamp.', O1, key(), time('unix-time-seconds'), expiryCondition),
  pexpireat: gen('2.6.0', 'Sets the expiration time of a key to a Unix milliseconds timestamp.', O1, key(), time('unix-time-milliseconds'), expiryCondition),
  expiretime: gen('7.0.0', 'Returns the expiration time of a key as a Unix timestamp.', O1, key()),
  pexpiretime: gen('7.0.0', 'Returns the expiration time of a key as a Unix milliseconds timestamp.', O1, key()),
  persist: gen('2.2.0', 'Removes the expiration time of a key.', O1, key()),
  ttl: gen('1.0.0', 'Returns the expiration time in seconds of a key.', O1, key()),
  pttl: gen('2.6.0', 'Returns the expiration time in milliseconds of a key.', O1, key()),
  type: gen('1.0.0', 'Determines the type of value stored at a key.', O1, key()),
  rename: gen('1.0.0', 'Renames a key and overwrites the destination (both in one slot in shardcache).', O1, key(), key('newkey')),
  renamenx: gen('1.0.0', 'Renames a key only when the target key name doesn\'t exist (both in one slot in shardcache).', O1, key(), key('newkey')),
  copy: gen('6.2.0', 'Copies the value of a key to a new key (both in one slot in shardcache).', O1,
    key('source'), key('destination'), opt(tokened('DB', int('destination-db'))), opt(tok('REPLACE'))),
  scan: gen('2.8.0', 'Iterates over the key names in the namespace.', 'O(1) for every call. O(N) for a complete iteration.',
    int('cursor'), opt(tokened('MATCH', pattern())), opt(tokened('COUNT', int('count'))), opt(tokened('TYPE', str('type')))),
  keys: gen('1.0.0', 'Returns all key names that match a pattern.', 'O(N) with N being the number of keys in the namespace.', pattern()),
  randomkey: gen('1.0.0', 'Returns a random key name from the namespace.', O1),
  object: container('generic', '2.2.3', 'A container for object introspection commands.', {
    encoding: gen('2.2.3', 'Returns the internal encoding of a Redis object (int, embstr or raw, by Redis\'s rule for strings).', O1, key()),
    freq: gen('4.0.0', 'Returns the logarithmic access frequency counter of a Redis object (namespaces that evict by LFU).', O1, key()),
    idletime: gen('2.2.3', 'Returns the time since the last access to a Redis object (namespaces that do not evict by LFU).', O1, key()),
    refcount: gen('2.2.3', 'Returns the reference count of a value of a key (always 1).', O1, key()),
    help: gen('6.2.0', 'Returns helpful text about the different subcommands.', O1),
  }),
  // connection
  ping: conn('1.0.0', 'Returns the server\'s liveliness response.', O1, opt(str('message'))),
  echo: conn('1.0.0', 'Returns the given string.', O1, str('message')),
  quit: conn('1.0.0', 'Closes the connection.', O1),
  hello: conn('6.0.0', 'Handshakes with the Redis server.', O1, opt(block('arguments', int('protover'),
    opt(tokened('AUTH', block('auth', str('username'), str('password')))), opt(tokened('SETNAME', str('clientname')))))),
  auth: conn('1.0.0', 'Authenticates the connection (selects its namespace while the cluster does not require auth).', 'O(N) where N is the number of passwords defined for the user',
    opt(str('username')), str('password')),
  select: conn('1.0.0', 'Changes the selected database (only database 0 exists).', O1, int('index')),
  client: container('connection', '2.4.0', 'A container for client connection commands.', {
    list: conn('2.4.0', 'Lists open connections.', ON_CLIENTS, opt(tokened('TYPE', oneof('client-type', tok('NORMAL'), tok('MASTER'), tok('REPLICA'), tok('PUBSUB')))),
      opt(tokened('ID', many(int('client-id'))))),
    info: conn('6.2.0', 'Returns information about the connection.', O1),
    kill: conn('2.4.0', 'Terminates open connections.', ON_CLIENTS, oneof('filter', str('ip:port'), many(block('new-format', ...clientFilters)))),
    id: conn('5.0.0', 'Returns the unique client ID of the connection.', O1),
    setname: conn('2.6.9', 'Sets the connection name.', O1, str('connection-name')),
    getname: conn('2.6.9', 'Returns the name of the connection.', O1),
    setinfo: conn('7.2.0', 'Sets information specific to the client or connection.', O1, oneof('attr', tokened('LIB-NAME', str('libname')), tokened('LIB-VER', str('libver')))),
    'no-evict': conn('7.0.0', 'Sets the client eviction mode of the connection (accepted; the proxy evicts no client).', O1, oneof('enabled', tok('ON'), tok('OFF'))),
    'no-touch': conn('7.2.0', 'Controls whether commands sent by the client affect the LRU/LFU of accessed keys (accepted; no effect).', O1, oneof('enabled', tok('ON'), tok('OFF'))),
  }),
  // server
  command: {
    ...srv('2.8.13', 'Returns detailed information about all commands.', 'O(N) where N is the total number of Redis commands'),
    subcommands: {
      count: srv('2.8.13', 'Returns a count of commands.', O1),
      docs: srv('7.0.0', 'Returns documentary information about one, multiple or all commands.', 'O(N) where N is the number of commands to look up', opt(many(str('command-name')))),
      info: srv('2.8.13', 'Returns information about one, multiple or all commands.', 'O(N) where N is the number of commands to look up', opt(many(str('command-name')))),
      list: srv('7.0.0', 'Returns a list of command names.', 'O(N) where N is the total number of Redis commands'),
    },
  },
  info: srv('1.0.0', 'Returns information and statistics about the server.', O1, opt(many(str('section')))),
  config: container('server', '2.0.0', 'A container for server configuration commands.', {
    get: srv('2.0.0', 'Returns the effective values of configuration parameters.', 'O(N) when N is the number of configuration parameters provided', many(pattern('parameter'))),
    set: srv('2.0.0', 'Sets configuration parameters (the slow log\'s and the latency monitor\'s only) of this proxy process.',
      'O(N) when N is the number of configuration parameters provided', many(block('data', str('parameter'), str('value')))),
  }),
  dbsize: srv('1.0.0', 'Returns the number of keys in the namespace.', O1),
  flushdb: srv('1.0.0', 'Removes all keys from the namespace.', 'O(1) on each shard (entries are reclaimed in the background)', opt(oneof('flush-type', tok('ASYNC'), tok('SYNC')))),
  flushall: srv('1.0.0', 'Removes all keys from the namespace (namespaces are tenants: not the whole cluster).', 'O(1) on each shard (entries are reclaimed in the background)',
    opt(oneof('flush-type', tok('ASYNC'), tok('SYNC')))),
  slowlog: container('server', '2.2.12', 'A container for slow log commands (this proxy process\'s log; times include the node round trip).', {
    get: srv('2.2.12', 'Returns the slow log\'s entries.', 'O(N) where N is the number of entries returned', opt(int('count'))),
    len: srv('2.2.12', 'Returns the number of entries in the slow log.', O1),
    reset: srv('2.2.12', 'Clears all entries from the slow log.', 'O(N) where N is the number of entries in the slowlog'),
  }),
  latency: container('server', '2.8.13', 'A container for latency diagnostics commands (this proxy process\'s events).', {
    latest: srv('2.8.13', 'Returns the latest latency samples for all events.', O1),
    history: srv('2.8.13', 'Returns timestamp-latency samples for an event.', O1, str('event')),
    reset: srv('2.8.13', 'Resets the latency data for one or more events.', O1, opt(many(str('event')))),
    doctor: srv('2.8.13', 'Returns a human-readable latency analysis report.', O1),
  }),
  memory: container('server', '4.0.0', 'A container for memory diagnostics commands.', {
    usage: srv('4.0.0', 'Estimates the memory usage of a key (its accounted bytes on its node).', O1, key(), opt(tokened('SAMPLES', int('count')))),
  }),
};

function argReply(a: ArgDoc, protocol: 2 | 3): Buffer {
  const pairs: Array<readonly [Buffer, Buffer]> = [[bulk('name'), bulk(a.name)], [bulk('type'), bulk(a.type)]];
  if (a.type !== 'pure-token' && a.type !== 'oneof' && a.type !== 'block') pairs.push([bulk('display_text'), bulk(a.name)]);
  if (a.type === 'key') pairs.push([bulk('key_spec_index'), integer(0)]);
  if (a.token !== undefined) pairs.push([bulk('token'), bulk(a.token)]);
  const flags = [...(a.optional === true ? ['optional'] : []), ...(a.multiple === true ? ['multiple'] : [])];
  if (flags.length > 0) pairs.push([bulk('flags'), array(flags.map(simple))]);
  if (a.args !== undefined) pairs.push([bulk('arguments'), array(a.args.map((sub) => argReply(sub, protocol)))]);
  return map(pairs, protocol);
}

/** One command's COMMAND DOCS map (`name` is its full name, `parent|sub` for a sub-command). */
export function docReply(name: string, d: CommandDoc, protocol: 2 | 3): Buffer {
  const pairs: Array<readonly [Buffer, Buffer]> = [
    [bulk('summary'), bulk(d.summary)], [bulk('since'), bulk(d.since)], [bulk('group'), bulk(d.group)], [bulk('complexity'), bulk(d.complexity)],
  ];
  if (d.args !== undefined) pairs.push([bulk('arguments'), array(d.args.map((a) => argReply(a, protocol)))]);
  if (d.subcommands !== undefined) {
    const subs = Object.entries(d.subcommands).map(([sub, sd]) => [bulk(`${name}|${sub}`), docReply(`${name}|${sub}`, sd, protocol)] as const);
    pairs.push([bulk('subcommands'), map(subs, protocol)]);
  }
  return map(pairs, protocol);
}

/**
 * COMMAND DOCS [name ...]: the docs of the commands named (every command served when none),
 * names unknown or undocumented left out, as Redis leaves out unknown names.
 */
export function commandDocs(names: readonly string[], served: ReadonlyMap<string, unknown>, protocol: 2 | 3): Buffer {
  const wanted = names.length === 0 ? [...served.keys()] : names.map((n) => n.toLowerCase());
  const pairs: Array<readonly [Buffer, Buffer]> = [];
  for (const name of new Set(wanted)) {
    if (served.has(name) && Object.hasOwn(COMMAND_DOCS, name)) pairs.push(encodedDoc(name, protocol));
  }
  return map(pairs, protocol);
}

/**
 * Each documented command's name and docs, encoded once per protocol: the docs never change, and
 * a tool may ask for all of them on every connect (thousands of small buffers to build each time).
 */
const ENCODED_DOCS: Record<2 | 3, Map<string, readonly [Buffer, Buffer]>> = { 2: new Map(), 3: new Map() };

function encodedDoc(name: string, protocol: 2 | 3): readonly [Buffer, Buffer] {
  const cache = ENCODED_DOCS[protocol];
  let pair = cache.get(name);
  if (pair === undefined) cache.set(name, (pair = [bulk(name), docReply(name, COMMAND_DOCS[name], protocol)]));
  return pair;
}
