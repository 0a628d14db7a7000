/**
 * The word-count workload both the engine's and the worker's benchmarks run: its user functions
 * and its seeded lines of words.
 */

/** Splits a line into tokens (an empty token where spaces double). */
export const splitWords = (line: string): string[] => line.split(' ');

/** Whether a token is a word: it starts with an ASCII letter. */
export const startsWithLetter = (w: string): boolean => {
  if (w.length === 0) return false;
  const c = w.charCodeAt(0) | 0x20; // lower-cases ASCII letters
  return c >= 0x61 && c <= 0x7a;
};

/** `n` distinct lower-case words of 2 to 9 letters. */
export function vocabulary(rand: () => number, n: number): string[] {
  const words = new Set<string>();
  while (words.size < n) {
    const len = 2 + Math.floor(rand() * 8);
    let w = '';
    for (let i = 0; i < len; i++) w += String.fromCharCode(0x61 + Math.floor(rand() * 26));
    words.add(w);
  }
  return [...words];
}

/**
 * A line of 8 to 12 tokens (10 on average): words picked by `pick`, with a few numbers (not
 * words) and empty tokens (doubled spaces). Returns the line and its token count.
 */
export function wordLine(
  rand: () => number,
  words: readonly string[],
  pick: () => number,
): { line: string; tokens: number } {
  const n = 8 + Math.floor(rand() * 5);
  const tokens: string[] = [];
  for (let j = 0; j < n; j++) {
    const x = rand();
    if (x < 0.03) tokens.push(String(Math.floor(rand() * 1000)));
    else if (x < 0.05) tokens.push('');
    else tokens.push(words[pick()]!);
  }
  return { line: tokens.join(' '), tokens: n };
}
