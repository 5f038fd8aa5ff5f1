/**
 * The master's rendered files: openquake.cfg (INI, every key of the classic cluster guide, read by Python's
 * ConfigParser as the engine does), rabbitmq.conf, the systemd units and the boot script (shellcheck, size,
 * no secrets, the idempotency guards).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ini from 'ini';
import { describe, expect, it } from 'vitest';
import { ENGINE_RELEASE, PORTS, SHARED_DIR } from '../../contract/cluster-constants.ts';
import {
  type BootScriptOptions,
  CLOUDWATCH_AGENT_CONFIG,
  PROVISION_RABBITMQ_SCRIPT,
  renderBootScript,
  renderMasterUserData,
  stripComments,
  UNPACKED_BODY,
} from '../../cdk/lib/master/boot-script.ts';
import {
  CALCULATIONS_METRIC_SCRIPT,
  renderCalculationsMetricUnits,
} from '../../cdk/lib/master/calculations-metric.ts';
import { masterAgentConfig } from '../../cdk/lib/dashboard/master-agent-metrics.ts';
import { renderOpenquakeCfg } from '../../cdk/lib/master/openquake-cfg.ts';
import { DEFAULT_CONSUMER_TIMEOUT_MS, renderRabbitmqConf } from '../../cdk/lib/master/rabbitmq-conf.ts';
import { renderMasterUnits } from '../../cdk/lib/master/systemd-units.ts';
import { APPLY_SETTINGS_SCRIPT } from '../../cdk/lib/master/master-settings.ts';
import { IMDS_GUARD_RULES, renderImdsGuardRules } from '../../cdk/lib/master/imds-guard.ts';
import {
  renderWebUiLocalSettings,
  WEBUI_SERVER_PACKAGE,
  WEBUI_ENV_FILE,
} from '../../cdk/lib/master/webui.ts';
import {
  ENGINE_PATCHES_MODULE,
  ENGINE_PATCHES_PTH,
  enginePatchesParameterText,
} from '../../cdk/lib/master/engine-patches.ts';
import { UNPACK_PYTHON } from '../../cdk/lib/master/packed-text.ts';
import { PYTHON, REPO_ROOT, requireServices } from '../support/services.ts';
import { itWithPython } from '../support/python.ts';

const run = promisify(execFile);
const HAS_SYSTEMD_ANALYZE = spawnSync('systemd-analyze', ['--version']).status === 0;

const cfgOptions = {
  masterHost: '10.0.3.17',
  amqpPassword: 'Pw0rdFromSecretsManager1',
  dbserverAuthkey: 'AuthKeyFromSecretsManager2',
  numCores: 96,
};

/** Values the size of the CloudFormation tokens they stand for once resolved (ARNs with long names). */
const bootOptions: BootScriptOptions = {
  calculationEventsParameterName: `/CDK/${'E'.repeat(48)}`,
  enginePatchesParameterName: `/CDK/${'P'.repeat(48)}`,
  region: 'ap-southeast-2',
  stackName: 'OqElasticClusterProductionStack',
  logicalId: 'ClusterMasterInstanceAbCdEf0123456789',
  brokerSecretArn: `arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:${'B'.repeat(64)}-AbCdEf`,
  bridgeBrokerSecretArn: `arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:${'R'.repeat(64)}-AbCdEf`,
  dbserverAuthkeySecretArn: `arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:${'D'.repeat(64)}-AbCdEf`,
  fileSystemId: 'fs-0123456789abcdef0',
  accessPointId: 'fsap-0123456789abcdef0',
  engine: ENGINE_RELEASE,
  settingsParameterName: `/CDK/${'S'.repeat(48)}`,
  dataVolumeIds: { rabbitmq: 'vol-0123456789abcdef0', database: 'vol-0123456789abcdef1' },
  buildFromSource: true,
  metricsClusterName: 'OqElasticClusterProductionStack-ClusterEB0386A7-AbCdEfGh1234',
};

function shellcheck(script: string): { status: number | null; output: string } {
  const result = spawnSync('shellcheck', ['-s', 'bash', '-'], { input: script, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, output: result.stdout + result.stderr };
}

describe('master openquake.cfg', () => {
  const text = renderOpenquakeCfg(cfgOptions);
  const cfg = ini.parse(text) as Record<string, Record<string, string>>;

  it('parses as INI with every key of the classic cluster guide, set for this cluster', () => {
    expect(cfg.distribution).toMatchObject({ oq_distribute: 'celery', num_cores: '96' });
    expect(cfg.amqp).toEqual({
      host: '10.0.3.17',
      port: String(PORTS.amqp),
      user: 'openquake',
      password: 'Pw0rdFromSecretsManager1',
      vhost: 'openquake',
      celery_queue: 'celery',
    });
    expect(cfg.dbserver).toEqual({
      multi_user: true, // the ini package turns 'true' into a boolean
      file: '/var/lib/openquake/db.sqlite3',
      listen: '10.0.3.17',
      host: '10.0.3.17',
      port: String(PORTS.dbserver),
      receiver_ports: `${PORTS.receiverFrom}-${PORTS.receiverTo}`,
      authkey: 'AuthKeyFromSecretsManager2',
    });
    expect(cfg.directory).toEqual({ shared_dir: SHARED_DIR });
  });

  it('leaves [zworkers] host_cores empty, so the engine neither waits for nor shuts down the fleet', () => {
    expect(cfg.zworkers).toEqual({ host_cores: '' });
  });

  itWithPython("is read by Python's ConfigParser (with interpolation) as the engine reads it", async () => {
    const script = [
      'import configparser, json, sys',
      'p = configparser.ConfigParser()',
      'p.read_string(sys.stdin.read())',
      'print(json.dumps({s: dict(p.items(s)) for s in p.sections()}))',
    ].join('\n');
    const child = spawnSync(PYTHON, ['-c', script], { input: text, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const parsed = JSON.parse(child.stdout) as Record<string, Record<string, string>>;
    expect(parsed.amqp?.password).toBe('Pw0rdFromSecretsManager1');
    expect(parsed.zworkers?.host_cores).toBe('');
    expect(parsed.distribution?.num_cores).toBe('96');
  });

  it('rejects a num_cores that is not a positive integer, naming the value', () => {
    expect(() => renderOpenquakeCfg({ ...cfgOptions, numCores: 0 })).toThrow(/numCores=0 is invalid/);
    expect(() => renderOpenquakeCfg({ ...cfgOptions, numCores: 2.5 })).toThrow(/numCores=2.5/);
  });

  it("rejects values ConfigParser would misread ('%' interpolation, whitespace)", () => {
    expect(() => renderOpenquakeCfg({ ...cfgOptions, amqpPassword: 'a%b' })).toThrow(/amqpPassword/);
    expect(() => renderOpenquakeCfg({ ...cfgOptions, dbserverAuthkey: '' })).toThrow(/dbserverAuthkey/);
  });
});

describe('master rabbitmq.conf', () => {
  it('raises consumer_timeout to 24 hours, emits statistics every second and sets the listeners', () => {
    const conf = renderRabbitmqConf();
    const lines = conf.split('\n').filter((line) => line && !line.startsWith('#'));
    expect(Object.fromEntries(lines.map((line) => line.split(' = ')))).toEqual({
      'listeners.tcp.default': '5672',
      'management.tcp.port': '15672',
      'loopback_users.guest': 'true',
      consumer_timeout: String(24 * 3600 * 1000),
      collect_statistics_interval: '1000',
      'disk_free_limit.absolute': '1GB',
    });
    expect(DEFAULT_CONSUMER_TIMEOUT_MS).toBeGreaterThan(1_800_000);
  });

  it('takes another timeout and rejects one below a minute', () => {
    expect(renderRabbitmqConf({ consumerTimeoutMs: 7_200_000 })).toContain('consumer_timeout = 7200000\n');
    expect(() => renderRabbitmqConf({ consumerTimeoutMs: 1000 })).toThrow(
      /consumerTimeoutMs=1000 is invalid/,
    );
  });
});

describe('master systemd units', () => {
  it('runs the DbServer in the foreground as openquake, and the WebUI bound to the host its EnvironmentFile names', () => {
    const units = renderMasterUnits();
    expect(units['openquake-dbserver.service']).toMatch(/^User=openquake$/m);
    expect(units['openquake-dbserver.service']).toMatch(
      /^ExecStart=\/opt\/openquake\/venv\/bin\/oq dbserver start -f$/m,
    );
    // The bind host comes from the file the settings applier writes, never from the rendered unit itself.
    expect(units['openquake-webui.service']).toMatch(
      /^ExecStart=\/opt\/openquake\/venv\/bin\/gunicorn --chdir \/etc\/openquake\/webui --bind \$\{OQ_WEBUI_HOST\}:8800 .*oq_elastic_wsgi:application$/m,
    );
    expect(units['openquake-webui.service']).toMatch(/^EnvironmentFile=\/etc\/openquake\/webui\.env$/m);
    expect(units['openquake-webui.service']).toMatch(/^WorkingDirectory=\/etc\/openquake\/webui$/m);
    expect(units['openquake-webui.service']).not.toMatch(/oq webui start|runserver|127\.0\.0\.1/);
  });
  it('writes the WebUI EnvironmentFile where the settings applier writes it', () => {
    expect(APPLY_SETTINGS_SCRIPT).toContain(`'${WEBUI_ENV_FILE}'`);
  });
});

describe('master WebUI settings (engine 3.11.5 local_settings.py)', () => {
  const text = renderWebUiLocalSettings();
  it('locks the WebUI down: LOCKDOWN on, DEBUG off, hosts limited, same-site cookies', () => {
    expect(text).toMatch(/^LOCKDOWN = True$/m);
    expect(text).toMatch(/^DEBUG = False$/m);
    expect(text).toMatch(/^ALLOWED_HOSTS = \['localhost', '127\.0\.0\.1', socket\.gethostbyname/m);
    expect(text).toMatch(/^SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = 'Strict'$/m);
  });
  itWithPython(
    "reads SECRET_KEY from the file generated on the instance, never the engine's published one",
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'oqe-webui-'));
      try {
        writeFileSync(join(dir, 'local_settings.py'), text);
        writeFileSync(join(dir, 'secret_key'), 'generated-on-the-instance\n');
        const probe = spawnSync(
          PYTHON,
          ['-c', 'import local_settings as s; print(s.SECRET_KEY, s.LOCKDOWN, s.DEBUG)'],
          { cwd: dir, encoding: 'utf8' },
        );
        expect(probe.stderr).toBe('');
        expect(probe.stdout.trim()).toBe('generated-on-the-instance True False');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('master boot script', () => {
  const script = renderBootScript(bootOptions);

  it('passes shellcheck, with and without compilers', () => {
    const full = shellcheck(script);
    expect(full.output).toBe('');
    expect(full.status).toBe(0);
    expect(shellcheck(renderBootScript({ ...bootOptions, buildFromSource: false })).status).toBe(0);
  });

  it('embeds a provisioning script that passes shellcheck', async () => {
    const { stdout } = await run('shellcheck', [`${REPO_ROOT}cdk/assets/master/provision-rabbitmq.sh`]);
    expect(stdout).toBe('');
    expect(script).toContain(stripComments(PROVISION_RABBITMQ_SCRIPT).trimEnd());
  });

  it('fits in the 16 KB that EC2 allows for user-data (before base64), its body compressed', () => {
    const userData = renderMasterUserData(bootOptions);
    expect(Buffer.byteLength(userData)).toBeLessThan(16 * 1024);
    // Room to grow: the plain script alone would not fit.
    expect(Buffer.byteLength(userData)).toBeLessThan(Buffer.byteLength(script) * 0.6);
    expect(userData).toContain(`METRICS_CLUSTER='${bootOptions.metricsClusterName}'`);
    const check = shellcheck(userData);
    expect(check.output).toBe('');
  });

  it('user-data unpacks, with bash and python3 (base85, zlib), to exactly the body of the plain script', () => {
    const userData = renderMasterUserData(bootOptions);
    const header = script.slice(0, script.indexOf('shopt -s inherit_errexit'));
    expect(userData.replace('# shellcheck disable=SC2034\n', '').startsWith(header)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'oqe-master-userdata-'));
    try {
      const unpacked = join(dir, 'body.sh');
      // Run the user-data itself, up to the point where it would source the body.
      const runnable = userData.replaceAll(UNPACKED_BODY, unpacked).replace(/^source .*$/m, 'echo unpacked');
      const result = spawnSync('bash', ['-c', runnable], { encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('unpacked\n');
      expect(header + readFileSync(unpacked, 'utf8')).toBe(script);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("installs the CloudWatch agent with the dashboard's configuration (memory, the three volumes' disks)", () => {
    expect(script).toContain(
      `cat >${CLOUDWATCH_AGENT_CONFIG} <<'OQ_ELASTIC_EOF'\n${JSON.stringify(
        masterAgentConfig(['/', '/var/lib/rabbitmq', '/var/lib/openquake']),
      )}\nOQ_ELASTIC_EOF`,
    );
    expect(script).toMatch(/if \[\[ ! -x \$CWA \]\]; then\n\s+curl -sSfo \/run\/cwa.deb/); // installed once
    expect(script).toContain('$(dpkg --print-architecture)/latest/amazon-cloudwatch-agent.deb');
    expect(script).toContain(`"$CWA" -a fetch-config -m ec2 -s -c file:${CLOUDWATCH_AGENT_CONFIG}`);
  });

  it.skipIf(!HAS_SYSTEMD_ANALYZE && !requireServices())(
    "the publisher's service and timer pass systemd-analyze verify (skipped outside CI without systemd)",
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'oqe-master-units-'));
      try {
        // verify checks only that ExecStart is an executable file: node's own binary stands in for the
        // master's python, so this test needs no .venv; every other line as rendered.
        const units = renderCalculationsMetricUnits({
          clusterName: 'c-1',
          region: 'eu-west-1',
          python: process.execPath,
        });
        const files = Object.entries(units).map(([name, content]) => {
          writeFileSync(join(dir, name), content);
          return join(dir, name);
        });
        const result = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8' });
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
        // It can fail: a mistyped key is reported.
        writeFileSync(
          files[1]!,
          units['oq-calculations-metric.timer'].replace('OnUnitActiveSec', 'OnUnitActivSec'),
        );
        const typo = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8' });
        expect(typo.stderr).toMatch(/Unknown key 'OnUnitActivSec'/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('installs the CalculationsExecuting publisher and a timer that runs it every minute', () => {
    expect(script).toContain(stripComments(CALCULATIONS_METRIC_SCRIPT).trimEnd());
    expect(script).toMatch(/^OnUnitActiveSec=60$/m);
    expect(script).toMatch(/^Environment=OQ_METRIC_DIMENSION_VALUE=@OQ_METRICS_CLUSTER@$/m);
    expect(script).toContain(
      'sed -e "s/@OQ_METRICS_CLUSTER@/$METRICS_CLUSTER/" -e "s/@OQ_REGION@/$REGION/" ' +
        '/etc/openquake/oq-calculations-metric.service.in >/etc/systemd/system/oq-calculations-metric.service',
    );
    expect(script).toMatch(/^systemctl enable oq-calculations-metric\.timer$/m);
    const without = renderBootScript({ ...bootOptions, metricsClusterName: undefined });
    expect(without).not.toContain('oq-calculations-metric');
    expect(without).toContain('amazon-cloudwatch-agent-ctl');
  });

  it('provisions the workers their own broker user, from its secret', () => {
    // By name, derived from the stack name (no ARN in the 16 KB of user-data).
    expect(script).toMatch(/^OQ_WORKER_PASSWORD=\$\(secret "\$STACK_NAME-oq-worker-broker" password\)$/m);
    expect(script).toMatch(/OQ_WORKER_PASSWORD="\$OQ_WORKER_PASSWORD"/);
  });

  it('keeps every user but root and the metrics user off IMDS, before any engine unit starts', () => {
    // Ubuntu's nftables.service loads /etc/nftables.conf at every boot, before the network and the engine units.
    expect(IMDS_GUARD_RULES).toBe('/etc/nftables.conf');
    expect(script).toMatch(/^systemctl enable nftables$/m);
    const rules = renderImdsGuardRules('998');
    expect(rules).toMatch(/ip daddr 169\.254\.169\.254 meta skuid != 0 meta skuid != 998 counter reject/);
    expect(script.indexOf('systemctl restart nftables')).toBeLessThan(
      script.indexOf('systemctl restart openquake-dbserver.service'),
    );
    const metrics = renderCalculationsMetricUnits({ clusterName: 'c', region: 'r', python: '/p' });
    expect(metrics['oq-calculations-metric.service']).toMatch(/^User=oq-metrics$/m);
    expect(metrics['oq-calculations-metric.service']).toMatch(/^SupplementaryGroups=openquake$/m);
    expect(metrics['oq-calculations-metric.service']).not.toMatch(/^User=openquake$/m);
  });

  it('runs the WebUI locked down: generated SECRET_KEY, migrated auth tables, admin from its secret', () => {
    expect(script).toMatch(/secrets\.token_urlsafe\(50\)/);
    expect(script).toContain('openquake.server.manage migrate --noinput');
    expect(script).toMatch(/^OQ_WEBUI_ADMIN_PASSWORD=\$\(secret "\$STACK_NAME-oq-webui-admin" password\)$/m);
    expect(script).toContain(WEBUI_SERVER_PACKAGE);
    // The settings applier starts the WebUI when the settings turn it on: the boot never starts it itself.
    expect(script).toContain('systemctl try-restart openquake-webui.service');
    expect(script).not.toMatch(/systemctl (restart|start) [^\n]*openquake-webui/);
    // Where it listens is a run-time setting: no bind address in the boot script.
    expect(script).toMatch(/--bind \$\{OQ_WEBUI_HOST\}:8800 /);
    expect(script).not.toMatch(/--bind (127\.0\.0\.1|@OQ_MASTER_HOST@)/);
  });

  it('holds no secret value: it reads the secrets by ARN at boot', () => {
    expect(script).toContain(`BROKER_SECRET_ARN='${bootOptions.brokerSecretArn}'`);
    expect(script).toMatch(/secret "\$BROKER_SECRET_ARN" password/);
    expect(script).toMatch(/secret "\$AUTHKEY_SECRET_ARN" authkey/);
    expect(script).toContain('password = @OQ_AMQP_PASSWORD@');
    expect(script).not.toMatch(/changeme|guest:guest|password = (?!@)/);
  });

  it('never starts a celery worker on the master, and never with --purge', () => {
    expect(script).not.toMatch(/--purge|celery worker|celery -A/);
  });

  it("installs the engine patches into the engine venv's site-packages, from their SSM parameter, with a .pth that imports them", () => {
    expect(ENGINE_PATCHES_MODULE).toMatch(/def patch_parallel_module/);
    // The parameter carries the module packed; the master's python3 unpacks it to the code without whole-line
    // comments, byte for byte.
    const packed = enginePatchesParameterText();
    expect(packed.length).toBeLessThanOrEqual(4096);
    const unpacked = spawnSync('python3', ['-c', UNPACK_PYTHON], { input: `${packed}\n`, encoding: 'utf8' });
    expect(unpacked.stderr).toBe('');
    expect(unpacked.stdout).toBe(stripComments(ENGINE_PATCHES_MODULE));
    // The user-data no longer carries the module itself, only the parameter's name and the module's digest.
    expect(script).not.toContain('def patch_parallel_module');
    expect(script).toContain(`PATCHES_PARAMETER='${bootOptions.enginePatchesParameterName}'`);
    expect(script).toMatch(
      /aws" ssm get-parameter --name "\$PATCHES_PARAMETER" --query Parameter.Value --output text \|/,
    );
    const digest = createHash('sha256').update(unpacked.stdout).digest('hex');
    expect(script).toContain(
      `echo "${digest}  $site/oq_elastic_engine_patches.py.new" | sha256sum -c --quiet`,
    );
    expect(script).toMatch(/site=\$\("\$VENV\/bin\/python" -c .*purelib/);
    expect(script).toContain(
      'mv "$site/oq_elastic_engine_patches.py.new" "$site/oq_elastic_engine_patches.py"',
    );
    expect(script).toContain(
      `cat >"$site/oq-elastic-engine-patches.pth" <<'OQ_ELASTIC_EOF'\n${ENGINE_PATCHES_PTH}`,
    );
  });

  it('pins the engine release and Python from contract/engine-release.json', () => {
    expect(script).toContain(`ENGINE_VERSION='${ENGINE_RELEASE.engine}'`);
    expect(script).toContain(`PYTHON_VERSION='${ENGINE_RELEASE.python}'`);
    expect(script).toContain(`CELERY_VERSION='${ENGINE_RELEASE.celery}'`);
  });

  it('guards every step that a second boot would otherwise duplicate', () => {
    for (const guard of [
      /elif \[\[ "\$label" != "\$2" \]\]; then/, // never reformats a labelled data volume
      /grep -q "\^LABEL=\$2 " "\$fstab" \|\|/, // one fstab line per volume
      /"in-use:\$INSTANCE_ID"\) return 0 ;;/, // a volume already attached here is left alone
      /grep -q " \/opt\/openquake\/shared efs " \/etc\/fstab \|\|/, // one fstab line for shared_dir
      /getent group openquake >\/dev\/null \|\| groupadd -g 1200 openquake/,
      /id openquake >\/dev\/null 2>&1 \|\|\n\s+useradd -u 1200/,
      /\[\[ -x "\$VENV\/bin\/python" \]\] \|\|/,
      /\[\[ "\$venv_python" == "\$PYTHON_VERSION" \]\] \|\| rm -rf "\$VENV"/, // a new Python gets a new venv
      /if \[\[ "\$installed" != "\$ENGINE_VERSION \$CELERY_VERSION" \]\]/,
      /mountpoint -q "\$3" \|\| mount/,
    ]) {
      expect(script).toMatch(guard);
    }
    expect(script).toContain('/var/lib/cloud/scripts/per-boot/oq-master-boot');
  });

  it('signals CloudFormation on success and on any failure', () => {
    expect(script).toMatch(/trap 'on_error \$\? \$LINENO' ERR/);
    expect(script).toMatch(/signal SUCCESS "master ready"\n$/);
    expect(script).toContain(`LOGICAL_ID='${bootOptions.logicalId}'`);
  });

  it('turns swap off and keeps it off', () => {
    expect(script).toMatch(/^swapoff -a$/m);
  });

  it('installs compilers only where wheels are missing (arm64)', () => {
    expect(script).toContain('gfortran');
    expect(renderBootScript({ ...bootOptions, buildFromSource: false })).not.toContain('gfortran');
  });

  it("fills openquake.cfg for real with the script's own fill(): values from the environment, mode 0640", () => {
    const fill = /^fill\(\) \{[\s\S]*?^\}$/m.exec(script)?.[0];
    const template =
      /cat >\/etc\/openquake\/openquake\.cfg\.in <<'OQ_ELASTIC_EOF'\n([\s\S]*?)\nOQ_ELASTIC_EOF/.exec(
        script,
      )?.[1];
    expect(fill).toBeDefined();
    expect(template).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'oqe-master-fill-'));
    try {
      writeFileSync(join(dir, 'openquake.cfg.in'), `${template}\n`);
      // The one change: this machine has no `openquake` group, so the file goes to root's.
      const body = `${fill?.replace('root:openquake', 'root:root')}\nfill "$1/openquake.cfg.in" "$1/openquake.cfg" 0640`;
      // stdin not a socket: bash run with a socket on stdin (node's default pipes) and a low SHLVL takes itself
      // for a remote shell and sources /etc/bash.bashrc, which fails under -u ("PS1: unbound variable").
      const result = spawnSync('bash', ['-euo', 'pipefail', '-c', body, 'fill-test', dir], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          MASTER_HOST: '10.1.2.3',
          OQ_AMQP_PASSWORD: 'Abc123FromTheBrokerSecret',
          OQ_DBSERVER_AUTHKEY: 'Xyz789FromTheAuthkeySecret',
        },
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const cfgFile = join(dir, 'openquake.cfg');
      expect(statSync(cfgFile).mode & 0o777).toBe(0o640);
      const filled = ini.parse(readFileSync(cfgFile, 'utf8')) as Record<string, Record<string, unknown>>;
      expect(filled.amqp).toMatchObject({ host: '10.1.2.3', password: 'Abc123FromTheBrokerSecret' });
      expect(filled.dbserver).toMatchObject({
        listen: '10.1.2.3',
        host: '10.1.2.3',
        authkey: 'Xyz789FromTheAuthkeySecret',
      });
      expect(readFileSync(cfgFile, 'utf8')).not.toContain('@OQ_');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
