/**
 * Draws a dashboard body as one SVG, widget by widget on CloudWatch's 24-column grid: text, alarm status,
 * single values (with sparklines), line and stacked graphs with two axes and annotations, and bar charts.
 * The look follows the CloudWatch console's light theme loosely; the layout is the body's own x, y, width, height.
 */
import { escapeXml } from '../../common/svg.ts';
import type { DashboardWidget } from './dashboard-body.ts';
import type { AlarmState } from './alarm-state.ts';
import type { EvaluatedSeries, EvaluatedWidget } from './evaluate-widget.ts';

const COLUMN = 52;
const ROW = 34;
const GAP = 6;
const MARGIN = 16;
const HEADER = 72;
/** The CloudWatch console's default series colours. */
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

export interface RenderInput {
  readonly title: string;
  readonly caption: string;
  readonly widgets: readonly DashboardWidget[];
  /** Evaluated data of each metric widget, by index in `widgets`. */
  readonly data: ReadonlyMap<number, EvaluatedWidget>;
  /** Alarm states by alarm reference as it appears in the body. */
  readonly alarmStates: ReadonlyMap<string, AlarmState>;
  /** Length of the window, seconds (for the time axis). */
  readonly seconds: number;
  /** Footnotes for widgets whose data is modelled, by widget title. */
  readonly footnotes?: ReadonlyMap<string, string>;
}

/** A figure the way a dashboard shows it: a few significant digits, SI suffixes for large values. */
export function formatValue(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e4) return String(v);
  if (a >= 1e12) return `${(v / 1e12).toFixed(2)}T`;
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)}K`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 0.01 || a === 0) return v.toFixed(2);
  return v.toPrecision(2);
}

/** Shortens a label to about `width` pixels at `charWidth` per character, with an ellipsis. */
function fit(text: string, width: number, charWidth: number): string {
  const max = Math.max(3, Math.floor(width / charWidth));
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function lastValue(values: readonly (number | undefined)[]): number | undefined {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== undefined) return values[i];
  return undefined;
}

/** Where a widget is drawn on the page, in pixels: its grid cell less the gap. */
interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

function frame({ x, y, width, height }: Box, title?: string): string {
  return (
    `<rect x="${x}" y="${y}" width="${width}" height="${height}" rx="3" fill="#ffffff" stroke="#d5dbdb"/>` +
    (title
      ? `<text x="${x + 10}" y="${y + 19}" font-size="13" font-weight="600" fill="#16191f">${escapeXml(title)}</text>`
      : '')
  );
}

function textWidget(w: DashboardWidget, { x, y, width, height }: Box): string {
  const lines = (w.properties.markdown ?? '').split('\n');
  let out = `<rect x="${x}" y="${y}" width="${width}" height="${height}" fill="#f2f3f3"/>`;
  let ty = y + 22;
  for (const line of lines) {
    const heading = line.startsWith('# ');
    const text = line.replace(/^#+\s*/, '').replace(/`/g, '');
    out += `<text x="${x + 10}" y="${ty}" font-size="${heading ? 17 : 12}" font-weight="${heading ? 700 : 400}" fill="#16191f">${escapeXml(text)}</text>`;
    ty += heading ? 24 : 17;
  }
  return out;
}

function alarmName(ref: string): string {
  // `${ClusterDashboardAlarmsBridgeHeartbeatMissingE3DEE55A.Arn}` -> "Bridge heartbeat missing"
  const id = /\$\{(?:\w*?Alarms)?(\w+?)[0-9A-F]{8}\.Arn\}/.exec(ref)?.[1] ?? ref;
  return id
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/ ([A-Z])(?=[a-z])/g, (_, c: string) => ` ${c.toLowerCase()}`);
}

function alarmWidget(input: RenderInput, w: DashboardWidget, box: Box): string {
  const { x, y, width } = box;
  let out = frame(box, w.properties.title);
  const alarms = w.properties.alarms ?? [];
  const perRow = 4;
  const boxW = (width - 20 - (perRow - 1) * 8) / perRow;
  alarms.forEach((ref, i) => {
    const state = input.alarmStates.get(ref) ?? 'INSUFFICIENT_DATA';
    const colour = state === 'ALARM' ? '#d13212' : state === 'OK' ? '#1d8102' : '#687078';
    const bx = x + 10 + (i % perRow) * (boxW + 8);
    const by = y + 28 + Math.floor(i / perRow) * 30;
    out +=
      `<rect x="${bx}" y="${by}" width="${boxW}" height="24" rx="3" fill="#fafafa" stroke="${colour}"/>` +
      `<circle cx="${bx + 12}" cy="${by + 12}" r="5" fill="${colour}"/>` +
      `<text x="${bx + 24}" y="${by + 16}" font-size="11.5" fill="#16191f">${escapeXml(alarmName(ref))}</text>` +
      `<text x="${bx + boxW - 8}" y="${by + 16}" font-size="10" text-anchor="end" fill="${colour}">${state === 'INSUFFICIENT_DATA' ? 'NO DATA' : state}</text>`;
  });
  return out;
}

function sparkline(
  values: readonly (number | undefined)[],
  x: number,
  y: number,
  w: number,
  h: number,
  colour: string,
): string {
  const max = Math.max(...values.map((v) => v ?? 0), 1e-9);
  const pts = values
    .map((v, i) =>
      v === undefined
        ? undefined
        : `${(x + (i / Math.max(1, values.length - 1)) * w).toFixed(1)},${(y + h - (v / max) * h).toFixed(1)}`,
    )
    .filter((p): p is string => p !== undefined);
  return `<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="1.5" opacity="0.7"/>`;
}

function singleValueWidget(w: DashboardWidget, d: EvaluatedWidget, box: Box): string {
  const { x, y, width, height } = box;
  let out = frame(box, w.properties.title);
  const n = Math.max(1, d.series.length);
  const cell = (width - 20) / n;
  d.series.forEach((s, i) => {
    const cx = x + 10 + i * cell;
    const value = lastValue(s.values);
    const usd = /USD/.test(s.label);
    out +=
      `<text x="${cx}" y="${y + 42}" font-size="11" fill="#545b64">${escapeXml(fit(s.label, cell - 8, 6))}</text>` +
      `<text x="${cx}" y="${y + 84}" font-size="${n > 2 ? 28 : 34}" fill="#16191f">${usd ? '$' : ''}${escapeXml(formatValue(value))}</text>`;
    if (w.properties.sparkline)
      out += sparkline(s.values, cx, y + height - 40, cell - 20, 28, PALETTE[i % PALETTE.length]!);
  });
  return out;
}

function barWidget(w: DashboardWidget, d: EvaluatedWidget, box: Box): string {
  const { x, y, width, height } = box;
  let out = frame(box, w.properties.title);
  const values = d.series.map((s) => lastValue(s.values) ?? 0);
  const max = niceMax(Math.max(...values, 0));
  const top = y + 44;
  const bottom = y + height - 30;
  const slot = (width - 60) / Math.max(1, values.length);
  values.forEach((v, i) => {
    const bh = ((bottom - top) * v) / max;
    const bx = x + 40 + i * slot + slot * 0.2;
    out +=
      `<rect x="${bx.toFixed(1)}" y="${(bottom - bh).toFixed(1)}" width="${(slot * 0.6).toFixed(1)}" height="${bh.toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"/>` +
      `<text x="${(bx + slot * 0.3).toFixed(1)}" y="${(bottom - bh - 4).toFixed(1)}" font-size="11" text-anchor="middle" fill="#16191f">${escapeXml(formatValue(v))}</text>` +
      `<text x="${(bx + slot * 0.3).toFixed(1)}" y="${bottom + 15}" font-size="11" text-anchor="middle" fill="#545b64">${escapeXml(d.series[i]!.label)}</text>`;
  });
  out += `<line x1="${x + 36}" y1="${bottom}" x2="${x + width - 16}" y2="${bottom}" stroke="#aab7b8"/>`;
  const axis = w.properties.yAxis?.left?.label;
  if (axis)
    out += `<text x="${x + 10}" y="${top - 6}" font-size="10" fill="#687078">${escapeXml(axis)}</text>`;
  return out;
}

function graphWidget(input: RenderInput, w: DashboardWidget, d: EvaluatedWidget, box: Box): string {
  const { x, y, width, height } = box;
  let out = frame(box, w.properties.title);
  const left = d.series.filter((s) => s.yAxis === 'left');
  const right = d.series.filter((s) => s.yAxis === 'right');
  const plotX = x + 48;
  const plotW = width - 48 - (right.length > 0 ? 48 : 16);
  const plotY = y + 40;
  const legendColumns = Math.max(1, Math.floor(width / 200));
  const legendRows = Math.ceil(d.series.length / legendColumns);
  const plotH = height - 40 - 24 - legendRows * 14;
  const n = d.times.length;
  const xAt = (i: number) => plotX + (n <= 1 ? 0 : (i / (n - 1)) * plotW);
  const stacked = w.properties.stacked === true;

  const axisMax = (series: EvaluatedSeries[], stack: boolean, fixed?: number) => {
    if (fixed !== undefined) return fixed;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const vals = series.map((s) => s.values[i] ?? 0);
      m = Math.max(m, stack ? vals.reduce((a, b) => a + b, 0) : Math.max(0, ...vals));
    }
    const annotation = w.properties.annotations?.horizontal?.map((a) => a.value) ?? [];
    return niceMax(Math.max(m, ...(series === left ? annotation : [])));
  };
  const leftMax = axisMax(left, stacked, w.properties.yAxis?.left?.max);
  const rightMax = axisMax(right, stacked);

  // Grid, axis labels and the time axis.
  for (let k = 0; k <= 4; k++) {
    const gy = plotY + plotH - (k / 4) * plotH;
    out += `<line x1="${plotX}" y1="${gy.toFixed(1)}" x2="${plotX + plotW}" y2="${gy.toFixed(1)}" stroke="#eaeded"/>`;
    out += `<text x="${plotX - 4}" y="${(gy + 3).toFixed(1)}" font-size="9.5" text-anchor="end" fill="#687078">${escapeXml(formatValue((leftMax * k) / 4))}</text>`;
    if (right.length > 0) {
      out += `<text x="${plotX + plotW + 4}" y="${(gy + 3).toFixed(1)}" font-size="9.5" fill="#687078">${escapeXml(formatValue((rightMax * k) / 4))}</text>`;
    }
  }
  for (let h = 0; h * 3600 <= input.seconds; h++) {
    const tx = plotX + ((h * 3600) / input.seconds) * plotW;
    out += `<text x="${tx.toFixed(1)}" y="${plotY + plotH + 12}" font-size="9.5" text-anchor="middle" fill="#687078">${h === 0 ? '0 h' : `+${h} h`}</text>`;
  }
  const leftLabel = w.properties.yAxis?.left?.label;
  if (leftLabel)
    out += `<text x="${x + 8}" y="${plotY - 6}" font-size="9.5" fill="#687078">${escapeXml(leftLabel)}</text>`;
  const rightLabel = w.properties.yAxis?.right?.label;
  if (rightLabel && right.length > 0) {
    out += `<text x="${x + width - 8}" y="${plotY - 6}" font-size="9.5" text-anchor="end" fill="#687078">${escapeXml(rightLabel)}</text>`;
  }

  const yAt = (v: number, max: number) => plotY + plotH - Math.min(1, v / max) * plotH;
  const base: number[] = Array<number>(n).fill(0);
  d.series.forEach((s, k) => {
    const colour = PALETTE[k % PALETTE.length]!;
    const max = s.yAxis === 'left' ? leftMax : rightMax;
    if (stacked && s.yAxis === 'left') {
      const upper = s.values.map((v, i) => base[i]! + (v ?? 0));
      const pts = upper.map((v, i) => `${xAt(i).toFixed(1)},${yAt(v, max).toFixed(1)}`);
      const lower = base.map((v, i) => `${xAt(i).toFixed(1)},${yAt(v, max).toFixed(1)}`).reverse();
      out += `<polygon points="${[...pts, ...lower].join(' ')}" fill="${colour}" fill-opacity="0.35" stroke="${colour}" stroke-width="1"/>`;
      upper.forEach((v, i) => (base[i] = v));
      return;
    }
    // Break the line where data is missing, as CloudWatch does.
    let path = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === undefined) {
        pen = false;
        return;
      }
      path += `${pen ? 'L' : 'M'}${xAt(i).toFixed(1)},${yAt(v, max).toFixed(1)}`;
      pen = true;
    });
    if (path) out += `<path d="${path}" fill="none" stroke="${colour}" stroke-width="1.6"/>`;
    // A point with no neighbour draws no segment: mark it, as the console does.
    s.values.forEach((v, i) => {
      if (v !== undefined && s.values[i - 1] === undefined && s.values[i + 1] === undefined) {
        out += `<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v, max).toFixed(1)}" r="2.5" fill="${colour}"/>`;
      }
    });
  });
  for (const a of w.properties.annotations?.horizontal ?? []) {
    const ay = yAt(a.value, leftMax);
    out += `<line x1="${plotX}" y1="${ay.toFixed(1)}" x2="${plotX + plotW}" y2="${ay.toFixed(1)}" stroke="${a.color ?? '#d13212'}" stroke-dasharray="4 3"/>`;
    if (a.label)
      out += `<text x="${plotX + plotW - 2}" y="${(ay - 3).toFixed(1)}" font-size="9.5" text-anchor="end" fill="${a.color ?? '#d13212'}">${escapeXml(a.label)}</text>`;
  }
  d.series.forEach((s, k) => {
    const lx = x + 10 + (k % legendColumns) * ((width - 20) / legendColumns);
    const ly = y + height - 10 - (legendRows - 1 - Math.floor(k / legendColumns)) * 14;
    out +=
      `<rect x="${lx}" y="${ly - 8}" width="9" height="9" fill="${PALETTE[k % PALETTE.length]}"/>` +
      `<text x="${lx + 13}" y="${ly}" font-size="10" fill="#545b64">${escapeXml(s.label)}${s.yAxis === 'right' ? ' (right)' : ''}</text>`;
  });
  return out;
}

/** The whole dashboard as an SVG document. */
export function renderDashboardSvg(input: RenderInput): string {
  const rows = Math.max(...input.widgets.map((w) => w.y + w.height));
  const width = MARGIN * 2 + 24 * COLUMN;
  const footnotes = [...new Set((input.footnotes ?? new Map<string, string>()).values())];
  const height = HEADER + rows * ROW + MARGIN + 16 * footnotes.length + 8;
  let body = '';
  input.widgets.forEach((w, i) => {
    const box: Box = {
      x: MARGIN + w.x * COLUMN,
      y: HEADER + w.y * ROW,
      width: w.width * COLUMN - GAP,
      height: w.height * ROW - GAP,
    };
    const d = input.data.get(i);
    if (w.type === 'text') body += textWidget(w, box);
    else if (w.type === 'alarm') body += alarmWidget(input, w, box);
    else if (d && w.properties.view === 'singleValue') body += singleValueWidget(w, d, box);
    else if (d && w.properties.view === 'bar') body += barWidget(w, d, box);
    else if (d) body += graphWidget(input, w, d, box);
    const note = input.footnotes?.get(w.properties.title ?? '');
    if (note)
      body += `<text x="${box.x + box.width - 8}" y="${box.y + 18}" font-size="11" text-anchor="end" fill="#8d6708">*</text>`;
  });
  const notes = footnotes
    .map(
      (text, k) =>
        `<text x="${MARGIN}" y="${HEADER + rows * ROW + 14 + k * 16}" font-size="11" fill="#545b64">* ${escapeXml(text)}</text>`,
    )
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#f2f3f3"/>`,
    `<text x="${MARGIN}" y="28" font-size="20" font-weight="700" fill="#16191f">${escapeXml(input.title)}</text>`,
    ...input.caption
      .split('\n')
      .map(
        (line, k) =>
          `<text x="${MARGIN}" y="${46 + k * 15}" font-size="12" fill="#545b64">${escapeXml(line)}</text>`,
      ),
    body,
    notes,
    '</svg>',
    '',
  ].join('\n');
}
