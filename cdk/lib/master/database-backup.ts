import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { acknowledgeNag } from '../nag/acknowledge.ts';

/** Props of {@link DatabaseBackup}. */
export interface DatabaseBackupProps {
  /** The master's engine-database volume. */
  readonly volume: ec2.IVolume;
  /** Days to keep each daily recovery point. */
  readonly retentionDays: number;
}

/**
 * A daily AWS Backup plan for the engine database's EBS volume: every calculation's record (the DbServer's
 * SQLite file) lives there, and nothing else keeps it. The vault has a customer-managed key with rotation and
 * is retained on `cdk destroy` with its recovery points (AWS Backup refuses to delete a vault that holds any).
 * EFS (the calculations' datastores) keeps its own automatic daily backups (SharedDir).
 *
 * Restore: docs/master.md, "Restoring the engine database".
 */
export class DatabaseBackup extends Construct {
  readonly vault: backup.BackupVault;
  readonly plan: backup.BackupPlan;

  constructor(scope: Construct, id: string, props: DatabaseBackupProps) {
    super(scope, id);
    const key = new kms.Key(this, 'Key', {
      description: 'oq-elastic engine database backups',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.vault = new backup.BackupVault(this, 'Vault', {
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.plan = new backup.BackupPlan(this, 'Plan', { backupVault: this.vault });
    // 05:00 UTC, AWS Backup's default window; crash-consistent snapshots of SQLite are what the engine's own
    // database gets after a power loss, and SQLite recovers from its journal.
    this.plan.addRule(
      new backup.BackupPlanRule({
        ruleName: 'Daily',
        scheduleExpression: events.Schedule.cron({ hour: '5', minute: '0' }),
        deleteAfter: Duration.days(props.retentionDays),
      }),
    );
    const selection = this.plan.addSelection('DatabaseVolume', {
      resources: [backup.BackupResource.fromArn(volumeArn(props.volume))],
    });
    const role = selection.node.tryFindChild('Role');
    if (role) {
      acknowledgeNag(role, [
        {
          id: 'AwsSolutions-IAM4',
          reason:
            'AWSBackupServiceRolePolicyForBackup is the policy AWS Backup documents for its service role; it is ' +
            'maintained by AWS as the service adds resource types',
          findings: [
            'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup',
          ],
        },
      ]);
    }
  }
}

function volumeArn(volume: ec2.IVolume): string {
  return volume.stack.formatArn({ service: 'ec2', resource: 'volume', resourceName: volume.volumeId });
}
