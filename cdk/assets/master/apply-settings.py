# Apply the master's run-time settings (oq-elastic): at every boot and every minute (oq-master-settings.timer).
#
# Reads the JSON of the SSM parameter OQ_SETTINGS_PARAMETER ({"numCores": N, "webUi": true|false}) and brings
# the master to it without restarting anything that runs calculations:
# - `[distribution] num_cores` in openquake.cfg, replaced atomically (rename): the engine reads the file when a
#   calculation starts, so running calculations keep the value they started with and the next ones get the new.
# - the WebUI: turned on, it is enabled and started; turned off, it is only disabled (not started at the next
#   boot): stopping it now would kill the calculations it runs. `systemctl stop openquake-webui` stops it now.
# Names come from the environment that the systemd unit sets; botocore from the boot's tools venv.
import json
import os
import re
import subprocess
import sys

import botocore.session

NUM_CORES_LINE = re.compile(r'^num_cores = .*$', re.MULTILINE)


def parse_settings(text, source):
    """The settings from the parameter's JSON; a clear error naming the key and the value otherwise."""
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
    return num_cores, web_ui


def apply_num_cores(cfg_path, num_cores):
    """Rewrites num_cores if it differs; returns the old value (None when unchanged)."""
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


def apply_web_ui(systemctl, unit, web_ui):
    """Enables and starts the WebUI, or disables it without stopping it; returns what it did or None."""
    enabled = subprocess.run([systemctl, 'is-enabled', '--quiet', unit]).returncode == 0
    if web_ui and not enabled:
        subprocess.run([systemctl, 'enable', '--now', unit], check=True)
        return 'enabled and started'
    if not web_ui and enabled:
        subprocess.run([systemctl, 'disable', unit], check=True)
        return 'disabled (still running until it is stopped or the master reboots)'
    return None


def main():
    env = os.environ
    name = env['OQ_SETTINGS_PARAMETER']
    client = botocore.session.get_session().create_client('ssm')
    text = client.get_parameter(Name=name)['Parameter']['Value']
    num_cores, web_ui = parse_settings(text, name)
    old = apply_num_cores(env.get('OQ_CFG', '/etc/openquake/openquake.cfg'), num_cores)
    if old is not None:
        print('num_cores %s -> %d (for calculations started from now on)' % (old, num_cores))
    done = apply_web_ui(env.get('OQ_SYSTEMCTL', 'systemctl'), 'openquake-webui.service', web_ui)
    if done is not None:
        print('WebUI %s' % done)
    return 0


if __name__ == '__main__':
    sys.exit(main())
