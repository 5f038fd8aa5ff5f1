# Apply the master's run-time settings (oq-elastic): at every boot and every minute (oq-master-settings.timer).
#
# Reads the JSON of the SSM parameter OQ_SETTINGS_PARAMETER ({"numCores": N, "webUi": true|false,
# "webUiBind": "loopback"|"private"}) and brings the master to it without killing a running calculation:
# - `[distribution] num_cores` in openquake.cfg, replaced atomically (rename): the engine reads the file when a
#   calculation starts, so running calculations keep the value they started with and the next ones get the new.
# - the WebUI: turned on, it is enabled and started; turned off, it is only disabled (not started at the next
#   boot): stopping it now would kill the calculations it runs. `systemctl stop openquake-webui` stops it now.
# - where the WebUI listens: OQ_WEBUI_HOST in the EnvironmentFile that its unit reads (127.0.0.1, or the private
#   address that openquake.cfg's [dbserver] listen holds). A running WebUI is restarted for a new host only
#   while no calculation is executing: engine 3.11.5 runs the WebUI's calculations as children of gunicorn
#   (openquake/server/views.py submit_job), so a restart would SIGTERM them, and an engine terminated that way
#   broadcasts a celery `shutdown` to every worker (workers_stop), disturbing the other calculations too. Until
#   then the change stays pending (the file is not rewritten) and the next run, a minute later, tries again.
# Names come from the environment that the systemd unit sets; botocore from the boot's tools venv.
import json
import os
import re
# For engine_database's definitions, which the boot inlines below.
import sqlite3
import subprocess
import sys

import botocore.session

NUM_CORES_LINE = re.compile(r'^num_cores = .*$', re.MULTILINE)
WEBUI_UNIT = 'openquake-webui.service'


# The settings from the parameter's JSON; a clear error naming the key and the value otherwise.
def parse_settings(text, source):
    try:
        settings = json.loads(text)
    except ValueError as error:
        raise SystemExit('%s is not JSON (%s): redeploy the stack to rewrite it' % (source, error))
    num_cores = settings.get('numCores')
    if not isinstance(num_cores, int) or isinstance(num_cores, bool) or num_cores < 1:
        raise SystemExit('%s: numCores=%r is invalid: it must be a positive integer' % (source, num_cores))
    web_ui = settings.get('webUi')
    if not isinstance(web_ui, bool):
        raise SystemExit('%s: webUi=%r is invalid: it must be true or false' % (source, web_ui))
    web_ui_bind = settings.get('webUiBind')
    if web_ui_bind not in ('loopback', 'private'):
        raise SystemExit('%s: webUiBind=%r is invalid: it must be loopback or private' % (source, web_ui_bind))
    return num_cores, web_ui, web_ui_bind


# Rewrites num_cores if it differs; returns the old value (None when unchanged).
def apply_num_cores(cfg_path, num_cores):
    with open(cfg_path) as cfg:
        text = cfg.read()
    match = NUM_CORES_LINE.search(text)
    if match is None:
        raise SystemExit('%s has no num_cores line: the boot writes it; rerun the boot' % cfg_path)
    old = match.group(0).split('=', 1)[1].strip()
    if old == str(num_cores):
        return None
    new_path = cfg_path + '.new'
    with open(new_path, 'w') as new:
        new.write(NUM_CORES_LINE.sub('num_cores = %d' % num_cores, text, count=1))
    stat = os.stat(cfg_path)
    os.chown(new_path, stat.st_uid, stat.st_gid)
    os.chmod(new_path, stat.st_mode & 0o7777)
    os.replace(new_path, cfg_path)
    return old


# Enables and starts the WebUI, or disables it without stopping it; returns what it did or None.
def apply_web_ui(systemctl, unit, web_ui):
    enabled = subprocess.run([systemctl, 'is-enabled', '--quiet', unit]).returncode == 0
    if web_ui and not enabled:
        subprocess.run([systemctl, 'enable', '--now', unit], check=True)
        return 'enabled and started'
    if not web_ui and enabled:
        subprocess.run([systemctl, 'disable', unit], check=True)
        return 'disabled (still running until it is stopped or the master reboots)'
    return None


# Imported here, not at the top: the boot inlines engine_database.py's definitions in place of this line, and
# here they leave the installed script as it was before the module existed (a changed script is a changed
# user-data, which stops and starts the master).
from engine_database import count_executing


# Writes the WebUI's bind host where its unit reads it and restarts a running WebUI, but only while no
# calculation is executing: until then the file keeps the host that the running WebUI was started with.
def apply_web_ui_bind(env_path, host, systemctl, db_path):
    line = 'OQ_WEBUI_HOST=%s\n' % host
    if os.path.exists(env_path) and open(env_path).read() == line:
        return None
    running = subprocess.run([systemctl, 'is-active', '--quiet', WEBUI_UNIT]).returncode == 0
    if running and count_executing(db_path):
        return 'bind %s pending: calculations are executing' % host
    with open(env_path + '.new', 'w') as new:
        new.write(line)
    os.replace(env_path + '.new', env_path)
    if running:
        subprocess.run([systemctl, 'restart', WEBUI_UNIT], check=True)
        return 'restarted, bound to %s' % host
    return None


def main():
    env = os.environ
    name = env['OQ_SETTINGS_PARAMETER']
    client = botocore.session.get_session().create_client('ssm')
    text = client.get_parameter(Name=name)['Parameter']['Value']
    num_cores, web_ui, web_ui_bind = parse_settings(text, name)
    cfg_path = env.get('OQ_CFG', '/etc/openquake/openquake.cfg')
    systemctl = env.get('OQ_SYSTEMCTL', 'systemctl')
    old = apply_num_cores(cfg_path, num_cores)
    if old is not None:
        print('num_cores %s -> %d (for calculations started from now on)' % (old, num_cores))
    # Before the WebUI may start: its unit reads the bind host from this file. The private address and the
    # engine database are [dbserver] listen and file in openquake.cfg (no other section has those keys).
    cfg = dict(re.findall(r'^(listen|file) = (.*)$', open(cfg_path).read(), re.MULTILINE))
    host = '127.0.0.1' if web_ui_bind == 'loopback' else cfg['listen']
    env_path = env.get('OQ_WEBUI_ENV', '/etc/openquake/webui.env')
    rebound = apply_web_ui_bind(env_path, host, systemctl, cfg['file'])
    if rebound is not None:
        print('WebUI %s' % rebound)
    done = apply_web_ui(systemctl, WEBUI_UNIT, web_ui)
    if done is not None:
        print('WebUI %s' % done)
    return 0


if __name__ == '__main__':
    sys.exit(main())
