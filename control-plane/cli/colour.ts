/**
 * Colour on a terminal only. `NO_COLOR` (any non-empty value, https://no-color.org) turns it off,
 * whatever else is set; `FORCE_COLOR` turns it on where the output is not a terminal (`0` or
 * `false`: off); otherwise colour goes to a TTY whose TERM is not "dumb" and nowhere else, so
 * piped or redirected output never holds an escape sequence.
 */
export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export type Paint = (text: string) => string;

/** Paints text green, red or yellow when `on`, and returns it unchanged otherwise. */
export function palette(on: boolean): { green: Paint; red: Paint; yellow: Paint } {
  const sgr = (code: number): Paint => (on ? (text) => `\x1b[${code}m${text}\x1b[39m` : (text) => text);
  return { green: sgr(32), red: sgr(31), yellow: sgr(33) };
}

/**
 * `status` text with its health words coloured: the HEALTH cell (the last column of the shard
 * table, so the padding of the other columns is untouched) and the "shard N unhealthy" lines.
 * Unchanged when `on` is false.
 */
export function paintStatus(text: string, on: boolean): string {
  if (!on) return text;
  const { green, red } = palette(true);
  return text
    .replace(/^(\d+ .*  )(ok|UNHEALTHY)$/gm, (_, row: string, word: string) => row + (word === 'ok' ? green(word) : red(word)))
    .replace(/^(shard \d+ )(unhealthy)(:)/gm, (_, head: string, word: string, colon: string) => head + red(word) + colon);
}
