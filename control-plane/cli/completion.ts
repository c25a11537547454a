import type { Command, Option } from 'commander';

/**
 * `shardctl completion bash|zsh`: a completion script made from the program's command tree (its
 * commands, their flags and the global flags) each time it is printed, so it cannot go stale. It
 * offers the commands of the group typed so far, the flags of the command, the choices of flags and
 * arguments that have them (--output table|json, completion bash|zsh) and file names for flags
 * that take a file.
 */
export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** One command of the tree: its path from the program ('' for the program itself) and what may follow it. */
interface Entry {
  path: string;
  words: string[];
}

/** What completion needs of the tree: every command path, the flags taking a value, those with choices or files. */
export interface CompletionTree {
  entries: Entry[];
  valueFlags: string[];
  choiceFlags: Array<{ flags: string[]; choices: readonly string[] }>;
  fileFlags: string[];
}

const flagsOf = (o: Option): string[] => [o.short, o.long].filter((f): f is string => f !== undefined);

/** Walks `program`: each command's subcommands, its own flags and the program's (global) ones, and --help. */
export function completionTree(program: Command): CompletionTree {
  const globals = program.options.filter((o) => !o.hidden);
  const entries: Entry[] = [];
  const all = new Map<string, Option>();
  const walk = (cmd: Command, path: string): void => {
    const own = cmd === program ? globals : [...cmd.options.filter((o) => !o.hidden), ...globals];
    for (const o of own) all.set(o.flags, o);
    const subcommands = cmd.commands.map((c) => c.name());
    // The implicit `help [command]` of a program with commands.
    if (cmd === program && subcommands.length > 0) subcommands.push('help');
    const argChoices = cmd.commands.length === 0 ? cmd.registeredArguments[0]?.argChoices ?? [] : [];
    entries.push({ path, words: [...subcommands, ...argChoices, ...own.flatMap(flagsOf), '--help'] });
    if (path === '' && subcommands.includes('help')) entries.push({ path: 'help', words: cmd.commands.map((c) => c.name()) });
    for (const sub of cmd.commands) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`);
  };
  walk(program, '');
  const options = [...all.values()];
  const takesValue = options.filter((o) => o.required || o.optional);
  return {
    entries,
    valueFlags: takesValue.flatMap(flagsOf),
    choiceFlags: takesValue.filter((o) => o.argChoices !== undefined).map((o) => ({ flags: flagsOf(o), choices: o.argChoices! })),
    fileFlags: takesValue.filter((o) => /<(file|path)>/.test(o.flags)).flatMap(flagsOf),
  };
}

/** Names and flags are letters, digits and dashes; anything else would need quoting this code does not do. */
function checked(words: readonly string[]): string {
  for (const w of words) if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*$|^--?[A-Za-z0-9][A-Za-z0-9-]*$/.test(w)) throw new Error(`completion: cannot quote "${w}"`);
  return words.join(' ');
}

/** `a|b|c` for a case pattern; a pattern that matches nothing when the list is empty. */
const alternatives = (words: readonly string[]): string => (words.length === 0 ? "''" : checked(words).split(' ').join('|'));

/** The completion script for `shell`, from the tree of `program`. */
export function completionScript(program: Command, shell: Shell): string {
  const tree = completionTree(program);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const paths = tree.entries.filter((e) => e.path !== '').map((e) => `'${checked(e.path.split(' '))}'`);
  // Shared by both shells (same case syntax); `words` is bash's list and zsh's array of candidates.
  const walk = (first: string, word: string): string[] => [
    `  cmd=''`,
    `  for (( i = ${first}; i < ${shell === 'bash' ? 'COMP_CWORD' : 'CURRENT'}; i++ )); do`,
    `    w="${word}"`,
    `    case "$w" in`,
    `      ${alternatives(tree.valueFlags)}) (( i++ )); continue ;;`,
    `      -*) continue ;;`,
    `    esac`,
    `    case "\${cmd:+$cmd }$w" in`,
    `      ${paths.join('|')}) cmd="\${cmd:+$cmd }$w" ;;`,
    `    esac`,
    `  done`,
  ];
  const header = [
    `# ${shell} completion for ${name}, generated from its commands by "${name} completion ${shell}".`,
    shell === 'bash'
      ? `# Load it with: source <(${name} completion bash)   or save it as /etc/bash_completion.d/${name}`
      : `# Load it with: source <(${name} completion zsh)   or save it as _${name} in a directory of $fpath`,
  ];
  if (shell === 'bash') {
    return [
      ...header,
      `${fn}() {`,
      `  local cur prev cmd w i words`,
      `  COMPREPLY=()`,
      `  cur="\${COMP_WORDS[COMP_CWORD]}"`,
      `  prev="\${COMP_WORDS[COMP_CWORD-1]}"`,
      ...walk('1', '${COMP_WORDS[i]}'),
      `  case "$prev" in`,
      ...tree.choiceFlags.map((c) => `    ${alternatives(c.flags)}) COMPREPLY=($(compgen -W '${checked(c.choices)}' -- "$cur")); return 0 ;;`),
      `    ${alternatives(tree.fileFlags)}) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;`,
      `    ${alternatives(tree.valueFlags)}) return 0 ;;`,
      `  esac`,
      `  case "$cmd" in`,
      ...tree.entries.map((e) => `    '${e.path}') words='${checked(e.words)}' ;;`),
      `    *) words='' ;;`,
      `  esac`,
      `  COMPREPLY=($(compgen -W "$words" -- "$cur"))`,
      `}`,
      `complete -F ${fn} ${name}`,
      '',
    ].join('\n');
  }
  return [
    `#compdef ${name}`,
    ...header,
    `${fn}() {`,
    `  local cur prev cmd w i`,
    `  local -a candidates`,
    `  cur="\${words[CURRENT]}"`,
    `  prev="\${words[CURRENT-1]}"`,
    ...walk('2', '${words[i]}'),
    `  case "$prev" in`,
    ...tree.choiceFlags.map((c) => `    ${alternatives(c.flags)}) compadd -- ${checked(c.choices)}; return ;;`),
    `    ${alternatives(tree.fileFlags)}) _files; return ;;`,
    `    ${alternatives(tree.valueFlags)}) return 1 ;;`,
    `  esac`,
    `  case "$cmd" in`,
    ...tree.entries.map((e) => `    '${e.path}') candidates=(${checked(e.words)}) ;;`),
    `    *) candidates=() ;;`,
    `  esac`,
    `  compadd -- "\${candidates[@]}"`,
    `}`,
    // Sourced (source <(shardctl completion zsh)): register; autoloaded from $fpath: complete now.
    `if [ "\${funcstack[1]}" = "${fn}" ]; then`,
    `  ${fn} "$@"`,
    `else`,
    `  compdef ${fn} ${name}`,
    `fi`,
    '',
  ].join('\n');
}
