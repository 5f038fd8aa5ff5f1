/**
 * Ports, ids and names that the master, the workers, the bridge and the security groups must agree on.
 * Sources: the engine's openquake.cfg defaults (dbserver 1908, receiver ports 1912-1920, WebUI 8800)
 * and RabbitMQ's defaults (AMQP 5672, management 15672).
 */
import engineRelease from './engine-release.json' with { type: 'json' };

export const ENGINE_RELEASE: { readonly engine: string; readonly python: string; readonly celery: string } =
  engineRelease;

export const PORTS = {
  amqp: 5672,
  rabbitManagement: 15672,
  dbserver: 1908,
  /** Task results stream back to the master over zmq on these ports (engine >= 3.3). */
  receiverFrom: 1912,
  receiverTo: 1920,
  webUi: 8800,
  nfs: 2049,
} as const;

/** The `openquake` user and group, with the same ids on the master, in the worker image and on the EFS access point. */
export const OPENQUAKE_UID = 1200;
export const OPENQUAKE_GID = 1200;

/** RabbitMQ vhost and queue of the engine's celery configuration (the queue name is hard-coded in the engine). */
export const AMQP_VHOST = 'openquake';
export const CELERY_QUEUE = 'celery';

/**
 * The queue on the engine's vhost where the master's publisher (oq-calculation-events) puts its calculation
 * snapshots and the bridge reads them; the bridge's RabbitMQ user may read it and nothing more.
 */
export const CALCULATION_EVENTS_QUEUE = 'oq-elastic.calculations';

/** Where shared_dir is mounted, on the master (read-write) and in the workers (read-only). */
export const SHARED_DIR = '/opt/openquake/shared';
