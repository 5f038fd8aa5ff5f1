/**
 * `QueueProcessingFargateService` with every default: the queue step scaling of step-scaling.ts plus the CPU
 * target tracking the pattern adds unless `disableCpuBasedScaling` is set (`cpuTargetUtilizationPercent`
 * 50, aws-ecs-patterns queue-processing-service-base). Both policies act on one service: scale-out takes the
 * larger wish, scale-in happens only when neither policy wants more (kind to the peer; Application Auto
 * Scaling lets each policy act, which could only scale in more).
 */
import type { FleetView, SimAction, SimPolicy } from '../sim-policy.ts';
import { STEP_SCALING_DEFAULTS, StepScalingPolicy } from './step-scaling.ts';
import { TARGET_TRACKING_DEFAULTS, TargetTrackingPolicy } from './target-tracking.ts';

/** Average CPU of the running workers, percent: engine tasks keep one vCPU busy per running task. */
export function cpuUtilisation(view: FleetView): number {
  const running = view.units.filter((u) => u.state === 'running');
  const slots = running.reduce((n, u) => n + u.slots, 0);
  if (slots === 0) return 0;
  const busy = running.reduce((n, u) => n + u.taskStarts.length, 0);
  return (100 * busy) / slots;
}

export class EcsPatternsDefaultsPolicy implements SimPolicy {
  readonly name = 'ecs-patterns-all-defaults';
  readonly intervalSeconds = 60;
  readonly victims = 'random' as const;
  readonly initialWorkers: number;
  private readonly step: StepScalingPolicy;
  private readonly cpu: TargetTrackingPolicy;

  constructor(maxCapacity: number) {
    this.step = new StepScalingPolicy({ ...STEP_SCALING_DEFAULTS, maxCapacity });
    this.cpu = new TargetTrackingPolicy({
      ...TARGET_TRACKING_DEFAULTS,
      maxCapacity,
      targetValue: 50,
      metric: cpuUtilisation,
      name: 'cpu',
    });
    this.initialWorkers = STEP_SCALING_DEFAULTS.minCapacity;
  }

  evaluate(view: FleetView): SimAction | undefined {
    const a = this.step.evaluate(view);
    const b = this.cpu.evaluate(view);
    const wishes = [a, b].filter((x): x is SimAction => x !== undefined);
    if (wishes.length === 0) return undefined;
    const up = wishes.filter((w) => w.desired > view.desired);
    if (up.length > 0) return { desired: Math.max(...up.map((w) => w.desired)) };
    // Scale in only when the other policy has no scale-out wish this minute.
    return { desired: Math.max(...wishes.map((w) => w.desired)) };
  }
}
