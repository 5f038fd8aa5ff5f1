import { WEBUI_DIR, WEBUI_ENV_FILE, webUiExecStart } from './webui.ts';

/** Where the boot script installs the engine's virtual environment (Python from ENGINE_RELEASE.python). */
export const ENGINE_VENV = '/opt/openquake/venv';

/** The systemd units of the master's engine services, by file name. */
export interface MasterUnits {
  readonly 'openquake-dbserver.service': string;
  readonly 'openquake-webui.service': string;
}

/**
 * Renders the systemd units of the DbServer and the WebUI/API (always written; the settings applier enables the
 * WebUI or not, and writes where it listens into its EnvironmentFile). Both run as `openquake`: with
 * `multi_user = true`, engine 3.11.5's `oq dbserver` refuses any other user (openquake/commands/dbserver.py)
 * and `oq webui` needs write access to the database. `-f` keeps the DbServer in the foreground so that
 * systemd, not the engine's own daemonising, supervises it.
 */
export function renderMasterUnits(): MasterUnits {
  const dbserver = renderEngineUnit(
    'OpenQuake Engine DbServer (oq-elastic master)',
    ['After=network-online.target rabbitmq-server.service', 'Wants=network-online.target'],
    `${ENGINE_VENV}/bin/oq dbserver start -f`,
  );
  // gunicorn, not `oq webui start` (Django's development server, which the engine runs with DEBUG on).
  const webui = renderEngineUnit(
    'OpenQuake Engine WebUI and REST API (oq-elastic master)',
    ['After=openquake-dbserver.service', 'Requires=openquake-dbserver.service'],
    webUiExecStart(ENGINE_VENV),
    [`WorkingDirectory=${WEBUI_DIR}`, `EnvironmentFile=${WEBUI_ENV_FILE}`],
  );
  return { 'openquake-dbserver.service': dbserver, 'openquake-webui.service': webui };
}

/** One engine service unit: runs as `openquake`, restarted by systemd whenever it exits. */
export function renderEngineUnit(
  description: string,
  ordering: readonly string[],
  execStart: string,
  extra: readonly string[] = [],
): string {
  return [
    '[Unit]',
    `Description=${description}`,
    ...ordering,
    '',
    '[Service]',
    'User=openquake',
    'Group=openquake',
    ...extra,
    `ExecStart=${execStart}`,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
