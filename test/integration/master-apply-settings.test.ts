/**
 * The master's run-time settings applier run for real: the Python script the boot installs, with the
 * environment of its rendered unit, reading the settings parameter from the moto server's SSM, against an
 * openquake.cfg rendered by the master's own renderer and a real SQLite engine database. systemd is not PID 1
 * here, so `systemctl` is an in-process stub (a shell script that records calls and keeps the WebUI's enabled
 * and active states in files).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  APPLY_SETTINGS_SCRIPT,
  renderApplySettingsUnits,
  renderMasterSettings,
} from '../../cdk/lib/master/master-settings.ts';
import { renderOpenquakeCfg } from '../../cdk/lib/master/openquake-cfg.ts';
import { runAsUnit, type ScriptRun } from '../support/master-unit-run.ts';
import { AWS_ENDPOINT_URL, describeWithMoto, PYTHON } from '../support/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'oqe-master-settings-'));
const region = 'eu-west-1';
const parameter = `/oqe-test/master-settings-${randomBytes(4).toString('hex')}`;
const credentials = { AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };

/** The SSM parameter as CloudFormation would write it (moto's SSM through botocore). */
function putSettings(value: string): void {
  const result = spawnSync(
    PYTHON,
    [
      '-c',
      'import sys, botocore.session\n' +
        "ssm = botocore.session.get_session().create_client('ssm')\n" +
        "ssm.put_parameter(Name=sys.argv[1], Value=sys.argv[2], Type='String', Overwrite=True)",
      parameter,
      value,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH, AWS_DEFAULT_REGION: region, ...credentials } },
  );
  expect(result.stderr).toBe('');
}

// The stub systemctl: `is-enabled` / `is-active` answer from the state files, `enable --now` / `disable` change
// them (as systemd would: `enable --now` also starts, `disable` does not stop).
const systemctl = join(dir, 'systemctl');
const stateFile = join(dir, 'webui-state');
const activeFile = join(dir, 'webui-active');
const callsFile = join(dir, 'systemctl-calls');
writeFileSync(
  systemctl,
  `#!/bin/bash
echo "$*" >>'${callsFile}'
case "$1" in
is-enabled) [[ "$(cat '${stateFile}')" == enabled ]] ;;
is-active) [[ "$(cat '${activeFile}')" == active ]] ;;
enable) echo enabled >'${stateFile}' && echo active >'${activeFile}' ;;
disable) echo disabled >'${stateFile}' ;;
esac
`,
);
chmodSync(systemctl, 0o755);
writeFileSync(activeFile, 'inactive\n');

const cfgPath = join(dir, 'openquake.cfg');
const envPath = join(dir, 'webui.env');
const dbPath = join(dir, 'db.sqlite3');

/** Runs the applier with the environment of its rendered unit (plus the test's endpoint, cfg and systemctl). */
function apply(): ScriptRun {
  return runAsUnit({
    unit: renderApplySettingsUnits(parameter, region, PYTHON)['oq-master-settings.service'],
    scriptPath: join(dir, 'oq-apply-settings'),
    scriptText: APPLY_SETTINGS_SCRIPT,
    python: PYTHON,
    env: { ...credentials, OQ_CFG: cfgPath, OQ_SYSTEMCTL: systemctl, OQ_WEBUI_ENV: envPath },
  });
}

const calls = () => readFileSync(callsFile, 'utf8').trim().split('\n');
/** The calls that change something (not the `is-enabled` and `is-active` questions). */
const actions = () => calls().filter((c) => !c.startsWith('is-'));

/** The engine database with one calculation in `status` (engine 3.11.5's job table, reduced to what is read). */
function engineDatabase(status: string): void {
  const result = spawnSync(
    PYTHON,
    [
      '-c',
      'import sqlite3, sys\n' +
        'db = sqlite3.connect(sys.argv[1])\n' +
        "db.execute('CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY, status TEXT)')\n" +
        "db.execute('INSERT OR REPLACE INTO job VALUES (1, ?)', (sys.argv[2],))\n" +
        'db.commit()',
      dbPath,
      status,
    ],
    { encoding: 'utf8' },
  );
  expect(result.stderr).toBe('');
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithMoto('master run-time settings applier (moto SSM; systemctl is a recording stub)', () => {
  // The engine database in the test's directory instead of /var/lib/openquake.
  const boot = renderOpenquakeCfg({
    masterHost: '10.0.0.5',
    amqpPassword: 'A'.repeat(24),
    dbserverAuthkey: 'K'.repeat(24),
    numCores: 1,
  }).replace(/^file = .*$/m, `file = ${dbPath}`);

  it('rewrites only num_cores, atomically and keeping the mode; a second run changes nothing', () => {
    writeFileSync(cfgPath, boot, { mode: 0o640 });
    writeFileSync(stateFile, 'enabled\n');
    writeFileSync(callsFile, '');
    putSettings(renderMasterSettings({ numCores: 160, webUi: true, webUiBind: 'loopback' }));
    const inodeBefore = statSync(cfgPath).ino;

    const first = apply();
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toBe('num_cores 1 -> 160 (for calculations started from now on)\n');
    expect(readFileSync(cfgPath, 'utf8')).toBe(boot.replace('num_cores = 1\n', 'num_cores = 160\n'));
    expect(statSync(cfgPath).mode & 0o777).toBe(0o640);
    // A new file renamed over the old: an engine that opened the old one still reads it whole.
    expect(statSync(cfgPath).ino).not.toBe(inodeBefore);

    const second = apply();
    expect(second.status).toBe(0);
    expect(second.stdout).toBe('');
    // The WebUI was enabled already (and is not running): asked, never changed; its bind host written once.
    expect(readFileSync(envPath, 'utf8')).toBe('OQ_WEBUI_HOST=127.0.0.1\n');
    expect(calls()).toEqual([
      'is-active --quiet openquake-webui.service',
      'is-enabled --quiet openquake-webui.service',
      'is-enabled --quiet openquake-webui.service',
    ]);
  });

  it('turns the WebUI on at once, and off only for the next boot (never stops it)', () => {
    writeFileSync(stateFile, 'disabled\n');
    writeFileSync(callsFile, '');
    putSettings(renderMasterSettings({ numCores: 160, webUi: true, webUiBind: 'loopback' }));
    expect(apply().stdout).toBe('WebUI enabled and started\n');
    putSettings(renderMasterSettings({ numCores: 160, webUi: false, webUiBind: 'loopback' }));
    expect(apply().stdout).toBe('WebUI disabled (still running until it is stopped or the master reboots)\n');
    expect(actions()).toEqual(['enable --now openquake-webui.service', 'disable openquake-webui.service']);
  });

  it('moves a running WebUI to the new bind, restarting it only while no calculation is executing', () => {
    writeFileSync(cfgPath, boot, { mode: 0o640 });
    writeFileSync(stateFile, 'enabled\n');
    writeFileSync(activeFile, 'active\n');
    writeFileSync(envPath, 'OQ_WEBUI_HOST=127.0.0.1\n');
    writeFileSync(callsFile, '');
    engineDatabase('executing');
    // A new webUiAllowedCidr: the stack now asks for the private address (openquake.cfg's [dbserver] listen).
    putSettings(renderMasterSettings({ numCores: 1, webUi: true, webUiBind: 'private' }));
    const busy = apply();
    expect(busy.stderr).toBe('');
    expect(busy.stdout).toBe('WebUI bind 10.0.0.5 pending: calculations are executing\n');
    // A restart would SIGTERM the calculation the WebUI runs: nothing restarted, the file still says what runs.
    expect(readFileSync(envPath, 'utf8')).toBe('OQ_WEBUI_HOST=127.0.0.1\n');
    expect(actions()).toEqual([]);

    engineDatabase('complete');
    expect(apply().stdout).toBe('WebUI restarted, bound to 10.0.0.5\n');
    expect(readFileSync(envPath, 'utf8')).toBe('OQ_WEBUI_HOST=10.0.0.5\n');
    expect(actions()).toEqual(['restart openquake-webui.service']);
    // Done: the next run changes nothing.
    expect(apply().stdout).toBe('');
    expect(actions()).toEqual(['restart openquake-webui.service']);
  });

  it('writes the bind of a stopped WebUI at once, whatever executes, and starts nothing', () => {
    writeFileSync(cfgPath, boot, { mode: 0o640 });
    writeFileSync(stateFile, 'disabled\n');
    writeFileSync(activeFile, 'inactive\n');
    writeFileSync(callsFile, '');
    engineDatabase('executing');
    putSettings(renderMasterSettings({ numCores: 1, webUi: false, webUiBind: 'loopback' }));
    expect(apply().stdout).toBe('');
    expect(readFileSync(envPath, 'utf8')).toBe('OQ_WEBUI_HOST=127.0.0.1\n');
    expect(actions()).toEqual([]);
  });

  it('refuses a malformed value, naming the key and the value, and leaves openquake.cfg alone', () => {
    writeFileSync(cfgPath, boot, { mode: 0o640 });
    putSettings('{"numCores": 0, "webUi": true, "webUiBind": "loopback"}');
    const zero = apply();
    expect(zero.status).not.toBe(0);
    expect(zero.stderr).toContain(`${parameter}: numCores=0 is invalid: it must be a positive integer`);
    putSettings('{"numCores": 8, "webUi": "yes", "webUiBind": "loopback"}');
    expect(apply().stderr).toContain(`${parameter}: webUi='yes' is invalid: it must be true or false`);
    putSettings('{"numCores": 8, "webUi": true, "webUiBind": "0.0.0.0"}');
    expect(apply().stderr).toContain(
      `${parameter}: webUiBind='0.0.0.0' is invalid: it must be loopback or private`,
    );
    expect(readFileSync(cfgPath, 'utf8')).toBe(boot);
  });
});
