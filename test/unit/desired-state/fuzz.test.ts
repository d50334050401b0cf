// Fuzzing the loader: documents mutated from the valid examples. Every mutant either loads, or fails
// with problems that each carry a position inside the document (FILE:LINE:COL) and a message; none
// makes the loader throw anything else, hang or crash. The mutations are seeded, so a failure replays.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDesiredStateText } from '../../../src/desired-state/load.js';
import { DesiredStateError } from '../../../src/desired-state/source.js';

const EXAMPLES = ['lab.yml', 'msa-ha.yml', 'dccn.yml'].map((f) => ({
  name: f,
  text: readFileSync(join(import.meta.dirname, '../../../examples', f), 'utf8'),
}));
const stacksDir = join(import.meta.dirname, '../../../examples');
const MALFORMED_WANTED = 1_000;

// mulberry32: a small seeded generator, so that every run fuzzes the same documents.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const JUNK = [':', '-', '{', '}', '[', ']', '"', "'", '\t', '#', '&', '*', '!', '|', '>', '%', '@', '`', ',', '?', ' ', '\n', '0', 'x', '\u0000', '\u00e9'];
const VALUES = ['-1', '4', '8', '1.5', 'true', 'null', '~', '""', '[]', '{}', '"0700"', '0700', '5x', 'never', '"*/0 * * *"', '/', '../etc', 'a b', '0s'];

function mutate(text: string, r: () => number): string {
  const lines = text.split('\n');
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const li = Math.floor(r() * lines.length);
  const line = lines[li] ?? '';
  switch (Math.floor(r() * 8)) {
    case 0: { // insert junk at a random place
      const at = Math.floor(r() * (text.length + 1));
      return text.slice(0, at) + pick(JUNK) + text.slice(at);
    }
    case 1: { // delete a random span
      const at = Math.floor(r() * text.length);
      return text.slice(0, at) + text.slice(at + 1 + Math.floor(r() * 8));
    }
    case 2: { // misspell a key
      const m = /^(\s*-?\s*)([A-Za-z][\w-]*)(:.*)$/.exec(line);
      if (!m) return mutate(text, r);
      lines[li] = `${m[1]}${m[2]!.slice(0, -1)}${pick(['s', 'x', '_', ''])}${m[3]}`;
      return lines.join('\n');
    }
    case 3: { // replace a value with one of the wrong type or range
      const m = /^(\s*-?\s*[\w.-]+:\s*)(\S.*)$/.exec(line);
      if (!m) return mutate(text, r);
      lines[li] = `${m[1]}${pick(VALUES)}`;
      return lines.join('\n');
    }
    case 4: // shift a line's indentation
      lines[li] = r() < 0.5 ? ` ${line}` : line.replace(/^ {1,2}/, '');
      return lines.join('\n');
    case 5: // duplicate a line (often a duplicate key)
      lines.splice(li, 0, line);
      return lines.join('\n');
    case 6: // truncate
      return text.slice(0, Math.floor(r() * text.length));
    default: // swap two lines
    {
      const lj = Math.floor(r() * lines.length);
      [lines[li], lines[lj]] = [lines[lj] ?? '', line];
      return lines.join('\n');
    }
  }
}

describe('the loader under fuzzing', () => {
  it(`rejects ${MALFORMED_WANTED} malformed documents, each with a position and a message, and never crashes`, async () => {
    const r = rng(20261123);
    let malformed = 0;
    let loaded = 0;
    for (let i = 0; malformed < MALFORMED_WANTED && i < MALFORMED_WANTED * 5; i++) {
      const example = EXAMPLES[i % EXAMPLES.length]!;
      let text = mutate(example.text, r);
      if (r() < 0.3) text = mutate(text, r); // some documents carry two faults
      const file = join(stacksDir, `fuzz-${i}.yml`);
      try {
        await loadDesiredStateText(text, file);
        loaded += 1;
      } catch (err) {
        // Anything but a DesiredStateError is a crash of the loader.
        if (!(err instanceof DesiredStateError)) throw new Error(`mutant ${i} crashed the loader: ${(err as Error).stack}\n---\n${text}`);
        malformed += 1;
        const lineCount = text.split('\n').length;
        for (const p of err.problems) {
          expect(p.message, `mutant ${i}`).not.toBe('');
          if (p.file !== file) continue; // a problem in a stack file the document names
          expect(p.line, `mutant ${i}: ${p.message}`).toBeGreaterThanOrEqual(1);
          expect(p.line, `mutant ${i}: ${p.message}`).toBeLessThanOrEqual(lineCount + 1);
          expect(p.col, `mutant ${i}: ${p.message}`).toBeGreaterThanOrEqual(1);
        }
      }
    }
    expect(malformed).toBe(MALFORMED_WANTED);
    // Some mutations are harmless (a comment, a value still valid): they must load, not be refused.
    expect(loaded).toBeGreaterThan(0);
  }, 60_000);
});
