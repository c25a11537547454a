/**
 * Loads one key from a namespace's origin over HTTP. The origin is a URL template: `{key}` is
 * replaced by the URI-encoded key; a template without `{key}` gets it appended as the last path
 * segment. Every outcome is a value (never a rejection):
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

/** The URL of `key` under `template`. */
export function originUrl(template: string, key: string): string {
  const encoded = encodeURIComponent(key);
  if (template.includes('{key}')) return template.split('{key}').join(encoded);
  return template.endsWith('/') ? `${template}${encoded}` : `${template}/${encoded}`;
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
      return { kind: 'error', reason: `origin unreachable: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}` };
    }
  },
};
