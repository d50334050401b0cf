// What `warden status` prints, and the services part of the text plan: one row per kept service, sync
// beside health, as `kubectl get` and `docker service ls` print theirs. It renders views
// (../controller/service-status.ts), never a service's spec.
import type { ServiceStatusView } from '../controller/service-status.js';

/** STATUS_COLUMNS are the table's columns, in order. */
export const STATUS_COLUMNS = ['STACK', 'SERVICE', 'SYNC', 'HEALTH', 'RUNNING', 'REASON', 'UPDATED'] as const;

/** age renders how long ago `iso` was, as kubectl renders AGE: 45s, 12m, 5h, 3d ('' when unknown). */
export function age(iso: string | undefined, now: number): string {
  const ms = iso === undefined ? NaN : now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.floor(s / 60)}m ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

// One cell per column; a reason on several lines (an engine message) is kept on one.
function row(v: ServiceStatusView, now: number): string[] {
  return [v.stack || '-', v.service, v.sync, v.health, `${v.running}/${v.desired}`, v.reason.replace(/\s+/g, ' ') || '-', age(v.updated, now) || '-'];
}

/** formatStatusTable renders kept services as a table with a header, columns padded to their widest cell. */
export function formatStatusTable(views: readonly ServiceStatusView[], now: number): string {
  const rows = [[...STATUS_COLUMNS] as string[], ...views.map((v) => row(v, now))];
  const widths = STATUS_COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}
