import { CollCmd } from '../shared/collections';
import { encodeFrame } from '../shared/frame';
import { COLL, COLL_WRITE } from '../shared/ops';
import { BENCH_NAMESPACE, type Protocol } from './wire';

/**
 * The hash and set requests of the node benchmark, in both protocols: a storage node's COLL /
 * COLL_WRITE frames (`shared/ops.ts`, epoch 0 on a standalone node) and redis-server's RESP.
 *
 *   hash key `hash:0000001`: HASH_FIELDS fields `field:0`..`field:9`, each ELEMENT_BYTES of value
 *   set key  `set:0000001`:  SET_MEMBERS members `member-0000000000000`.. (ELEMENT_BYTES each)
 *
 * Loading sends one HSET with every field-value pair (one SADD with every member) per key; the
 * throughput runs send one field (member) per command.
 */

/** Fields per hash and members per set. */
export const HASH_FIELDS = 10;
export const SET_MEMBERS = 10;
/** Bytes of each hash value and of each set member. */
export const ELEMENT_BYTES = 20;

/** Key of hash `i` (from 1). */
export function hashKey(i: number): string {
  return `hash:${String(i).padStart(7, '0')}`;
}

/** Key of set `i` (from 1). */
export function setKey(i: number): string {
  return `set:${String(i).padStart(7, '0')}`;
}

/** Field `j` of every hash: `field:0` ... */
export function hashField(j: number): string {
  return `field:${j}`;
}

/** Member `j` of every set: `member-` and j padded to ELEMENT_BYTES. */
export function setMember(j: number): string {
  return `member-${String(j).padStart(ELEMENT_BYTES - 7, '0')}`;
}

/** The value of every hash field: ELEMENT_BYTES of `v`. */
export const HASH_VALUE = 'v'.repeat(ELEMENT_BYTES);

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A RESP command: an array of bulk strings (ASCII). */
export function encodeRespCommand(args: readonly string[]): Buffer {
  let text = `*${args.length}\r\n`;
  for (const a of args) text += `$${a.length}\r\n${a}\r\n`;
  return Buffer.from(text, 'latin1');
}

/** `[id, COLL_WRITE, epoch 0, ns, key, cmd, args, ttlMsOnCreate 0]`. */
function collWriteFrame(id: number, key: string, cmd: number, args: readonly Buffer[]): Buffer {
  return encodeFrame([id, COLL_WRITE.code, 0, BENCH_NAMESPACE, key, cmd, args, 0]);
}

/** `[id, COLL, ns, key, cmd, args]`. */
function collReadFrame(id: number, key: string, cmd: number, args: readonly Buffer[]): Buffer {
  return encodeFrame([id, COLL.code, BENCH_NAMESPACE, key, cmd, args]);
}

/** The collection requests of one protocol; arguments prepared once. */
export interface CollEncoder {
  /** HSET key with all HASH_FIELDS pairs. */
  hashLoad(id: number, key: string): Buffer;
  /** SADD key with all SET_MEMBERS members. */
  setLoad(id: number, key: string): Buffer;
  /** HSET key field:j value (one pair). */
  hset(id: number, key: string, j: number): Buffer;
  /** HGET key field:j. */
  hget(id: number, key: string, j: number): Buffer;
  /** SADD key member j. */
  sadd(id: number, key: string, j: number): Buffer;
  /** SISMEMBER key member j. */
  sismember(id: number, key: string, j: number): Buffer;
}

/** The encoder speaking `protocol`. */
export function collEncoderFor(protocol: Protocol): CollEncoder {
  const fields = Array.from({ length: HASH_FIELDS }, (_, j) => hashField(j));
  const members = Array.from({ length: SET_MEMBERS }, (_, j) => setMember(j));
  const pairs = fields.flatMap((f) => [f, HASH_VALUE]);
  if (protocol === 'frame') {
    const value = latin1(HASH_VALUE);
    const fieldBytes = fields.map(latin1);
    const memberBytes = members.map(latin1);
    const pairBytes = pairs.map(latin1);
    const fieldPair = fieldBytes.map((f) => [f, value]);
    const fieldOne = fieldBytes.map((f) => [f]);
    const memberOne = memberBytes.map((m) => [m]);
    return {
      hashLoad: (id, key) => collWriteFrame(id, key, CollCmd.HSET, pairBytes),
      setLoad: (id, key) => collWriteFrame(id, key, CollCmd.SADD, memberBytes),
      hset: (id, key, j) => collWriteFrame(id, key, CollCmd.HSET, fieldPair[j]),
      hget: (id, key, j) => collReadFrame(id, key, CollCmd.HGET, fieldOne[j]),
      sadd: (id, key, j) => collWriteFrame(id, key, CollCmd.SADD, memberOne[j]),
      sismember: (id, key, j) => collReadFrame(id, key, CollCmd.SISMEMBER, memberOne[j]),
    };
  }
  return {
    hashLoad: (_id, key) => encodeRespCommand(['HSET', key, ...pairs]),
    setLoad: (_id, key) => encodeRespCommand(['SADD', key, ...members]),
    hset: (_id, key, j) => encodeRespCommand(['HSET', key, fields[j], HASH_VALUE]),
    hget: (_id, key, j) => encodeRespCommand(['HGET', key, fields[j]]),
    sadd: (_id, key, j) => encodeRespCommand(['SADD', key, members[j]]),
    sismember: (_id, key, j) => encodeRespCommand(['SISMEMBER', key, members[j]]),
  };
}
