/**
 * Cross-protocol attacks on the RESP port: a web page makes a browser send an HTTP request to
 * it (a form POST, a fetch), hoping the request's lines run as inline commands. Redis closes the
 * connection when a command is named `POST` or `Host:`; this front also refuses the other HTTP
 * methods that are no Redis command, and an inline line shaped as a request line: three words,
 * the last an HTTP version (`GET / HTTP/1.1`, `PRI * HTTP/2.0`). Commands sent as arrays (what
 * Redis clients send) are refused only for those names; inline `GET key` or `GET HTTP/1.1` is
 * left alone. Pure; no allocation per command.
 */
const WORDS: readonly Buffer[] = ['post', 'put', 'head', 'options', 'delete', 'patch', 'connect', 'trace', 'host:'].map((w) => Buffer.from(w, 'latin1'));

const lower = (c: number): number => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/** Whether `bytes` equals the lower-case ASCII `word`, letters compared without case. */
function sameWord(bytes: Buffer, word: Buffer): boolean {
  if (bytes.length !== word.length) return false;
  for (let i = 0; i < bytes.length; i++) if (lower(bytes[i]) !== word[i]) return false;
  return true;
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/** `HTTP/<digit>` or `HTTP/<digit>.<digit>`, letters in any case. */
export function isHttpVersion(word: Buffer): boolean {
  if (word.length !== 6 && word.length !== 8) return false;
  if (lower(word[0]) !== 0x68 || lower(word[1]) !== 0x74 || lower(word[2]) !== 0x74 || lower(word[3]) !== 0x70 || word[4] !== 0x2f) return false;
  if (!isDigit(word[5])) return false;
  return word.length === 6 || (word[6] === 0x2e && isDigit(word[7]));
}

/**
 * Whether a command (`args[0]` its name) is an HTTP request line or header rather than a Redis
 * command; `inline` says it came as an inline line rather than an array of bulks.
 */
export function isCrossProtocol(args: readonly Buffer[], inline: boolean): boolean {
  const name = args[0];
  if (name.length >= 3 && name.length <= 7) {
    for (const word of WORDS) if (sameWord(name, word)) return true;
  }
  return inline && args.length === 3 && isHttpVersion(args[2]);
}
