/**
 * Keeps non-root users of the master off the instance metadata service (IMDS), which hands out the instance
 * role's credentials to any local process. Calculation code (job.ini options can make the engine fetch URLs and
 * unpickle files) runs as `openquake`; the processes that need the role (the SSM agent, the CloudWatch agent,
 * the boot script) run as root, and the CalculationsExecuting timer as a user of its own.
 *
 * An nftables owner match on the output hook: it sees the socket's uid, so it holds for every program of a
 * user, whatever address family trick or proxy variable it tries (IMDS answers only on 169.254.169.254 and, on
 * Nitro instances with IPv6 enabled, fd00:ec2::254).
 */

/** The system user that runs the CalculationsExecuting timer (in group `openquake` to read the engine DB). */
export const METRICS_USER = 'oq-metrics';
/** Where the boot writes the rules. */
export const IMDS_GUARD_RULES = '/etc/openquake/imds-guard.nft';
/** The unit that loads them at every boot, before the engine's units. */
export const IMDS_GUARD_UNIT = 'oq-imds-guard.service';

/** The nftables rules: root and `metricsUid` may reach IMDS; every other uid gets a reject. */
export function renderImdsGuardRules(metricsUid: string): string {
  const allow = (family: 'ip' | 'ip6', address: string) => [
    `    ${family} daddr ${address} meta skuid 0 accept`,
    `    ${family} daddr ${address} meta skuid ${metricsUid} accept`,
    `    ${family} daddr ${address} counter reject`,
  ];
  return [
    '# oq-elastic: instance metadata for root and the metrics user only (re-loaded whole at every boot).',
    'table inet oq_imds_guard',
    'delete table inet oq_imds_guard',
    'table inet oq_imds_guard {',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    ...allow('ip', '169.254.169.254'),
    ...allow('ip6', 'fd00:ec2::254'),
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Loads the rules early at boot: before the network is up and before any engine unit starts. */
export const IMDS_GUARD_UNIT_TEXT = [
  '[Unit]',
  'Description=Instance metadata for root and the metrics user only (oq-elastic)',
  'DefaultDependencies=no',
  'Before=network-pre.target openquake-dbserver.service openquake-webui.service',
  'Wants=network-pre.target',
  '',
  '[Service]',
  'Type=oneshot',
  'RemainAfterExit=yes',
  `ExecStart=/usr/sbin/nft -f ${IMDS_GUARD_RULES}`,
  '',
  '[Install]',
  'WantedBy=multi-user.target',
  '',
].join('\n');
