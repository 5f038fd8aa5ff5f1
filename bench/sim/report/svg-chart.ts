/**
 * Two small SVG charts with no dependencies: grouped bars (a ratio per trace and policy) and step lines (the
 * worker count over time per policy). Plain SVG 1.1, so GitHub renders them inline.
 */

const COLOURS = ['#1b9e77', '#7570b3', '#d95f02', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
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
  const W = 900;
  const H = 360;
  const left = 60;
  const right = 200;
  const top = 40;
  const bottom = 60;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const groupW = plotW / opts.groups.length;
  const barW = (groupW * 0.8) / opts.series.length;
  const y = (v: number): number => top + plotH - (Math.min(v, opts.cap) / opts.cap) * plotH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - right / 2}" y="20" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
  );
  for (let i = 0; i <= 4; i++) {
    const v = (opts.cap * i) / 4;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${top + plotH / 2}" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  );
  opts.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + groupW * 0.1;
    g.values.forEach((v, si) => {
      const x = gx + si * barW;
      const colour = COLOURS[si % COLOURS.length]!;
      if (v === undefined || !Number.isFinite(v)) {
        parts.push(
          `<rect x="${x}" y="${top}" width="${barW - 1}" height="${plotH}" fill="none" stroke="${colour}" stroke-dasharray="3,3"/>`,
        );
        return;
      }
      parts.push(
        `<rect x="${x}" y="${y(v)}" width="${barW - 1}" height="${top + plotH - y(v)}" fill="${colour}"><title>${esc(`${opts.series[si]} ${g.label}: ${v.toFixed(2)}`)}</title></rect>`,
      );
      if (v > opts.cap) parts.push(`<text x="${x}" y="${top - 2}" font-size="9">${fmt(v)}</text>`);
    });
    parts.push(
      `<text x="${gx + (barW * g.values.length) / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(g.label)}</text>`,
    );
  });
  if (opts.reference !== undefined) {
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(opts.reference)}" y2="${y(opts.reference)}" stroke="black" stroke-dasharray="6,3"/>`,
    );
  }
  opts.series.forEach((s, si) => {
    const ly = top + si * 18;
    parts.push(
      `<rect x="${left + plotW + 16}" y="${ly}" width="12" height="12" fill="${COLOURS[si % COLOURS.length]}"/>`,
      `<text x="${left + plotW + 34}" y="${ly + 10}">${esc(s)}</text>`,
    );
  });
  parts.push(
    `<text x="${left}" y="${H - 12}" font-size="10">dashed outline: did not finish within the time limit; numbers above the frame: clipped values</text>`,
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
  const W = 900;
  const H = 360;
  const left = 60;
  const right = 200;
  const top = 40;
  const bottom = 50;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const x = (t: number): number => left + (Math.min(t, opts.maxT) / opts.maxT) * plotW;
  const y = (v: number): number => top + plotH - (Math.min(v, opts.maxV) / opts.maxV) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - right / 2}" y="20" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (opts.maxV * i) / 4;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
    const t = (opts.maxT * i) / 4;
    parts.push(
      `<text x="${x(t)}" y="${top + plotH + 16}" text-anchor="middle">${(t / 3600).toFixed(2)} h</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${top + plotH / 2}" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  );
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
    const ly = top + si * 18;
    parts.push(
      `<rect x="${left + plotW + 16}" y="${ly}" width="12" height="12" fill="${colour}"/>`,
      `<text x="${left + plotW + 34}" y="${ly + 10}">${esc(s.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
