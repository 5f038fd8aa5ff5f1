import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ClusterMetrics } from './cluster-metrics.ts';

/**
 * EFS bursting file systems burst to 100 MiB/s whatever their size (Amazon EFS performance documentation):
 * the default low-credit threshold is one hour of that, so there is time to act before throughput drops to
 * the baseline.
 */
export const DEFAULT_EFS_BURST_CREDIT_LOW_BYTES = 100 * 1024 * 1024 * 3600;

/** Thresholds and recipients of the cluster's alarms. */
export interface ClusterAlarmsProps {
  readonly metrics: ClusterMetrics;
  /** E-mail address subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** Alarm when the estimated spend per hour (USD) stays above this for 15 minutes. @default - no budget alarm */
  readonly hourlyBudget?: number;
  /** Minutes without a bridge heartbeat before alarming. @default 3 */
  readonly heartbeatMissingMinutes?: number;
  /** Minutes of demand with no worker consuming before alarming (cold starts take 30 to 90 s). @default 10 */
  readonly demandWithoutWorkersMinutes?: number;
  /**
   * Minutes a calculation may wait with no task running or queued before it counts as stuck. Between phases
   * the engine's master works alone (e.g. saving results) for minutes, so keep it generous. @default 30
   */
  readonly stuckCalculationMinutes?: number;
  /** Alarm when EFS burst credits fall below this many bytes. @default one hour at 100 MiB/s */
  readonly efsBurstCreditLowBytes?: number;
}

function requireMinutes(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(
      `ClusterDashboard ${name} is ${String(value)}: it must be a whole number of minutes from 1 to ${max}.`,
    );
  }
  return value;
}

/** One alarm's condition: it must hold for every datapoint of `periods` periods in a row. */
interface SustainedCondition {
  readonly description: string;
  readonly metric: cloudwatch.IMetric;
  /** @default 1: a 0/1 condition series, a status check or BrokerRefused reaching 1 */
  readonly threshold?: number;
  /** @default GREATER_THAN_OR_EQUAL_TO_THRESHOLD */
  readonly comparison?: cloudwatch.ComparisonOperator;
  readonly periods: number;
  /** @default NOT_BREACHING: missing bridge data is the heartbeat alarm's business */
  readonly missingData?: cloudwatch.TreatMissingData;
}

/**
 * An alarm that requires every datapoint of its window (datapointsToAlarm = evaluationPeriods), so that one
 * noisy period neither raises nor clears it.
 */
function sustainedAlarm(scope: Construct, id: string, condition: SustainedCondition): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription: condition.description,
    metric: condition.metric,
    threshold: condition.threshold ?? 1,
    comparisonOperator:
      condition.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: condition.periods,
    datapointsToAlarm: condition.periods,
    treatMissingData: condition.missingData ?? cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/**
 * The cluster's alarms and their SNS topic. Minute-granular conditions use 1-minute periods and require every
 * datapoint of the window, so one noisy minute neither raises nor clears an alarm.
 */
export class ClusterAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly bridgeHeartbeatMissing: cloudwatch.Alarm;
  readonly bridgeBrokerRefused: cloudwatch.Alarm;
  readonly demandWithoutWorkers: cloudwatch.Alarm;
  readonly stuckCalculation: cloudwatch.Alarm;
  readonly masterSystemStatusCheck: cloudwatch.Alarm;
  readonly masterInstanceStatusCheck: cloudwatch.Alarm;
  readonly efsBurstCreditsLow: cloudwatch.Alarm;
  readonly spendAboveBudget?: cloudwatch.Alarm;
  /** The low-credit threshold in bytes, for the dashboard's annotation. */
  readonly efsBurstCreditThreshold: number;
  /** Every alarm above, for the dashboard's status strip. */
  readonly all: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ClusterAlarmsProps) {
    super(scope, id);
    const m = props.metrics;
    const heartbeatMinutes = requireMinutes(
      'heartbeatMissingMinutes',
      props.heartbeatMissingMinutes ?? 3,
      60,
    );
    // An alarm evaluates at most one day of data (CloudWatch PutMetricAlarm: EvaluationPeriods x Period <= 86400 s).
    const demandMinutes = requireMinutes(
      'demandWithoutWorkersMinutes',
      props.demandWithoutWorkersMinutes ?? 10,
      1440,
    );
    const stuckMinutes = requireMinutes('stuckCalculationMinutes', props.stuckCalculationMinutes ?? 30, 1440);
    const burstLow = props.efsBurstCreditLowBytes ?? DEFAULT_EFS_BURST_CREDIT_LOW_BYTES;
    this.efsBurstCreditThreshold = burstLow;
    if (!Number.isFinite(burstLow) || burstLow <= 0) {
      throw new Error(
        `ClusterDashboard efsBurstCreditLowBytes is ${String(burstLow)}: give a positive byte count.`,
      );
    }
    if (
      props.hourlyBudget !== undefined &&
      (!Number.isFinite(props.hourlyBudget) || props.hourlyBudget <= 0)
    ) {
      throw new Error(
        `ClusterDashboard hourlyBudget is ${String(props.hourlyBudget)}: give a positive USD amount per hour, or leave it out for no budget alarm.`,
      );
    }
    if (props.alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(props.alarmEmail)) {
      throw new Error(
        `ClusterDashboard alarmEmail is ${JSON.stringify(props.alarmEmail)}: give one e-mail address, e.g. ops@example.org.`,
      );
    }

    // Encrypted at rest with a key CloudWatch may use: the AWS-managed SNS key cannot grant CloudWatch alarms
    // the right to publish (Amazon SNS documentation, "encryption at rest", compatible event sources).
    const key = new kms.Key(this, 'TopicKey', {
      enableKeyRotation: true,
      description: 'Encrypts the oq-elastic alarm topic',
    });
    key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'Topic', { masterKey: key, enforceSSL: true });
    if (props.alarmEmail !== undefined) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    }
    const notify = new actions.SnsAction(this.topic);

    this.bridgeHeartbeatMissing = sustainedAlarm(this, 'BridgeHeartbeatMissing', {
      description: `The scaling bridge sent no heartbeat for ${heartbeatMinutes} minutes: workers are not being scaled.`,
      metric: m.series('heartbeat'),
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      periods: heartbeatMinutes,
      // No datapoint is exactly the failure: a dead bridge publishes nothing.
      missingData: cloudwatch.TreatMissingData.BREACHING,
    });

    // The bridge publishes BrokerRefused = 1 each cycle while RabbitMQ or its management API refuses its user,
    // password or vhost (a rotated secret, a changed user): no retry fixes that, an operator must.
    this.bridgeBrokerRefused = sustainedAlarm(this, 'BridgeBrokerRefused', {
      description:
        'RabbitMQ refuses the scaling bridge its user, password or vhost for 2 minutes: workers are not being scaled (docs/bridge.md, Troubleshooting).',
      metric: m.series('brokerRefused'),
      periods: 2,
    });

    this.demandWithoutWorkers = sustainedAlarm(this, 'DemandWithoutWorkers', {
      description: `Tasks waited for ${demandMinutes} minutes with no celery worker consuming the queue (quota, image pull, broker credentials?).`,
      metric: m.demandWithoutWorkers(),
      periods: demandMinutes,
    });

    this.stuckCalculation = sustainedAlarm(this, 'StuckCalculation', {
      description: `A calculation has been running for ${stuckMinutes} minutes with no task active or queued: a task may have died (out of memory?) and the engine waits for it; consider aborting it.`,
      metric: m.stuckCalculation(),
      periods: stuckMinutes,
    });

    // System checks fail with the host: EC2 recovery moves the instance, keeping its id, private IP and EBS
    // volumes (EC2 "Recover your instance" documentation), so workers and the bridge find it again.
    this.masterSystemStatusCheck = sustainedAlarm(this, 'MasterSystemStatusCheck', {
      description:
        'The master failed its EC2 system status check for 2 minutes: recovering it onto healthy hardware.',
      metric: m.masterStatusCheck('System'),
      periods: 2,
      missingData: cloudwatch.TreatMissingData.MISSING,
    });
    this.masterSystemStatusCheck.addAlarmAction(new actions.Ec2Action(actions.Ec2InstanceAction.RECOVER));

    // Instance checks fail with the guest (kernel, memory exhaustion): only a reboot can help, and it ends the
    // calculations in flight, so it waits longer than the recovery.
    this.masterInstanceStatusCheck = sustainedAlarm(this, 'MasterInstanceStatusCheck', {
      description: 'The master failed its EC2 instance status check for 5 minutes: rebooting it.',
      metric: m.masterStatusCheck('Instance'),
      periods: 5,
      missingData: cloudwatch.TreatMissingData.MISSING,
    });
    this.masterInstanceStatusCheck.addAlarmAction(new actions.Ec2Action(actions.Ec2InstanceAction.REBOOT));

    // Missing data does not breach: Elastic and provisioned throughput modes publish no burst credits.
    this.efsBurstCreditsLow = sustainedAlarm(this, 'EfsBurstCreditsLow', {
      description: `shared_dir's EFS burst credits are below ${burstLow} bytes: throughput will fall to the baseline (switch to Elastic throughput or add storage).`,
      metric: m.efsBurstCreditBalance().with({ period: Duration.minutes(5) }),
      threshold: burstLow,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      periods: 3,
    });

    if (props.hourlyBudget !== undefined) {
      this.spendAboveBudget = sustainedAlarm(this, 'SpendAboveBudget', {
        description: `Estimated spend is above the budget of ${props.hourlyBudget} USD per hour (workers + master + EFS storage, from the price table).`,
        metric: m.costPerHour(),
        threshold: props.hourlyBudget,
        comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        periods: 3,
      });
    }

    this.all = [
      this.bridgeHeartbeatMissing,
      this.bridgeBrokerRefused,
      this.demandWithoutWorkers,
      this.stuckCalculation,
      this.masterSystemStatusCheck,
      this.masterInstanceStatusCheck,
      this.efsBurstCreditsLow,
      ...(this.spendAboveBudget ? [this.spendAboveBudget] : []),
    ];
    for (const alarm of this.all) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
  }
}
