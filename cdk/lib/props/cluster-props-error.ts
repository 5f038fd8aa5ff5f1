/** A prop that failed validation. The message names the prop, the value and the fix. */
export class ClusterPropsError extends Error {
  constructor(
    readonly prop: string,
    value: unknown,
    fix: string,
  ) {
    super(`oq-elastic: invalid prop ${prop}=${JSON.stringify(value)}: ${fix}`);
    this.name = 'ClusterPropsError';
  }
}
