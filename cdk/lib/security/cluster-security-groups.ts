import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { PORTS } from '../../../contract/cluster-constants.ts';

/** Props of {@link ClusterSecurityGroups}. */
export interface ClusterSecurityGroupsProps {
  readonly vpc: ec2.IVpc;
  /** Admit the WebUI (8800) from this CIDR. @default - no network access to the WebUI */
  readonly webUiAllowedCidr?: string;
}

/**
 * The security groups of the master, the workers and the bridge, and the master's ingress rules: the
 * classic guide's "master ports reachable from the workers only", with the bridge added for AMQP and the
 * management API. Nothing admits 0.0.0.0/0. Outbound stays open (the master installs the engine; workers
 * and the bridge call AWS APIs); the VPC has no public IPs.
 */
export class ClusterSecurityGroups extends Construct {
  readonly master: ec2.SecurityGroup;
  readonly workers: ec2.SecurityGroup;
  readonly bridge: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ClusterSecurityGroupsProps) {
    super(scope, id);
    const group = (gid: string, description: string) =>
      new ec2.SecurityGroup(this, gid, { vpc: props.vpc, description, allowAllOutbound: true });
    this.master = group('Master', 'oq-elastic master: RabbitMQ, DbServer, WebUI');
    this.workers = group('Workers', 'oq-elastic celery workers (Fargate)');
    this.bridge = group('Bridge', 'oq-elastic bridge (Fargate)');

    this.master.addIngressRule(this.workers, ec2.Port.tcp(PORTS.amqp), 'AMQP from the celery workers');
    this.master.addIngressRule(
      this.bridge,
      ec2.Port.tcp(PORTS.amqp),
      'AMQP (celery remote control) from the bridge',
    );
    this.master.addIngressRule(
      this.bridge,
      ec2.Port.tcp(PORTS.rabbitManagement),
      'RabbitMQ management API from the bridge',
    );
    this.master.addIngressRule(this.workers, ec2.Port.tcp(PORTS.dbserver), 'DbServer from the workers');
    this.master.addIngressRule(
      this.workers,
      ec2.Port.tcpRange(PORTS.receiverFrom, PORTS.receiverTo),
      'task results (zmq receiver ports) from the workers',
    );
    if (props.webUiAllowedCidr !== undefined) {
      this.master.addIngressRule(
        ec2.Peer.ipv4(props.webUiAllowedCidr),
        ec2.Port.tcp(PORTS.webUi),
        'WebUI/API from the user-given CIDR',
      );
    }
  }
}
