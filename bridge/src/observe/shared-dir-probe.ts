import {
  DescribeFileSystemsCommand,
  DescribeMountTargetsCommand,
  EFSClient,
  type MountTargetDescription,
} from '@aws-sdk/client-efs';
import { awsClientConfig } from '../compute/aws-client-config.ts';
import type { SharedDirObservation } from './observation.ts';

/** Options of {@link SharedDirProbe}. */
export interface SharedDirProbeOptions {
  /** The shared_dir file system (OQE_EFS_FILE_SYSTEM_ID). */
  readonly fileSystemId: string;
  /** Subnets the workers launch in (OQE_WORKER_SUBNET_IDS): each needs an available mount target. */
  readonly workerSubnetIds: readonly string[];
  /** A client to reuse; by default one for AWS_REGION, honouring AWS_ENDPOINT_URL. */
  readonly client?: EFSClient;
}

/**
 * Whether new workers could mount shared_dir: the EFS file system is `available` and every worker subnet has
 * an `available` mount target (a Fargate task in a subnet without one fails to start with a mount error).
 * Two describe calls a cycle: DescribeFileSystems (state, metered size) and DescribeMountTargets.
 */
export class SharedDirProbe {
  private readonly client: EFSClient;
  private readonly owned: boolean;

  constructor(private readonly options: SharedDirProbeOptions) {
    if (!/^fs-[0-9a-f]+$/.test(options.fileSystemId)) {
      throw new Error(
        `OQE_EFS_FILE_SYSTEM_ID '${options.fileSystemId}' is not an EFS file system id (fs-...): set it to the ` +
          `shared dir's id from the stack outputs`,
      );
    }
    if (options.workerSubnetIds.length === 0) {
      throw new Error('OQE_WORKER_SUBNET_IDS is empty: list the worker subnets (subnet-...,subnet-...)');
    }
    this.owned = options.client === undefined;
    this.client = options.client ?? new EFSClient(awsClientConfig());
  }

  async observe(): Promise<SharedDirObservation> {
    const { fileSystemId, workerSubnetIds } = this.options;
    const [systems, targets] = await Promise.all([
      this.client.send(new DescribeFileSystemsCommand({ FileSystemId: fileSystemId })),
      this.listMountTargets(fileSystemId),
    ]);
    const fs = systems.FileSystems?.[0];
    if (!fs) throw new Error(`EFS file system ${fileSystemId} not found (DescribeFileSystems returned none)`);
    const observedAt = Date.now();
    const available = fs.LifeCycleState === 'available';
    const ready = new Set(targets.filter((t) => t.LifeCycleState === 'available').map((t) => t.SubnetId));
    const lacking = workerSubnetIds.filter((s) => !ready.has(s));
    const problems: string[] = [];
    if (!available)
      problems.push(`file system ${fileSystemId} is ${fs.LifeCycleState ?? 'in an unknown state'}`);
    if (lacking.length > 0)
      problems.push(`no available mount target in worker subnet(s) ${lacking.join(', ')}`);
    return {
      available,
      mountTargetsReady: lacking.length === 0,
      sizeBytes: fs.SizeInBytes?.Value ?? 0,
      ...(problems.length > 0 ? { detail: problems.join('; ') } : {}),
      observedAt,
    };
  }

  private async listMountTargets(fileSystemId: string): Promise<MountTargetDescription[]> {
    const all: MountTargetDescription[] = [];
    let marker: string | undefined;
    do {
      const page = await this.client.send(
        new DescribeMountTargetsCommand({ FileSystemId: fileSystemId, Marker: marker }),
      );
      all.push(...(page.MountTargets ?? []));
      marker = page.NextMarker;
    } while (marker);
    return all;
  }

  close(): void {
    if (this.owned) this.client.destroy();
  }
}
