import { readFileSync } from 'node:fs';
import { CALCULATION_EVENTS_QUEUE } from '../../../contract/cluster-constants.ts';
import { ENGINE_DATABASE } from './calculations-metric.ts';
import { ENGINE_VENV, renderEngineUnit } from './systemd-units.ts';

/** The calculation events publisher (Python, kombu from the engine venv), embedded in the boot script. */
export const CALCULATION_EVENTS_SCRIPT = readFileSync(
  new URL('../../assets/master/publish-calculation-events.py', import.meta.url),
  'utf8',
);

/** SSM's standard tier holds at most 4 KB a parameter (Systems Manager quotas, "Parameter value size"). */
export const STANDARD_PARAMETER_BYTES = 4096;

/**
 * The publisher as its SSM parameter carries it: comment lines dropped (the header documents the source, not
 * the machine). Throws when it outgrows a standard parameter, so that synth, not the boot, says so.
 */
export function calculationEventsPublisherText(): string {
  const text = CALCULATION_EVENTS_SCRIPT.split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n');
  if (Buffer.byteLength(text) > STANDARD_PARAMETER_BYTES) {
    throw new Error(
      `the calculation events publisher is ${Buffer.byteLength(text)} bytes without comments, above SSM's ${STANDARD_PARAMETER_BYTES}: shorten publish-calculation-events.py`,
    );
  }
  return text;
}

/** Where the boot script installs {@link CALCULATION_EVENTS_SCRIPT}. */
export const CALCULATION_EVENTS_SCRIPT_PATH = '/usr/local/sbin/oq-calculation-events';

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
  };
  return renderEngineUnit(
    'OpenQuake calculation events for the bridge',
    ['After=rabbitmq-server.service openquake-dbserver.service'],
    `${ENGINE_VENV}/bin/python ${CALCULATION_EVENTS_SCRIPT_PATH}`,
    Object.entries(environment).map(([name, value]) => `Environment=${name}=${value}`),
  );
}
