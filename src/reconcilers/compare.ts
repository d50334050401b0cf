// Comparisons shared by reconcilers and the apply path, so that "has drift" and "needs a write" agree.

/** normalizeConstraint drops whitespace: `node.labels.a == b` and `node.labels.a==b` are one constraint. */
export function normalizeConstraint(c: string): string {
  return c.replace(/\s+/g, '');
}

/** sameConstraints compares constraint lists as sets, whitespace-insensitively (all must hold, so order is moot). */
export function sameConstraints(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a.map(normalizeConstraint));
  const sb = new Set(b.map(normalizeConstraint));
  return sa.size === sb.size && [...sa].every((c) => sb.has(c));
}
