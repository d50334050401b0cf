// A small seeded random source for the soak: the same seed gives the same numbers on every machine and
// Node version (Math.random cannot be seeded), so that a seed reproduces a schedule of faults.

/** Random draws numbers from a seed (mulberry32: 32 bits of state, plenty for a schedule of faults). */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** next returns a float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** int returns an integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** pick returns one of `items`, each as likely as the others. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** weighted returns one of `items`, each with the chance its weight gives it. */
  weighted<T>(items: ReadonlyArray<{ item: T; weight: number }>): T {
    const total = items.reduce((n, i) => n + i.weight, 0);
    if (items.length === 0 || total <= 0) throw new Error('weighted pick from an empty list');
    let r = this.next() * total;
    for (const i of items) {
      r -= i.weight;
      if (r < 0) return i.item;
    }
    return items[items.length - 1]!.item;
  }
}

/** randomSeed returns a fresh seed (an unsigned 32-bit integer) when none is given. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4_294_967_296) >>> 0;
}
