/**
 * Keeps non-root users of the master off the instance metadata service (IMDS), which hands out the instance
 * role's credentials to any local process. Calculation code (job.ini options can make the engine fetch URLs and
 * unpickle files) runs as `openquake`; the processes that need the role (the SSM agent, the CloudWatch agent,
 * the boot script) run as root, and the CalculationsExecuting timer as a user of its own.
 *
 * An nftables owner match on the output hook: it sees the socket's uid, so it holds for every program of a
 * user, whatever proxy variable it tries (IMDS answers on 169.254.169.254; its IPv6 endpoint is not enabled).
 */

/** The system user that runs the CalculationsExecuting timer (in group `openquake` to read the engine DB). */
export const METRICS_USER = 'oq-metrics';
/**
 * Where the boot writes the rules: the ruleset of Ubuntu's nftables.service, which loads it at every boot before
 * the network is up (so before any engine unit), and which the boot enables. The master has no other rules.
 */
export const IMDS_GUARD_RULES = '/etc/nftables.conf';

/** The nftables rules: root and `metricsUid` may reach IMDS; every other uid gets a reject. */
export function renderImdsGuardRules(metricsUid: string): string {
  // IPv4 only: the instance does not turn on IMDS's IPv6 endpoint (HttpProtocolIpv6 stays disabled).
  const reject = (family: 'ip', address: string) =>
    `    ${family} daddr ${address} meta skuid != 0 meta skuid != ${metricsUid} counter reject`;
  return [
    'table inet oq_imds_guard',
    'delete table inet oq_imds_guard',
    'table inet oq_imds_guard {',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    reject('ip', '169.254.169.254'),
    '  }',
    '}',
    '',
  ].join('\n');
}
