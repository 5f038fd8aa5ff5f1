import { Construct } from 'constructs';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as efs from 'aws-cdk-lib/aws-efs';
import type { CpuArchitecture, PriceTable } from '../prices.ts';

/** What the dashboard and its alarms watch. */
export interface ClusterDashboardProps {
  readonly cluster: ecs.ICluster;
  readonly workerService: ecs.FargateService;
  readonly bridgeService: ecs.FargateService;
  readonly master: ec2.Instance;
  readonly masterInstanceType: string;
  readonly fileSystem: efs.IFileSystem;
  readonly workerCpuArchitecture: CpuArchitecture;
  readonly workerVcpu: number;
  readonly workerMemoryGiB: number;
  readonly workerSpot: boolean;
  readonly prices: PriceTable;
  /** E-mail address subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** Alarm when the estimated spend per hour exceeds this (USD). @default - no budget alarm */
  readonly hourlyBudget?: number;
}

/**
 * The cluster's CloudWatch dashboard (placeholder until the cost-dashboard work lands: an empty dashboard
 * with a stable construct id and name, so that the stack and its outputs do not change shape later).
 */
export class ClusterDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, _props: ClusterDashboardProps) {
    super(scope, id);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard');
  }
}
