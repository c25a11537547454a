/**
 * A Markdown table as lines: the head, the rule under it, then the rows, each column padded to
 * its widest cell; left-aligned unless `rightAligned(col)` says otherwise. The one renderer of
 * every benchmark report's tables.
 */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[], rightAligned: (col: number) => boolean = () => false): string[] {
  const widths = head.map((h, col) => rows.reduce((w, r) => Math.max(w, r[col].length), h.length));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, col) => (rightAligned(col) ? c.padStart(widths[col]) : c.padEnd(widths[col]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
}
