import { PORTS } from '../../../contract/cluster-constants.ts';

/**
 * The master's WebUI/API, locked down. Engine 3.11.5 ships settings for a developer's machine (DEBUG on, a
 * published SECRET_KEY, LOCKDOWN off, Django's development server) and reads overrides from a `local_settings.py`
 * in the working directory (openquake/server/settings.py; the engine's doc/installing/server.md). Its packaging
 * names gunicorn as the production server (`openquake.server.wsgi:application`).
 */
export const WEBUI_DIR = '/etc/openquake/webui';
/** gunicorn 20.1.0 (supports Python 3.5 and later, so the engine's 3.8). */
export const WEBUI_SERVER_PACKAGE = 'gunicorn==20.1.0';
/** Where the WebUI listens: loopback (reached through an SSM tunnel) or the private address (a CIDR rule). */
export type WebUiBind = 'loopback' | 'private';

/**
 * `local_settings.py`: LOCKDOWN (Django authentication), DEBUG off, a SECRET_KEY generated on the instance at
 * first boot (never in the template), hosts limited to the bind address, and same-site cookies so that a page
 * in the operator's browser cannot ride the session into the CSRF-exempt run/abort/remove views.
 */
export function renderWebUiLocalSettings(): string {
  return [
    'import os, socket',
    'LOCKDOWN = True',
    'DEBUG = False',
    // The instance's private address, as the WebUI sees it in Host headers when bound to it.
    "ALLOWED_HOSTS = ['localhost', '127.0.0.1', socket.gethostbyname(socket.gethostname())]",
    "SECRET_KEY = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'secret_key')).read().strip()",
    "SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = 'Strict'",
    '',
  ].join('\n');
}

/**
 * The WSGI entry point: the engine's application behind Django's static-files handler, which serves the
 * WebUI's CSS and JavaScript with DEBUG off (gunicorn serves no static files of its own).
 */
export const WEBUI_WSGI_MODULE = [
  'from django.contrib.staticfiles.handlers import StaticFilesHandler',
  'from openquake.server.wsgi import application as engine_application',
  '',
  'application = StaticFilesHandler(engine_application)',
  '',
].join('\n');

/** Creates or updates the WebUI superuser from OQ_WEBUI_ADMIN_USER/OQ_WEBUI_ADMIN_PASSWORD (`manage shell -c`). */
export const WEBUI_ADMIN_COMMAND = [
  'import os',
  'from django.contrib.auth.models import User',
  "u = User.objects.get_or_create(username=os.environ['OQ_WEBUI_ADMIN_USER'])[0]",
  'u.is_staff = u.is_superuser = True',
  "u.set_password(os.environ['OQ_WEBUI_ADMIN_PASSWORD'])",
  'u.save()',
].join('; ');

/**
 * The EnvironmentFile of the WebUI's unit: `OQ_WEBUI_HOST=<address>`, written by the settings applier
 * (cdk/assets/master/apply-settings.py, which holds the same path) from the run-time `webUiBind`, so that the
 * bind address never sits in the user-data.
 */
export const WEBUI_ENV_FILE = '/etc/openquake/webui.env';

/**
 * gunicorn's command line: the engine's application, from the directory that holds local_settings.py, bound to
 * the host from {@link WEBUI_ENV_FILE} (systemd expands `${VAR}` in ExecStart from the unit's environment).
 */
export function webUiExecStart(venv: string): string {
  return (
    `${venv}/bin/gunicorn --chdir ${WEBUI_DIR} --bind \${OQ_WEBUI_HOST}:${PORTS.webUi} --workers 2 --timeout 300 ` +
    'oq_elastic_wsgi:application'
  );
}
