/**
 * URL templates naming one key each: the read-through origin (`proxy/readthrough/origin.ts`) and
 * the write policies' store (`shared/store-http.ts`) build and check their URLs here, so a key
 * means the same URL to both. `{key}` is replaced by the key percent-encoded as one path segment
 * (encodeURIComponent: `/`, `?`, `#`, `%` and the rest are encoded); a template without `{key}`
 * gets it appended as the last path segment. So a key names its own segment and nothing else:
 * the keys no encoding can confine, `.` and `..` (URL parsers resolve `.`, `..`, `%2e` and
 * `%2e%2e` segments) and keys that decode to them, must be refused before any request
 * (`isDotSegmentKey`), and a template whose `{key}` sits outside the path and query (in the host,
 * say) must never be used (`originTemplateProblem`). Pure functions, no I/O.
 */

/** The placeholder a template names its key with. */
export const KEY_PLACEHOLDER = '{key}';

/** The URL of `key` under `template` (check both first: `isDotSegmentKey`, `originTemplateProblem`). */
export function originUrl(template: string, key: string): string {
  const encoded = encodeURIComponent(key);
  if (template.includes(KEY_PLACEHOLDER)) return template.split(KEY_PLACEHOLDER).join(encoded);
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

/**
 * Why `template` cannot be used, or undefined: it must be an absolute http(s) URL whose `{key}`
 * placeholders all sit in its path or query, after the host and before any `#`. `what` names the
 * template in the answer ("the origin template", "the store template").
 */
export function originTemplateProblem(template: string, what = 'the origin template'): string | undefined {
  let url: URL;
  try {
    url = new URL(template.split(KEY_PLACEHOLDER).join('0')); // '0' fits anywhere {key} may stand, ports included
  } catch {
    return `${what} is not an absolute URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${what} is not an http:// or https:// URL`;
  const first = template.indexOf(KEY_PLACEHOLDER);
  if (first < 0) return undefined;
  // The authority (user, host, port) runs from `//` to the first of / \ ? # (WHATWG URL reads \ as /).
  const slashes = template.indexOf('//');
  const authorityLength = slashes < 0 ? -1 : template.slice(slashes + 2).search(/[/\\?#]/);
  if (authorityLength < 0 || first < slashes + 2 + authorityLength) return `${what} has {key} in its scheme, user, host or port`;
  const hash = template.indexOf('#');
  if (hash >= 0 && template.lastIndexOf(KEY_PLACEHOLDER) > hash) return `${what} has {key} in its fragment, which is never sent`;
  return undefined;
}
