/** Number of hash slots (contract): the Redis Cluster value. */
export const SLOT_COUNT = 16384;

// Written by hand rather than taken from `cluster-key-slot`: that package (used by ioredis) keeps
// searching after an empty `{}` and hashes a later `{tag}`, while Redis hashes the whole key
// (`x{}{y}`); the known-answer test caught it. The function is ~30 lines and on every request path.
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** The CRC after one more byte. */
const crcStep = (crc: number, byte: number): number => ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xff];

/** CRC16-XMODEM (poly 0x1021, init 0) of the UTF-8 bytes of `text[start, end)`. */
export function crc16(text: string, start = 0, end = text.length): number {
  return crc16From(0, text, start, end);
}

/** The CRC of bytes hashed so far (`seed`) followed by the UTF-8 bytes of `text[start, end)`. */
function crc16From(seed: number, text: string, start = 0, end = text.length): number {
  let crc = seed;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return crc16Bytes(crc, Buffer.from(text.slice(i, end), 'utf8'));
    crc = crcStep(crc, code);
  }
  return crc;
}

function crc16Bytes(seed: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = seed;
  for (let i = start; i < end; i++) crc = crcStep(crc, bytes[i]);
  return crc;
}

/**
 * The slot of a string (contract), exactly Redis Cluster's `keyHashSlot`: when the string has a
 * `{` followed later by a `}` with at least one character between, only that first tag is hashed.
 * Braces are ASCII, so string indexes and UTF-8 byte offsets agree on where the tag is.
 */
export function keySlot(text: string): number {
  const open = text.indexOf('{');
  if (open >= 0) {
    const close = text.indexOf('}', open + 1);
    if (close > open + 1) return crc16(text, open + 1, close) & (SLOT_COUNT - 1);
  }
  return crc16(text) & (SLOT_COUNT - 1);
}

/**
 * The slot of a cache key (contract): `keySlot(namespace + ":" + key)`. Computed without that
 * string (concatenated, then flattened by the brace search, per key of every request): a hash tag
 * can only be in the key when the namespace has no `{` (NAMESPACE_PATTERN allows none), and the
 * CRC of `namespace:` is kept for the last namespace, since requests come in runs of one.
 */
export function slotOf(namespace: string, key: string): number {
  if (namespace !== lastNamespace) rememberNamespace(namespace);
  if (lastPrefixCrc < 0) return keySlot(namespace + ':' + key);
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key, open + 1, close) & (SLOT_COUNT - 1);
  }
  return crc16From(lastPrefixCrc, key) & (SLOT_COUNT - 1);
}

/** The namespace `slotOf` saw last, and the CRC of `namespace:` (-1 when the namespace has a `{`). */
let lastNamespace = '';
let lastPrefixCrc = crcStep(0, 0x3a);

function rememberNamespace(namespace: string): void {
  lastPrefixCrc = namespace.includes('{') ? -1 : crcStep(crc16(namespace), 0x3a /* ':' */);
  lastNamespace = namespace;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * `slotOf(namespace, key)` of a key given as its UTF-8 bytes `bytes[start, end)`, read in place
 * from a request: no `namespace:key` string is made. A namespace has no braces
 * (NAMESPACE_PATTERN), so a hash tag can only be in the key; braces are ASCII, so no byte of a
 * multi-byte character is taken for one.
 */
export function slotOfBytes(namespace: string, bytes: Uint8Array, start: number, end: number): number {
  for (let open = start; open < end; open++) {
    if (bytes[open] !== OPEN_BRACE) continue;
    let close = open + 1;
    while (close < end && bytes[close] !== CLOSE_BRACE) close++;
    if (close < end && close > open + 1) return crc16Bytes(0, bytes, open + 1, close) & (SLOT_COUNT - 1);
    break; // only the first `{` counts, as in keySlot
  }
  if (namespace !== lastNamespace) rememberNamespace(namespace);
  return crc16Bytes(lastPrefixCrc >= 0 ? lastPrefixCrc : crcStep(crc16(namespace), 0x3a /* ':' */), bytes, start, end) & (SLOT_COUNT - 1);
}
