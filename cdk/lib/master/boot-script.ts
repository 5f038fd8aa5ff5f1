import { readFileSync } from 'node:fs';
import { Token } from 'aws-cdk-lib';
import { OPENQUAKE_GID, OPENQUAKE_UID, SHARED_DIR } from '../../../contract/cluster-constants.ts';
import { masterAgentConfig } from '../dashboard/master-agent-metrics.ts';
import {
  CALCULATIONS_METRIC_SCRIPT,
  CALCULATIONS_METRIC_SCRIPT_PATH,
  renderCalculationsMetricUnits,
} from './calculations-metric.ts';
import { IMDS_GUARD_RULES, METRICS_USER, renderImdsGuardRules } from './imds-guard.ts';
import { SECRET_NAME_SUFFIX, WEBUI_ADMIN_USER } from '../secrets/cluster-secrets.ts';
import { DATABASE_DIR, renderOpenquakeCfg } from './openquake-cfg.ts';
import {
  APPLY_SETTINGS_SCRIPT,
  APPLY_SETTINGS_SCRIPT_PATH,
  renderApplySettingsUnits,
} from './master-settings.ts';
import { RABBITMQ_ENABLED_PLUGINS, renderRabbitmqConf } from './rabbitmq-conf.ts';
import { ENGINE_VENV, renderMasterUnits } from './systemd-units.ts';
import {
  renderWebUiLocalSettings,
  WEBUI_ADMIN_COMMAND,
  WEBUI_DIR,
  WEBUI_SERVER_PACKAGE,
  WEBUI_WSGI_MODULE,
} from './webui.ts';
import { CALCULATION_EVENTS_SCRIPT_PATH, renderCalculationEventsUnit } from './calculation-events.ts';
import { ENGINE_PATCHES_PTH, enginePatchesDigest } from './engine-patches.ts';
import { packText, stripComments, UNPACK_PYTHON } from './packed-text.ts';

const ASSETS = new URL('../../assets/master/', import.meta.url);

/** The RabbitMQ provisioning script, embedded in the boot script and run for real by the integration test. */
export const PROVISION_RABBITMQ_SCRIPT = readFileSync(new URL('provision-rabbitmq.sh', ASSETS), 'utf8');
/** Versions of the engine's dependencies on the master (Python 3.8). */
export const ENGINE_CONSTRAINTS = readFileSync(new URL('engine-constraints-py38.txt', ASSETS), 'utf8');
/** The data volumes' mount logic (a bash function), embedded in the boot script and run for real by a test. */
export const MOUNT_DATA_VOLUME_SCRIPT = readFileSync(new URL('mount-data-volume.sh', ASSETS), 'utf8');

/** EBS device names under which the boot attaches the master's data volumes, their labels and mount points. */
export const DATA_VOLUMES = {
  rabbitmq: { deviceName: '/dev/sdf', mountPoint: '/var/lib/rabbitmq', label: 'oq-rabbitmq' },
  database: { deviceName: '/dev/sdg', mountPoint: DATABASE_DIR, label: 'oq-database' },
} as const;

/**
 * Pinned tools the boot installs from source or the Python package index, outside the engine's environment.
 * amazon-efs-utils is not packaged for Ubuntu; 1.36.0 is the last release before the mount helper needed a
 * Rust toolchain to build (aws/efs-utils release notes for 2.0.0).
 */
export const BOOT_TOOLS = { awscli: '1.36.40', uv: '0.5.31', efsUtils: 'v1.36.0' } as const;

/** The ids and names the boot script needs; in the stack they are CloudFormation tokens. */
export interface BootScriptOptions {
  readonly region: string;
  readonly stackName: string;
  /** Logical id of the instance, which carries the CreationPolicy the script signals. */
  readonly logicalId: string;
  readonly brokerSecretArn: string;
  readonly bridgeBrokerSecretArn: string;
  readonly dbserverAuthkeySecretArn: string;
  readonly fileSystemId: string;
  readonly accessPointId: string;
  readonly engine: { readonly engine: string; readonly python: string; readonly celery: string };
  /** The SSM parameter with the run-time settings (num_cores, WebUI): applied at boot and every minute. */
  readonly settingsParameterName: string;
  /**
   * The SSM parameter that carries the calculation events publisher (too big for the 16 KB user-data):
   * fetched at boot and installed as oq-calculation-events.
   */
  readonly calculationEventsParameterName: string;
  /**
   * The SSM parameter that carries the engine patches module, packed (too big for the 16 KB user-data): fetched
   * at boot into the engine venv.
   */
  readonly enginePatchesParameterName: string;
  /** The EBS volumes (separate resources) that the boot attaches to this instance, taking them over if needed. */
  readonly dataVolumeIds: { readonly rabbitmq: string; readonly database: string };
  /** @default DEFAULT_CONSUMER_TIMEOUT_MS */
  readonly consumerTimeoutMs?: number;
  /** Install compilers and libraries for the dependencies that have no Python 3.8 wheel on this CPU. */
  readonly buildFromSource: boolean;
  /**
   * The `Cluster` dimension (the worker ECS cluster's name) of the CalculationsExecuting metric that a timer
   * publishes every minute. @default - the metric is not published
   */
  readonly metricsClusterName?: string;
}

/** Where the boot script writes the CloudWatch agent's configuration. */
export const CLOUDWATCH_AGENT_CONFIG = '/etc/openquake/cloudwatch-agent.json';

const DELIMITER = 'OQ_ELASTIC_EOF';
/** Where the user-data unpacks the boot script's body before sourcing it. */
export const UNPACKED_BODY = '/run/oq-master-boot-body.sh';

export { stripComments } from './packed-text.ts';

/** A here-document that writes `content` to `path` verbatim (quoted delimiter: no expansion). */
function writeFile(path: string, content: string, mode: string): string {
  const delimiter = DELIMITER;
  if (content.includes(delimiter)) throw new Error(`content for ${path} contains the here-doc delimiter`);
  return [
    `install -D -m ${mode} /dev/null ${path}`,
    `cat >${path} <<'${delimiter}'`,
    content.endsWith('\n') ? content.slice(0, -1) : content,
    delimiter,
  ].join('\n');
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The WebUI's files (local_settings.py, its SECRET_KEY generated once on the instance, the WSGI module) and its
 * server, gunicorn, in the engine's venv. Runs after openquake.cfg is written, before the units restart.
 */
function renderWebUiSetup(): string {
  return [
    `install -d -m 0750 -o root -g openquake ${WEBUI_DIR}`,
    `[[ -s ${WEBUI_DIR}/secret_key ]] || python3 -c 'import secrets; print(secrets.token_urlsafe(50))' >${WEBUI_DIR}/secret_key`,
    `chown root:openquake ${WEBUI_DIR}/secret_key && chmod 0640 ${WEBUI_DIR}/secret_key`,
    writeFile(`${WEBUI_DIR}/local_settings.py`, renderWebUiLocalSettings(), '0644'),
    writeFile(`${WEBUI_DIR}/oq_elastic_wsgi.py`, WEBUI_WSGI_MODULE, '0644'),
    '',
  ].join('\n');
}

/**
 * With LOCKDOWN the WebUI keeps users and sessions in the engine database: migrate it, then create or reset the
 * superuser from Secrets Manager (the password travels in the environment, never on a command line).
 */
function renderWebUiAdmin(): string {
  return [
    `(cd ${WEBUI_DIR} && runuser -u openquake -- "$VENV/bin/python" -m openquake.server.manage migrate --noinput)`,
    `OQ_WEBUI_ADMIN_PASSWORD=$(secret "$STACK_NAME${SECRET_NAME_SUFFIX.webUiAdmin}" password)`,
    `(cd ${WEBUI_DIR} && OQ_WEBUI_ADMIN_USER=${WEBUI_ADMIN_USER} OQ_WEBUI_ADMIN_PASSWORD="$OQ_WEBUI_ADMIN_PASSWORD" \\`,
    `  runuser -u openquake -- "$VENV/bin/python" -m openquake.server.manage shell -c ${shellQuote(WEBUI_ADMIN_COMMAND)})`,
    // The settings applier starts the WebUI when it is on; a running one picks up a changed password.
    'systemctl try-restart openquake-webui.service',
    '',
  ].join('\n');
}

/**
 * Renders the master's boot script, as its header (deploy-time values) and body: bash that converges the instance to a working master and signals
 * the result to CloudFormation. It installs itself as a cloud-init per-boot script that re-reads the current
 * user-data, so every boot re-runs it: every step is idempotent (existing file systems, users, fstab lines,
 * venvs and RabbitMQ users are detected and kept, files are rewritten whole).
 *
 * Secrets never appear in it: it reads them from Secrets Manager by ARN, hands the RabbitMQ passwords to
 * rabbitmqctl on stdin and writes them only into root:openquake 0640 files.
 */
function renderBootParts(options: BootScriptOptions): { header: string; body: string } {
  const { engine } = options;
  const cfg = renderOpenquakeCfg({
    masterHost: '@OQ_MASTER_HOST@',
    amqpPassword: '@OQ_AMQP_PASSWORD@',
    dbserverAuthkey: '@OQ_DBSERVER_AUTHKEY@',
    // The settings applier sets the real value right after (from the settings parameter), before any start.
    numCores: 1,
  });
  // The WebUI's unit is always written; the settings applier enables or disables it.
  const units = renderMasterUnits();
  const settingsUnits = renderApplySettingsUnits(
    '@OQ_SETTINGS_PARAMETER@',
    '@OQ_REGION@',
    '/opt/oq-tools/bin/python',
  );
  const metricUnits =
    options.metricsClusterName === undefined
      ? undefined
      : renderCalculationsMetricUnits({
          clusterName: '@OQ_METRICS_CLUSTER@',
          region: '@OQ_REGION@',
          python: '/opt/oq-tools/bin/python',
        });
  const agentConfig = masterAgentConfig([
    '/',
    DATA_VOLUMES.rabbitmq.mountPoint,
    DATA_VOLUMES.database.mountPoint,
  ]);
  const vars: Record<string, string> = {
    REGION: options.region,
    STACK_NAME: options.stackName,
    LOGICAL_ID: options.logicalId,
    BROKER_SECRET_ARN: options.brokerSecretArn,
    BRIDGE_SECRET_ARN: options.bridgeBrokerSecretArn,
    AUTHKEY_SECRET_ARN: options.dbserverAuthkeySecretArn,
    FILE_SYSTEM_ID: options.fileSystemId,
    ACCESS_POINT_ID: options.accessPointId,
    SETTINGS_PARAMETER: options.settingsParameterName,
    EVENTS_PARAMETER: options.calculationEventsParameterName,
    PATCHES_PARAMETER: options.enginePatchesParameterName,
    RABBITMQ_VOLUME_ID: options.dataVolumeIds.rabbitmq,
    DATABASE_VOLUME_ID: options.dataVolumeIds.database,
    ENGINE_VERSION: engine.engine,
    PYTHON_VERSION: engine.python,
    CELERY_VERSION: engine.celery,
    ...(options.metricsClusterName === undefined ? {} : { METRICS_CLUSTER: options.metricsClusterName }),
  };
  const buildPackages = options.buildFromSource
    ? ' gfortran libopenblas-dev liblapack-dev libhdf5-dev libgeos-dev libproj-dev proj-bin libfreetype-dev libpng-dev'
    : '';

  // The comments are for readers of this file: the rendered script drops them to stay far below 16 KB.
  // The header holds every deploy-time value (CloudFormation tokens); the body is the same for every stack, so
  // the user-data can carry it compressed (renderMasterUserData).
  const header = `#!/bin/bash
# oq-elastic master boot (user-data; re-run at every boot from cloud-init's per-boot scripts).
set -Eeuo pipefail
${Object.entries(vars)
  .map(([name, value]) => `${name}=${shellQuote(value)}`)
  .join('\n')}
`;
  const body = `shopt -s inherit_errexit
umask 022
exec >>/var/log/oq-master-boot.log 2>&1
echo "=== oq-master-boot $(date -Is)"

TOOLS=/opt/oq-tools
VENV=${ENGINE_VENV}
export DEBIAN_FRONTEND=noninteractive AWS_DEFAULT_REGION="$REGION"

signal() { # SUCCESS|FAILURE reason
  [[ -x "$TOOLS/bin/aws" ]] || return 0
  "$TOOLS/bin/aws" cloudformation signal-resource --stack-name "$STACK_NAME" --logical-resource-id "$LOGICAL_ID" \\
    --unique-id "$INSTANCE_ID" --status "$1" ||
    echo "signal $1 not accepted (normal after the first boot): $2"
}
INSTANCE_ID=unknown
on_error() { # exit-code line
  echo "FAILED at line $2 (exit $1)"
  signal FAILURE "boot failed at line $2, see /var/log/oq-master-boot.log"
  exit "$1"
}
trap 'on_error $? $LINENO' ERR

imds() { # path: IMDSv2 only (the instance requires tokens)
  local token
  token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
  curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"
}
INSTANCE_ID=$(imds meta-data/instance-id)
MASTER_HOST=$(imds meta-data/local-ipv4)

# Every later boot re-runs the current user-data (a changed user-data arrives with a stop/start).
install -D -m 0700 /dev/null /var/lib/cloud/scripts/per-boot/oq-master-boot
cat >/var/lib/cloud/scripts/per-boot/oq-master-boot <<'OQ_ELASTIC_EOF'
#!/bin/bash
set -euo pipefail
token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/user-data >/run/oq-master-boot.sh
exec bash /run/oq-master-boot.sh
OQ_ELASTIC_EOF

# No swap (classic guide): a swapping master stalls every calculation.
swapoff -a
sed -i -E '/\\sswap\\s/d' /etc/fstab

# unattended-upgrades holds the dpkg lock on a fresh Ubuntu instance for minutes: wait for it.
apt_get() { apt-get -o DPkg::Lock::Timeout=900 "$@"; }
apt_get update -q
apt_get install -y -q --no-install-recommends python3-venv build-essential git binutils stunnel4 nfs-common \\
  ca-certificates curl nftables${buildPackages}

if [[ ! -x "$TOOLS/bin/uv" ]]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q 'awscli==${BOOT_TOOLS.awscli}' 'uv==${BOOT_TOOLS.uv}'
fi

secret() { # arn key: prints one key of a JSON secret; alphanumeric only (it goes into URLs and INI files)
  local value
  value=$("$TOOLS/bin/aws" secretsmanager get-secret-value --secret-id "$1" --query SecretString --output text |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2")
  if [[ ! "$value" =~ ^[A-Za-z0-9]{16,}$ ]]; then
    echo "secret $1 key '$2' must be 16+ letters and digits (generate it with excludePunctuation)" >&2
    return 1
  fi
  printf '%s' "$value"
}

# Data volumes: separate EBS volumes that outlive any instance. Attach them to this one; a replacement finds
# them on its predecessor, stops it (a clean shutdown of its RabbitMQ and DbServer) and takes them over.
attach_volume() { # volume-id sdX
  local state owner
  for _ in $(seq 90); do
    read -r state owner < <("$TOOLS/bin/aws" ec2 describe-volumes --volume-ids "$1" \
      --query 'Volumes[0].[State, Attachments[0].InstanceId]' --output text)
    case "$state:$owner" in
    "in-use:$INSTANCE_ID") return 0 ;;
    available:*) "$TOOLS/bin/aws" ec2 attach-volume --volume-id "$1" --instance-id "$INSTANCE_ID" --device "/dev/$2" >/dev/null || true ;;
    in-use:i-*)
      echo "volume $1 is on the previous master $owner: stopping it and taking the volume over"
      "$TOOLS/bin/aws" ec2 stop-instances --instance-ids "$owner" >/dev/null || true
      "$TOOLS/bin/aws" ec2 wait instance-stopped --instance-ids "$owner" || true
      "$TOOLS/bin/aws" ec2 detach-volume --volume-id "$1" >/dev/null || true
      ;;
    esac
    sleep 10
  done
  echo "volume $1 did not attach (state $state, on $owner)" >&2
  return 1
}
volume_device() { # volume-id sdX: NVMe instances show the EBS device name only through the volume's serial
  local dev serial=\${1//-/} _
  for _ in $(seq 60); do
    for dev in "/dev/$2" "/dev/xvd\${2#sd}"; do [[ -b "$dev" ]] && { echo "$dev"; return; }; done
    dev=$(lsblk -dno NAME,SERIAL | awk -v s="$serial" '$2 == s { print $1 }')
    [[ -n "$dev" ]] && { echo "/dev/$dev"; return; }
    sleep 2
  done
  echo "no block device for $1 ($2)" >&2
  return 1
}
${stripComments(MOUNT_DATA_VOLUME_SCRIPT)}
attach_volume "$RABBITMQ_VOLUME_ID" ${DATA_VOLUMES.rabbitmq.deviceName.slice(5)}
attach_volume "$DATABASE_VOLUME_ID" ${DATA_VOLUMES.database.deviceName.slice(5)}
mount_volume "$(volume_device "$RABBITMQ_VOLUME_ID" ${DATA_VOLUMES.rabbitmq.deviceName.slice(5)})" ${DATA_VOLUMES.rabbitmq.label} ${DATA_VOLUMES.rabbitmq.mountPoint}
mount_volume "$(volume_device "$DATABASE_VOLUME_ID" ${DATA_VOLUMES.database.deviceName.slice(5)})" ${DATA_VOLUMES.database.label} ${DATA_VOLUMES.database.mountPoint}

# The openquake user and group: the same ids as in the worker image and on the EFS access point.
getent group openquake >/dev/null || groupadd -g ${OPENQUAKE_GID} openquake
id openquake >/dev/null 2>&1 ||
  useradd -u ${OPENQUAKE_UID} -g openquake -M -d ${DATABASE_DIR} -s /bin/bash -c 'OpenQuake Engine' openquake
chown openquake:openquake ${DATABASE_DIR}
chmod 0750 ${DATABASE_DIR}

# Instance credentials for root only (the SSM and CloudWatch agents, this script) and the metrics timer's user:
# calculation code runs as openquake and must not reach IMDS. The rule is loaded before any engine unit starts.
getent passwd ${METRICS_USER} >/dev/null ||
  useradd --system --user-group -M -d /nonexistent -s /usr/sbin/nologin -G openquake ${METRICS_USER}
${writeFile(IMDS_GUARD_RULES, renderImdsGuardRules('@OQ_METRICS_UID@'), '0644')}
sed -i "s/@OQ_METRICS_UID@/$(id -u ${METRICS_USER})/" ${IMDS_GUARD_RULES}
systemctl enable nftables
systemctl restart nftables

# RabbitMQ: configured before the package's first start; a fixed node name keeps its data valid on any host.
getent passwd rabbitmq >/dev/null ||
  useradd --system --user-group -M -d /var/lib/rabbitmq -s /usr/sbin/nologin rabbitmq
chown rabbitmq:rabbitmq /var/lib/rabbitmq
${writeFile('/etc/rabbitmq/rabbitmq.conf', renderRabbitmqConf({ consumerTimeoutMs: options.consumerTimeoutMs }), '0644')}
${writeFile('/etc/rabbitmq/rabbitmq-env.conf', 'NODENAME=rabbit@localhost\n', '0644')}
${writeFile('/etc/rabbitmq/enabled_plugins', RABBITMQ_ENABLED_PLUGINS, '0644')}
apt_get install -y -q -o Dpkg::Options::=--force-confold rabbitmq-server
systemctl enable rabbitmq-server
systemctl restart rabbitmq-server
rabbitmqctl -q await_startup

${writeFile('/usr/local/sbin/oq-provision-rabbitmq', stripComments(PROVISION_RABBITMQ_SCRIPT), '0700')}
OQ_AMQP_PASSWORD=$(secret "$BROKER_SECRET_ARN" password)
OQ_WORKER_PASSWORD=$(secret "$STACK_NAME${SECRET_NAME_SUFFIX.workerBroker}" password)
OQ_BRIDGE_PASSWORD=$(secret "$BRIDGE_SECRET_ARN" password)
OQ_DBSERVER_AUTHKEY=$(secret "$AUTHKEY_SECRET_ARN" authkey)
OQ_AMQP_PASSWORD="$OQ_AMQP_PASSWORD" OQ_WORKER_PASSWORD="$OQ_WORKER_PASSWORD" OQ_BRIDGE_PASSWORD="$OQ_BRIDGE_PASSWORD" \\
  OQ_CONSUMER_TIMEOUT_MS="$(sed -n 's/^consumer_timeout = //p' /etc/rabbitmq/rabbitmq.conf)" \\
  /usr/local/sbin/oq-provision-rabbitmq

# shared_dir on EFS, read-write, through the access point with TLS and IAM.
if ! command -v mount.efs >/dev/null; then
  rm -rf /opt/oq-build/efs-utils
  git clone -q --depth 1 --branch "${BOOT_TOOLS.efsUtils}" https://github.com/aws/efs-utils /opt/oq-build/efs-utils
  (cd /opt/oq-build/efs-utils && ./build-deb.sh >/dev/null)
  apt_get install -y -q /opt/oq-build/efs-utils/build/amazon-efs-utils*.deb
fi
sed -i -E "s/^#?region = .*/region = $REGION/" /etc/amazon/efs/efs-utils.conf
mkdir -p ${SHARED_DIR}
grep -q " ${SHARED_DIR} efs " /etc/fstab ||
  echo "$FILE_SYSTEM_ID:/ ${SHARED_DIR} efs _netdev,noresvport,tls,iam,accesspoint=$ACCESS_POINT_ID 0 0" >>/etc/fstab
mountpoint -q ${SHARED_DIR} || mount ${SHARED_DIR}

# The engine, in its own Python (the release's, not the distribution's).
export UV_PYTHON_INSTALL_DIR=/opt/openquake/python UV_NO_CACHE=1
"$TOOLS/bin/uv" python install -q "$PYTHON_VERSION"
# A release with another Python (contract/engine-release.json) gets a fresh venv.
venv_python=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
[[ "$venv_python" == "$PYTHON_VERSION" ]] || rm -rf "$VENV"
[[ -x "$VENV/bin/python" ]] || "$TOOLS/bin/uv" venv -q --python "$PYTHON_VERSION" "$VENV"
installed=$("$VENV/bin/python" -c 'import openquake.baselib as b, celery, gunicorn; print(b.__version__, celery.__version__)' \\
  2>/dev/null || true)
if [[ "$installed" != "$ENGINE_VERSION $CELERY_VERSION" ]]; then
${writeFile('/opt/openquake/constraints.txt', stripComments(ENGINE_CONSTRAINTS), '0644')}
  # Without the [celery] extra: 3.11.5's metadata says celery<4.4, contract/engine-release.json pins the release we run.
  "$TOOLS/bin/uv" pip install -q --python "$VENV/bin/python" -c /opt/openquake/constraints.txt \\
    "openquake.engine==$ENGINE_VERSION" "celery==$CELERY_VERSION" setproctitle ${WEBUI_SERVER_PACKAGE}
fi
ln -sf "$VENV/bin/oq" /usr/local/bin/oq
# The engine fixes of docs/master.md ("Engine traps"), imported by every Python of the venv through a .pth file.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# The module comes packed from its SSM parameter; its digest here makes a change of the patches change this
# user-data (a stop/start that installs them), and catches a parameter another deploy has since rewritten.
"$TOOLS/bin/aws" ssm get-parameter --name "$PATCHES_PARAMETER" --query Parameter.Value --output text |
  python3 -c ${shellQuote(UNPACK_PYTHON)} >"$site/oq_elastic_engine_patches.py.new"
echo "${enginePatchesDigest()}  $site/oq_elastic_engine_patches.py.new" | sha256sum -c --quiet
mv "$site/oq_elastic_engine_patches.py.new" "$site/oq_elastic_engine_patches.py"
${writeFile('"$site/oq-elastic-engine-patches.pth"', ENGINE_PATCHES_PTH, '0644')}

# openquake.cfg and the units, with the boot-time values filled in (from the environment, never argv).
fill() { # template target mode
  OQ_MASTER_HOST="$MASTER_HOST" OQ_AMQP_PASSWORD="$OQ_AMQP_PASSWORD" OQ_DBSERVER_AUTHKEY="$OQ_DBSERVER_AUTHKEY" \\
    python3 -c 'import os, sys
text = open(sys.argv[1]).read()
for key in ("OQ_MASTER_HOST", "OQ_AMQP_PASSWORD", "OQ_DBSERVER_AUTHKEY"):
    text = text.replace("@" + key + "@", os.environ[key])
open(sys.argv[2] + ".new", "w").write(text)' "$1" "$2"
  chown root:openquake "$2.new"
  chmod "$3" "$2.new"
  mv "$2.new" "$2"
}
# The engine in a venv reads <venv>/openquake.cfg; /etc/openquake is where operators look for it.
${writeFile('/etc/openquake/openquake.cfg.in', cfg, '0600')}
fill /etc/openquake/openquake.cfg.in /etc/openquake/openquake.cfg 0640
ln -sf /etc/openquake/openquake.cfg "$VENV/openquake.cfg"

${Object.entries(units)
  .map(([name, content]) =>
    [
      writeFile(`/etc/openquake/${name}.in`, content, '0644'),
      `fill /etc/openquake/${name}.in /etc/systemd/system/${name} 0644`,
    ].join('\n'),
  )
  .join('\n')}
${renderWebUiSetup()}
# Run-time settings (num_cores, WebUI) from the settings parameter, now and every minute: a deploy that changes
# them never touches this user-data (master-settings.ts).
${writeFile(APPLY_SETTINGS_SCRIPT_PATH, stripComments(APPLY_SETTINGS_SCRIPT), '0755')}
${Object.entries(settingsUnits)
  .map(([name, content]) =>
    [
      writeFile(`/etc/openquake/${name}.in`, content, '0644'),
      `sed -e "s|@OQ_SETTINGS_PARAMETER@|$SETTINGS_PARAMETER|" -e "s/@OQ_REGION@/$REGION/" /etc/openquake/${name}.in >/etc/systemd/system/${name}`,
    ].join('\n'),
  )
  .join('\n')}
systemctl daemon-reload
systemctl enable openquake-dbserver.service oq-master-settings.timer
OQ_SETTINGS_PARAMETER="$SETTINGS_PARAMETER" /opt/oq-tools/bin/python ${APPLY_SETTINGS_SCRIPT_PATH}
systemctl restart openquake-dbserver.service oq-master-settings.timer

for _ in $(seq 60); do
  runuser -u openquake -- "$VENV/bin/oq" dbserver status | grep -q 'dbserver running' && break
  sleep 2
done
runuser -u openquake -- "$VENV/bin/oq" dbserver status | grep -q 'dbserver running'
${renderWebUiAdmin()}

# Calculation events for the bridge: the publisher comes from its SSM parameter.
/opt/oq-tools/bin/python -c 'import sys, botocore.session as b
p = b.get_session().create_client("ssm", region_name=sys.argv[1]).get_parameter(Name=sys.argv[2])
sys.stdout.write(p["Parameter"]["Value"])' "$REGION" "$EVENTS_PARAMETER" >${CALCULATION_EVENTS_SCRIPT_PATH}
chmod 0755 ${CALCULATION_EVENTS_SCRIPT_PATH}
${writeFile('/etc/systemd/system/oq-calculation-events.service', renderCalculationEventsUnit(), '0644')}
systemctl daemon-reload
systemctl enable oq-calculation-events.service
systemctl restart oq-calculation-events.service

# Memory and disk of the master for the dashboard (EC2 reports neither): the CloudWatch agent, from AWS's
# regional bucket (reached through the S3 gateway endpoint).
CWA=/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl
if [[ ! -x $CWA ]]; then
  curl -sSfo /run/cwa.deb \\
    "https://amazoncloudwatch-agent-$REGION.s3.$REGION.amazonaws.com/ubuntu/$(dpkg --print-architecture)/latest/amazon-cloudwatch-agent.deb"
  apt_get install -y -q /run/cwa.deb
fi
${writeFile(CLOUDWATCH_AGENT_CONFIG, `${JSON.stringify(agentConfig)}\n`, '0644')}
"$CWA" -a fetch-config -m ec2 -s -c file:${CLOUDWATCH_AGENT_CONFIG}
${
  metricUnits === undefined
    ? ''
    : [
        '',
        '# CalculationsExecuting every minute, for the stuck-calculation alarm.',
        writeFile(CALCULATIONS_METRIC_SCRIPT_PATH, stripComments(CALCULATIONS_METRIC_SCRIPT), '0755'),
        ...Object.entries(metricUnits).map(([name, content]) =>
          [
            writeFile(`/etc/openquake/${name}.in`, content, '0644'),
            `sed -e "s/@OQ_METRICS_CLUSTER@/$METRICS_CLUSTER/" -e "s/@OQ_REGION@/$REGION/" /etc/openquake/${name}.in >/etc/systemd/system/${name}`,
          ].join('\n'),
        ),
        'systemctl daemon-reload',
        'systemctl enable oq-calculations-metric.timer',
        'systemctl restart oq-calculations-metric.timer',
        '',
      ].join('\n')
}
echo "=== oq-master-boot done $(date -Is)"
signal SUCCESS "master ready"
`;
  return { header: stripComments(header), body: stripComments(body) };
}

/**
 * The master's boot script in plain text (header and body): what runs on the instance, for reading and testing.
 * The instance's user-data is {@link renderMasterUserData}, which carries the same body compressed.
 */
export function renderBootScript(options: BootScriptOptions): string {
  const { header, body } = renderBootParts(options);
  return header + body;
}

/**
 * The master's user-data: the header (the deploy-time values) followed by the body deflated and base85-encoded,
 * unpacked to /run and sourced. EC2 allows 16 KB of user-data (EC2 user guide, "Instance user data"); the body
 * alone is close to that in plain text, and compressed it takes about a third.
 */
export function renderMasterUserData(options: BootScriptOptions): string {
  const { header, body } = renderBootParts(options);
  if (Token.isUnresolved(body)) {
    throw new Error('the master boot script body holds a deploy-time token: move that value into its header');
  }
  // Raw deflate (no gzip header) on one line: every byte counts against the 16 KB.
  const packed = `${packText(body)}\n`;
  return [
    // The header's variables are used by the sourced body.
    header.replace(/\n/, '\n# shellcheck disable=SC2034\n'),
    `python3 -c ${shellQuote(UNPACK_PYTHON)} <<'${DELIMITER}' >${UNPACKED_BODY}`,
    `${packed}${DELIMITER}`,
    '# shellcheck source=/dev/null',
    `source ${UNPACKED_BODY}`,
    '',
  ].join('\n');
}
