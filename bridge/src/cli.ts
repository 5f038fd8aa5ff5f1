#!/usr/bin/env -S npx tsx
/**
 * The bridge's command line:
 *   status [--json]      the classic celery-status report plus the queue and fleet figures
 *   decide --dry-run     what the loop would do now, without acting
 *   run                  the control loop, until SIGTERM or SIGINT
 * Configuration comes from the environment (docs/bridge.md); it is validated before anything connects.
 */
import { pathToFileURL } from 'node:url';
import { createBridgeRuntime, type BridgeRuntime } from './cli/bridge-runtime.ts';
import { buildStatusReport, renderStatusReport, statusReportJson } from './cli/status-report.ts';
import { ConfigError, describeConfig, loadBridgeConfig } from './config/bridge-config.ts';
import { createJsonLogger, redact } from './report/json-logger.ts';

const USAGE = 'usage: oq-elastic-bridge status [--json] | decide --dry-run | run';

/** Runs one command; resolves to the process exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...flags] = argv;
  const known: Record<string, readonly string[]> = { status: ['--json'], decide: ['--dry-run'], run: [] };
  if (!command || !(command in known) || flags.some((f) => !known[command]!.includes(f))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === 'decide' && !flags.includes('--dry-run')) {
    process.stderr.write(`decide only runs as 'decide --dry-run' (use 'run' to act)\n${USAGE}\n`);
    return 2;
  }

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
  const log =
    command === 'run' ? createJsonLogger() : createJsonLogger((line) => process.stderr.write(`${line}\n`));
  const emit = (document: Record<string, unknown>): void =>
    void process.stdout.write(`${JSON.stringify(document)}\n`);
  let runtime: BridgeRuntime | undefined;
  try {
    runtime = createBridgeRuntime(config, { log, emitMetrics: command === 'run' ? emit : undefined });
    if (command === 'status') {
      const report = buildStatusReport(await runtime.observer.observe());
      process.stdout.write(
        flags.includes('--json') ? `${statusReportJson(report)}\n` : renderStatusReport(report, config.queue),
      );
      return 0;
    }
    if (command === 'decide') {
      const cycle = await runtime.loop(true).runOnce();
      const { decision, observation } = cycle;
      process.stdout.write(
        `${JSON.stringify(
          redact({
            reason: decision.reason,
            current: decision.current,
            target: decision.target,
            desired: decision.desired,
            retire: decision.retire,
            demand: decision.demand,
            detail: decision.detail,
            errors: observation.errors,
            note: 'dry run: nothing was changed; a fresh process has no idle history, so idle workers show IdleGrace',
          }),
          null,
          2,
        )}\n`,
      );
      return 0;
    }
    const controller = new AbortController();
    const stop = (signal: string): void => {
      log('signal', { signal });
      controller.abort();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    log('config', describeConfig(config));
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
