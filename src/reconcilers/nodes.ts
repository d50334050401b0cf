// The nodes reconciler (contract §2, `spec.nodes`): the labels matched nodes must carry and their
// availability. Labels the file does not name are left alone. Drain and pause are disruptive (they move
// or freeze tasks), so they wait for the disruptive window; labels and a return to active do not.
import { describeSelector, matchesSelector } from './selector.js';
import { isIgnored, type Action, type Drift, type Reconciler } from './types.js';

/** nodes keeps the labels and availability that `spec.nodes` asks of the nodes its selectors match. */
export const nodes: Reconciler<'nodes'> = {
  id: 'nodes',
  actions: ['update-node'],
  plan(desired, observed) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    const entries = desired.nodes ?? [];
    // What each node must be, with later entries winning where two name the same label.
    const wants = new Map<string, { labels: Record<string, string>; availability?: 'active' | 'pause' | 'drain' }>();
    entries.forEach((entry, i) => {
      const matched = observed.nodes.filter((n) => matchesSelector(n, entry.match));
      if (matched.length === 0) {
        drift.push({ object: `nodes[${i}]`, message: `the selector (${describeSelector(entry.match)}) matches no node` });
        return;
      }
      for (const n of matched) {
        const want = wants.get(n.id) ?? { labels: {} };
        Object.assign(want.labels, entry.labels ?? {});
        if (entry.availability) want.availability = entry.availability;
        wants.set(n.id, want);
      }
    });
    for (const node of observed.nodes) {
      const want = wants.get(node.id);
      if (!want) continue;
      const labels = Object.fromEntries(Object.entries(want.labels).filter(([k, v]) => node.labels[k] !== v));
      const availability = want.availability !== undefined && want.availability !== node.availability ? want.availability : undefined;
      if (Object.keys(labels).length === 0 && !availability) continue;
      const ignored = isIgnored(node.labels, desired.policy.ignoreLabel);
      const what: string[] = [];
      if (Object.keys(labels).length > 0) {
        what.push(`labels ${Object.entries(labels).map(([k, v]) => `${k}=${node.labels[k] ?? '(none)'} (wants ${v})`).join(', ')}`);
        const before = Object.fromEntries(Object.keys(labels).map((k) => [k, node.labels[k] ?? null]));
        actions.push({
          kind: 'update-node', reconciler: 'nodes', object: node.hostname, nodeId: node.id, labels,
          before: { labels: before }, after: { labels }, disruptive: false, ignored,
        });
      }
      if (availability) {
        what.push(`availability ${node.availability} (wants ${availability})`);
        // Leaving active moves tasks away (drain) or stops new ones landing (pause); returning is harmless.
        actions.push({
          kind: 'update-node', reconciler: 'nodes', object: node.hostname, nodeId: node.id, availability,
          before: { availability: node.availability }, after: { availability }, disruptive: availability !== 'active', ignored,
        });
      }
      if (!ignored) drift.push({ object: node.hostname, message: what.join('; ') });
    }
    return { drift, actions };
  },
};
