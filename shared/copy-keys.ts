/**
 * How hot-key copies are named: the one place the proxy (`proxy/hotkeys/rules.ts`, which stores
 * them) and the storage node (`storage-node/store/key-walk.ts`, whose SCAN and RANDOMKEY leave
 * them out) read the rule from. Pure.
 *
 * Copy i >= 1 of a key is stored in the key's namespace under `[{tag}]key + "\0copy" + i + "@" +
 * generation` (the tag places it in a slot of the shard holding it; `generation` is the rule's
 * create revision). Copy 0 is the key itself.
 */

/** Marker between the key and the copy's index in the storage key of a copy. */
export const COPY_SUFFIX = '\u0000copy';

/** The end of the storage key of copy `index` (≥ 1) under a rule of `generation`. */
export const copyKeySuffix = (index: number, generation: number): string => `${COPY_SUFFIX}${index}@${generation}`;

const COPY_KEY_END = /\u0000copy\d+@\d+$/;

/** True when `key` is the storage key of a hot-key copy (ends in `\0copy<i>@<generation>`). */
export function isCopyKey(key: string): boolean {
  return key.includes(COPY_SUFFIX) && COPY_KEY_END.test(key);
}
