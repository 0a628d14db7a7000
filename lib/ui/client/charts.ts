/// <reference lib="dom" />
/**
 * The page's charts: uPlot over batch times, one point per batch. A chart is given its data as
 * plain series (the values a batch's metrics hold); stacking, the batch-interval line and the
 * legend's values are done here. Every chart's data, as given, is kept on
 * `window.sparklessUi.charts[id]` beside the uPlot instance, so that anyone (the browser tests
 * among them) can compare what is drawn with what the runtime committed.
 */
import uPlot from 'uplot';
import { h } from './dom.js';

/** One series of a chart. */
export interface SeriesData {
  readonly label: string;
  /** One value per batch (null where the batch has none, e.g. a shard that did not exist). */
  readonly values: ReadonlyArray<number | null>;
  /** `bar` (stacked on the other stacked bars when the chart stacks), `line`, or `limit`: a dashed line. */
  readonly kind: 'bar' | 'line' | 'limit';
  /** The right-hand axis instead of the left. */
  readonly right?: boolean;
  readonly color?: string;
}

/** The data of a chart: batch times (epoch ms) and the series over them. */
export interface ChartData {
  readonly x: readonly number[];
  readonly series: readonly SeriesData[];
}

/** What a chart shows. */
export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly note?: string;
  /** How values are written on the left axis and in the legend. */
  readonly format: (v: number) => string;
  readonly rightFormat?: (v: number) => string;
  /** Whether the left axis counts whole things (records, milliseconds): no fractional ticks. */
  readonly integer?: boolean;
  /** The smallest step between the time axis's ticks: the batch interval. */
  readonly stepMs?: number;
  /** Whether the bars stack (processing time by stage). */
  readonly stacked?: boolean;
  /** Called with a batch time when a point is clicked. */
  readonly onPick?: (timeMs: number) => void;
}

/** What the page exposes of each chart. */
export interface ExposedChart {
  readonly data: ChartData;
  readonly plot: uPlot | undefined;
}

declare global {
  interface Window {
    /** What the page shows, for anyone to read: its charts and, on a job's page, its batches. */
    sparklessUi?: {
      charts: Record<string, ExposedChart>;
      job?: string;
      batches?: () => readonly unknown[];
    };
  }
}

export const PALETTE = [
  '#2f6fde',
  '#e07b24',
  '#2a9d6f',
  '#8e5cc7',
  '#d4456b',
  '#3aa7c4',
  '#9a7b2f',
  '#5b6b86',
  '#c45a2a',
  '#4f9e3a',
];
const LIMIT_COLOR = '#c0342b';
/** Tick steps of the time axis, in milliseconds: from a second to a day. */
const TIME_STEPS = [
  1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5,
  864e5,
];
/** Tick steps of an axis of whole numbers. */
const WHOLE_STEPS = [1, 2, 5]
  .flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8].map((p) => m * p))
  .sort((a, b) => a - b);

/** One chart in a panel of the page. */
export class Chart {
  readonly element: HTMLElement;
  readonly #spec: ChartSpec;
  readonly #plotBox: HTMLElement;
  #plot: uPlot | undefined;
  #shape = '';
  /** Each drawn series' own values (the legend shows these, not the stacked sums). */
  #shownValues: Array<ReadonlyArray<number | null>> = [];

  constructor(spec: ChartSpec) {
    this.#spec = spec;
    this.#plotBox = h('div', { class: 'plot' });
    this.element = h(
      'section',
      { class: 'chart', 'data-chart': spec.id },
      h('h3', null, spec.title),
      spec.note ? h('p', { class: 'note' }, spec.note) : null,
      this.#plotBox,
    );
  }

  /** Draws the given data (recreating the plot when its series changed). */
  update(data: ChartData): void {
    window.sparklessUi ??= { charts: {} };
    if (data.x.length === 0 || data.series.length === 0) {
      this.#destroyPlot();
      this.#plotBox.replaceChildren(
        h('div', { class: 'empty' }, data.x.length === 0 ? 'No batches yet' : 'Nothing to show'),
      );
      window.sparklessUi.charts[this.#spec.id] = { data, plot: undefined };
      return;
    }
    const shape = JSON.stringify(data.series.map((s) => [s.label, s.kind, s.right ?? false]));
    const aligned = this.#aligned(data);
    this.#shownValues = aligned.shown;
    if (this.#plot && shape === this.#shape) {
      this.#plot.setData(aligned.data);
    } else {
      this.#destroyPlot();
      this.#plotBox.replaceChildren();
      this.#shape = shape;
      this.#plot = new uPlot(this.#options(data), aligned.data, this.#plotBox);
    }
    window.sparklessUi.charts[this.#spec.id] = { data, plot: this.#plot };
  }

  /** Fits the plot to its panel's width. */
  resize(): void {
    this.#plot?.setSize({ width: this.#width(), height: 200 });
  }

  destroy(): void {
    this.#destroyPlot();
    if (window.sparklessUi) delete window.sparklessUi.charts[this.#spec.id];
  }

  #destroyPlot(): void {
    this.#plot?.destroy();
    this.#plot = undefined;
    this.#shape = '';
  }

  #width(): number {
    return Math.max(300, (this.element.clientWidth || 600) - 24);
  }

  /**
   * uPlot's data: the x values, then each series in drawing order. Stacked bars are drawn from
   * the tallest (the whole stack) down to the first series, each as the sum of the series up to
   * it, so that each segment shows; the legend shows each series' own value.
   */
  #aligned(data: ChartData): {
    data: uPlot.AlignedData;
    shown: Array<ReadonlyArray<number | null>>;
  } {
    const ordered = this.#ordered(data);
    const drawn: Array<Array<number | null>> = [];
    const sums = data.x.map(() => 0);
    const stackedDrawn = new Map<SeriesData, Array<number | null>>();
    if (this.#spec.stacked) {
      for (const s of data.series) {
        if (s.kind !== 'bar') continue;
        stackedDrawn.set(
          s,
          s.values.map((v, i) => {
            sums[i] = (sums[i] ?? 0) + (v ?? 0);
            return sums[i] ?? 0;
          }),
        );
      }
    }
    for (const s of ordered) drawn.push(stackedDrawn.get(s) ?? [...s.values]);
    return {
      data: [[...data.x], ...drawn] as uPlot.AlignedData,
      shown: ordered.map((s) => s.values),
    };
  }

  /** The series in drawing order: stacked bars top first, then the others as given. */
  #ordered(data: ChartData): SeriesData[] {
    if (!this.#spec.stacked) return [...data.series];
    const bars = data.series.filter((s) => s.kind === 'bar').reverse();
    return [...bars, ...data.series.filter((s) => s.kind !== 'bar')];
  }

  #options(data: ChartData): uPlot.Options {
    const spec = this.#spec;
    const ordered = this.#ordered(data);
    const hasRight = ordered.some((s) => s.right);
    const bars = uPlot.paths.bars?.({ size: [0.7, 48], align: 0 });
    let colorIndex = 0;
    const series: uPlot.Series[] = [
      { label: 'batch', value: (_u, v) => (v == null ? '–' : new Date(v).toLocaleTimeString()) },
    ];
    ordered.forEach((s, i) => {
      const color =
        s.color ?? (s.kind === 'limit' ? LIMIT_COLOR : PALETTE[colorIndex++ % PALETTE.length]);
      const format = s.right && spec.rightFormat ? spec.rightFormat : spec.format;
      const base: uPlot.Series = {
        label: s.label,
        stroke: color,
        scale: s.right ? 'right' : 'y',
        value: (_u, _v, _si, idx) => {
          if (idx == null) return '–';
          const v = this.#shownValues[i]?.[idx];
          return v == null ? '–' : format(v);
        },
      };
      if (s.kind === 'bar') {
        series.push({
          ...base,
          fill: `${color}cc`,
          width: 0,
          paths: bars,
          points: { show: false },
        });
      } else if (s.kind === 'limit') {
        series.push({ ...base, width: 1.5, dash: [6, 4], points: { show: false } });
      } else {
        series.push({ ...base, width: 1.5, points: { show: data.x.length < 60, size: 4 } });
      }
    });
    const zeroBased: uPlot.Scale.Range = (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1];
    return {
      width: this.#width(),
      height: 200,
      ms: 1,
      cursor: { sync: { key: 'sparkless-batches' }, drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        // Half a batch either side, so that the first and last bars show whole.
        x: {
          time: true,
          range: (_u, min, max) => [min - (spec.stepMs ?? 0) / 2, max + (spec.stepMs ?? 0) / 2],
        },
        y: { range: zeroBased },
        ...(hasRight ? { right: { range: zeroBased } } : {}),
      },
      axes: [
        {
          stroke: '#667085',
          grid: { stroke: '#eef1f5' },
          // No tick between two batches.
          incrs: TIME_STEPS.filter((step) => step >= (spec.stepMs ?? 0)),
        },
        {
          stroke: '#667085',
          grid: { stroke: '#eef1f5' },
          size: 64,
          values: (_u, ticks) => ticks.map((t) => spec.format(t)),
          ...(spec.integer ? { incrs: WHOLE_STEPS } : {}),
        },
        ...(hasRight
          ? [
              {
                scale: 'right',
                side: 1,
                stroke: '#667085',
                grid: { show: false },
                size: 64,
                values: (_u: uPlot, ticks: number[]) =>
                  ticks.map((t) => (spec.rightFormat ?? spec.format)(t)),
              } satisfies uPlot.Axis,
            ]
          : []),
      ],
      series,
      hooks: {
        ready: [
          (u) => {
            if (!spec.onPick) return;
            u.over.style.cursor = 'pointer';
            u.over.addEventListener('click', () => {
              const idx = u.cursor.idx;
              const t = idx == null ? undefined : u.data[0][idx];
              if (t !== undefined) spec.onPick?.(t);
            });
          },
        ],
      },
    };
  }
}
