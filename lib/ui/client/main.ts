/// <reference lib="dom" />
/**
 * The streaming UI's page: a hash router over three views, the jobs (`#/`), a job
 * (`#/jobs/NAME`) and a batch (`#/jobs/NAME/batches/TIME`). Each view returns what tears it
 * down (its event stream, its charts, its timers), run before the next view renders.
 */
import type { JobSummary } from '../api.js';
import { batchPage } from './batch.js';
import { duration, getJson, h, jobHref } from './dom.js';
import { jobPage } from './job.js';

let teardown: () => void = () => {};
let generation = 0;

async function route(): Promise<void> {
  const mine = ++generation;
  teardown();
  teardown = () => {};
  const root = document.getElementById('app');
  if (!root) return;
  const parts = location.hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let done: () => void;
  try {
    if (parts[0] === 'jobs' && parts[1] !== undefined && parts[2] === 'batches' && parts[3]) {
      done = await batchPage(root, parts[1], Number(parts[3]));
    } else if (parts[0] === 'jobs' && parts[1] !== undefined) {
      done = await jobPage(root, parts[1]);
    } else {
      done = await jobsPage(root);
    }
  } catch (e) {
    root.replaceChildren(
      h(
        'p',
        { class: 'banner', 'data-kind': 'bad' },
        `Could not load this view: ${(e as Error).message}`,
      ),
    );
    done = () => {};
  }
  // A later navigation overtook this one while it loaded.
  if (mine !== generation) done();
  else teardown = done;
}

/** The jobs; with only one, its page. */
async function jobsPage(root: HTMLElement): Promise<() => void> {
  const { body: jobs } = await getJson<JobSummary[]>('/api/jobs');
  const only = jobs.length === 1 ? jobs[0] : undefined;
  if (only) {
    location.replace(jobHref(only.name));
    return () => {};
  }
  document.title = 'sparkless · streaming';
  root.replaceChildren(
    h('h1', null, 'Jobs'),
    jobs.length === 0
      ? h('p', { class: 'muted' }, 'No job is deployed where this server looks.')
      : h(
          'table',
          { 'data-testid': 'jobs' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ...['Job', 'Batch interval', 'Sources', 'Stateful operators'].map((t) =>
                h('th', null, t),
              ),
            ),
          ),
          h(
            'tbody',
            null,
            jobs.map((j) =>
              h(
                'tr',
                null,
                h('td', null, h('a', { href: jobHref(j.name) }, j.name)),
                h('td', null, duration(j.batchIntervalMs)),
                h('td', null, Object.keys(j.sources).join(', ')),
                h('td', null, j.stateful.map((s) => s.name).join(', ') || '–'),
              ),
            ),
          ),
        ),
  );
  return () => {};
}

window.addEventListener('hashchange', () => void route());
void route();
