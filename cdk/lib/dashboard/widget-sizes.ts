/**
 * Named widget sizes of the cluster dashboard, in CloudWatch dashboard grid units (24 columns wide; a height
 * unit is about 30 px in the console). Rows are filled left to right, so a row adds up to 24 columns.
 */
export interface WidgetSize {
  readonly width: number;
  readonly height: number;
}

export const WIDGET_SIZES = {
  /** The title strip with the cluster's facts and the price assumptions. */
  banner: { width: 24, height: 2 },
  /** A headline figure (cost per hour, workers now). Four to a row. */
  headline: { width: 6, height: 4 },
  /** A graph of one concern; two to a row. */
  half: { width: 12, height: 6 },
  /** A graph of a secondary concern; three to a row. */
  third: { width: 8, height: 6 },
  /** The alarm status strip. */
  alarms: { width: 24, height: 3 },
} as const satisfies Record<string, WidgetSize>;
