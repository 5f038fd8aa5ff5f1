// jsii compiles without Node's types; require() is Node's (it loads the ES module package on Node.js 20.19+).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const require: (id: string) => any;
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

// The props are the construct's own (cdk/lib/oq-elastic-cluster.ts) in the types jsii translates: the package
// build generates ./cluster-props from them (scripts/jsii-facade-props.ts), so they are declared once.
import { OqElasticClusterProps } from './cluster-props';
export * from './cluster-props';

/**
 * An OpenQuake Engine celery cluster with elastic Fargate workers: the master (EC2: RabbitMQ, DbServer, WebUI),
 * shared_dir on EFS, the workers, the bridge that scales them without stopping a busy one, and a CloudWatch
 * dashboard with alarms. The construct of the bundled oq-elastic library does the work, as the child `Default`
 * (left out of logical ids).
 */
export class OqElasticCluster extends Construct {
  /** The VPC the cluster runs in. */
  public readonly vpc: ec2.IVpc;
  /** The ECS cluster of the workers and the bridge. */
  public readonly cluster: ecs.ICluster;
  /** The Fargate service of the celery workers; its desired count belongs to the bridge. */
  public readonly workerService: ecs.FargateService;
  /** The master's EC2 instance. */
  public readonly masterInstance: ec2.Instance;
  /** The EFS file system of shared_dir. */
  public readonly fileSystem: efs.FileSystem;
  /** The CloudWatch dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** The SNS topic every alarm notifies. */
  public readonly alarmTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: OqElasticClusterProps = {}) {
    super(scope, id);
    // The implementation is the ES module package; Node.js 20.19+ loads it with require().
    const lib = require('oq-elastic');
    const inner = new lib.OqElasticCluster(this, 'Default', props);
    this.vpc = inner.vpc;
    this.cluster = inner.cluster;
    this.workerService = inner.workerService;
    this.masterInstance = inner.masterInstance;
    this.fileSystem = inner.fileSystem;
    this.dashboard = inner.dashboard;
    this.alarmTopic = inner.alarmTopic;
  }
}
