import * as urlTemplate from '../../shared/url-template';
import { readBounded } from '../../shared/read-bounded';
import { ProxyError, ProxyErrorCode } from '../errors';

// The URL template functions live in shared/ (the write policies' store client uses them too);
// re-exported so this module's importers keep working, as constants: `export { }` of an import
// is a getter in CommonJS output (see test/unit/exports-shape.test.ts).
export const isDotSegmentKey = urlTemplate.isDotSegmentKey;
export const originTemplateProblem = urlTemplate.originTemplateProblem;
export const originUrl = urlTemplate.originUrl;

/**
 * Loads one key from a namespace's origin over HTTP. The origin is a URL template
 * (`shared/url-template.ts`): `{key}` is replaced by the key percent-encoded as one path segment
 * (encodeURIComponent: `/`, `?`, `#`, `%` and the rest are encoded); a template without `{key}`
 * gets it appended as the last path segment. So a key names its own segment and nothing else: the keys no encoding can confine,
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
      const value = await readBounded(res, maxBytes); // refuses a declared length over the limit before reading
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
