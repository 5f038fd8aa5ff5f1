/**
 * What the master's CloudWatch agent must publish for the dashboard's master widgets (memory and disk: EC2
 * itself reports neither). The master construct writes `MASTER_AGENT_CONFIG` to
 * /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json; the dashboard reads the names below.
 *
 * Names from the agent's documentation ("Metrics collected by the CloudWatch agent"): the `mem` plugin's
 * `mem_used_percent` (dimension InstanceId) and the `disk` plugin's `used_percent`, published as `disk_used_percent` with the
 * dimensions path, device and fstype; `aggregation_dimensions` adds a roll-up with only InstanceId and path,
 * which is the one the dashboard searches (so it needs to know neither the device nor the file system type).
 */
export const MASTER_AGENT_NAMESPACE = 'CWAgent';
export const MASTER_MEMORY_METRIC = 'mem_used_percent';
export const MASTER_DISK_METRIC = 'disk_used_percent';
/** The dimensions of the disk roll-up the dashboard searches for. */
export const MASTER_DISK_DIMENSIONS = ['InstanceId', 'path'] as const;

/**
 * The agent configuration the master installs. Every 60 s, which is the agent's default and the
 * dashboard's finest period for the master.
 * @param diskPaths the mount points to watch: the root, RabbitMQ's and the engine database's volumes.
 */
export function masterAgentConfig(diskPaths: readonly string[]): Record<string, unknown> {
  if (diskPaths.length === 0 || diskPaths.some((p) => !p.startsWith('/'))) {
    throw new Error(
      `masterAgentConfig diskPaths is ${JSON.stringify(diskPaths)}: give one or more absolute mount points, e.g. ["/", "/var/lib/rabbitmq"].`,
    );
  }
  return {
    // omit_hostname: without it every metric also carries a `host` dimension and the names below would not match.
    agent: { metrics_collection_interval: 60, omit_hostname: true },
    metrics: {
      namespace: MASTER_AGENT_NAMESPACE,
      append_dimensions: { InstanceId: '${aws:InstanceId}' },
      aggregation_dimensions: [[...MASTER_DISK_DIMENSIONS]],
      metrics_collected: {
        mem: { measurement: ['used_percent'] },
        disk: { measurement: ['used_percent'], resources: [...diskPaths], drop_device: true },
      },
    },
  };
}
