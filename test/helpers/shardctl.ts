import { runShardctl } from '../../control-plane/cli/shardctl';

/** What one shardctl invocation printed and its exit status (same shape as `runProgram`). */
export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs shardctl in this process (no process start-up), capturing its output. */
export async function shardctlInProcess(args: readonly string[]): Promise<CtlResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runShardctl(args, { out: (t) => out.push(`${t}\n`), err: (t) => err.push(`${t}\n`) });
  return { code, stdout: out.join(''), stderr: err.join('') };
}
