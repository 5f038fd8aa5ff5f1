/**
 * The product's main job on one machine, with the real OpenQuake Engine 3.11.5 (celery 4.4.7, the JSON mailbox,
 * the worker image's entrypoint and shim): `oq engine --run` of the engine's own classical QA job case_13 (19
 * celery tasks), workers started from zero by the real bridge loop (process backend), the fleet back at zero,
 * and the exported hazard curves and maps exactly equal to a single-machine run of the same job
 * (OQ_DISTRIBUTE=processpool, cached in .cache/engine-reference by job and engine release).
 *
 * Needs the engine environment that scripts/setup.sh builds (.engine-venv, Python 3.8) and root (the DbServer
 * runs as the `openquake` user); skips outside CI when either is missing, fails in CI. Each calculation gets a
 * vhost of its own (an engine that is aborted broadcasts celery's `shutdown` to its whole vhost) and free
 * DbServer and receiver ports.
 *
 * Runtime here (2 cores shared with other jobs): 92 s for the three when the machine was quiet (26, 29 and 37 s),
 * 190 s under load (66, 67 and 57 s); the reference costs about 30 s once per engine release (cached afterwards).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LifecycleEvent } from '../../local/fleet/lifecycle-log.ts';
import { engineProcessBackend } from '../../local/engine/engine-backends.ts';
import {
  type EngineClusterOptions,
  type EngineClusterResult,
  runEngineCluster,
  unitLogsIn,
} from '../../local/engine/engine-cluster-run.ts';
import { engineEnvAvailable, engineQaDir } from '../../local/engine/engine-env.ts';
import { analyzeWorkerLogs } from '../../local/engine/worker-task-log.ts';
import { isMissing, LOCAL_BROKER, requireServices } from '../support/services.ts';

const CASE_13 = () => `${engineQaDir()}/classical/case_13/job.ini`;
const ready = requireServices() || (engineEnvAvailable() && process.getuid?.() === 0);

/** Lines the engine writes when distribution went wrong (a result from another job, a worker of another release, no
 * worker) or when it called out to its project's server (the version check the master turns off). */
const ENGINE_TROUBLE =
  /Discarding a result|The master is at version|No live compute nodes|check if the installed version of the engine/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(100);
}

function options(overrides: Partial<EngineClusterOptions>): EngineClusterOptions {
  return {
    broker: LOCAL_BROKER,
    jobs: [CASE_13()],
    backend: (context) => engineProcessBackend(context, { concurrency: 2 }),
    workerLogs: ({ stateDir }) => unitLogsIn(stateDir),
    maxWorkers: 3,
    slotsPerWorker: 2,
    idleGraceSeconds: 5,
    pollSeconds: 1,
    timeoutSeconds: 400,
    ...overrides,
  };
}

/** Units that exited with no retire (the bridge's drain) and no kill (the test's) before: stopped by something else. */
function stoppedBehindTheBridgesBack(lifecycle: readonly LifecycleEvent[]): string[] {
  const allowed = new Set<string>();
  const stray: string[] = [];
  for (const e of lifecycle) {
    if (e.event === 'retire' || e.event === 'kill') allowed.add(e.unitId);
    if (e.event === 'exit' && !allowed.has(e.unitId)) stray.push(e.unitId);
  }
  return stray;
}

function expectCompleteAndEqual(run: EngineClusterResult, index = 0): void {
  const job = run.jobs[index]!;
  expect(job.exitCode, job.log.slice(-3000)).toBe(0);
  expect(job.status).toBe('complete');
  expect(job.comparison?.differences).toEqual([]);
  expect(job.comparison?.equal).toBe(true);
  expect(job.log).not.toMatch(ENGINE_TROUBLE);
}

function expectFromZeroBackToZero(run: EngineClusterResult): void {
  expect(run.decisions.find((d) => d.reason === 'Activate')).toMatchObject({ current: 0 });
  expect(run.returnedToZeroAfterSeconds).toBeDefined();
  expect(run.finalFleet).toMatchObject({ desired: 0, units: [] });
}

describe.skipIf(isMissing('rabbitmq') || !ready)(
  'real engine 3.11.5 calculations on bridge-managed workers from zero',
  () => {
    it('classical case_13: complete, exports and datastore equal to the single-machine run, fleet 0 -> N -> 0', async () => {
      const run = await runEngineCluster(options({}));
      expectCompleteAndEqual(run);
      expectFromZeroBackToZero(run);
      const tasks = run.jobs[0]!.results!.tasks;
      // Every celery task of the job ran once and finished; preclassical and classical go through the queue.
      expect(run.workers.tasksReceived).toBe((tasks.classical ?? 0) + (tasks.preclassical ?? 0));
      expect(run.workers).toMatchObject({ unfinished: [], receivedTwice: [], busyWhenStopped: [] });
      expect(run.lifecycle.filter((e) => e.event === 'retire').length).toBeGreaterThan(0);
      expect(stoppedBehindTheBridgesBack(run.lifecycle)).toEqual([]);
    }, 480_000);

    it('one worker SIGKILLed mid-task: its tasks are redelivered, the job completes, results still equal', async () => {
      let victim: string | undefined;
      const run = await runEngineCluster(
        options({
          during: async ({ backend, context }) => {
            for (;;) {
              const busy = unitLogsIn(context.stateDir).find((log) => {
                const a = analyzeWorkerLogs([log]);
                return a.tasksReceived > a.tasksSucceeded;
              });
              if (busy) {
                victim = busy.unitId;
                await (backend as ReturnType<typeof engineProcessBackend>).kill(busy.unitId);
                return;
              }
              await new Promise((r) => setTimeout(r, 100));
            }
          },
        }),
      );
      expect(victim).toBeDefined();
      expectCompleteAndEqual(run);
      expectFromZeroBackToZero(run);
      expect(run.lifecycle).toContainEqual(expect.objectContaining({ event: 'kill', unitId: victim }));
      // acks_late: what the killed worker held went back to the queue and ran again elsewhere.
      expect(run.workers.receivedTwice.length).toBeGreaterThan(0);
      expect(run.workers.unfinished).toEqual([]);
      expect(stoppedBehindTheBridgesBack(run.lifecycle)).toEqual([]);
    }, 480_000);

    it('two calculations at once, one aborted with oq abort: the other completes, equal, and no worker is stopped', async () => {
      let abortReply = '';
      let busyAtAbort: ReturnType<typeof analyzeWorkerLogs> | undefined;
      const run = await runEngineCluster(
        options({
          jobs: [CASE_13(), CASE_13()],
          // The master leaves serialize_jobs at the engine's 1, which would queue the second calculation behind the
          // first: 2 lets both run at once, so that workers run tasks of the other one when the abort comes.
          serializeJobs: 2,
          during: async ({ master, jobs, context }) => {
            const aborted = await jobs[0]!.jobId;
            await jobs[1]!.jobId;
            // Abort while both calculations have tasks out (the engine's progress lines "[N submitted, M queued]")
            // and workers are running some: a broadcast `shutdown` then has workers to stop.
            await until(() => {
              const both = jobs.every((j) =>
                / submitted, \d+ queued\]/.test(readFileSync(j.logPath, 'utf8')),
              );
              const a = analyzeWorkerLogs(unitLogsIn(context.stateDir));
              return both && a.tasksReceived - a.tasksSucceeded >= 1;
            });
            busyAtAbort = analyzeWorkerLogs(unitLogsIn(context.stateDir));
            abortReply = await master.abort(aborted);
          },
        }),
      );
      expect(busyAtAbort!.tasksReceived - busyAtAbort!.tasksSucceeded).toBeGreaterThan(0);
      expect(abortReply).toMatch(/^Job \d+ aborted$/);
      expect(run.jobs[0]!.status).toBe('aborted');
      expectCompleteAndEqual(run, 1);
      expectFromZeroBackToZero(run);
      // The aborting engine's broadcast `shutdown` must not stop the elastic fleet (issue 11, item 1): every worker
      // that exited was retired by the bridge, idle.
      expect(stoppedBehindTheBridgesBack(run.lifecycle)).toEqual([]);
      expect(run.workers.busyWhenStopped).toEqual([]);
    }, 600_000);
  },
);
