/**
 * The `status` command's report: the classic `celery-status` of an OpenQuake cluster (per host: status, worker
 * processes, active tasks; then totals and cluster utilisation = active tasks / worker processes), followed by
 * the queue, the fleet and shared_dir, and why any part is missing. Pure: it renders an Observation.
 */
import type { DecisionRecord } from '../report/cycle-report.ts';
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
  /** `active` entries the broker shows to hold no message (ghosts after a broker restart); not work. */
  readonly ghostTasks?: number;
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
  /** Per calculation id, the workers running its tasks and how many, from the `active` replies. */
  readonly calculations: readonly CalculationStatus[];
  /** The bridge's last decisions with their reasons, when it writes them where `status` can read them. */
  readonly decisions?: readonly DecisionRecord[];
  /** The parts that could not be observed (`queue`, `workers`, `fleet`): their figures are unknown, not zero. */
  readonly missing: readonly string[];
  /** Why parts are missing. */
  readonly errors: readonly string[];
}

/** One running calculation as the workers report it. */
export interface CalculationStatus {
  readonly calculationId: number;
  readonly activeTasks: number;
  /** Hostnames of the workers running its tasks. */
  readonly workers: readonly string[];
}

/** Builds the report model from one observation (and the bridge's last decisions, when known). */
export function buildStatusReport(
  observation: Observation,
  decisions?: readonly DecisionRecord[],
): StatusReport {
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
      ...(w.ghosts && w.ghosts.length > 0 ? { ghostTasks: w.ghosts.length } : {}),
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
  const byCalculation = new Map<number, { tasks: number; workers: Set<string> }>();
  for (const w of observation.workers ?? []) {
    for (const t of w.active) {
      if (t.calculationId === undefined) continue;
      const entry = byCalculation.get(t.calculationId) ?? { tasks: 0, workers: new Set<string>() };
      entry.tasks++;
      entry.workers.add(w.hostname);
      byCalculation.set(t.calculationId, entry);
    }
  }
  const calculations = [...byCalculation.entries()]
    .sort(([a], [b]) => a - b)
    .map(([calculationId, e]) => ({ calculationId, activeTasks: e.tasks, workers: [...e.workers].sort() }));
  const missing = [
    ...(q ? [] : ['queue']),
    ...(observation.workers ? [] : ['workers']),
    ...(c ? [] : ['fleet']),
  ];
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
    calculations,
    ...(decisions ? { decisions: [...decisions] } : {}),
    missing,
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

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
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
      if (h.ghostTasks)
        lines.push(
          `Ghost tasks: ${h.ghostTasks} (listed in active, but the broker holds no message for them)`,
        );
      if (h.calculations.length > 0)
        lines.push(`Calculations: ${h.calculations.map((id) => `#${id}`).join(', ')}`);
    }
  }
  const workersUnknown = report.missing.includes('workers');
  if (report.hosts.length > 0) lines.push(rule);
  // Unknown is not zero: a failed remote control must not read as an empty cluster.
  else
    lines.push(
      workersUnknown ? 'Workers: UNKNOWN (the workers could not be asked; see below)' : 'No workers.',
    );
  lines.push('');
  const t = report.totals;
  const known = (n: number | string): string => (workersUnknown ? 'unknown' : String(n));
  lines.push(`Total workers:       ${known(t.workers)}`);
  lines.push(`Worker processes:    ${known(t.workerProcesses)}`);
  lines.push(`Active tasks:        ${known(t.activeTasks)}`);
  lines.push(
    `Cluster utilisation: ${t.utilisation === undefined ? 'n/a' : `${(t.utilisation * 100).toFixed(2)}%`}`,
  );
  if (report.calculations.length > 0) {
    lines.push('');
    for (const c of report.calculations) {
      lines.push(
        `Calculation #${c.calculationId}: ${c.activeTasks} active task(s) on ${c.workers.length} worker(s): ${c.workers.join(', ')}`,
      );
    }
  }
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
  if (report.decisions && report.decisions.length > 0) {
    lines.push('', 'Last decisions of the bridge (newest last):');
    for (const d of report.decisions) {
      const change =
        d.current !== undefined && d.current !== d.desired ? `${d.current} -> ${d.desired}` : `${d.desired}`;
      const outcome = d.action
        ? ` [${d.action}${d.actionDetail && d.action !== 'none' ? `: ${d.actionDetail}` : ''}]`
        : ' [in progress]';
      lines.push(`  ${d.time} ${d.reason} ${change}${outcome}`, `      ${clip(d.detail, 160)}`);
    }
  }
  if (report.errors.length > 0) {
    lines.push('', 'Not observed this time:');
    for (const e of report.errors) lines.push(`  - ${e}`);
  }
  if (report.missing.length > 0) {
    lines.push('', `INCOMPLETE: ${report.missing.join(', ')} unknown (not zero).`);
  }
  return `${lines.join('\n')}\n`;
}

/** The `status --json` output: the report model as indented JSON, without a trailing newline. */
export function statusReportJson(report: StatusReport): string {
  return JSON.stringify(report, null, 2);
}
