/**
 * A small SVG line chart of offered input rate (log scale) against median batch processing
 * time, one line per series, with the batch interval drawn across: points under it were
 * processed in time (filled), points at or over it were not (hollow).
 */

export interface Series {
  readonly label: string;
  readonly points: ReadonlyArray<{
    readonly x: number;
    readonly y: number;
    readonly pass: boolean;
  }>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const W = 640;
const H = 400;
const M = { left: 64, right: 120, top: 36, bottom: 48 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function chart(
  series: readonly Series[],
  options: { readonly batchIntervalMs: number; readonly title: string },
): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x).filter((x) => x > 0);
  // A quarter of an octave of margin either side of the rates.
  const xMin = Math.log2(xs.length ? Math.min(...xs) : 1) - 0.25;
  const xMax = Math.log2(xs.length ? Math.max(...xs) : 2) + 0.25;
  const yMax = Math.max(options.batchIntervalMs * 1.5, ...all.map((p) => p.y)) * 1.05;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((Math.log2(x) - xMin) / Math.max(1e-9, xMax - xMin)) * pw;
  const sy = (y: number) => M.top + ph - (y / yMax) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="20" font-size="14">${esc(options.title)}</text>`,
    `<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="black"/>`,
  ];
  for (let e = Math.ceil(xMin); e <= Math.floor(xMax); e++) {
    const x = sx(2 ** e);
    out.push(
      `<line x1="${x}" y1="${M.top + ph}" x2="${x}" y2="${M.top + ph + 4}" stroke="black"/>`,
      `<text x="${x}" y="${M.top + ph + 18}" text-anchor="middle">${2 ** e}</text>`,
    );
  }
  const yStep = yMax > 4000 ? 1000 : yMax > 2000 ? 500 : 250;
  for (let y = 0; y <= yMax; y += yStep) {
    out.push(
      `<line x1="${M.left - 4}" y1="${sy(y)}" x2="${M.left}" y2="${sy(y)}" stroke="black"/>`,
      `<text x="${M.left - 8}" y="${sy(y) + 4}" text-anchor="end">${y}</text>`,
    );
  }
  out.push(
    `<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">offered input rate (records/s, log scale)</text>`,
    `<text x="16" y="${M.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + ph / 2})">median batch processing time (ms)</text>`,
    `<line x1="${M.left}" y1="${sy(options.batchIntervalMs)}" x2="${M.left + pw}" y2="${sy(options.batchIntervalMs)}" stroke="gray" stroke-dasharray="6 4"/>`,
    `<text x="${M.left + pw + 4}" y="${sy(options.batchIntervalMs) + 4}" fill="gray">batch interval</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...s.points].filter((p) => p.x > 0).sort((a, b) => a.x - b.x);
    if (pts.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    for (const p of pts) {
      out.push(
        `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="4" stroke="${color}" stroke-width="2" fill="${p.pass ? color : 'white'}"/>`,
      );
    }
    const ly = M.top + 16 + i * 18;
    out.push(
      `<line x1="${M.left + pw + 8}" y1="${ly}" x2="${M.left + pw + 28}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${M.left + pw + 32}" y="${ly + 4}">${esc(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
