import { escapeXml } from '../../common/svg.ts';

/** One sample of the run, taken about once a second by the demo. */
export interface RunSample {
  /** ms since the epoch */
  readonly t: number;
  /** Work in flight: ready on the broker (live, passive declare) + tasks running in the workers (their journal). */
  readonly queue: number;
  /** Ready messages on the broker. */
  readonly ready: number;
  readonly desired: number;
  readonly running: number;
  /** Workers running at least one task (from celery's `active` replies or the journal). */
  readonly busy: number;
}

const WIDTH = 900;
const PANEL = 200;
const MARGIN = { left: 56, right: 150, top: 36, gap: 44, bottom: 40 };

/**
 * Renders queue depth and workers over time as a self-contained SVG: two panels on one time axis, the top one
 * the broker's work in flight, the bottom one desired, running and busy workers. No library: the demo must run
 * from a clean clone with nothing but the project's own dependencies.
 */
export function chartSvg(samples: readonly RunSample[], title: string): string {
  if (samples.length === 0) throw new Error('chartSvg: samples is empty; record at least one sample');
  const t0 = samples[0].t;
  const tMax = Math.max(1, (samples[samples.length - 1].t - t0) / 1000);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const x = (t: number) => MARGIN.left + (((t - t0) / 1000) * plotW) / tMax;
  const height = MARGIN.top + 2 * PANEL + MARGIN.gap + MARGIN.bottom;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="20" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  );
  const panels: Array<{
    label: string;
    series: Array<{ key: keyof RunSample; name: string; color: string }>;
  }> = [
    {
      label: 'tasks',
      series: [
        { key: 'queue', name: 'in flight', color: '#1f77b4' },
        { key: 'ready', name: 'ready (queued)', color: '#ff7f0e' },
      ],
    },
    {
      label: 'workers',
      series: [
        { key: 'desired', name: 'desired', color: '#7f7f7f' },
        { key: 'running', name: 'running', color: '#2ca02c' },
        { key: 'busy', name: 'busy', color: '#d62728' },
      ],
    },
  ];
  panels.forEach((panel, i) => {
    const top = MARGIN.top + i * (PANEL + MARGIN.gap);
    const yMax = Math.max(1, ...panel.series.flatMap((s) => samples.map((p) => p[s.key] as number)));
    const y = (v: number) => top + PANEL - (v / yMax) * PANEL;
    parts.push(
      `<rect x="${MARGIN.left}" y="${top}" width="${plotW}" height="${PANEL}" fill="none" stroke="#ccc"/>`,
      `<text x="12" y="${top + PANEL / 2}" transform="rotate(-90 12 ${top + PANEL / 2})" text-anchor="middle">${panel.label}</text>`,
    );
    for (const tick of ticks(yMax)) {
      parts.push(
        `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#eee"/>`,
        `<text x="${MARGIN.left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${tick}</text>`,
      );
    }
    panel.series.forEach((s, k) => {
      // Step lines: each figure holds until the next sample, as the bridge sees it.
      let d = '';
      samples.forEach((p, j) => {
        const v = p[s.key] as number;
        d +=
          j === 0 ? `M${x(p.t).toFixed(1)},${y(v).toFixed(1)}` : `H${x(p.t).toFixed(1)}V${y(v).toFixed(1)}`;
      });
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      const ly = top + 14 + k * 18;
      parts.push(
        `<line x1="${MARGIN.left + plotW + 12}" x2="${MARGIN.left + plotW + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`,
        `<text x="${MARGIN.left + plotW + 38}" y="${ly}">${escapeXml(s.name)}</text>`,
      );
    });
  });
  const axisY = MARGIN.top + 2 * PANEL + MARGIN.gap;
  for (const tick of ticks(tMax)) {
    const tx = MARGIN.left + (tick * plotW) / tMax;
    parts.push(`<text x="${tx.toFixed(1)}" y="${axisY + 16}" text-anchor="middle">${tick}</text>`);
  }
  parts.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${axisY + 34}" text-anchor="middle">seconds</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

/** About five round tick values from 0 to max. */
function ticks(max: number): number[] {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) out.push(Math.round(v * 100) / 100);
  return out;
}
