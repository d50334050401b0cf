// GET / (contract §5): a read-only status page for people, rendered on the server from the same status
// view /status serves (never from specs: it cannot show a secret it was never given). Everything shown is
// escaped here, once: service names come from files and reasons from the engine. The page needs no build
// and loads nothing from outside (air-gapped swarms): its style and its refresh script are inline.
import type { ControllerStatus } from './status.js';
import type { ServiceStatusView } from './service-status.js';
import type { BuildInfo } from '../version.js';
import { PAGE_SCRIPT, PAGE_STYLE } from './page-assets.js';

/** RolloutView is a service's last rollout, when the status carries it (optional: older views have none). */
interface RolloutView { result: string; revision?: string; reason: string; at: string }

type Row = ServiceStatusView & { rollout?: RolloutView };

/** PageStatus is what the page reads of GET /status's document; every part may be absent. */
export type PageStatus = Partial<Omit<ControllerStatus, 'services'>> & { services?: Row[]; version?: BuildInfo };

/** PAGE_REFRESH_MS is how often the page fetches itself again. */
export const PAGE_REFRESH_MS = 3_000;

/** escapeHtml makes text safe in HTML content and in quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const cell = (label: string, body: string, cls = ''): string =>
  `<td data-label="${escapeHtml(label)}"${cls ? ` class="${cls}"` : ''}>${body}</td>`;

const badge = (word: string): string => `<span class="badge b-${escapeHtml(word.replace(/[^a-z_]/g, ''))}">${escapeHtml(word.replace('_', ' '))}</span>`;

function rolloutText(r: RolloutView | undefined): string {
  if (!r) return '';
  const rev = r.revision ? ` @ ${escapeHtml(r.revision)}` : '';
  const why = r.reason ? `: ${escapeHtml(r.reason)}` : '';
  return `<div class="rollout">last rollout ${badge(r.result)}${rev}${why} <time>${escapeHtml(r.at)}</time></div>`;
}

function serviceRow(s: Row): string {
  const drift = s.drift?.length ? `<ul class="drift">${s.drift.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>` : '';
  return `<tr class="svc h-${escapeHtml(s.health)}" data-service="${escapeHtml(s.service)}">`
    + cell('Stack', escapeHtml(s.stack || '-'))
    + cell('Service', `<strong>${escapeHtml(s.service)}</strong>`, 'name')
    + cell('Sync', badge(s.sync) + drift)
    + cell('Health', badge(s.health), 'health')
    + cell('Running', `${escapeHtml(s.running)}/${escapeHtml(s.desired)}`)
    + cell('Reason', (escapeHtml(s.reason) || '-') + rolloutText(s.rollout), 'reason')
    + cell('Updated', s.updated ? `<time>${escapeHtml(s.updated)}</time>` : '-')
    + '</tr>';
}

function servicesTable(rows: Row[]): string {
  if (rows.length === 0) return '<p class="empty">No kept service yet (no pass has read the cluster).</p>';
  const head = ['Stack', 'Service', 'Sync', 'Health', 'Running', 'Reason', 'Updated'].map((h) => `<th>${h}</th>`).join('');
  return `<table class="services"><thead><tr>${head}</tr></thead><tbody>${rows.map(serviceRow).join('')}</tbody></table>`;
}

function summary(s: PageStatus): string {
  const pass = s.lastPass;
  const leader = s.leader ? 'this instance (acts)' : `${pass?.leaderNode ? escapeHtml(pass.leaderNode) : 'another manager'} (this one observes)`;
  const items: Array<[string, string]> = [
    ['Cluster', escapeHtml(s.cluster ?? '-')],
    ['Revision', `<code id="revision">${escapeHtml(s.revision ?? '-')}</code>`],
    ['Source', escapeHtml(s.source ?? '-')],
    ['Leader', leader],
    ['Last pass', pass ? `#${escapeHtml(pass.passId)} <time>${escapeHtml(pass.startedAt)}</time> (${escapeHtml(pass.durationMs)} ms${pass.reasons?.length ? `, ${escapeHtml(pass.reasons.join(', '))}` : ''})` : 'none yet'],
  ];
  if (s.version) items.push(['Warden', `${escapeHtml(s.version.version)} (${escapeHtml(s.version.revision)})`]);
  return `<dl class="summary">${items.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>`;
}

/** problems lists what needs a person first: an invalid desired state, a failed pass, reconcilers that could not plan, lost quorum. */
function problems(s: PageStatus): string {
  const out: string[] = [];
  if (s.desiredStateError) out.push(`desired state invalid${s.failedRevision ? ` at ${escapeHtml(s.failedRevision)}` : ''}: ${escapeHtml(s.desiredStateError)}`);
  if (s.lastPass?.error) out.push(`last pass failed: ${escapeHtml(s.lastPass.error)}`);
  for (const [id, why] of Object.entries(s.errors ?? {})) out.push(`${escapeHtml(id)} could not plan: ${escapeHtml(why)}`);
  if (s.quorum?.lost) out.push(`quorum lost${s.quorum.message ? `: ${escapeHtml(s.quorum.message)}` : ''}`);
  return out.length ? `<ul class="problems">${out.map((p) => `<li>${p}</li>`).join('')}</ul>` : '';
}

/** corrections shows what the last pass held back or would change: suppressed actions, held objects, drift by reconciler. */
function corrections(s: PageStatus): string {
  const lines: string[] = [];
  for (const a of s.suppressed ?? []) lines.push(`${escapeHtml(a.action)} ${escapeHtml(a.object)} (${escapeHtml(a.reconciler)}): suppressed, ${escapeHtml(a.reason)}`);
  for (const h of s.held ?? []) lines.push(`${escapeHtml(h.key)}: held (${escapeHtml(h.reason)}) until ${escapeHtml(h.until)}: ${escapeHtml(h.why)}`);
  for (const [id, drift] of Object.entries(s.drift ?? {})) {
    for (const d of drift) lines.push(`${escapeHtml(id)}: ${escapeHtml(d.object)}: ${escapeHtml(d.message)}`);
  }
  const body = lines.length ? `<ul>${lines.map((l) => `<li>${l}</li>`).join('')}</ul>` : '<p class="empty">Nothing: the last pass found no drift and held nothing back.</p>';
  return `<section class="corrections"><h2>Last pass: drift and corrections</h2>${body}</section>`;
}

/** recent lists the newest corrections warden applied, with when and at which revision. */
function recent(s: PageStatus): string {
  const list = s.corrections ?? [];
  const items = list.map((c) => `<li><time>${escapeHtml(c.at)}</time> ${escapeHtml(c.action)} <strong>${escapeHtml(c.object)}</strong>`
    + ` (${escapeHtml(c.reconciler)}${c.partial ? ', in part' : ''}) at ${escapeHtml(c.revision ?? '-')}</li>`);
  const body = items.length ? `<ol>${items.join('')}</ol>` : '<p class="empty">None since warden started.</p>';
  return `<section class="recent"><h2>Last corrections</h2>${body}</section>`;
}

/** pageMain is the part of the page that refreshes: everything the status says. */
export function pageMain(s: PageStatus): string {
  const rows = s.services ?? [];
  const unhealthy = rows.filter((r) => r.health !== 'healthy').length;
  const head = `<p class="count">${rows.length} service${rows.length === 1 ? '' : 's'}, ${unhealthy === 0 ? 'all healthy' : `${unhealthy} not healthy`}</p>`;
  return summary(s) + problems(s) + head + servicesTable(rows) + corrections(s) + recent(s);
}

/** statusPage renders the whole page from the status document; the script re-fetches it every PAGE_REFRESH_MS. */
export function statusPage(status: unknown): string {
  const s = (status ?? {}) as PageStatus;
  return '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    + '<meta name="viewport" content="width=device-width, initial-scale=1">'
    + `<title>warden${s.cluster ? ` · ${escapeHtml(s.cluster)}` : ''}</title><style>${PAGE_STYLE}</style></head>`
    + `<body><header><h1>swarm-warden${s.cluster ? ` · ${escapeHtml(s.cluster)}` : ''}</h1><span id="refreshed">refreshes every ${PAGE_REFRESH_MS / 1000} s</span></header>`
    + `<main id="main">${pageMain(s)}</main>`
    + `<script>${PAGE_SCRIPT(PAGE_REFRESH_MS)}</script></body></html>`;
}
