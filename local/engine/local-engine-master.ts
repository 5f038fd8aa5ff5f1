import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import { assertEngineEnv, ENGINE_VENV, engineBin } from './engine-env.ts';
import { freePortRange } from './free-ports.ts';
import { renderLocalOpenquakeCfg } from './local-openquake-cfg.ts';
import { sleep } from '../timeouts.ts';
import { asOpenquake, openquakeIds } from './openquake-user.ts';

/** The broker and vhost of the engine's celery traffic (the vhost must exist, with the user's permissions). */
export interface EngineBroker {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly vhost: string;
}

/** Options of {@link LocalEngineMaster.start}. */
export interface LocalEngineMasterOptions {
  readonly broker: EngineBroker;
  /** `[distribution] num_cores`: the fleet's maximum worker processes, as on the EC2 master. */
  readonly numCores: number;
  /** Where the database, shared_dir and logs go. @default a new temporary directory, removed by `stop` */
  readonly rootDir?: string;
  /**
   * `[distribution] serialize_jobs`, which the master leaves at the engine's default of 1: a second calculation
   * waits ("Waiting for jobs [N]", status `submitted`) until the first ends. Tests that need two calculations
   * running at once set 2. @default the master's (unset)
   */
  readonly serializeJobs?: number;
}

/** An `oq engine --run` in progress. */
export interface EngineJob {
  /** The engine's job id, once its first log line names it. */
  readonly jobId: Promise<number>;
  /** Resolves when `oq engine` exits (never rejects). */
  readonly finished: Promise<{ code: number; log: string }>;
  readonly logPath: string;
}

/** The engine fixes the master loads (docs/master.md, "Engine traps"). */
const ENGINE_PATCHES_DIR = fileURLToPath(new URL('../../worker-image/engine-patches', import.meta.url));

const JOB_ID_IN_LOG = /\[\d{4}-\d\d-\d\d [\d:]+ #(\d+) /;

/**
 * A local OpenQuake master, as the EC2 master runs it: the DbServer as the `openquake` user with the master's own
 * `openquake.cfg` (ports and paths moved to free ones, a vhost of the caller's), and `oq engine` commands run as
 * that user against it. The workers reach the DbServer and the result receivers on loopback.
 */
export class LocalEngineMaster {
  private dbserver?: ChildProcess;

  private constructor(
    readonly rootDir: string,
    readonly configPath: string,
    readonly sharedDir: string,
    readonly dbserverPort: number,
    readonly receiverPorts: { readonly from: number; readonly to: number },
    /** The broker and vhost of this master's engine. */
    readonly broker: EngineBroker,
    private readonly authkey: string,
    private readonly ownsRoot: boolean,
  ) {}

  /** Renders the configuration, starts the DbServer and waits until it accepts connections. */
  static async start(options: LocalEngineMasterOptions): Promise<LocalEngineMaster> {
    assertEngineEnv();
    const ids = openquakeIds();
    const rootDir = options.rootDir ?? mkdtempSync(join(tmpdir(), 'oqe-engine-master-'));
    const sharedDir = join(rootDir, 'shared');
    const dbDir = join(rootDir, 'db');
    for (const dir of [sharedDir, dbDir, join(rootDir, 'jobs'), join(rootDir, 'exports')]) {
      mkdirSync(dir, { recursive: true });
    }
    // One range: the DbServer's port, then nine receiver ports like the master's 1912-1920.
    const ports = await freePortRange(10);
    const receiverPorts = { from: ports.from + 1, to: ports.to };
    const authkey = randomBytes(12).toString('hex');
    const configPath = join(rootDir, 'openquake.cfg');
    const rendered = renderLocalOpenquakeCfg({
      amqpHost: options.broker.host,
      amqpPort: options.broker.port,
      amqpUser: options.broker.user,
      amqpPassword: options.broker.password,
      amqpVhost: options.broker.vhost,
      dbserverAuthkey: authkey,
      numCores: options.numCores,
      dbserverPort: ports.from,
      receiverPorts,
      databaseFile: join(dbDir, 'db.sqlite3'),
      sharedDir,
    });
    const cfg =
      options.serializeJobs === undefined
        ? rendered
        : rendered.replace('[distribution]\n', `[distribution]\nserialize_jobs = ${options.serializeJobs}\n`);
    writeFileSync(configPath, cfg, { mode: 0o600 });
    // The master's files belong to openquake (the configuration holds the broker password: owner only);
    // shared_dir is readable by everyone, as the workers (root here, uid 1200 in containers) read datastores.
    chmodSync(rootDir, 0o755);
    if (ids && process.getuid?.() === 0) {
      for (const path of [
        rootDir,
        sharedDir,
        dbDir,
        configPath,
        join(rootDir, 'jobs'),
        join(rootDir, 'exports'),
      ]) {
        chownSync(path, ids.uid, ids.gid);
      }
    }
    const master = new LocalEngineMaster(
      rootDir,
      configPath,
      sharedDir,
      ports.from,
      receiverPorts,
      options.broker,
      authkey,
      options.rootDir === undefined,
    );
    const site = join(rootDir, 'engine-site');
    mkdirSync(site, { recursive: true });
    writeFileSync(join(site, 'sitecustomize.py'), 'import oq_elastic_engine_patches  # noqa: F401\n');
    await master.startDbServer();
    return master;
  }

  /**
   * The variables the product's worker entrypoint needs to serve this master (worker-image/entrypoint), and only
   * those: a worker gets no other secret than the broker password and the DbServer authkey it must have.
   */
  workerEnvironment(): Record<string, string> {
    return {
      OQ_MASTER_HOST: this.broker.host,
      OQ_AMQP_PORT: String(this.broker.port),
      OQ_AMQP_USER: this.broker.user,
      OQ_AMQP_PASSWORD: this.broker.password,
      OQ_AMQP_VHOST: this.broker.vhost,
      OQ_CELERY_QUEUE: 'celery',
      OQ_DBSERVER_PORT: String(this.dbserverPort),
      OQ_DBSERVER_AUTHKEY: this.authkey,
      OQ_RECEIVER_PORTS: `${this.receiverPorts.from}-${this.receiverPorts.to}`,
      OQ_SHARED_DIR: this.sharedDir,
      OQ_WORKER_APP: 'engine',
    };
  }

  /**
   * Copies a job's directory (for example a QA job of the engine wheel, which is read-only) into the master's
   * jobs directory, owned by openquake, and returns the path of its job.ini there.
   */
  stageJob(jobIni: string, name = basename(dirname(jobIni))): string {
    const target = join(this.rootDir, 'jobs', `${name}-${randomBytes(3).toString('hex')}`);
    cpSync(dirname(jobIni), target, { recursive: true });
    const ids = openquakeIds();
    if (ids && process.getuid?.() === 0) chownTree(target, ids.uid, ids.gid);
    return join(target, basename(jobIni));
  }

  /**
   * Starts `oq engine --run jobIni` as openquake. `distribute` `processpool` runs it on this machine alone
   * (`OQ_DISTRIBUTE`, the engine's own override), for the single-machine reference.
   */
  runJob(
    jobIni: string,
    options: { distribute?: 'celery' | 'processpool'; logPath?: string } = {},
  ): EngineJob {
    const logPath = options.logPath ?? join(this.rootDir, `engine-${randomBytes(3).toString('hex')}.log`);
    const out = openSync(logPath, 'a');
    const extra: Record<string, string> =
      options.distribute === 'processpool' ? { OQ_DISTRIBUTE: 'processpool' } : {};
    const [cmd, args] = asOpenquake(engineBin('oq'), ['engine', '--run', jobIni]);
    const child = spawn(cmd, args, { env: this.engineEnv(extra), stdio: ['ignore', out, out] });
    closeSync(out);
    const finished = new Promise<{ code: number; log: string }>((resolve) => {
      child.on('error', (error) => resolve({ code: -1, log: `${readText(logPath)}\n${error.message}` }));
      child.on('close', (code, signal) =>
        resolve({ code: code ?? (signal ? 128 : -1), log: readText(logPath) }),
      );
    });
    const jobId = (async () => {
      for (;;) {
        const match = JOB_ID_IN_LOG.exec(readText(logPath));
        if (match) return Number(match[1]);
        const exited = await Promise.race([finished, sleep(200).then(() => undefined)]);
        if (exited && !JOB_ID_IN_LOG.test(readText(logPath))) {
          throw new Error(
            `oq engine --run exited with ${exited.code} before naming its job: ${exited.log.slice(-1500)}`,
          );
        }
      }
    })();
    jobId.catch(() => undefined);
    return { jobId, finished, logPath };
  }

  /** The job's status in the engine's database (`complete`, `failed`, `aborted`, `executing` ...). */
  async jobStatus(jobId: number): Promise<string> {
    const { code, out } = await this.oq(['engine', '--lhc']);
    const line = out.split('\n').find((l) => new RegExp(`^\\s*${jobId}\\s*\\|`).test(l));
    if (code !== 0 || line === undefined)
      throw new Error(`oq engine --lhc did not list job ${jobId}: ${out}`);
    return line.split('|')[1]!.trim();
  }

  /** `oq abort jobId`, as a user aborts a calculation; returns what it printed. */
  async abort(jobId: number): Promise<string> {
    return (await this.oq(['abort', String(jobId)])).out.trim();
  }

  /** Exports every output of the job as CSV into a new directory and returns it. */
  async exportOutputs(jobId: number): Promise<string> {
    const dir = join(this.rootDir, 'exports', String(jobId));
    mkdirSync(dir, { recursive: true });
    const ids = openquakeIds();
    if (ids && process.getuid?.() === 0) chownSync(dir, ids.uid, ids.gid);
    const { code, out } = await this.oq(['engine', '--eos', String(jobId), dir, '--exports', 'csv']);
    if (code !== 0) throw new Error(`oq engine --eos ${jobId} failed (${code}): ${out.slice(-1500)}`);
    return dir;
  }

  /** The job's datastore (the engine writes it under shared_dir, per user). */
  datastorePath(jobId: number): string {
    return join(this.sharedDir, 'openquake', 'oqdata', `calc_${jobId}.hdf5`);
  }

  /**
   * Stops the DbServer (its whole process group) and removes a temporary root directory, unless `keep` (a run
   * that went wrong keeps its logs) or OQE_KEEP_RUN_LOGS=1.
   */
  async stop(keep = false): Promise<void> {
    const child = this.dbserver;
    if (child?.pid !== undefined && child.exitCode === null) {
      signalGroup(child.pid, 'SIGTERM');
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await Promise.race([exited, sleep(5000)]);
      signalGroup(child.pid, 'SIGKILL');
    }
    if (this.ownsRoot && !keep && process.env.OQE_KEEP_RUN_LOGS !== '1')
      rmSync(this.rootDir, { recursive: true, force: true });
  }

  /** The environment of every engine command: the engine's own configuration and user, nothing of the caller's. */
  private engineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      // The EC2 master's engine imports the engine patches through a .pth line (cdk/lib/master/boot-script.ts);
      // here a sitecustomize.py does the same for the master's processes only, and .engine-venv stays as shipped.
      PYTHONPATH: `${join(this.rootDir, 'engine-site')}:${ENGINE_PATCHES_DIR}`,
      PATH: `${join(ENGINE_VENV, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
      USER: 'openquake',
      LOGNAME: 'openquake',
      HOME: this.rootDir,
      LANG: 'C.UTF-8',
      OQ_CONFIG_FILE: this.configPath,
      PYTHONUNBUFFERED: '1',
      ...extra,
    };
  }

  private async startDbServer(): Promise<void> {
    const logPath = join(this.rootDir, 'dbserver.log');
    const out = openSync(logPath, 'a');
    // With multi_user = true the DbServer stays in the foreground (it does not daemonize); its own group, so
    // that stop() reaches it whatever it forks.
    const [cmd, args] = asOpenquake(engineBin('oq'), ['dbserver', 'start']);
    this.dbserver = spawn(cmd, args, { env: this.engineEnv(), stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    this.dbserver.on('error', () => undefined);
    const deadline = Date.now() + 30_000;
    while (!(await portOpen(this.dbserverPort))) {
      if (this.dbserver.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `the DbServer did not listen on 127.0.0.1:${this.dbserverPort} within 30 s: ${readText(logPath).slice(-1500)}`,
        );
      }
      await sleep(200);
    }
  }

  private oq(args: readonly string[]): Promise<{ code: number; out: string }> {
    const [cmd, full] = asOpenquake(engineBin('oq'), args);
    return new Promise((resolve) => {
      const child = spawn(cmd, full, { env: this.engineEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', (error) => resolve({ code: -1, out: error.message }));
      child.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
  }
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child, uid, gid);
    else chownSync(child, uid, gid);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}
