import { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import type { LocalFleet } from '../fleet/local-fleet.ts';
import { podmanFleet } from '../fleet/podman-runtime.ts';
import { processFleet, type ProcessUnit } from '../fleet/process-runtime.ts';
import type { EngineBackendContext, EngineRunBackend } from './engine-cluster-run.ts';
import { ENGINE_VENV } from './engine-env.ts';
import { pingReadiness } from '../fleet/worker-launch.ts';
import { engineEntrypointLaunch } from './engine-worker-launch.ts';

/**
 * The process fleet running the product's worker entrypoint with the engine's exact worker command (celery
 * 4.4.7, the JSON mailbox, the image's celery 4.x shim), each worker named after its unit and counted ready when
 * it answers a remote-control ping.
 */
export function engineProcessBackend(
  context: EngineBackendContext,
  options: { concurrency: number; retireTimeoutMs?: number },
): LocalFleet<ProcessUnit> & EngineRunBackend {
  return processFleet({
    stateDir: context.stateDir,
    launch: engineEntrypointLaunch({
      workerEnvironment: context.master.workerEnvironment(),
      engineVenv: ENGINE_VENV,
    }),
    readiness: pingReadiness(remoteControlFor(context)),
    concurrency: options.concurrency,
    retireTimeoutMs: options.retireTimeoutMs ?? 30_000,
  });
}

/**
 * The podman fleet running the real worker image (`scripts/build-worker-image.sh engine-local`) against the
 * local master: the image's entrypoint with the master's DbServer port and authkey, receiver ports and
 * shared_dir mounted read-only at the master's own path (the engine's workers open datastores by absolute path).
 */
export function enginePodmanBackend(
  context: EngineBackendContext,
  options: { image: string; concurrency: number },
): LocalFleet & EngineRunBackend {
  const { broker } = context.master;
  return podmanFleet({
    image: options.image,
    broker: {
      host: broker.host,
      port: broker.port,
      vhost: broker.vhost,
      user: broker.user,
      password: broker.password,
    },
    stateDir: context.stateDir,
    sharedDir: context.master.sharedDir,
    workerEnvironment: context.master.workerEnvironment(),
    readiness: pingReadiness(remoteControlFor(context)),
    concurrency: options.concurrency,
    retireTimeoutMs: 30_000,
  });
}

/** A JSON remote-control client on the master's vhost (celery 4.4 answers in JSON only), closed with the run. */
function remoteControlFor(context: EngineBackendContext): CeleryRemoteControl {
  const { broker } = context.master;
  const session = new BrokerSession({
    host: broker.host,
    port: broker.port,
    vhost: broker.vhost,
    username: broker.user,
    password: broker.password,
  });
  const control = new CeleryRemoteControl(session, { serializer: 'json', timeoutMs: 1000 });
  context.onCleanup(async () => {
    await control.close();
    await session.close();
  });
  return control;
}
