/**
 * The master's WebUI settings (cdk/lib/master/webui.ts) against the real engine 3.11.5 server code: the pinned
 * engine's image imports `openquake.server.settings` with the rendered `local_settings.py` beside it, loads the
 * WSGI module the gunicorn unit serves, and sends requests through Django's test client. With the engine's own
 * settings alone (what the master ran before), the API answers anyone, from any host name.
 *
 * Runs where the pinned engine image can be built (a Python 3.8 on the host, like worker-image-engine-pinned);
 * about 20 s warm (two containers).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderWebUiLocalSettings, WEBUI_WSGI_MODULE } from '../../cdk/lib/master/webui.ts';
import {
  ensureEngineImage,
  hostPythonAvailable,
  podman,
  PODMAN_RUN_LIMITS,
} from '../support/worker-image.ts';

const enabled = hostPythonAvailable('3.8') || process.env.CI !== undefined;
const SECRET_KEY = 'generated-on-the-instance-7f3a';

/** Imports the server as gunicorn would, then asks for the calculation list and a run without logging in. */
const PROBE = `import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openquake.server.settings")
import oq_elastic_wsgi
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
out = {"debug": settings.DEBUG, "lockdown": settings.LOCKDOWN, "key": settings.SECRET_KEY}
# engine_version needs no DbServer; with LOCKDOWN the calculation views refuse before reaching one.
out["version"] = client.get("/v1/engine_version").status_code
if settings.LOCKDOWN:
    out["list"] = client.get("/v1/calc/list").status_code
    out["run"] = client.post("/v1/calc/run", {}).status_code
out["foreign_host"] = client.get("/v1/engine_version", HTTP_HOST="attacker.example").status_code
print("PROBE " + json.dumps(out))
`;

interface Probe {
  debug: boolean;
  lockdown: boolean;
  key: string;
  version: number;
  list?: number;
  run?: number;
  foreign_host: number;
}

describe.skipIf(!enabled)('master WebUI settings with the real engine 3.11.5 server', () => {
  let image: string;
  let dir: string;

  beforeAll(async () => {
    image = await ensureEngineImage();
    dir = mkdtempSync(join(tmpdir(), 'oqe-webui-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'oq_elastic_wsgi.py'), WEBUI_WSGI_MODULE, { mode: 0o644 });
    writeFileSync(join(dir, 'probe.py'), PROBE, { mode: 0o644 });
    writeFileSync(join(dir, 'secret_key'), `${SECRET_KEY}\n`, { mode: 0o644 });
  }, 1_800_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function probe(): Promise<Probe> {
    // prettier-ignore
    const result = await podman([
      'run', '--rm', '--network', 'none', ...PODMAN_RUN_LIMITS, '--health-cmd', 'none',
      '-v', `${dir}:/webui:ro`, '-w', '/webui', '-e', 'PYTHONPATH=/webui',
      '--entrypoint', '/opt/openquake/venv/bin/python', image, '/webui/probe.py',
    ], undefined, 120_000);
    const line = result.out.split('\n').find((l) => l.startsWith('PROBE '));
    expect(line, result.out).toBeDefined();
    return JSON.parse(line!.slice('PROBE '.length)) as Probe;
  }

  it("without local_settings.py (the engine's defaults) the API answers anyone, from any host name", async () => {
    rmSync(join(dir, 'local_settings.py'), { force: true });
    const open = await probe();
    expect(open).toMatchObject({ debug: true, lockdown: false, version: 200, foreign_host: 200 });
    expect(open.key).not.toBe(SECRET_KEY);
  }, 180_000);

  it('with the rendered local_settings.py: DEBUG off, LOCKDOWN on, the generated key, logins and hosts enforced', async () => {
    writeFileSync(join(dir, 'local_settings.py'), renderWebUiLocalSettings(), { mode: 0o644 });
    const locked = await probe();
    expect(locked).toEqual({
      debug: false,
      lockdown: true,
      key: SECRET_KEY,
      version: 403,
      list: 403,
      run: 403,
      foreign_host: 400,
    });
  }, 180_000);
});
