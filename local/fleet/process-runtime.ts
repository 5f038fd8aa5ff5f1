import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../timeouts.ts';
import { LocalFleet, type LocalFleetOptions } from './local-fleet.ts';
import type { UnitRecord } from './unit-records.ts';
import { testAppLaunch, type WorkerLaunch } from './worker-launch.ts';
import type { UnitSighting, UnitStart, WorkerRuntime } from './worker-runtime.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Options of a fleet of celery workers as local processes. */
export interface ProcessFleetOptions extends LocalFleetOptions {
  /**
   * How to start one worker: any celery app and command with exactly the environment it needs (for the real
   * engine, the product's worker entrypoint). @default the engine-like test app of `brokerUrl`, `python`,
   * `appDir` and `journalPath`
   */
  readonly launch?: WorkerLaunch;
  /**
   * AMQP URL (with vhost) the test app's workers connect to, when no `launch` is given. It holds a password: it
   * is passed in the environment only.
   */
  readonly brokerUrl?: string;
  /** Python with celery. @default `<repo>/.venv/bin/python` */
  readonly python?: string;
  /** Directory of the celery app module `oq_testapp`. @default `<repo>/worker-image/testapp` */
  readonly appDir?: string;
  /** The tasks' journal, passed to the workers as OQ_TESTAPP_JOURNAL. @default none */
  readonly journalPath?: string;
}

/**
 * The `process` fleet: each unit is one celery worker (the engine-like test app by default, or any `launch`,
 * such as the product's worker entrypoint with the real engine), a detached process group that outlives the
 * bridge.
 */
export function processFleet(options: ProcessFleetOptions): LocalFleet<ProcessUnit> {
  const brokerUrl = options.brokerUrl ?? '';
  if (!options.launch && !brokerUrl.startsWith('amqp://') && !brokerUrl.startsWith('amqps://')) {
    throw new Error(
      'processFleet: brokerUrl must be an amqp:// or amqps:// URL; set it to the broker of the vhost, or pass a launch',
    );
  }
  const launch =
    options.launch ??
    testAppLaunch({
      brokerUrl,
      python: options.python ?? join(REPO_ROOT, '.venv/bin/python'),
      appDir: options.appDir ?? join(REPO_ROOT, 'worker-image/testapp'),
      journalPath: options.journalPath === undefined ? undefined : resolve(options.journalPath),
    });
  return new LocalFleet(new ProcessRuntime(options.stateDir, launch), options);
}

/**
 * A process fleet to look at only, from another process (`status:local`): it finds the units of `stateDir` and
 * has no launch, so it starts none.
 */
export function processFleetView(stateDir: string): LocalFleet<ProcessUnit> {
  return new LocalFleet(new ProcessRuntime(stateDir), { stateDir });
}

/** How a process unit is found again: its main process, which carries the unit id in its environment. */
export interface ProcessUnit {
  readonly pid: number;
  /** `<stateDir>/<unitId>.log`: the worker's stdout and stderr. */
  readonly logPath: string;
}

/**
 * Workers as local processes: each started as a detached process group (its pool children with it), its output
 * in `<stateDir>/<unitId>.log`, a private directory `<stateDir>/<unitId>` as its HOME.
 */
export class ProcessRuntime implements WorkerRuntime<ProcessUnit> {
  readonly name = 'process';
  readonly unitIdPrefix = 'p';

  constructor(
    private readonly stateDir: string,
    /** How to start a worker; none for a fleet that only looks. */
    private readonly launch?: WorkerLaunch,
  ) {}

  async start({ unitId, concurrency }: UnitStart): Promise<ProcessUnit> {
    if (!this.launch) throw new Error('processFleetView: this fleet only looks; it starts no worker');
    const launch = this.launch;
    const logPath = join(this.stateDir, `${unitId}.log`);
    const unitDir = join(this.stateDir, unitId);
    mkdirSync(unitDir, { recursive: true, mode: 0o700 });
    const unit = { unitId, hostname: `oq@${unitId}`, concurrency, unitDir };
    const out = openSync(logPath, 'a');
    // Only what the worker needs: never the caller's environment (the bridge's holds OQE_BROKER_PASSWORD).
    const env: NodeJS.ProcessEnv = {
      PATH: launch.path ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: unitDir,
      LANG: 'C.UTF-8',
      ...launch.env(unit),
      // How isUnitAlive tells this unit's process from a process that reused its pid.
      OQE_UNIT_ID: unitId,
    };
    const child = spawn(launch.command, launch.args(unit), {
      cwd: launch.cwd ?? unitDir,
      env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    if (child.pid === undefined)
      throw new Error(`processFleet: could not start ${launch.command}; check the path`);
    child.on('error', () => {}); // reported through the unit disappearing; never crash the bridge
    child.unref();
    return { pid: child.pid, logPath };
  }

  async survey(records: readonly UnitRecord<ProcessUnit>[]): Promise<UnitSighting<ProcessUnit>[]> {
    return records.map((record) => ({ record, alive: isUnitAlive(record.pid, record.unitId) }));
  }

  async output(unit: UnitRecord<ProcessUnit>): Promise<string> {
    try {
      return readFileSync(unit.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  async stop(unit: UnitRecord<ProcessUnit>, timeoutMs: number, onForcedKill: () => void): Promise<void> {
    // SIGTERM to the worker's main process only: celery's warm shutdown lets its pool finish running tasks.
    signal(unit.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (isUnitAlive(unit.pid, unit.unitId)) {
      if (Date.now() > deadline) {
        onForcedKill();
        signal(-unit.pid, 'SIGKILL');
        await sleep(500);
        if (!isUnitAlive(unit.pid, unit.unitId)) break;
        continue;
      }
      await sleep(200);
    }
    // Pool children of a worker that was killed outright may linger: clear the group.
    signal(-unit.pid, 'SIGKILL');
  }

  async kill(unit: UnitRecord<ProcessUnit>, sig: NodeJS.Signals): Promise<boolean> {
    if (!isUnitAlive(unit.pid, unit.unitId)) return false;
    signal(-unit.pid, sig);
    return true;
  }

  async remove(unit: UnitRecord<ProcessUnit>): Promise<undefined> {
    rmSync(join(this.stateDir, unit.unitId), { recursive: true, force: true });
    return undefined;
  }
}

/**
 * True while the process lives and is the unit's worker: the pid may have been reused by another program after
 * the worker exited, so the process must carry the unit id in its environment. Zombies count as dead.
 */
function isUnitAlive(pid: number, unitId: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    return environ.split('\0').includes(`OQE_UNIT_ID=${unitId}`);
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
