import type { ComputeObservation } from '../../bridge/src/observe/observation.ts';
import type { BrokerSample } from './broker-sampler.ts';
import type { EngineMasterProgress } from './engine-master.ts';

/** One line of the bridge's recent decisions, as its log reported them. */
export interface DecisionLine {
  readonly t: number;
  readonly reason: string;
  readonly desired: number;
  readonly current?: number;
  readonly demand: number;
  readonly detail: string;
  /** What the bridge did about it, from the cycle's `action` line (scaleOut, scaleIn, none, skipped...). */
  readonly action?: string;
}

/** Everything one frame of the terminal view shows. */
export interface LiveFrame {
  readonly elapsedSeconds: number;
  readonly backend: string;
  readonly vhost: string;
  readonly progress: EngineMasterProgress;
  readonly tasks: number;
  readonly queue?: BrokerSample;
  readonly fleet: ComputeObservation;
  readonly busy: number;
  readonly slotsPerWorker: number;
  /** Tasks running now, from the journal. */
  readonly busySlots: number;
  readonly costSoFar: number;
  readonly costPerHourNow: number;
  readonly decisions: readonly DecisionLine[];
}

/** Renders one frame as plain text: the first four lines also serve as the one-line progress in CI logs. */
export function renderLiveView(f: LiveFrame): string {
  const slots = f.fleet.running * f.slotsPerWorker;
  const utilisation = slots > 0 ? Math.min(100, Math.round((100 * f.busySlots) / slots)) : 0;
  const queue = f.queue
    ? `queue ready ${f.queue.ready}, unacked ${f.queue.unacked}, consumers ${f.queue.consumers}`
    : 'queue: broker not answering';
  const lines = [
    `oq-elastic local demo  t=${f.elapsedSeconds.toFixed(0)}s  backend=${f.backend}  vhost=${f.vhost}`,
    `calculation: ${f.progress.ended}/${f.tasks} tasks ended, ${f.progress.submitted - f.progress.ended} in flight`,
    queue,
    `workers desired ${f.fleet.desired}, running ${f.fleet.running}, pending ${f.fleet.pending}, busy ${f.busy}; ` +
      `utilisation ${utilisation}% of ${slots} slots`,
    `estimated cost ${f.costSoFar.toFixed(4)} USD so far, ${f.costPerHourNow.toFixed(3)} USD/h now (Fargate prices)`,
    'last decisions:',
    ...f.decisions.map((d) => {
      const time = new Date(d.t).toISOString().slice(11, 19);
      const action = (d.action ?? '?').padEnd(8);
      return `  ${time} ${d.reason.padEnd(18)} ${d.current ?? '?'} -> ${d.desired}  ${action} ${truncate(d.detail, 80)}`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
