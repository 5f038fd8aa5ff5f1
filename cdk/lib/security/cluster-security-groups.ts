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
 * management API. Nothing admits 0.0.0.0/0. The master and the bridge keep open outbound (the master installs
 * the engine at boot; the bridge calls AWS APIs). The workers, which run pickles from the broker, reach only
 * the master's ports, NFS (added with the shared_dir rule) and HTTPS (AWS APIs: image, logs, secrets, EFS IAM).
 * The VPC has no public IPs.
 *
 * The DbServer (1908) and the result receivers (1912-1920) authenticate nothing (engine 3.11.5 never reads
 * `[dbserver] authkey`) and unpickle what they receive: the workers' group is their only gate.
 */
export class ClusterSecurityGroups extends Construct {
  readonly master: ec2.SecurityGroup;
  readonly workers: ec2.SecurityGroup;
  readonly bridge: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ClusterSecurityGroupsProps) {
    super(scope, id);
    const group = (gid: string, description: string, allowAllOutbound = true) =>
      new ec2.SecurityGroup(this, gid, { vpc: props.vpc, description, allowAllOutbound });
    this.master = group('Master', 'oq-elastic master: RabbitMQ, DbServer, WebUI');
    this.workers = group('Workers', 'oq-elastic celery workers (Fargate)', false);
    this.bridge = group('Bridge', 'oq-elastic bridge (Fargate)');
    this.workers.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS: ECR, CloudWatch Logs, Secrets Manager, EFS IAM (endpoints or NAT)',
    );
    // connections.allowFrom adds the master's ingress and the matching egress of the workers' group.
    const fromWorkers = (port: ec2.Port, description: string) =>
      this.master.connections.allowFrom(this.workers, port, description);

    fromWorkers(ec2.Port.tcp(PORTS.amqp), 'AMQP from the celery workers');
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
    fromWorkers(
      ec2.Port.tcp(PORTS.dbserver),
      'DbServer from the workers (unauthenticated: this rule is the gate)',
    );
    fromWorkers(
      ec2.Port.tcpRange(PORTS.receiverFrom, PORTS.receiverTo),
      'task results (zmq receiver ports) from the workers (unauthenticated: this rule is the gate)',
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
