import type { CpuArchitecture } from '../../../contract/prices.ts';
import { AMI_ID } from '../master/master-machine-image.ts';
import type { ClusterSettings } from './cluster-settings.ts';
import { ClusterPropsError } from './cluster-props-error.ts';
import { architecture, integer, ipv4Cidr } from './prop-checks.ts';

/** The master's settings (machine, data volumes, WebUI) with every default filled in, after validation. */
export interface ResolvedMasterProps {
  readonly masterInstanceType: string;
  readonly masterArchitecture: CpuArchitecture;
  readonly masterImageId?: string;
  readonly rabbitmqVolumeGiB?: number;
  readonly databaseVolumeGiB?: number;
  readonly webUi: boolean;
  readonly webUiAllowedCidr?: string;
}

/**
 * The widest block that may reach a port of the master from outside the VPC. A /8 is already 16 million
 * addresses; anything wider is the internet in all but name.
 */
export const MIN_ALLOWED_PREFIX_LENGTH = 8;

/** Graviton instance families carry a `g` right after the generation digit: m7g, c7gn, r8g, t4g. */
function isGravitonType(instanceType: string): boolean {
  return /^[a-z]+\d+g[a-z]*\./.test(instanceType);
}

function resolveMachine(
  props: ClusterSettings,
): Pick<ResolvedMasterProps, 'masterInstanceType' | 'masterArchitecture' | 'masterImageId'> {
  const masterInstanceType = props.masterInstanceType ?? 'm7i.large';
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(masterInstanceType)) {
    throw new ClusterPropsError(
      'masterInstanceType',
      masterInstanceType,
      'use an EC2 instance type such as m7i.large.',
    );
  }
  const masterArchitecture = architecture('masterArchitecture', props.masterArchitecture ?? 'x86_64');
  if (isGravitonType(masterInstanceType) !== (masterArchitecture === 'arm64')) {
    throw new ClusterPropsError(
      'masterArchitecture',
      masterArchitecture,
      `it does not match masterInstanceType=${masterInstanceType}; set masterArchitecture=${
        isGravitonType(masterInstanceType) ? 'arm64' : 'x86_64'
      } or pick an instance type of the other architecture.`,
    );
  }
  const masterImageId = props.masterImageId;
  if (masterImageId !== undefined && !AMI_ID.test(masterImageId)) {
    throw new ClusterPropsError(
      'masterImageId',
      masterImageId,
      'use an AMI id such as ami-0123456789abcdef0 (Ubuntu 24.04), or leave it unset for the current image at launch.',
    );
  }
  return { masterInstanceType, masterArchitecture, masterImageId };
}

function volumeGiB(prop: string, value: number | undefined): number | undefined {
  return value === undefined ? undefined : integer(prop, value, 8, 16384);
}

function resolveWebUi(props: ClusterSettings): Pick<ResolvedMasterProps, 'webUi' | 'webUiAllowedCidr'> {
  // Off unless asked for: the engine's WebUI runs, aborts and deletes calculations for whoever reaches it.
  const webUi = props.webUi ?? false;
  if (props.webUiAllowedCidr === undefined) return { webUi, webUiAllowedCidr: undefined };
  // Parsed as numbers: `1.2.3.4/0` and `0.0.0.0/1` are as open as `0.0.0.0/0`.
  const webUiAllowedCidr = ipv4Cidr(
    'webUiAllowedCidr',
    props.webUiAllowedCidr.trim(),
    MIN_ALLOWED_PREFIX_LENGTH,
  );
  if (!webUi) {
    throw new ClusterPropsError(
      'webUiAllowedCidr',
      webUiAllowedCidr,
      'it conflicts with webUi=false (nothing listens on 8800); set webUi=true or unset webUiAllowedCidr.',
    );
  }
  return { webUi, webUiAllowedCidr };
}

/**
 * Validates the master's settings (instance type and architecture, image, data volumes, WebUI) and fills in
 * their defaults; throws a {@link ClusterPropsError} on the first problem.
 */
export function resolveMasterProps(props: ClusterSettings): ResolvedMasterProps {
  return {
    ...resolveMachine(props),
    rabbitmqVolumeGiB: volumeGiB('rabbitmqVolumeGiB', props.rabbitmqVolumeGiB),
    databaseVolumeGiB: volumeGiB('databaseVolumeGiB', props.databaseVolumeGiB),
    ...resolveWebUi(props),
  };
}
