/**
 * The format of the bridge's celery remote-control messages for the workers' celery release. Up to celery 5.0
 * (the engine 3.11 release's 4.4.7) remote control is always JSON: celery/app/control.py passes
 * `accept=['json']` and no serializer. From 5.1 (celery PR #6757) it follows the app's task serializer, which
 * is pickle for an engine-like app (docs/observe.md, "Celery remote control, and the wire format").
 *
 * @param celeryVersion the workers' celery version, e.g. ENGINE_RELEASE.celery ("4.4.7")
 */
export function remoteControlSerializer(celeryVersion: string): 'json' | 'pickle' {
  const match = /^(\d+)\.(\d+)(?:\.|$)/.exec(celeryVersion);
  if (!match) {
    throw new Error(
      `celery=${JSON.stringify(celeryVersion)} in contract/engine-release.json is not a version: give major.minor[.patch], e.g. "4.4.7"`,
    );
  }
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major < 5 || (major === 5 && minor < 1) ? 'json' : 'pickle';
}
