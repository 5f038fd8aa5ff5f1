/**
 * The `status` command's report: the classic `celery-status` of an OpenQuake cluster (per host: status, worker
 * processes, active tasks; then totals and cluster utilisation = active tasks / worker processes), followed by
 * the queue, the fleet and shared_dir, and why any part is missing. Pure: it renders an Observation.
 */
import type { Observation } from '../observe/observation.ts';

/** One host line group of the report. */
export interface HostStatus {
  readonly hostname: string;
  /**
   * `Online` (answered, consuming), `Draining` (answered, consumer cancelled), `No reply` (a running unit whose
   * worker did not answer), `Starting` (a pending unit).
   */
  readonly status: 'Online' | 'Draining' | 'No reply' | 'Starting';
  readonly unitId?: string;
  readonly workerProcesses?: number;
  readonly activeTasks?: number;
  readonly reservedTasks?: number;
  /** Calculation ids of the tasks it runs. */
  readonly calculations: readonly number[];
}

/** The whole report, also the `status --json` output. */
export interface StatusReport {
  readonly hosts: readonly HostStatus[];
  readonly totals: {
    readonly workers: number;
    readonly workerProcesses: number;
    readonly activeTasks: number;
    /** activeTasks / workerProcesses; undefined with no processes or no worker data. */
    readonly utilisation?: number;
  };
  readonly queue?: {
    readonly ready: number;
    readonly unacked: number;
    readonly consumers: number;
    /** ready + unacked: the work in flight the bridge scales on. */
    readonly demand: number;
    readonly source: string;
  };
  readonly fleet?: { readonly desired: number; readonly running: number; readonly pending: number };
  readonly sharedDir?: {
    readonly available: boolean;
    readonly mountTargetsReady: boolean;
    readonly sizeBytes: number;
    readonly detail?: string;
  };
  /** Why parts are missing. */
  readonly errors: readonly string[];
}

/** Builds the report model from one observation. */
export function buildStatusReport(observation: Observation): StatusReport {
  const hosts: HostStatus[] = [];
  const units = new Map((observation.compute?.units ?? []).map((u) => [u.celeryHostname, u]));
  for (const w of observation.workers ?? []) {
    const calculations = [
      ...new Set(w.active.flatMap((t) => (t.calculationId === undefined ? [] : [t.calculationId]))),
    ];
    hosts.push({
      hostname: w.hostname,
      status: w.consuming ? 'Online' : 'Draining',
      ...(units.get(w.hostname) ? { unitId: units.get(w.hostname)!.unitId } : {}),
      ...(w.poolSize !== undefined ? { workerProcesses: w.poolSize } : {}),
      activeTasks: w.active.length,
      reservedTasks: w.reserved,
      calculations: calculations.sort((a, b) => a - b),
    });
  }
  const answered = new Set(hosts.map((h) => h.hostname));
  for (const unit of observation.compute?.units ?? []) {
    if (answered.has(unit.celeryHostname) || unit.state === 'stopping') continue;
    hosts.push({
      hostname: unit.celeryHostname,
      status: unit.state === 'pending' ? 'Starting' : 'No reply',
      unitId: unit.unitId,
      calculations: [],
    });
  }
  hosts.sort((a, b) => a.hostname.localeCompare(b.hostname));

  const online = hosts.filter((h) => h.activeTasks !== undefined);
  const workerProcesses = online.reduce((n, h) => n + (h.workerProcesses ?? 0), 0);
  const activeTasks = online.reduce((n, h) => n + (h.activeTasks ?? 0), 0);
  const q = observation.queue;
  const c = observation.compute;
  const s = observation.sharedDir;
  return {
    hosts,
    totals: {
      workers: online.length,
      workerProcesses,
      activeTasks,
      ...(observation.workers && workerProcesses > 0 ? { utilisation: activeTasks / workerProcesses } : {}),
    },
    ...(q
      ? {
          queue: {
            ready: q.ready,
            unacked: q.unacked,
            consumers: q.consumers,
            demand: q.ready + q.unacked,
            source: q.source,
          },
        }
      : {}),
    ...(c ? { fleet: { desired: c.desired, running: c.running, pending: c.pending } } : {}),
    ...(s
      ? {
          sharedDir: {
            available: s.available,
            mountTargetsReady: s.mountTargetsReady,
            sizeBytes: s.sizeBytes,
            ...(s.detail ? { detail: s.detail } : {}),
          },
        }
      : {}),
    errors: [...observation.errors],
  };
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return `${i === 0 ? value : value.toFixed(1)} ${units[i]}`;
}

/** The text report, in the layout of the classic celery-status. */
export function renderStatusReport(report: StatusReport, queueName = 'celery'): string {
  const lines: string[] = [];
  const rule = '==========';
  for (const h of report.hosts) {
    lines.push(rule, `Host: ${h.hostname}${h.unitId ? ` (unit ${h.unitId})` : ''}`, `Status: ${h.status}`);
    if (h.activeTasks !== undefined) {
      lines.push(`Worker processes: ${h.workerProcesses ?? 'unknown (no stats reply)'}`);
      lines.push(`Active tasks: ${h.activeTasks}${h.reservedTasks ? ` (+${h.reservedTasks} reserved)` : ''}`);
      if (h.calculations.length > 0)
        lines.push(`Calculations: ${h.calculations.map((id) => `#${id}`).join(', ')}`);
    }
  }
  if (report.hosts.length > 0) lines.push(rule);
  else lines.push('No workers.');
  lines.push('');
  const t = report.totals;
  lines.push(`Total workers:       ${t.workers}`);
  lines.push(`Worker processes:    ${t.workerProcesses}`);
  lines.push(`Active tasks:        ${t.activeTasks}`);
  lines.push(
    `Cluster utilisation: ${t.utilisation === undefined ? 'n/a' : `${(t.utilisation * 100).toFixed(2)}%`}`,
  );
  lines.push('');
  const q = report.queue;
  lines.push(
    q
      ? `Queue ${queueName}:        ${q.ready} ready, ${q.unacked} unacked, ${q.consumers} consumers (work in flight ${q.demand})`
      : `Queue ${queueName}:        unknown`,
  );
  const f = report.fleet;
  lines.push(
    f
      ? `Fleet:               ${f.desired} desired, ${f.running} running, ${f.pending} pending`
      : 'Fleet:               unknown',
  );
  const s = report.sharedDir;
  if (s) {
    const state = s.available && s.mountTargetsReady ? 'ready' : `NOT READY (${s.detail ?? 'unknown'})`;
    lines.push(`Shared dir:          ${state}, ${bytes(s.sizeBytes)} stored`);
  }
  if (report.errors.length > 0) {
    lines.push('', 'Not observed this time:');
    for (const e of report.errors) lines.push(`  - ${e}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The `status --json` output: the report model as indented JSON, without a trailing newline. */
export function statusReportJson(report: StatusReport): string {
  return JSON.stringify(report, null, 2);
}
