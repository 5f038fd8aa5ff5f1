import { escapeXml } from '../../../common/svg.ts';

/**
 * Two small SVG charts with no dependencies: grouped bars (a ratio per trace and policy) and step lines (the
 * worker count over time per policy). Plain SVG 1.1, so GitHub renders them inline.
 */

const COLOURS = ['#1b9e77', '#7570b3', '#d95f02', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Both charts share one canvas: the plot on the left, the legend in the right margin. */
const W = 900;
const H = 360;
const LEFT = 60;
const RIGHT = 200;
const TOP = 40;
const PLOT_W = W - LEFT - RIGHT;

/**
 * The SVG's opening, background, title, y grid (five lines from 0 to `maxV`, each followed by `tick(i)`
 * when given: the x-axis labels of a time chart) and y-axis label.
 */
function frame(
  title: string,
  yLabel: string,
  plotH: number,
  maxV: number,
  y: (v: number) => number,
  tick?: (i: number) => string,
): string[] {
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - RIGHT / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (maxV * i) / 4;
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
    if (tick) parts.push(tick(i));
  }
  parts.push(
    `<text x="14" y="${TOP + plotH / 2}" transform="rotate(-90 14 ${TOP + plotH / 2})" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  return parts;
}

/** One legend entry (a colour swatch and its label) in the right margin, row `index`. */
function legendEntry(index: number, colour: string, label: string): string[] {
  const ly = TOP + index * 18;
  return [
    `<rect x="${LEFT + PLOT_W + 16}" y="${ly}" width="12" height="12" fill="${colour}"/>`,
    `<text x="${LEFT + PLOT_W + 34}" y="${ly + 10}">${escapeXml(label)}</text>`,
  ];
}

export interface BarGroup {
  readonly label: string;
  /** One value per series; undefined or non-finite draws a hatched "did not finish" stub. */
  readonly values: readonly (number | undefined)[];
}

/** Grouped bars with a horizontal reference line (ratio 1 = the bridge). Values above `cap` are clipped. */
export function groupedBarChart(opts: {
  readonly title: string;
  readonly series: readonly string[];
  readonly groups: readonly BarGroup[];
  readonly reference?: number;
  readonly cap: number;
  readonly yLabel: string;
}): string {
  const plotH = H - TOP - 60;
  const groupW = PLOT_W / opts.groups.length;
  const barW = (groupW * 0.8) / opts.series.length;
  const y = (v: number): number => TOP + plotH - (Math.min(v, opts.cap) / opts.cap) * plotH;
  const parts = frame(opts.title, opts.yLabel, plotH, opts.cap, y);
  opts.groups.forEach((g, gi) => {
    const gx = LEFT + gi * groupW + groupW * 0.1;
    g.values.forEach((v, si) => {
      const x = gx + si * barW;
      const colour = COLOURS[si % COLOURS.length]!;
      if (v === undefined || !Number.isFinite(v)) {
        parts.push(
          `<rect x="${x}" y="${TOP}" width="${barW - 1}" height="${plotH}" fill="none" stroke="${colour}" stroke-dasharray="3,3"/>`,
        );
        return;
      }
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${barW - 1}" height="${TOP + plotH - y(v)}" fill="${colour}"><title>${escapeXml(`${opts.series[si]} ${g.label}: ${v.toFixed(2)}`)}</title></rect>`,
      );
      if (v > opts.cap) parts.push(`<text x="${x}" y="${TOP - 2}" font-size="9">${fmt(v)}</text>`);
    });
    parts.push(
      `<text x="${gx + (barW * g.values.length) / 2}" y="${TOP + plotH + 16}" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });
  if (opts.reference !== undefined) {
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + PLOT_W}" y1="${y(opts.reference)}" y2="${y(opts.reference)}" stroke="black" stroke-dasharray="6,3"/>`,
    );
  }
  opts.series.forEach((s, si) => parts.push(...legendEntry(si, COLOURS[si % COLOURS.length]!, s)));
  parts.push(
    `<text x="${LEFT}" y="${H - 12}" font-size="10">dashed outline: did not finish within the time limit; numbers above the frame: clipped values</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}

export interface LineSeries {
  readonly label: string;
  readonly points: readonly { readonly t: number; readonly v: number }[];
}

/** Step lines of a count over time (hours on the x axis). */
export function stepLineChart(opts: {
  readonly title: string;
  readonly series: readonly LineSeries[];
  readonly maxT: number;
  readonly maxV: number;
  readonly yLabel: string;
}): string {
  const plotH = H - TOP - 50;
  const x = (t: number): number => LEFT + (Math.min(t, opts.maxT) / opts.maxT) * PLOT_W;
  const y = (v: number): number => TOP + plotH - (Math.min(v, opts.maxV) / opts.maxV) * plotH;
  const hoursTick = (i: number): string => {
    const t = (opts.maxT * i) / 4;
    return `<text x="${x(t)}" y="${TOP + plotH + 16}" text-anchor="middle">${(t / 3600).toFixed(2)} h</text>`;
  };
  const parts = frame(opts.title, opts.yLabel, plotH, opts.maxV, y, hoursTick);
  opts.series.forEach((s, si) => {
    const colour = COLOURS[si % COLOURS.length]!;
    let d = '';
    let prev: number | undefined;
    let lastT = 0;
    for (const p of s.points) {
      if (p.t > opts.maxT) break;
      lastT = p.t;
      if (prev === undefined) d += `M${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      else if (p.v !== prev) d += `H${x(p.t).toFixed(1)}V${y(p.v).toFixed(1)}`;
      prev = p.v;
    }
    if (prev !== undefined) d += `H${x(lastT).toFixed(1)}`;
    parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    parts.push(...legendEntry(si, colour, s.label));
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
