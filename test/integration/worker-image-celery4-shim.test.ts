/**
 * The image's celery 4.x shim (worker-image/celery4-shim/sitecustomize.py) in a real Python with a real celery:
 * under celery 4.4.7 `Request.info()` reports the message's argument reprs instead of the raw (pickled, not
 * JSON-encodable) engine arguments; under celery 5 it changes nothing; the entrypoint puts it on the worker's
 * PYTHONPATH only. The busy worker answering `active` is proven end to end in
 * test/integration/worker-image-engine-pinned.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PYTHON, REPO_ROOT } from '../support/services.ts';
import { describeWithPython } from '../support/python.ts';

const SHIM_DIR = `${REPO_ROOT}worker-image/celery4-shim`;
// The celery 4.4.7 virtual environment that the observe tests create (local/celery-workers.ts).
const CELERY44_PYTHON = join(REPO_ROOT, '.cache', 'celery-4.4.7', 'bin', 'python');

// Calls Request.info on a stand-in request that carries raw arguments a JSON encoder refuses (a function) and
// the reprs the client put in the message; prints what info() returned, JSON-encoded as celery 4.4's mailbox does.
const PROBE = `import json, sys, types
import celery
from celery.worker.request import Request
request = types.SimpleNamespace(
    id='t-1', name='openquake.baselib.parallel.safely_call', _args=(print, 1), _kwargs={}, _type='x',
    _hostname='oq@w', time_start=None, acknowledged=False, delivery_info={}, worker_pid=None,
    argsrepr="(<function probe>, (<Pickled int # 1 B>,), 0, <Monitor #42 probe[openquake]>)", kwargsrepr='{}',
    _argsrepr="(<function probe>, (<Pickled int # 1 B>,), 0, <Monitor #42 probe[openquake]>)", _kwargsrepr='{}')
info = Request.info(request)
try:
    print(json.dumps({'celery': celery.VERSION[0], 'args': info['args'], 'kwargs': info['kwargs']}))
except TypeError as error:
    print(json.dumps({'celery': celery.VERSION[0], 'error': str(error)}))
`;

function probe(python: string, withShim: boolean): Record<string, unknown> {
  // No bytecode next to the shim: the image's build context copies that directory.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PYTHONDONTWRITEBYTECODE: '1',
  };
  if (withShim) env.PYTHONPATH = SHIM_DIR;
  const run = spawnSync(python, ['-c', PROBE], { env, encoding: 'utf8', timeout: 30_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

describeWithPython('celery 4.x argsrepr shim', () => {
  it.skipIf(!existsSync(CELERY44_PYTHON))(
    'makes celery 4.4.7 report the argument reprs (with the calculation id), which JSON can encode',
    () => {
      // Without it, the raw arguments fail to encode: the reason a busy 4.4 worker sends no `active` reply.
      expect(probe(CELERY44_PYTHON, false)).toMatchObject({
        celery: 4,
        error: expect.stringMatching(/JSON/),
      });
      expect(probe(CELERY44_PYTHON, true)).toEqual({
        celery: 4,
        args: '(<function probe>, (<Pickled int # 1 B>,), 0, <Monitor #42 probe[openquake]>)',
        kwargs: '{}',
      });
    },
  );

  it('leaves celery 5 as it is', () => {
    const withShim = probe(PYTHON, true);
    expect(withShim).toEqual(probe(PYTHON, false));
    expect(withShim.celery).toBe(5);
  });
});
