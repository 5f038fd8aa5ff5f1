import { PORTS } from '../../../contract/cluster-constants.ts';

/**
 * How long RabbitMQ lets a consumer hold an unacknowledged message before it closes the channel and requeues
 * the message (the task would then run twice and stream its partial results twice). RabbitMQ's default is
 * 30 minutes since 3.8.15 (rabbitmq-server release notes); engine tasks can run for hours. 24 hours keeps a
 * truly hung worker from holding a task forever while no real task comes near it.
 */
export const DEFAULT_CONSUMER_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/**
 * How often (ms) RabbitMQ emits the statistics the management API serves. At the default 5000 ms the queue's
 * figures there lagged 5 to 10 s behind the broker (measured, docs/observe.md); with the engine's celery 4.4
 * workers the management API is the bridge's only source of unacked messages while workers are busy, so one
 * second bounds that lag to about two. The cost is small on a broker with a handful of queues and connections.
 */
export const COLLECT_STATISTICS_INTERVAL_MS = 1000;

/**
 * /etc/rabbitmq/enabled_plugins (an Erlang term), written before the package's first start so that the
 * management API (the bridge's queue figures) is up from the first boot without a plugin command or restart.
 */
export const RABBITMQ_ENABLED_PLUGINS = '[rabbitmq_management].\n';

/** What goes into the master's rabbitmq.conf. */
export interface RabbitmqConfOptions {
  /** `consumer_timeout` in milliseconds. @default DEFAULT_CONSUMER_TIMEOUT_MS */
  readonly consumerTimeoutMs?: number;
}

/**
 * Renders /etc/rabbitmq/rabbitmq.conf (new-style sysctl format). The boot script writes it before the package
 * is installed, so the broker's first start already uses it; provision-rabbitmq.sh applies consumer_timeout to
 * a running node as well.
 */
export function renderRabbitmqConf(options: RabbitmqConfOptions = {}): string {
  const consumerTimeoutMs = options.consumerTimeoutMs ?? DEFAULT_CONSUMER_TIMEOUT_MS;
  if (!Number.isInteger(consumerTimeoutMs) || consumerTimeoutMs < 60_000) {
    throw new Error(
      `consumerTimeoutMs=${consumerTimeoutMs} is invalid: use a whole number of milliseconds of at least ` +
        `60000; engine tasks can run for hours (default ${DEFAULT_CONSUMER_TIMEOUT_MS})`,
    );
  }
  return [
    '# Written by the oq-elastic master boot script: edit the CDK app, not this file.',
    `listeners.tcp.default = ${PORTS.amqp}`,
    `management.tcp.port = ${PORTS.rabbitManagement}`,
    '# guest is deleted at boot; should it ever come back, it stays on loopback.',
    'loopback_users.guest = true',
    `consumer_timeout = ${consumerTimeoutMs}`,
    '# Queue figures in the management API every second (default 5000 ms): the bridge reads unacked there.',
    `collect_statistics_interval = ${COLLECT_STATISTICS_INTERVAL_MS}`,
    '# Stop publishers before the RabbitMQ volume fills up (the default, 50 MB, is too close to the edge).',
    'disk_free_limit.absolute = 1GB',
    '',
  ].join('\n');
}
