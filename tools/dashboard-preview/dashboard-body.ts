/**
 * Reads a synthesized CloudWatch dashboard back into data: the dashboard body is a `Fn::Join` of JSON text and
 * CloudFormation references; references become readable placeholders (`${LogicalId}`), so the tests and the
 * preview work on exactly what CloudFormation would deploy. Body format: the CloudWatch "Dashboard body
 * structure and syntax" reference.
 */

/** One entry of a metric widget's `metrics` array: a metric (namespace, name, dimension pairs, options) or an expression. */
export type MetricRow = (string | MetricRowOptions)[];

export interface MetricRowOptions {
  readonly expression?: string;
  readonly id?: string;
  readonly label?: string;
  readonly visible?: boolean;
  readonly stat?: string;
  readonly period?: number;
  readonly yAxis?: 'left' | 'right';
  readonly color?: string;
}

export interface DashboardWidget {
  readonly type: 'metric' | 'text' | 'alarm' | string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly properties: {
    readonly title?: string;
    readonly markdown?: string;
    readonly view?: 'timeSeries' | 'singleValue' | 'bar' | 'pie' | 'gauge';
    readonly stacked?: boolean;
    readonly metrics?: MetricRow[];
    readonly alarms?: string[];
    readonly stat?: string;
    readonly period?: number;
    readonly start?: string;
    readonly setPeriodToTimeRange?: boolean;
    readonly sparkline?: boolean;
    readonly yAxis?: { left?: { label?: string; min?: number; max?: number }; right?: { label?: string } };
    readonly annotations?: { horizontal?: { value: number; label?: string; color?: string }[] };
  };
}

export interface DashboardBody {
  readonly start?: string;
  readonly widgets: DashboardWidget[];
}

type CfnValue = string | { Ref: string } | { 'Fn::GetAtt': [string, string] } | Record<string, unknown>;

function placeholder(part: CfnValue, region: string): string {
  if (typeof part === 'string') return part;
  if ('Ref' in part && typeof part.Ref === 'string')
    return part.Ref === 'AWS::Region' ? region : `\${${part.Ref}}`;
  const getAtt = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt) return `\${${getAtt[0]}.${getAtt[1]}}`;
  throw new Error(`readDashboardBody: unexpected CloudFormation value in the body: ${JSON.stringify(part)}`);
}

/**
 * The body of the one `AWS::CloudWatch::Dashboard` in a synthesized template (`Template.toJSON()` or the
 * template file's JSON).
 */
export function readDashboardBody(
  template: { Resources?: Record<string, unknown> },
  region = 'us-east-1',
): DashboardBody {
  const dashboards = Object.values(template.Resources ?? {}).filter(
    (r): r is { Properties: { DashboardBody: unknown } } =>
      (r as { Type?: string }).Type === 'AWS::CloudWatch::Dashboard',
  );
  if (dashboards.length !== 1) {
    throw new Error(
      `readDashboardBody: expected one AWS::CloudWatch::Dashboard, found ${dashboards.length}.`,
    );
  }
  const raw = dashboards[0]!.Properties.DashboardBody;
  let text: string;
  if (typeof raw === 'string') text = raw;
  else {
    const join = (raw as { 'Fn::Join'?: [string, CfnValue[]] })['Fn::Join'];
    if (!join) throw new Error('readDashboardBody: DashboardBody is neither a string nor an Fn::Join.');
    text = join[1].map((part) => placeholder(part, region)).join(join[0]);
  }
  return JSON.parse(text) as DashboardBody;
}

/** The metric rows of a widget split into metrics and expressions, with their ids. */
export interface WidgetSeries {
  readonly id?: string;
  readonly label?: string;
  readonly visible: boolean;
  readonly yAxis: 'left' | 'right';
  readonly expression?: string;
  readonly metric?: {
    namespace: string;
    metricName: string;
    dimensions: Record<string, string>;
    stat?: string;
  };
}

/**
 * Expands a widget's `metrics` rows. CloudWatch lets a row repeat the previous row's namespace, name and
 * dimensions with `"."`; CDK does not write that shorthand, but it is resolved here so hand-edited bodies read too.
 */
export function widgetSeries(widget: DashboardWidget): WidgetSeries[] {
  const out: WidgetSeries[] = [];
  let previous: string[] = [];
  for (const row of widget.properties.metrics ?? []) {
    const last = row[row.length - 1];
    const options: MetricRowOptions = typeof last === 'object' ? last : {};
    const strings = row
      .filter((c): c is string => typeof c === 'string')
      .map((c, i) => (c === '.' ? previous[i]! : c));
    const common = {
      id: options.id,
      label: options.label,
      visible: options.visible !== false,
      yAxis: options.yAxis ?? 'left',
    } as const;
    if (options.expression !== undefined) {
      out.push({ ...common, expression: options.expression });
      continue;
    }
    previous = strings;
    const [namespace, metricName, ...pairs] = strings;
    const dimensions: Record<string, string> = {};
    for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i]!] = pairs[i + 1]!;
    out.push({
      ...common,
      metric: {
        namespace: namespace!,
        metricName: metricName!,
        dimensions,
        stat: options.stat ?? widget.properties.stat,
      },
    });
  }
  return out;
}
