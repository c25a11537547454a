import { runShardctl } from '../../control-plane/cli/shardctl';
import { thrownBy } from './thrown';
import { InputError } from '../../control-plane/errors';

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

/** Runs `fn` and returns the InputError it throws (fails the test when it throws nothing or something else). */
export const inputError = (fn: () => unknown): InputError => thrownBy(fn, InputError);
