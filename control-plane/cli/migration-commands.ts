import { Argument, Option, type Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { intIn, parseBytes } from '../../shared/config';

/** A byte rate: 0 (unthrottled) or a size such as 64mb. */
const parseRate = (text: string): number => (text.trim() === '0' ? 0 : parseBytes(text));
import { parseRange } from '../../shared/slot-ranges';
import { addShard, driverPresent, listMigrations, migrateRange, planFor, retireShard, setMigrationState, submitPlan, type MigrationRow } from '../commands/migrations';
import type { CommandContext } from '../commands/context';
import { formatPlan } from '../rebalance/planner';
import { renderTable } from '../status/table';
import { ExitCode, InputError } from '../errors';
import { withConnection, type ConnectionOptions } from './options';
import { runWithEtcd, type Output, type Session } from './run';

/** Default copy throttle: 64 MB/s, about half a 1 Gbit/s link, leaving room for client traffic. */
export const DEFAULT_MAX_BYTES_PER_SEC = 64 * 1024 * 1024;

interface MoveOptions extends ConnectionOptions {
  json: boolean;
  maxBytesPerSec: number;
  wait: boolean;
  timeout: number;
}

const withMoveOptions = (command: Command): Command =>
  withConnection(command)
    .addOption(new Option('--max-bytes-per-sec <n>', 'copy throttle per migration, bytes per second (0 = unthrottled; 64mb, 500kb...)').argParser(parseRate).default(DEFAULT_MAX_BYTES_PER_SEC))
    .option('--no-wait', 'submit and return at once (watch with shardctl migrations)')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for the migrations (1-86400)').argParser(intIn(1, 86_400)).default(3600));

/** Commands that move slots: shard add/remove, rebalance, migrate, migrations, migration pause|resume|cancel. */
export function addMigrationCommands(program: Command, session: Session): void {
  const io = session.io;
  const shard = program.command('shard').description('add or remove shards');
  withConnection(shard.command('add'))
    .description('let a shard whose nodes run with --shard N (and own no slots) take slots; then run rebalance')
    .addArgument(new Argument('<shard>', 'shard id').argParser(intIn(0, 1023)))
    .action(async (id: number, opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const r = await addShard(ctx, id);
        io.out(opts.json ? JSON.stringify(r) : `shard ${id} (primary ${r.primary}) added; shards taking slots: ${r.shards.join(', ')}. Move slots to it with: shardctl rebalance`);
      });
    });
  withMoveOptions(shard.command('remove'))
    .description('move every slot off a shard, then retire it (its nodes can be stopped afterwards)')
    .addArgument(new Argument('<shard>', 'shard id').argParser(intIn(0, 1023)))
    .action(async (id: number, opts: MoveOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const plan = await planFor(ctx, id);
        const ids = await submitPlan(ctx, plan, opts.maxBytesPerSec);
        if (!opts.json) io.out(`draining shard ${id}: ${plan.slotsMoved} slots in ${ids.length} migrations`);
        const status = await follow(ctx, ids, opts, io);
        if (status === ExitCode.OK && opts.wait) {
          await retireShard(ctx, id);
          if (!opts.json) io.out(`shard ${id} retired: it owns no slots; its nodes can be stopped`);
        }
        return status;
      });
    });

  withMoveOptions(program.command('rebalance'))
    .description('move the fewest slots to even out bytes (slot counts when unknown) over the shards; --dry-run prints the plan')
    .option('--dry-run', 'print the plan and change nothing', false)
    .addOption(new Option('--parallel <n>', 'migrations running at once (1-64)').argParser(intIn(1, 64)).default(2))
    .action(async (opts: MoveOptions & { dryRun: boolean; parallel: number }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const plan = await planFor(ctx);
        if (opts.dryRun || plan.moves.length === 0) {
          io.out(opts.json ? JSON.stringify(plan, null, 2) : plan.moves.length === 0 ? 'the slots are even already: nothing to move' : formatPlan(plan));
          return;
        }
        if (!opts.json) io.out(formatPlan(plan));
        let status: number = ExitCode.OK;
        for (let i = 0; i < plan.moves.length && status === ExitCode.OK; i += opts.parallel) {
          const ids = await submitPlan(ctx, { ...plan, moves: plan.moves.slice(i, i + opts.parallel) }, opts.maxBytesPerSec);
          status = await follow(ctx, ids, opts, io);
        }
        return status;
      });
    });

  withMoveOptions(program.command('migrate'))
    .description('move one slot range to a shard')
    .addArgument(new Argument('<slots>', 'slot range, FROM-TO or one slot').argParser((text) => parseRange(text) ?? badRange(text)))
    .requiredOption('--to <shard>', 'target shard', intIn(0, 1023))
    .action(async (range: [number, number], opts: MoveOptions & { to: number }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const ids = await migrateRange(ctx, range, opts.to, opts.maxBytesPerSec);
        if (ids.length === 0) {
          io.out(`slots ${range[0]}-${range[1]} are on shard ${opts.to} already`);
          return;
        }
        return follow(ctx, ids, opts, io);
      });
    });

  withConnection(program.command('migrations'))
    .description('list migrations: state, slots, keys and bytes moved, rate, ETA')
    .action(async (opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const rows = await listMigrations(ctx);
        io.out(opts.json ? JSON.stringify(rows, null, 2) : formatMigrations(rows));
      });
    });

  const one = program.command('migration').description('pause, resume or cancel a migration');
  for (const action of ['pause', 'resume', 'cancel'] as const) {
    withConnection(one.command(action))
      .description({ pause: 'stop moving data (the slots already moved stay moved); resume goes on', resume: 'continue a paused migration', cancel: 'stop for good: slots already moved stay moved, the rest stay where they are' }[action])
      .addArgument(new Argument('<id>', 'migration id'))
      .action(async (id: string, opts: ConnectionOptions & { json: boolean }) => {
        session.status = await runWithEtcd(opts, io, async (ctx) => {
          const m = await setMigrationState(ctx, id, action);
          io.out(opts.json ? JSON.stringify(m) : `migration ${id}: ${m.state}`);
        });
      });
  }
}

function badRange(text: string): never {
  throw new InputError('slots', `"${text}" is not a slot range (FROM-TO within 0-16383, or one slot)`);
}

/** Waits for `ids` to be final, with a progress bar on a terminal; exit 5 if any was aborted, 4 on timeout. */
async function follow(ctx: CommandContext, ids: string[], opts: MoveOptions, io: Output): Promise<number> {
  if (!(await driverPresent(ctx))) io.err('shardctl: warning: no control-plane service holds the driver lease; the migrations wait until one runs');
  if (!opts.wait) {
    io.out(opts.json ? JSON.stringify({ submitted: ids }) : `submitted ${ids.join(', ')}`);
    return ExitCode.OK;
  }
  const bar = process.stderr.isTTY && !opts.json ? new SingleBar({ format: 'moving slots [{bar}] {value}/{total} slots · {keys} keys · {state}', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : null;
  const deadline = Date.now() + opts.timeout * 1000;
  let rows: MigrationRow[] = [];
  try {
    for (;;) {
      rows = (await listMigrations(ctx)).filter((r) => ids.includes(r.id));
      const total = rows.reduce((n, r) => n + r.slots, 0);
      const done = rows.reduce((n, r) => n + r.slotsDone, 0);
      const payload = { keys: rows.reduce((n, r) => n + r.keys, 0), state: [...new Set(rows.map((r) => r.state))].join(',') };
      if (bar) (bar.getTotal() === total ? bar.update(done, payload) : bar.start(total, done, payload));
      if (rows.every((r) => r.state === 'committed' || r.state === 'aborted')) break;
      if (Date.now() > deadline) {
        io.err(`shardctl: the migrations did not finish within ${opts.timeout}s; they go on (shardctl migrations)`);
        return ExitCode.TIMED_OUT;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    bar?.stop();
  }
  io.out(opts.json ? JSON.stringify(rows, null, 2) : formatMigrations(rows));
  return rows.some((r) => r.state === 'aborted') ? ExitCode.MIGRATION_ABORTED : ExitCode.OK;
}

/** `migrations`: one row per migration. Pure. */
export function formatMigrations(rows: readonly MigrationRow[]): string {
  if (rows.length === 0) return 'no migrations';
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  return renderTable(
    ['id', 'state', 'from', 'to', 'slots', 'keys', 'moved', 'rate', 'eta', 'cold', 'max freeze', 'note'],
    rows.map((r) => [
      r.id, r.state, String(r.from), String(r.to), `${r.slotsDone}/${r.slots}`, String(r.keys), mb(r.bytes), `${mb(r.rateBytesPerSec)}/s`,
      r.etaSeconds === null ? '-' : `${r.etaSeconds}s`, String(r.coldSlots), `${r.freezeMsMax} ms`, r.reason ?? '',
    ]),
  );
}
