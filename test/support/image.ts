// warden's image, built offline on a lab node (no node reaches a registry): a base image made here (a root
// file system of busybox, this machine's node and git, with their libraries, `docker import`ed), the npm
// install and compile done outside the build (prebuilt/ in the context), then `docker build`.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Lab, LabNode } from '../../src/lab/lab.js';

const REPO = join(import.meta.dirname, '../..');

// copyWithLibs copies a binary into the root file system with every library ldd names.
function copyWithLibs(rootfs: string, binary: string): void {
  const files = [binary];
  for (const line of execFileSync('ldd', [binary], { encoding: 'utf8' }).split('\n')) {
    const m = /(\/\S+) \(0x/.exec(line);
    if (m?.[1]) files.push(m[1]);
  }
  for (const f of files) {
    mkdirSync(join(rootfs, dirname(f)), { recursive: true });
    cpSync(f, join(rootfs, f), { dereference: true });
  }
}

/** makeBaseRootfs writes a base image's root file system: busybox, node and git with their libraries. */
export function makeBaseRootfs(rootfs: string): void {
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  cpSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  for (const applet of ['sh', 'rm', 'mv', 'mkdir', 'chown', 'ls', 'id', 'cat', 'head', 'tr']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  copyWithLibs(rootfs, '/usr/bin/node');
  copyWithLibs(rootfs, '/usr/bin/git');
  // git fetches over HTTP(S) through a helper of its own, with libcurl and its libraries.
  copyWithLibs(rootfs, '/usr/lib/git-core/git-remote-http');
  symlinkSync('git-remote-http', join(rootfs, 'usr/lib/git-core/git-remote-https'));
  mkdirSync(join(rootfs, 'etc'));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
  mkdirSync(join(rootfs, 'tmp'));
  chmodSync(join(rootfs, 'tmp'), 0o1777);
}

/** makeBuildContext writes the build context with prebuilt/{node_modules,dist}, so the build needs no network. */
export function makeBuildContext(ctx: string): void {
  for (const f of ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bin', 'scripts']) {
    cpSync(join(REPO, f), join(ctx, f), { recursive: true });
  }
  // What the build stage would do online, done here from the npm cache: production modules, compiled code.
  execFileSync('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: ctx, stdio: 'ignore' });
  mkdirSync(join(ctx, 'prebuilt'));
  execFileSync('mv', [join(ctx, 'node_modules'), join(ctx, 'prebuilt/node_modules')]);
  // Compiled from the checkout, whose dev dependencies (the compiler's types) the context leaves out.
  execFileSync(join(REPO, 'node_modules/.bin/tsc'), ['-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(ctx, 'prebuilt/dist')], { cwd: REPO });
}

/**
 * buildImageOffline imports the base as `base` and builds `image` on `node`, in `dir` (a fresh directory),
 * with `buildArgs` (default none) beside BASE; returns the build's output. The context stays in `dir`/ctx.
 */
export async function buildImageOffline(lab: Lab, node: LabNode, dir: string, base: string, image: string, buildArgs: Record<string, string> = {}): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  makeBaseRootfs(rootfs);
  execFileSync('sh', ['-c', `tar -C ${rootfs} -c . | docker -H ${node.host} import - ${base}`]);
  const ctx = join(dir, 'ctx');
  mkdirSync(ctx);
  makeBuildContext(ctx);
  const args = Object.entries({ BASE: base, ...buildArgs }).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  return lab.docker(node, ['build', ...args, '-t', image, ctx], 300_000);
}
