import net from 'node:net';

/** One HTTP/1.1 response as read off a raw socket. */
export interface RawResponse {
  status: number;
  /** The reason phrase of the status line ("OK", "Payload Too Large"). */
  reason: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** Reads HTTP/1.1 responses off `bytes` in order (bodies by content-length); stops at an incomplete one. */
export function parseResponses(bytes: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return out;
    const [statusLine, ...lines] = bytes.subarray(at, headEnd).toString('latin1').split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length'] ?? 0);
    if (bytes.length < headEnd + 4 + length) return out;
    const [, status, ...reason] = statusLine.split(' ');
    out.push({ status: Number(status), reason: reason.join(' '), headers, body: bytes.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8') });
    at = headEnd + 4 + length;
  }
}

/**
 * Writes `requests` to 127.0.0.1:`port` in one write and collects what comes back until `count`
 * responses have arrived (`closed: false`; the client then drops the connection), the server
 * closes the connection first (`closed: true`), or 10 s pass (`closed: false`, fewer responses).
 */
export function pipeline(port: number, requests: Array<Buffer | string>, count: number): Promise<{ responses: RawResponse[]; closed: boolean }> {
  const bytes = Buffer.concat(requests.map((r) => (typeof r === 'string' ? Buffer.from(r) : r)));
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => finish(false), 10_000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses: parseResponses(got), closed });
    };
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (parseResponses(got).length >= count) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined); // a reset is a close: 'close' follows
  });
}
