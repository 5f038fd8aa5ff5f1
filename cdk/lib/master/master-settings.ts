import { readMasterScript } from './master-script.ts';
import { renderMinuteTimer } from './minute-timer.ts';
import type { WebUiBind } from './webui.ts';

/**
 * The master's run-time settings: what the master needs from `cdk deploy -c ...` while it runs. They travel in
 * an SSM parameter (JSON) that the master applies at boot and every minute (cdk/assets/master/apply-settings.py),
 * never in the instance's user-data: CloudFormation updates `UserData` by stopping and starting the instance
 * (AWS::EC2::Instance, UserData: "Update requires: Some interruptions"), which would kill every running
 * calculation. The engine reads openquake.cfg when a calculation starts, so running ones keep their settings.
 */
export interface MasterSettings {
  /** `[distribution] num_cores`: the fleet's most worker processes. */
  readonly numCores: number;
  /** Whether the WebUI/API runs. */
  readonly webUi: boolean;
  /**
   * Where the WebUI listens: `loopback` (SSM tunnel only) or `private` (the private address, for a CIDR rule).
   * Here rather than in the unit's command line so that a new `webUiAllowedCidr` never changes the user-data.
   */
  readonly webUiBind: WebUiBind;
}

/** The parameter's value (the applier refuses anything else, naming the key). */
export function renderMasterSettings(settings: MasterSettings): string {
  if (!Number.isInteger(settings.numCores) || settings.numCores < 1) {
    throw new Error(
      `numCores=${settings.numCores} is invalid: it must be a positive integer (maxWorkers x workerConcurrency)`,
    );
  }
  return JSON.stringify({
    numCores: settings.numCores,
    webUi: settings.webUi,
    webUiBind: settings.webUiBind,
  });
}

/** The applier (Python, botocore from the boot's tools venv), embedded in the boot script. */
export const APPLY_SETTINGS_SCRIPT = readMasterScript('apply-settings.py');

/** Where the boot script installs {@link APPLY_SETTINGS_SCRIPT}. */
export const APPLY_SETTINGS_SCRIPT_PATH = '/usr/local/sbin/oq-apply-settings';

/** The systemd units of the applier, by file name. */
export interface ApplySettingsUnits {
  readonly 'oq-master-settings.service': string;
  readonly 'oq-master-settings.timer': string;
}

/**
 * Renders a oneshot service that applies the settings (as root: it rewrites openquake.cfg and enables units)
 * and a timer that runs it every minute, so a `cdk deploy` reaches the master within a minute.
 *
 * @param parameterName the SSM parameter (a placeholder filled at boot)
 * @param region the region (a placeholder filled at boot)
 * @param python the Python that has botocore
 */
export function renderApplySettingsUnits(
  parameterName: string,
  region: string,
  python: string,
): ApplySettingsUnits {
  const service = [
    '[Unit]',
    'Description=Apply the oq-elastic master run-time settings (num_cores, WebUI) from SSM',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `Environment=AWS_DEFAULT_REGION=${region}`,
    `Environment=OQ_SETTINGS_PARAMETER=${parameterName}`,
    `ExecStart=${python} ${APPLY_SETTINGS_SCRIPT_PATH}`,
    '',
  ].join('\n');
  const timer = renderMinuteTimer('Every minute: apply the oq-elastic master run-time settings');
  return { 'oq-master-settings.service': service, 'oq-master-settings.timer': timer };
}
