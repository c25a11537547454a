import client from 'prom-client';
import type { MigrationRecord } from '../../shared/topology/schema';
import type { DriverEvents } from '../rebalance/driver';

/**
 * Migration figures on the control plane's /metrics: cut-overs, per-cut freeze durations, cold
 * slots (counted by the driving service as it goes), and per-state counts, keys and bytes moved
 * of the migration records (read from the service's cached list when scraped).
 */
export function migrationMetrics(registry: client.Registry, records: () => readonly MigrationRecord[]): DriverEvents {
  const registers = [registry];
  const cutOvers = new client.Counter({ name: 'shardcache_control_cutovers_total', help: 'Cut-overs committed by this service', registers });
  const cold = new client.Counter({ name: 'shardcache_control_cold_slots_total', help: 'Slots cut over cold (the target took them empty: the copy could not converge)', registers });
  const freeze = new client.Histogram({
    name: 'shardcache_control_freeze_seconds', help: 'Per-slot write freeze of each cut-over', registers, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const sum = (pick: (m: MigrationRecord) => number, filter: (m: MigrationRecord) => boolean = () => true): number => records().filter(filter).reduce((n, m) => n + pick(m), 0);
  new client.Gauge({
    name: 'shardcache_control_migrations', help: 'Migration records by state', labelNames: ['state'], registers,
    collect() {
      this.reset();
      for (const m of records()) this.inc({ state: m.state });
    },
  });
  new client.Gauge({ name: 'shardcache_control_migration_keys_moved', help: 'Keys copied by the migrations on record', registers, collect() { this.set(sum((m) => m.progress.keys)); } });
  new client.Gauge({ name: 'shardcache_control_migration_bytes_moved', help: 'Bytes copied by the migrations on record', registers, collect() { this.set(sum((m) => m.progress.bytes)); } });
  new client.Gauge({
    name: 'shardcache_control_migration_slots_left', help: 'Slots still to move by migrations not final', registers,
    collect() { this.set(sum((m) => m.progress.slotsTotal - m.progress.slotsDone, (m) => m.state !== 'committed' && m.state !== 'aborted')); },
  });
  return {
    cutOver(_m, r) {
      cutOvers.inc();
      freeze.observe(r.freezeMs / 1000);
      if (r.cold) cold.inc(r.slots);
    },
    finished() {},
  };
}
