import { ProxyError, ProxyErrorCode } from '../errors';

/**
 * Loads one key from a namespace's origin over HTTP. The origin is a URL template: `{key}` is
 * replaced by the key percent-encoded as one path segment (encodeURIComponent: `/`, `?`, `#`, `%`
 * and the rest are encoded); a template without `{key}` gets it appended as the last path
 * segment. So a key names its own segment and nothing else: the keys no encoding can confine,
 * `.` and `..` (URL parsers resolve `.`, `..`, `%2e` and `%2e%2e` segments) and keys that decode
 * to them, are refused before any request (`originKeyRefusal`), and a template whose `{key}`
 * sits outside the path and query (in the host, say) is never loaded (`originTemplateProblem`).
 * Every outcome is a value (never a rejection):
 *
 *   2xx            → value (bytes; JSON when the content-type is application/json or +json and the body parses)
 *   404, 410       → not-found (cached as a negative entry)
 *   other statuses, refused connections, bodies over the limit → error
 *   no answer within the timeout → timeout
 */
export type OriginResult =
  | { kind: 'value'; value: Buffer; json: boolean }
  | { kind: 'not-found' }
  | { kind: 'error'; reason: string }
  | { kind: 'timeout' };

/** The consumer's seam: the read-through core loads through this (tests hand in a fake). */
export interface OriginLoader {
  load(template: string, key: string, timeoutMs: number, maxBytes: number): Promise<OriginResult>;
}

const KEY = '{key}';

/** The URL of `key` under `template` (check both first: `originKeyRefusal`, `originTemplateProblem`). */
export function originUrl(template: string, key: string): string {
  const encoded = encodeURIComponent(key);
  if (template.includes(KEY)) return template.split(KEY).join(encoded);
  // The last path segment, before any query or fragment of the template.
  const cut = template.search(/[?#]/);
  const path = cut < 0 ? template : template.slice(0, cut);
  const rest = cut < 0 ? '' : template.slice(cut);
  return `${path}${path.endsWith('/') ? '' : '/'}${encoded}${rest}`;
}

/** Rounds of percent-decoding a key is checked through (an origin or a proxy in front of it may decode more than once). */
const DECODE_ROUNDS = 4;
const isDotSegment = (text: string): boolean => text === '.' || text === '..';

/**
 * Whether `key` is, or percent-decodes (up to DECODE_ROUNDS times) to, `.` or `..`: a segment
 * that a URL parser or an origin resolves as a path step, whatever encoding it is sent in.
 */
export function isDotSegmentKey(key: string): boolean {
  let text = key;
  for (let round = 0; round <= DECODE_ROUNDS; round++) {
    if (isDotSegment(text)) return true;
    if (!text.includes('%')) return false;
    let decoded: string;
    try {
      decoded = decodeURIComponent(text);
    } catch {
      return false;
    }
    if (decoded === text) return false;
    text = decoded;
  }
  return false;
}

/** BAD_REQUEST for a key read-through cannot load without leaving its path segment; undefined for any other key. */
export function originKeyRefusal(key: string): ProxyError | undefined {
  if (!isDotSegmentKey(key)) return undefined;
  return new ProxyError(
    ProxyErrorCode.BAD_REQUEST,
    'a read-through namespace cannot load the keys "." and ".." (nor keys that percent-decode to them): the origin would take them as a path step',
    { reason: DOT_SEGMENT_KEY },
  );
}

/** `detail.reason` of `originKeyRefusal`'s error. */
export const DOT_SEGMENT_KEY = 'DOT_SEGMENT_KEY';

/**
 * Why `template` cannot be loaded through, or undefined: it must be an absolute http(s) URL whose
 * `{key}` placeholders all sit in its path or query, after the host and before any `#`.
 */
export function originTemplateProblem(template: string): string | undefined {
  let url: URL;
  try {
    url = new URL(template.split(KEY).join('0')); // '0' fits anywhere {key} may stand, ports included
  } catch {
    return 'the origin template is not an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'the origin template is not an http:// or https:// URL';
  const first = template.indexOf(KEY);
  if (first < 0) return undefined;
  // The authority (user, host, port) runs from `//` to the first of / \ ? # (WHATWG URL reads \ as /).
  const slashes = template.indexOf('//');
  const authorityLength = slashes < 0 ? -1 : template.slice(slashes + 2).search(/[/\\?#]/);
  if (authorityLength < 0 || first < slashes + 2 + authorityLength) return 'the origin template has {key} in its scheme, user, host or port';
  const hash = template.indexOf('#');
  if (hash >= 0 && template.lastIndexOf(KEY) > hash) return 'the origin template has {key} in its fragment, which is never sent';
  return undefined;
}

const isJsonType = (type: string | null): boolean => {
  if (type === null) return false;
  const base = type.split(';')[0].trim().toLowerCase();
  return base === 'application/json' || base.endsWith('+json');
};

function parsesAsJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Reads at most `maxBytes` of a body; undefined when it is longer. */
async function readBounded(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer | undefined> {
  if (body === null) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, size);
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
}

const isTimeout = (err: unknown): boolean => err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');

/** The loader the proxy uses: Node's fetch with `AbortSignal.timeout` and a body bound. */
export const httpOrigin: OriginLoader = {
  async load(template, key, timeoutMs, maxBytes) {
    const problem = originTemplateProblem(template) ?? (isDotSegmentKey(key) ? 'the key cannot be sent as a path segment' : undefined);
    if (problem !== undefined) return { kind: 'error', reason: problem };
    try {
      const res = await fetch(originUrl(template, key), { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json, */*' } });
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel().catch(() => undefined);
        return { kind: 'not-found' };
      }
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel().catch(() => undefined);
        return { kind: 'error', reason: `origin answered ${res.status}` };
      }
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        return { kind: 'error', reason: `origin body of ${declared} bytes exceeds the limit of ${maxBytes}` };
      }
      const value = await readBounded(res.body, maxBytes);
      if (value === undefined) return { kind: 'error', reason: `origin body exceeds the limit of ${maxBytes} bytes` };
      return { kind: 'value', value, json: isJsonType(res.headers.get('content-type')) && parsesAsJson(value) };
    } catch (err) {
      if (isTimeout(err)) return { kind: 'timeout' };
      // The cause's message names the origin's address: only its code goes to clients (origin URLs are for admins).
      const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
      return { kind: 'error', reason: `origin unreachable${typeof cause?.code === 'string' ? ` (${cause.code})` : ''}` };
    }
  },
};
