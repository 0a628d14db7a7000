/**
 * The page's HTML shell and styles. Everything the page loads comes from the server that
 * serves it (its Content-Security-Policy says so too): system fonts, no CDN.
 */

/** The HTML of `/`: the script renders the views into `#app`. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sparkless · streaming</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/">sparkless <span>streaming</span></a>
  <span id="status" class="status" data-state="idle"></span>
</header>
<main id="app"><p class="muted">Loading…</p></main>
</body>
</html>
`;

/** The page's Content-Security-Policy: nothing from anywhere but this server. */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The page's own styles (uPlot's are added before them). */
export const PAGE_CSS = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1d2330; --muted: #667085; --line: #e3e6eb;
  --accent: #2f6fde; --ok: #1a7f4b; --warn: #b25e09; --bad: #c0342b;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px; color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.top { display: flex; align-items: center; gap: 16px; padding: 10px 24px; background: #1d2330; color: #fff; }
.brand { color: #fff; font-weight: 700; font-size: 16px; }
.brand span { font-weight: 400; color: #aab4c8; }
.status { margin-left: auto; font-size: 12px; color: #aab4c8; }
.status::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #667085; vertical-align: 1px; }
.status[data-state="live"]::before { background: #35c27a; }
.status[data-state="reconnecting"]::before { background: #f0a030; }
main { padding: 16px 24px 48px; max-width: 1500px; margin: 0 auto; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
h3 { font-size: 14px; margin: 0 0 8px; }
.muted { color: var(--muted); }
.meta { color: var(--muted); display: flex; flex-wrap: wrap; gap: 4px 18px; margin-bottom: 12px; }
.crumbs { margin: 4px 0 0; color: var(--muted); }
.crumbs a { margin-right: 12px; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 12px 0; border: 1px solid var(--line); background: var(--panel); }
.banner[data-kind="ok"] { border-left: 4px solid var(--ok); }
.banner[data-kind="warn"] { border-left: 4px solid var(--warn); }
.banner[data-kind="bad"] { border-left: 4px solid var(--bad); }
.banner[data-kind="info"] { border-left: 4px solid var(--accent); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 20px; font-weight: 600; margin-top: 2px; white-space: nowrap; }
.card .sub { color: var(--muted); font-size: 12px; margin-top: 2px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
.chart { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px 6px; min-width: 0; }
.chart .note { color: var(--muted); font-size: 12px; margin: -4px 0 6px; }
.chart .plot { min-height: 200px; }
.chart .empty { color: var(--muted); padding: 70px 0; text-align: center; }
table { border-collapse: collapse; width: 100%; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
th, td { text-align: right; padding: 5px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 500; font-size: 12px; background: #fafbfc; }
th:first-child, td:first-child { text-align: left; }
td.left, th.left { text-align: left; }
td.wrap { white-space: normal; word-break: break-word; text-align: left; }
tr.late td { background: #fff6e8; }
tr.failed td { background: #fdeeee; }
.timing { display: flex; align-items: center; gap: 8px; min-width: 220px; }
.timing > em { font-style: normal; min-width: 56px; text-align: right; }
.bar { position: relative; flex: 1; height: 12px; background: #eef1f5; border-radius: 3px; }
.bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: var(--accent); border-radius: 3px; }
.card.wide { grid-column: span 2; }
p.note { color: var(--muted); font-size: 12px; margin: 8px 0 0; max-width: 1100px; }
pre.plan { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; overflow-x: auto; line-height: 1.45; }
.stage { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin-bottom: 12px; }
.stage table { border: none; }
.stage ul { margin: 0 0 10px; padding-left: 18px; color: var(--muted); }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #eef1f5; color: var(--ink); }
.pill.ok { background: #e4f5ec; color: var(--ok); }
.pill.warn { background: #fdf0de; color: var(--warn); }
.pill.bad { background: #fbe4e2; color: var(--bad); }
.u-legend { font-size: 12px; }
.u-legend .u-marker { border-radius: 2px; }
`;
