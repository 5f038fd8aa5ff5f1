/**
 * The master's run-time settings applier run for real: the Python script the boot installs, with the
 * environment of its rendered unit, reading the settings parameter from the moto server's SSM, against an
 * openquake.cfg rendered by the master's own renderer. systemd is not PID 1 here, so `systemctl` is an
 * in-process stub (a shell script that records calls and keeps the WebUI's enabled state in a file).
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

// The stub systemctl: `is-enabled` answers from the state file, `enable --now` / `disable` change it.
const systemctl = join(dir, 'systemctl');
const stateFile = join(dir, 'webui-state');
const callsFile = join(dir, 'systemctl-calls');
writeFileSync(
  systemctl,
  `#!/bin/bash
echo "$*" >>'${callsFile}'
case "$1" in
is-enabled) [[ "$(cat '${stateFile}')" == enabled ]] ;;
enable) echo enabled >'${stateFile}' ;;
disable) echo disabled >'${stateFile}' ;;
esac
`,
);
chmodSync(systemctl, 0o755);

const cfgPath = join(dir, 'openquake.cfg');

/** Runs the applier with the environment of its rendered unit (plus the test's endpoint, cfg and systemctl). */
function apply(): { status: number | null; stdout: string; stderr: string } {
  const service = renderApplySettingsUnits(parameter, region, PYTHON)['oq-master-settings.service'];
  const unitEnv = Object.fromEntries(
    [...service.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
  const script = join(dir, 'oq-apply-settings');
  writeFileSync(script, APPLY_SETTINGS_SCRIPT);
  const result = spawnSync(PYTHON, [script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...unitEnv, ...credentials, OQ_CFG: cfgPath, OQ_SYSTEMCTL: systemctl },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const calls = () => readFileSync(callsFile, 'utf8').trim().split('\n');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithMoto('master run-time settings applier (moto SSM; systemctl is a recording stub)', () => {
  const boot = renderOpenquakeCfg({
    masterHost: '10.0.0.5',
    amqpPassword: 'A'.repeat(24),
    dbserverAuthkey: 'K'.repeat(24),
    numCores: 1,
  });

  it('rewrites only num_cores, atomically and keeping the mode; a second run changes nothing', () => {
    writeFileSync(cfgPath, boot, { mode: 0o640 });
    writeFileSync(stateFile, 'enabled\n');
    writeFileSync(callsFile, '');
    putSettings(renderMasterSettings({ numCores: 160, webUi: true }));
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
    // The WebUI was enabled already: asked, never changed.
    expect(calls()).toEqual([
      'is-enabled --quiet openquake-webui.service',
      'is-enabled --quiet openquake-webui.service',
    ]);
  });

  it('turns the WebUI on at once, and off only for the next boot (never stops it)', () => {
    writeFileSync(stateFile, 'disabled\n');
    writeFileSync(callsFile, '');
    putSettings(renderMasterSettings({ numCores: 160, webUi: true }));
    expect(apply().stdout).toBe('WebUI enabled and started\n');
    putSettings(renderMasterSettings({ numCores: 160, webUi: false }));
    expect(apply().stdout).toBe('WebUI disabled (still running until it is stopped or the master reboots)\n');
    expect(calls().filter((c) => !c.startsWith('is-enabled'))).toEqual([
      'enable --now openquake-webui.service',
      'disable openquake-webui.service',
    ]);
  });

  it('refuses a malformed value, naming the key and the value, and leaves openquake.cfg alone', () => {
    writeFileSync(cfgPath, boot, { mode: 0o640 });
    putSettings('{"numCores": 0, "webUi": true}');
    const zero = apply();
    expect(zero.status).not.toBe(0);
    expect(zero.stderr).toContain(`${parameter}: numCores=0 is invalid: it must be a positive integer`);
    putSettings('{"numCores": 8, "webUi": "yes"}');
    expect(apply().stderr).toContain(`${parameter}: webUi='yes' is invalid: it must be true or false`);
    expect(readFileSync(cfgPath, 'utf8')).toBe(boot);
  });
});
