import { AMQP_VHOST, CELERY_QUEUE, PORTS, SHARED_DIR } from '../../../contract/cluster-constants.ts';

/** Where the DbServer keeps its SQLite database: on the master's database volume (see boot-script.ts). */
export const DATABASE_DIR = '/var/lib/openquake';

/** What goes into the master's `openquake.cfg`. Secrets are boot-time placeholders, never literal values. */
export interface OpenquakeCfgOptions {
  /** `[amqp] host` and `[dbserver] host`/`listen`: the master's private IP (a placeholder filled at boot). */
  readonly masterHost: string;
  /** `[amqp] password` (a placeholder filled at boot from the broker secret). */
  readonly amqpPassword: string;
  /** `[dbserver] authkey` (a placeholder filled at boot from the DbServer secret). */
  readonly dbserverAuthkey: string;
  /** `[distribution] num_cores`: the fleet's maximum number of worker processes. */
  readonly numCores: number;
  /** `[amqp] user`. @default 'openquake' */
  readonly amqpUser?: string;
  /** `[amqp] vhost`; tests give each run a vhost of its own. @default AMQP_VHOST ('openquake') */
  readonly amqpVhost?: string;
}

/**
 * Renders the master's `/etc/openquake/openquake.cfg`: the keys of the classic multi-node guide for a celery
 * cluster, plus two that engine 3.11.5 needs for elastic workers (verified in its source, see docs/master.md):
 *
 * - `[distribution] num_cores`: openquake/baselib/parallel.py (Starmap) submits the first `num_cores` tasks
 *   and one more each time a task ends, and sizes `concurrent_tasks` as 2 x num_cores. Set to the fleet's
 *   maximum, the queue shows all the demand the fleet can absorb.
 * - `[zworkers] host_cores` empty: openquake/engine/engine.py only consults the live celery workers
 *   (set_concurrent_tasks_default, which aborts a calculation when none answers within 30 s) and calls
 *   `workers_stop()` (celery's broadcast `shutdown`) after every job when host_cores is set. Empty, the engine
 *   submits to the queue even with zero workers and leaves the fleet alone.
 *
 * The engine reads it with ConfigParser interpolation and pastes the AMQP password into a URL, so values
 * must not hold `%`, `@`, `:`, `/` or line breaks (the boot script checks the secrets; see boot-script.ts).
 */
export function renderOpenquakeCfg(options: OpenquakeCfgOptions): string {
  const { masterHost, amqpPassword, dbserverAuthkey, numCores } = options;
  if (!Number.isInteger(numCores) || numCores < 1) {
    throw new Error(
      `numCores=${numCores} is invalid: [distribution] num_cores must be a positive integer ` +
        '(maxWorkers x worker processes per worker)',
    );
  }
  for (const [name, value] of Object.entries({ masterHost, amqpPassword, dbserverAuthkey })) {
    if (value === '' || /[\s%]/.test(value)) {
      throw new Error(
        `${name} must be non-empty without whitespace or '%' (ConfigParser would misread it); ` +
          'pass a boot-time placeholder such as @OQ_AMQP_PASSWORD@',
      );
    }
  }
  const lines = [
    '# Written by the oq-elastic master boot script at every boot: edit the CDK app, not this file.',
    '[distribution]',
    'oq_distribute = celery',
    `num_cores = ${numCores}`,
    '',
    '[amqp]',
    `host = ${masterHost}`,
    `port = ${PORTS.amqp}`,
    `user = ${options.amqpUser ?? 'openquake'}`,
    `password = ${amqpPassword}`,
    `vhost = ${options.amqpVhost ?? AMQP_VHOST}`,
    `celery_queue = ${CELERY_QUEUE}`,
    '',
    '[dbserver]',
    'multi_user = true',
    `file = ${DATABASE_DIR}/db.sqlite3`,
    `listen = ${masterHost}`,
    `host = ${masterHost}`,
    `port = ${PORTS.dbserver}`,
    `receiver_ports = ${PORTS.receiverFrom}-${PORTS.receiverTo}`,
    `authkey = ${dbserverAuthkey}`,
    '',
    '[zworkers]',
    'host_cores =',
    '',
    '[directory]',
    `shared_dir = ${SHARED_DIR}`,
    '',
  ];
  return lines.join('\n');
}
