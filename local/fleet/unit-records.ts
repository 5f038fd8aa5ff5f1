import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a local fleet remembers of one unit, in `<stateDir>/units/<unitId>.json`, with what its runtime needs to
 * find the unit again (`Runtime`: a process id, nothing for a container named after its unit). The records
 * outlive the bridge, as its workers do: a bridge restarted on the same directory finds the fleet it left.
 */
export type UnitRecord<Runtime extends object = object> = Runtime & {
  readonly unitId: string;
  readonly startedAt: number;
  /** Retired or shut down: a warm shutdown is under way. */
  stopping?: boolean;
  /** Celery said it is ready (its log line, or its answer to the fleet's readiness probe). */
  ready?: boolean;
  /** Scale-in protection (ComputeBackend.protect). */
  protected?: boolean;
};

/** The unit records of one state directory. */
export class UnitRecords<Runtime extends object> {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'units');
    mkdirSync(this.dir, { recursive: true });
  }

  /** Every record, alive or not (the runtime tells); a record being written right now is seen next time. */
  all(): UnitRecord<Runtime>[] {
    const records: UnitRecord<Runtime>[] = [];
    for (const file of readdirSync(this.dir)) {
      if (!file.endsWith('.json')) continue;
      try {
        records.push(JSON.parse(readFileSync(join(this.dir, file), 'utf8')) as UnitRecord<Runtime>);
      } catch {
        continue; // being written by a concurrent writer; seen next cycle
      }
    }
    return records;
  }

  write(record: UnitRecord<Runtime>): void {
    writeFileSync(this.path(record.unitId), JSON.stringify(record));
  }

  /**
   * Sets flags on a unit's record as it is on disk now (another fleet object on the directory may have set
   * others meanwhile), or on `record` while the file is being rewritten; a unit whose record is gone is left
   * alone.
   */
  update(record: UnitRecord<Runtime>, flags: Pick<UnitRecord, 'stopping' | 'ready' | 'protected'>): void {
    let current = record;
    try {
      current = JSON.parse(readFileSync(this.path(record.unitId), 'utf8')) as UnitRecord<Runtime>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    }
    this.write({ ...current, ...flags });
  }

  /** Deletes a unit's record; true for the one caller that deleted it, so that a unit's exit is logged once. */
  remove(unitId: string): boolean {
    try {
      rmSync(this.path(unitId));
      return true;
    } catch {
      return false;
    }
  }

  private path(unitId: string): string {
    return join(this.dir, `${unitId}.json`);
  }
}
