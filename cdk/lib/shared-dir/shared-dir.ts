import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { OPENQUAKE_GID, OPENQUAKE_UID, PORTS } from '../../../contract/cluster-constants.ts';

/** Props of {@link SharedDir}. */
export interface SharedDirProps {
  readonly vpc: ec2.IVpc;
  /** Private subnets for the mount targets. */
  readonly subnets: ec2.SubnetSelection;
  /** Keep the file system when the stack is deleted. */
  readonly retain: boolean;
}

/**
 * The engine's shared_dir on EFS: encrypted at rest, TLS and IAM required to mount, one access point that
 * maps every client to the `openquake` uid/gid and roots it in a setgid directory (mode 2750, as the classic
 * guide's NFS export). The master is granted read-write, the workers read-only (grants below).
 */
export class SharedDir extends Construct {
  readonly fileSystem: efs.FileSystem;
  readonly accessPoint: efs.AccessPoint;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: SharedDirProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'oq-elastic shared_dir (EFS): NFS from the master and the workers only',
      allowAllOutbound: false,
    });
    this.fileSystem = new efs.FileSystem(this, 'FileSystem', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      securityGroup: this.securityGroup,
      encrypted: true,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: efs.ThroughputMode.ELASTIC,
      // Old calculations move to Infrequent Access; a file read again moves back (no repeated IA read charges).
      lifecyclePolicy: efs.LifecyclePolicy.AFTER_30_DAYS,
      outOfInfrequentAccessPolicy: efs.OutOfInfrequentAccessPolicy.AFTER_1_ACCESS,
      enableAutomaticBackups: true,
      // Not what it says: `false` makes the CDK add an Allow of ClientWrite and ClientRootAccess to every IAM
      // principal, which would let the workers write. With `true` the policy is exactly the one below, which
      // allows nothing: only the roles granted here (master read-write, workers mount-only) get in, and
      // clients without IAM are refused because the policy exists and does not allow them.
      allowAnonymousAccess: true,
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    // Refuse any mount without TLS (the access point needs transit encryption anyway).
    this.fileSystem.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyUnencryptedTransport',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['*'],
        conditions: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    this.accessPoint = this.fileSystem.addAccessPoint('AccessPoint', {
      path: '/shared',
      posixUser: { uid: String(OPENQUAKE_UID), gid: String(OPENQUAKE_GID) },
      createAcl: { ownerUid: String(OPENQUAKE_UID), ownerGid: String(OPENQUAKE_GID), permissions: '2750' },
    });
  }

  /** Admits NFS from `peer` (the master and worker groups). */
  allowNfsFrom(peer: ec2.ISecurityGroup, description: string): void {
    this.securityGroup.addIngressRule(peer, ec2.Port.tcp(PORTS.nfs), description);
  }
}
