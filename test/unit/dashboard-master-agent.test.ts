import { describe, expect, it } from 'vitest';
import {
  MASTER_AGENT_NAMESPACE,
  MASTER_DISK_DIMENSIONS,
  MASTER_DISK_METRIC,
  MASTER_MEMORY_METRIC,
  masterAgentConfig,
} from '../../cdk/lib/dashboard/master-agent-metrics.ts';
import { ClusterMetrics } from '../../cdk/lib/dashboard/cluster-metrics.ts';

describe('masterAgentConfig', () => {
  const config = masterAgentConfig(['/', '/var/lib/rabbitmq']) as {
    agent: Record<string, unknown>;
    metrics: {
      namespace: string;
      append_dimensions: Record<string, string>;
      aggregation_dimensions: string[][];
      metrics_collected: {
        mem: { measurement: string[] };
        disk: { measurement: string[]; resources: string[] };
      };
    };
  };

  it('publishes the names and dimensions the dashboard reads', () => {
    expect(config.metrics.namespace).toBe(MASTER_AGENT_NAMESPACE);
    // The agent prefixes a plugin's measurements with the plugin name: mem_used_percent, disk_used_percent.
    expect(`mem_${config.metrics.metrics_collected.mem.measurement[0]}`).toBe(MASTER_MEMORY_METRIC);
    expect(`disk_${config.metrics.metrics_collected.disk.measurement[0]}`).toBe(MASTER_DISK_METRIC);
    expect(config.metrics.metrics_collected.disk.resources).toEqual(['/', '/var/lib/rabbitmq']);
    expect(config.metrics.append_dimensions).toEqual({ InstanceId: '${aws:InstanceId}' });
    expect(config.metrics.aggregation_dimensions).toContainEqual([...MASTER_DISK_DIMENSIONS]);
    // Without omit_hostname every metric carries a host dimension and matches none of the dashboard's queries.
    expect(config.agent.omit_hostname).toBe(true);
  });

  it('matches the SEARCH the dashboard runs for the disks', () => {
    const m = new ClusterMetrics(
      {
        clusterDimension: 'c',
        workerClusterName: 'c',
        workerServiceName: 's',
        masterInstanceId: 'i-1',
        fileSystemId: 'fs',
      },
      { workerHourly: 1, masterHourly: 1, masterPriced: true, efsGbMonth: 0.3 },
    );
    expect(m.masterDisk().expression).toContain(
      `{${MASTER_AGENT_NAMESPACE},${MASTER_DISK_DIMENSIONS.join(',')}} MetricName="${MASTER_DISK_METRIC}"`,
    );
    expect(m.masterMemory().dimensions).toEqual({ InstanceId: 'i-1' });
  });

  it('rejects relative or missing mount points with the fix', () => {
    expect(() => masterAgentConfig([])).toThrow(/diskPaths is \[\]: give one or more absolute mount points/);
    expect(() => masterAgentConfig(['var/lib'])).toThrow(/diskPaths is \["var\/lib"\]/);
  });
});
