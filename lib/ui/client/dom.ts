/// <reference lib="dom" />
/**
 * Small helpers of the page: building elements, fetching JSON, and formatting numbers, times
 * and sizes the way the views show them.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null>;

/** An element with attributes (`class`, `data-*`, `href`...) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Array<Child | readonly Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** GETs JSON from the server; throws with the server's message on an error status. */
export async function getJson<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await res.json()) as T | { error: string };
  if (!res.ok && res.status !== 404) {
    throw new Error((body as { error?: string }).error ?? `${res.status} ${res.statusText}`);
  }
  return { status: res.status, body: body as T };
}

/** A job's address in the page. */
export function jobHref(job: string): string {
  return `#/jobs/${encodeURIComponent(job)}`;
}

/** A batch's address in the page. */
export function batchHref(job: string, timeMs: number): string {
  return `${jobHref(job)}/batches/${timeMs}`;
}

/** `1,234` */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `12.5` with at most `digits` decimals, thousands separated. */
export function decimal(n: number, digits = 1): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** `850 ms`, `1.25 s`, `3 min 20 s` */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${decimal(ms / 1000, abs < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(abs / 60_000);
  const seconds = Math.round((abs % 60_000) / 1000);
  return `${ms < 0 ? '-' : ''}${minutes} min${seconds ? ` ${seconds} s` : ''}`;
}

/** `512 B`, `1.5 KiB`, `3.2 MiB` */
export function bytes(n: number): string {
  if (n < 1024) return `${count(n)} B`;
  if (n < 1024 * 1024) return `${decimal(n / 1024)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${decimal(n / 1024 / 1024)} MiB`;
  return `${decimal(n / 1024 / 1024 / 1024, 2)} GiB`;
}

/** A batch time as a clock time, `15:04:05` (with `.250` when it is not on a second). */
export function clock(timeMs: number): string {
  const d = new Date(timeMs);
  const text = d.toLocaleTimeString('en-GB', { hour12: false });
  return timeMs % 1000 === 0 ? text : `${text}.${String(timeMs % 1000).padStart(3, '0')}`;
}

/** `$0.0123`: enough significant digits for small amounts. */
export function usd(n: number): string {
  if (n === 0) return '$0';
  if (n >= 100) return `$${decimal(n, 0)}`;
  return `$${n
    .toPrecision(2)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '')}`;
}

/** A labelled number, as the summary cards show them. */
export function card(label: string, value: string, sub?: string, attrs?: Attrs): HTMLElement {
  return h(
    'div',
    { class: 'card', ...attrs },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value),
    sub ? h('div', { class: 'sub' }, sub) : null,
  );
}

/** Sets the header's connection status. */
export function setStatus(state: 'idle' | 'live' | 'reconnecting', text: string): void {
  const el = document.getElementById('status');
  if (!el) return;
  el.dataset.state = state;
  el.textContent = text;
}
