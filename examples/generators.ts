/**
 * Seeded generators of realistic example data: tweets with hashtags, web clicks with pages, users
 * and sessions, and sensor readings. Keys follow a skewed (Zipf-like) distribution, as real traffic
 * does, so that a few hashtags, pages and sensors are much hotter than the rest.
 */

/** A small, fast, seeded pseudo-random generator (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks an index in [0, n) with probability proportional to 1 / (i + 1)^s. */
export function zipf(rand: () => number, n: number, s = 1.1): () => number {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
  const cdf: number[] = [];
  let total = 0;
  for (const w of weights) {
    total += w;
    cdf.push(total);
  }
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const TOPICS = [
  'serverless',
  'aws',
  'spark',
  'streaming',
  'typescript',
  'kinesis',
  'dynamodb',
  'lambda',
  'data',
  'analytics',
  'iot',
  'cloud',
  'devops',
  'nodejs',
  'opensource',
  'ml',
  'realtime',
  'bigdata',
  'observability',
  'security',
  'rust',
  'go',
  'python',
  'kafka',
  'flink',
  'sql',
  'postgres',
  'redis',
  'k8s',
  'webdev',
  'frontend',
  'backend',
  'api',
  'graphql',
  'edge',
  'cdn',
  'latency',
  'scaling',
  'costs',
  'finops',
];
const WORDS = [
  'just',
  'shipped',
  'a',
  'new',
  'pipeline',
  'with',
  'love',
  'this',
  'why',
  'is',
  'my',
  'batch',
  'late',
  'again',
  'today',
  'we',
  'learned',
  'about',
  'the',
  'cost',
  'of',
  'windows',
  'state',
  'and',
  'keys',
  'great',
  'talk',
  'on',
  'counting',
  'events',
  'fast',
];

/** Tweets of a few words and one to three hashtags. */
export function tweets(seed: number): () => string {
  const rand = random(seed);
  const topic = zipf(rand, TOPICS.length);
  return () => {
    const words: string[] = [];
    const n = 3 + Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) words.push(WORDS[Math.floor(rand() * WORDS.length)]!);
    const tags = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < tags; i++) {
      words.splice(Math.floor(rand() * words.length), 0, `#${TOPICS[topic()]}`);
    }
    return words.join(' ');
  };
}

/** A web click: who, which page, and how long the page took. */
export interface Click {
  readonly user: string;
  readonly page: string;
  readonly ms: number;
}

const PAGES = [
  '/',
  '/pricing',
  '/docs',
  '/docs/getting-started',
  '/docs/windows',
  '/docs/state',
  '/blog',
  '/blog/serverless-streaming',
  '/signup',
  '/login',
  '/account',
  '/checkout',
  '/about',
  '/careers',
  '/status',
  '/docs/api',
  '/docs/cdk',
  '/examples',
  '/community',
  '/contact',
];

/** Clicks of users that come and go: each user clicks in a burst, then leaves. */
export function clicks(seed: number, users = 500): () => Click {
  const rand = random(seed);
  const page = zipf(rand, PAGES.length, 1.2);
  const user = zipf(rand, users, 0.8);
  return () => ({
    user: `u${user().toString().padStart(4, '0')}`,
    page: PAGES[page()]!,
    ms: Math.round(20 + rand() * rand() * 400),
  });
}

/** A sensor reading. */
export interface Reading {
  readonly sensor: string;
  readonly celsius: number;
}

/** Temperature readings from a fleet of sensors, each drifting around its own mean. */
export function readings(seed: number, sensors = 50): () => Reading {
  const rand = random(seed);
  const which = zipf(rand, sensors, 0.5);
  const means = Array.from({ length: sensors }, () => 15 + rand() * 15);
  return () => {
    const i = which();
    return {
      sensor: `sensor-${i.toString().padStart(3, '0')}`,
      celsius: Math.round((means[i]! + (rand() - 0.5) * 4) * 10) / 10,
    };
  };
}
