#!/usr/bin/env -S npx tsx
/**
 * `npm run status:local -- [--state-dir <dir>] [--json] [--watch]`: the bridge's own `status` report (the
 * product's code, `bridge/src/cli.ts`) of a local run, from a second terminal while `npm run demo` runs. The
 * product bridge builds only its ECS backend; here the fleet is the run's process fleet, read from its state
 * directory (unit records, worker logs) by a fleet object that only looks: it starts, retires and clears nothing.
 * Without `--state-dir`, the newest run under the temporary directory. The run's vhost exists only while the run
 * does: after it, the report says the broker refuses the vhost.
 *
 * Exit codes: those of `oq-elastic-bridge status`; 2 also when no run is found.
 */
import { pathToFileURL } from 'node:url';
import { main } from '../bridge/src/cli.ts';
import type { ComputeBackend } from '../bridge/src/compute/compute-backend.ts';
import { processFleetView } from './fleet/process-runtime.ts';
import { newestRunStateDir, readRunRecord } from './run-record.ts';
import { MANAGEMENT_URL, RABBIT_ADMIN, SERVICE_PORTS } from './services.ts';

const USAGE = 'usage: npm run status:local -- [--state-dir <dir>] [--json] [--watch]';

/** Runs the status report of a local run; resolves to the process exit code. */
export async function localStatus(argv: readonly string[]): Promise<number> {
  const flags = [...argv];
  const at = flags.indexOf('--state-dir');
  const given = at >= 0 ? flags.splice(at, 2)[1] : undefined;
  if (at >= 0 && !given) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const stateDir = given ?? newestRunStateDir();
  if (!stateDir) {
    process.stderr.write(`no local run found: start one (npm run demo), or pass --state-dir\n${USAGE}\n`);
    return 2;
  }
  let run;
  try {
    run = readRunRecord(stateDir);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  if (run.backend !== 'process') {
    process.stderr.write(
      `${stateDir}: a ${run.backend} fleet; status:local reads process fleets (their units are in the state directory)\n`,
    );
    return 2;
  }
  // The local broker and its administrator, as the run uses them; never the caller's OQE_* (a deployed bridge's).
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OQE_BACKEND: run.backend,
    OQE_BROKER_HOST: '127.0.0.1',
    OQE_BROKER_PORT: String(SERVICE_PORTS.rabbitmq[0]),
    OQE_BROKER_VHOST: run.vhost,
    OQE_BROKER_USER: RABBIT_ADMIN.user,
    OQE_BROKER_PASSWORD: RABBIT_ADMIN.password,
    OQE_MANAGEMENT_URL: MANAGEMENT_URL,
    OQE_REMOTE_CONTROL_SERIALIZER: run.remoteControlSerializer,
    OQE_DECISIONS_FILE: run.decisionsFile ?? '',
  };
  return main(['status', ...flags], env, { backend: observingOnly(processFleetView(stateDir)) });
}

/** The fleet as the status report needs it: observed, never changed (the run's bridge owns it). */
function observingOnly(fleet: {
  readonly name: string;
  observe: ComputeBackend['describe'];
}): ComputeBackend {
  const refuse = async (): Promise<never> => {
    throw new Error('status:local only observes the run');
  };
  return {
    name: fleet.name,
    describe: () => fleet.observe(),
    scaleTo: refuse,
    retire: refuse,
    protect: refuse,
    release: refuse,
    close: async () => undefined,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await localStatus(process.argv.slice(2));
}
