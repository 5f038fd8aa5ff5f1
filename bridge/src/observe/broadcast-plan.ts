/**
 * The observer's broadcast planning, pure: which remote-control commands a cycle sends and to whom, from what
 * the first round and the broker said. The observer (observer.ts) is the I/O shell that sends them; the
 * reasons for each rule are in its `observeWorkers` documentation and docs/observe.md.
 */

/** What the first round (`active`, with `reserved` when the last cycle needed it) and the broker said. */
export interface FirstRoundFacts {
  /** Whether `active` came back at all. */
  readonly activeOk: boolean;
  /** Workers that answered `active`. */
  readonly activeRepliers: number;
  /** Tasks the workers report active. */
  readonly activeTasks: number;
  /** Expected workers that did not answer `active`. */
  readonly activeMissing: number;
  /** The broker's unacknowledged count (management API), undefined when unknown. */
  readonly managementUnacked?: number;
}

/**
 * True when no worker can hold a reserved task, so `reserved` need not be asked: every expected worker
 * answered `active` and the broker's unacknowledged count is no more than the tasks they report active.
 */
export function reservedIsEmpty(facts: FirstRoundFacts): boolean {
  return (
    facts.activeOk &&
    facts.activeMissing === 0 &&
    facts.activeRepliers > 0 &&
    facts.managementUnacked !== undefined &&
    facts.managementUnacked <= facts.activeTasks
  );
}

/** What the second round needs to know. */
export interface SecondRoundFacts {
  /** Workers that answered `active` or `reserved`. */
  readonly answered: ReadonlySet<string>;
  /** Workers that answered both (their load is known). */
  readonly full: readonly string[];
  /** Expected workers that missed `active` or `reserved`. */
  readonly missed: ReadonlySet<string>;
  /** Whether a worker answered the first round's `stats`. */
  readonly heardStats: (hostname: string) => boolean;
  /** Whether a worker's pool size is cached. */
  readonly poolSizeKnown: (hostname: string) => boolean;
  /** Whether a worker was last seen consuming the queue (undefined: never asked). */
  readonly consuming: (hostname: string) => boolean | undefined;
  /** Queue consumers from the passive declare, undefined when it failed. */
  readonly passiveConsumers?: number;
}

/** The second round: `stats` to whom, whether to ask `active_queues`. */
export interface SecondRoundPlan {
  /** Workers asked `stats`: pool size not cached yet, or expected and silent in the first round. */
  readonly statsFor: string[];
  /** Expected workers silent in the first round (their `stats` gets a short timeout). */
  readonly missedNow: string[];
  /** Whether the workers that answered in full are asked `active_queues`. */
  readonly askQueues: boolean;
}

/** Plans the second round from the first round's facts. */
export function planSecondRound(facts: SecondRoundFacts): SecondRoundPlan {
  const { answered, full, heardStats } = facts;
  const missedNow = [...facts.missed].filter((h) => !answered.has(h) && !heardStats(h));
  const statsFor = [...[...answered].filter((h) => !facts.poolSizeKnown(h) && !heardStats(h)), ...missedNow];
  const assumedConsuming = full.filter((h) => facts.consuming(h) !== false).length;
  const askQueues =
    full.length > 0 &&
    (full.some((h) => facts.consuming(h) === false) ||
      facts.passiveConsumers === undefined ||
      facts.passiveConsumers < assumedConsuming);
  return { statsFor, missedNow, askQueues };
}
