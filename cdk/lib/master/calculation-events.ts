import { readFileSync } from 'node:fs';
import { CALCULATION_EVENTS_QUEUE } from '../../../contract/cluster-constants.ts';
import { ENGINE_DATABASE } from './calculations-metric.ts';
import { ENGINE_VENV } from './systemd-units.ts';

/** The calculation events publisher (Python, kombu from the engine venv), embedded in the boot script. */
export const CALCULATION_EVENTS_SCRIPT = readFileSync(
  new URL('../../assets/master/publish-calculation-events.py', import.meta.url),
  'utf8',
);

/** Where the boot script installs {@link CALCULATION_EVENTS_SCRIPT}. */
export const CALCULATION_EVENTS_SCRIPT_PATH = '/usr/local/sbin/oq-calculation-events';

/** Seconds between two snapshots: well inside the bridge's 5 s cycle and 30 s staleness limit. */
export const CALCULATION_EVENTS_INTERVAL_SECONDS = 3;

/**
 * Renders the long-running publisher of the calculation snapshots the bridge reads (docs/master.md). It runs as
 * `openquake`, which owns the engine database (opened read-only) and reads the engine's broker settings from
 * openquake.cfg, so it needs no secret of its own; it restarts on any failure (a broker restart, a DbServer not
 * yet up).
 */
export function renderCalculationEventsUnit(configFile = '/etc/openquake/openquake.cfg'): string {
  const environment: Record<string, string> = {
    OQ_ENGINE_DB: ENGINE_DATABASE,
    OQ_CONFIG_FILE: configFile,
    OQ_EVENTS_QUEUE: CALCULATION_EVENTS_QUEUE,
    OQ_EVENTS_INTERVAL_SECONDS: String(CALCULATION_EVENTS_INTERVAL_SECONDS),
    PYTHONUNBUFFERED: '1',
  };
  return [
    '[Unit]',
    'Description=Publish OpenQuake calculation events for the bridge (oq-elastic)',
    'After=rabbitmq-server.service openquake-dbserver.service network-online.target',
    '',
    '[Service]',
    'User=openquake',
    'Group=openquake',
    ...Object.entries(environment).map(([name, value]) => `Environment=${name}=${value}`),
    `ExecStart=${ENGINE_VENV}/bin/python ${CALCULATION_EVENTS_SCRIPT_PATH}`,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
