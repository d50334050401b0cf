// spec.volumes of the desired-state schema: directories on shared mounts, and the host directories warden
// refuses to manage.
import { z } from 'zod';
import { checked } from './schema-fields.js';
import { modeProblem } from './validators.js';

function idNumber(what: 'owner' | 'group'): z.ZodNumber {
  return z
    .number({
      error: (iss) => {
        if (iss.code !== 'invalid_type' || typeof iss.input !== 'string') return undefined;
        const pair = /^(\d+):(\d+)$/.exec(iss.input);
        if (pair && what === 'owner') return `write owner and group apart: owner: ${pair[1]} and group: ${pair[2]}`;
        if (/^\d+$/.test(iss.input)) return `${what} is a number: write ${iss.input} without quotes`;
        return `${what} is a numeric ${what === 'owner' ? 'uid' : 'gid'}, not a name ("${iss.input}"): names differ between the host and containers`;
      },
    })
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(4294967294, 'must be at most 4294967294');
}

/**
 * SYSTEM_TREES lists the host directories that warden refuses to manage, with everything below them: a
 * chown or chmod there breaks the host or the engine, and no shared mount belongs there.
 */
export const SYSTEM_TREES: readonly string[] = [
  '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys', '/usr',
  '/var/run', '/var/lib/docker', '/var/lib/containerd', '/var/lib/dpkg', '/var/lib/apt', '/var/lib/systemd',
];

/** SYSTEM_DIRS lists directories that warden refuses to manage themselves (what lies below them is allowed). */
export const SYSTEM_DIRS: readonly string[] = ['/home', '/media', '/mnt', '/opt', '/root', '/srv', '/tmp', '/var', '/var/lib', '/var/log'];

/** volumePathProblem explains why a path cannot be a managed directory; undefined when it can be one. */
export function volumePathProblem(p: string, what = 'path'): string | undefined {
  if (!p.startsWith('/')) return `"${p}" is not an absolute path`;
  if (p === '/') return `warden will not manage the root directory (${what})`;
  if (/(^|\/)\.\.?(\/|$)/.test(p) || p.includes('//') || (p.length > 1 && p.endsWith('/'))) {
    return `"${p}" is not a normalized path: no "..", ".", "//" or trailing "/"`;
  }
  const tree = SYSTEM_TREES.find((t) => p === t || p.startsWith(`${t}/`));
  if (tree) return `"${p}" is in the system directory ${tree}: warden manages directories on shared mounts, never the host's own`;
  if (SYSTEM_DIRS.includes(p)) return `"${p}" is a system directory: name a directory below it, e.g. ${p === '/mnt' ? '/mnt/NASVolume/data' : `${p}/data`}`;
  return undefined;
}

/** VolumeEntry is one entry of spec.volumes: a directory on a shared mount with its owner and mode. */
export const VolumeEntry = z
  .strictObject({
    path: z
      .string()
      .superRefine((p, ctx) => {
        const problem = volumePathProblem(p);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('absolute path of a directory on the shared mount'),
    mount: z
      .string()
      .superRefine((p, ctx) => {
        const problem = volumePathProblem(p, 'mount');
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('the mount point the directory lives on (e.g. /mnt/NASVolume): while it is not mounted, warden changes nothing under it')
      .optional(),
    owner: idNumber('owner').describe('uid that must own the directory'),
    group: idNumber('group').describe('gid (left alone when absent)').optional(),
    mode: checked(
      modeProblem,
      z.string({
        error: (iss) =>
          iss.code === 'invalid_type' && typeof iss.input === 'number'
            ? `mode must be an octal string in quotes, e.g. mode: "0700": unquoted, YAML reads the digits as the ` +
              `decimal number ${iss.input}`
            : undefined,
      }),
    )
      .describe('octal mode in quotes, e.g. "0700" (left alone when absent)')
      .meta({ pattern: '^0?[0-7]{3,4}$' })
      .optional(),
    recursive: z.boolean().default(false).describe('also fix everything below the directory'),
  })
  .superRefine((v, ctx) => {
    if (v.mount !== undefined && v.path !== v.mount && !v.path.startsWith(`${v.mount}/`)) {
      ctx.addIssue({ code: 'custom', path: ['mount'], message: `${v.path} is not on the mount ${v.mount}: mount must be the path itself or one of its parents` });
    }
  })
  .describe('a directory with its owner, group and mode');
/** VolumeEntry is the inferred type of the VolumeEntry schema. */
export type VolumeEntry = z.infer<typeof VolumeEntry>;
