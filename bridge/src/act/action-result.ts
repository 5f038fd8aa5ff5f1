/** What the actor did in one cycle, for the logs, the metrics and the tests. */
export interface ActionResult {
  /** `none` when the decision needed no action or was a hold. */
  readonly kind: 'none' | 'scaleOut' | 'scaleIn' | 'skipped' | 'failed';
  /** Desired count before and after. */
  readonly from?: number;
  readonly to?: number;
  /** Units retired after a confirmed drain. */
  readonly retired: readonly string[];
  /** Units whose drain was aborted because their worker took a task (consumer given back). */
  readonly aborted: readonly string[];
  /** Workers whose consumer was given back (a drain left over from before a restart, or an abort). */
  readonly restored: readonly string[];
  /** One sentence for the logs; never carries credentials. */
  readonly detail: string;
}

/** An empty result with the given kind and detail. */
export function actionResult(
  kind: ActionResult['kind'],
  detail: string,
  extra: Partial<Omit<ActionResult, 'kind' | 'detail'>> = {},
): ActionResult {
  return { kind, detail, retired: [], aborted: [], restored: [], ...extra };
}
