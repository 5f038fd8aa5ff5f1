import { PORTS } from '../../../contract/cluster-constants.ts';

/** Where the boot script installs the engine's virtual environment (Python from ENGINE_RELEASE.python). */
export const ENGINE_VENV = '/opt/openquake/venv';

/** The systemd units of the master's engine services, by file name. */
export interface MasterUnits {
  readonly 'openquake-dbserver.service': string;
  readonly 'openquake-webui.service'?: string;
}

/**
 * Renders the systemd units of the DbServer and (optionally) the WebUI/API. Both run as `openquake`: with
 * `multi_user = true`, engine 3.11.5's `oq dbserver` refuses any other user (openquake/commands/dbserver.py)
 * and `oq webui` needs write access to the database. `-f` keeps the DbServer in the foreground so that
 * systemd, not the engine's own daemonising, supervises it.
 *
 * @param webUiHost the address the WebUI binds (the master's private IP, filled at boot); omit for no WebUI
 */
export function renderMasterUnits(webUiHost?: string): MasterUnits {
  const dbserver = renderEngineUnit(
    'OpenQuake Engine DbServer (oq-elastic master)',
    ['After=network-online.target rabbitmq-server.service', 'Wants=network-online.target'],
    `${ENGINE_VENV}/bin/oq dbserver start -f`,
  );
  if (webUiHost === undefined) return { 'openquake-dbserver.service': dbserver };
  const webui = renderEngineUnit(
    'OpenQuake Engine WebUI and REST API (oq-elastic master)',
    ['After=openquake-dbserver.service', 'Requires=openquake-dbserver.service'],
    `${ENGINE_VENV}/bin/oq webui start ${webUiHost}:${PORTS.webUi} --skip-browser`,
  );
  return { 'openquake-dbserver.service': dbserver, 'openquake-webui.service': webui };
}

/** One engine service unit: runs as `openquake`, restarted by systemd whenever it exits. */
function renderEngineUnit(description: string, ordering: readonly string[], execStart: string): string {
  return [
    '[Unit]',
    `Description=${description}`,
    ...ordering,
    '',
    '[Service]',
    'User=openquake',
    'Group=openquake',
    `ExecStart=${execStart}`,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
