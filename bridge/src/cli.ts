#!/usr/bin/env -S npx tsx
/**
 * The bridge's command line:
 *   status [--json] [--watch]  the classic celery-status report plus the queue, the fleet, the running
 *                              calculations and the bridge's last decisions; `--watch` refreshes in place
 *   decide --dry-run           what the loop would do now, without acting
 *   run                        the control loop, until SIGTERM or SIGINT
 * Configuration comes from the environment (docs/bridge.md); it is validated before anything connects.
 *
 * Exit codes: 0 done; 1 `status` could not observe every part (what failed is printed: unknown is not zero),
 * or an unexpected error; 2 bad usage or configuration; 78 (EX_CONFIG) RabbitMQ or its management API refused
 * the bridge's user, password or vhost.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { createBridgeRuntime, type BridgeRuntime } from './cli/bridge-runtime.ts';
import type { ComputeBackend } from './compute/compute-backend.ts';
import { buildStatusReport, renderStatusReport, statusReportJson } from './cli/status-report.ts';
import { ConfigError, describeConfig, loadBridgeConfig } from './config/bridge-config.ts';
import type { DecisionRecord } from './report/cycle-report.ts';
import { createJsonLogger, redact } from './report/json-logger.ts';

const USAGE = 'usage: oq-elastic-bridge status [--json] [--watch] | decide --dry-run | run';

/** EX_CONFIG of sysexits.h: the configuration is wrong; restarting will not help. */
export const EXIT_CONFIG_REFUSED = 78;
/** Seconds between two refreshes of `status --watch` (the default of `watch(1)`). */
export const WATCH_SECONDS = 2;
/** Clears the terminal and puts the cursor home, as `watch(1)` does between refreshes. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** The bridge's last decisions, from the file the running loop rewrites (OQE_DECISIONS_FILE). */
async function readDecisions(file: string | undefined): Promise<DecisionRecord[] | undefined> {
  if (!file) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DecisionRecord[];
  } catch {
    // No bridge has written it yet, or it is being rewritten: the report says nothing about decisions.
    return undefined;
  }
}

/** What a caller may put in place of the command's own parts. */
export interface MainOptions {
  /**
   * The fleet to observe and drive instead of the one OQE_BACKEND names (`status:local` passes a local run's).
   * @default the backend of OQE_BACKEND
   */
  readonly backend?: ComputeBackend;
}

/** Runs one command; resolves to the process exit code. */
export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  options: MainOptions = {},
): Promise<number> {
  const [command, ...flags] = argv;
  const known: Record<string, readonly string[]> = {
    status: ['--json', '--watch'],
    decide: ['--dry-run'],
    run: [],
  };
  if (!command || !(command in known) || flags.some((f) => !known[command]!.includes(f))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === 'decide' && !flags.includes('--dry-run')) {
    process.stderr.write(`decide only runs as 'decide --dry-run' (use 'run' to act)\n${USAGE}\n`);
    return 2;
  }

  // The SDK's multi-line notice that its future releases need Node.js 22 is for whoever picks the Node.js
  // release, not for an operator: the bridge image already runs 22 (bridge/Dockerfile), and on an operator's
  // machine it would precede every report and every start-up error.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  let config;
  try {
    config = loadBridgeConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }

  // `run` logs to stdout (the awslogs driver ships it); the one-shot commands keep stdout for their output.
  // The broker password is searched for in every logged string too: an error message may quote it.
  const knownSecrets = [config.broker.password];
  const log =
    command === 'run'
      ? createJsonLogger({ knownSecrets })
      : createJsonLogger({ write: (line) => process.stderr.write(`${line}\n`), knownSecrets });
  const emit = (document: Record<string, unknown>): void =>
    void process.stdout.write(`${JSON.stringify(document)}\n`);
  let runtime: BridgeRuntime | undefined;
  try {
    runtime = createBridgeRuntime(config, {
      backend: options.backend,
      log,
      emitMetrics: command === 'run' ? emit : undefined,
    });
    if (command === 'status') {
      const once = async (): Promise<{ text: string; code: number }> => {
        const observation = await runtime!.observer.observe();
        const refusal = runtime!.configurationRefusal();
        const report = buildStatusReport(observation, await readDecisions(config.decisionsFile));
        const text = flags.includes('--json')
          ? `${statusReportJson(report)}\n`
          : renderStatusReport(report, config.queue);
        const code = refusal ? EXIT_CONFIG_REFUSED : report.missing.length > 0 ? 1 : 0;
        return { text, code };
      };
      if (!flags.includes('--watch')) {
        const { text, code } = await once();
        process.stdout.write(text);
        const refusal = runtime.configurationRefusal();
        if (refusal) process.stderr.write(`${refusal}\n`);
        else if (code !== 0)
          process.stderr.write('status: some parts could not be observed (listed above)\n');
        return code;
      }
      // Like `watch celery-status`: the screen is redrawn in place until Ctrl-C; a failed look shows as such
      // in that frame and the next one tries again.
      let stopped = false;
      const stop = (): void => {
        stopped = true;
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      while (!stopped) {
        const { text } = await once();
        process.stdout.write(
          `${CLEAR_SCREEN}Every ${WATCH_SECONDS} s: oq-elastic-bridge status    ${new Date().toISOString()}\n\n${text}`,
        );
        for (let waited = 0; waited < WATCH_SECONDS * 1000 && !stopped; waited += 100)
          await new Promise((r) => setTimeout(r, 100));
      }
      return 0;
    }
    if (command === 'decide') {
      const cycle = await runtime.loop(true).runOnce();
      const { decision, observation } = cycle;
      process.stdout.write(
        `${JSON.stringify(
          redact(
            {
              reason: decision.reason,
              current: decision.current,
              target: decision.target,
              desired: decision.desired,
              retire: decision.retire,
              demand: decision.demand,
              detail: decision.detail,
              errors: observation.errors,
              note: 'dry run: nothing was changed; a fresh process has no idle history, so idle workers show IdleGrace',
            },
            knownSecrets,
          ),
          null,
          2,
        )}\n`,
      );
      const refusal = runtime.configurationRefusal();
      if (refusal) process.stderr.write(`${refusal}\n`);
      return refusal ? EXIT_CONFIG_REFUSED : 0;
    }
    const controller = new AbortController();
    const stop = (signal: string): void => {
      log('signal', { signal });
      controller.abort();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    log('config', describeConfig(config));
    // A refused login or vhost at start-up is a configuration error: holding would only repeat it forever.
    // An unreachable broker is not: the loop holds and recovers when it comes back.
    const refusal = await runtime.preflight();
    if (refusal) {
      log('config-refused', { error: refusal, exitCode: EXIT_CONFIG_REFUSED });
      process.stderr.write(`${refusal}\n`);
      return EXIT_CONFIG_REFUSED;
    }
    await runtime.loop(false).run(controller.signal);
    return 0;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    return 1;
  } finally {
    await runtime?.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
