import { parseWrkOutput, wrkScript } from '../../bench/proxy-wrk';

describe('parseWrkOutput', () => {
  it('reads the figures of the WRK-RESULT line among wrk\'s other output', () => {
    const stdout = [
      'Running 8s test @ http://127.0.0.1:8080',
      '  1 threads and 50 connections',
      'WRK-RESULT {"requests":960000,"durationUs":8000123,"connect":0,"read":1,"write":0,"status":3,"timeout":2,"meanUs":410.250000,"p50Us":380,"p99Us":1200,"p999Us":2500,"maxUs":9100}',
      '',
    ].join('\n');
    expect(parseWrkOutput(stdout, '')).toEqual({
      requests: 960_000,
      durationUs: 8_000_123,
      connect: 0,
      read: 1,
      write: 0,
      status: 3,
      timeout: 2,
      meanUs: 410.25,
      p50Us: 380,
      p99Us: 1200,
      p999Us: 2500,
      maxUs: 9100,
    });
  });

  it('throws with what wrk said when there is no WRK-RESULT line', () => {
    expect(() => parseWrkOutput('', 'unable to connect to 127.0.0.1:8080 Connection refused\n')).toThrow(
      'wrk printed no result: unable to connect to 127.0.0.1:8080 Connection refused',
    );
    expect(() => parseWrkOutput('Running 8s test @ http://127.0.0.1:8080\n', '')).toThrow('wrk printed no result: Running 8s test');
  });
});

describe('wrkScript', () => {
  it('escapes quotes and backslashes in the Lua string literals of paths and body', () => {
    const script = wrkScript(['/v1/cache/ns/a"b', '/v1/cache/ns/c\\d'], 'PUT', '{"value":"x\\"y"}', 1);
    expect(script).toContain('local paths = { "/v1/cache/ns/a\\"b", "/v1/cache/ns/c\\\\d" }');
    expect(script).toContain('wrk.format("PUT", p, { ["Content-Type"] = "application/json" }, "{\\"value\\":\\"x\\\\\\"y\\"}")');
  });

  it('escapes line breaks, so every literal stays on one line', () => {
    const script = wrkScript(['/a\nb\rc'], 'GET', undefined, 1);
    expect(script).toContain('local paths = { "/a\\nb\\rc" }');
  });

  it('sends no body or headers for GET and concatenates `pipelining` requests per write', () => {
    const script = wrkScript(['/p'], 'GET', undefined, 10);
    expect(script).toContain('wrk.format("GET", p, {}, nil)');
    expect(script).toContain('for i = 1, 10 do');
  });

  it('puts the extra headers (a bearer token) on every request, after Content-Type, escaped', () => {
    const auth = { Authorization: 'Bearer bench:pa"ss\\word' };
    expect(wrkScript(['/p'], 'GET', undefined, 1, auth)).toContain('wrk.format("GET", p, { ["Authorization"] = "Bearer bench:pa\\"ss\\\\word" }, nil)');
    expect(wrkScript(['/p'], 'PUT', '{}', 1, auth)).toContain(
      'wrk.format("PUT", p, { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench:pa\\"ss\\\\word" }, "{}")',
    );
  });

  it('makes the same script with no extra headers as without the argument', () => {
    expect(wrkScript(['/p'], 'PUT', '{}', 4, {})).toBe(wrkScript(['/p'], 'PUT', '{}', 4));
  });
});
