// dockerode's modules for features warden never uses, loaded at their first use instead of at start-up.
// dockerode requires them eagerly: docker-modem's ssh transport loads ssh2 (which signs with a test key,
// loads two native addons and instantiates a WebAssembly module with 16 MiB of memory), and dockerode's
// BuildKit session loads gRPC and protobufjs. warden reaches ssh:// engines through its own agent
// (./ssh.ts) and never builds an image, so together they were about 15 MB of an idle daemon's RSS
// (docs/performance.md, "Idle footprint").
//
// Each of these modules exports one function. Before dockerode is loaded, a stand-in is put in
// CommonJS's module cache under the module's own file name: a function that loads the real module the
// first time it is called and then calls it, so a caller sees what it would have seen, only later. This
// module must therefore be imported before dockerode (engine.ts imports it first). If dockerode's files
// move, nothing is put in their place and they load eagerly again, as before.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** DEFERRED_MODULES are the files deferred, as [package, path inside its main file's folder], resolved from dockerode. */
export const DEFERRED_MODULES = [
  ['docker-modem', 'ssh.js'],
  ['dockerode', 'session.js'],
] as const;

/** deferredFiles resolves DEFERRED_MODULES to files (those that cannot be found are left out). */
export function deferredFiles(): string[] {
  const files: string[] = [];
  let dockerode: string;
  try {
    dockerode = require.resolve('dockerode');
  } catch {
    return files;
  }
  // docker-modem is dockerode's dependency: resolve it from there, as dockerode's own require does.
  const fromDockerode = createRequire(dockerode);
  for (const [pkg, file] of DEFERRED_MODULES) {
    try {
      files.push(join(dirname(fromDockerode.resolve(pkg)), file));
    } catch {
      // Not where it was: it loads eagerly, as without this module.
    }
  }
  return files;
}

/** deferModule puts a stand-in for `file` in the module cache unless the file is missing or already loaded. */
function deferModule(file: string): void {
  const cache = require.cache;
  if (cache[file]) return;
  try {
    // Only a file that exists is deferred: a stand-in for a missing one would hide the error.
    require.resolve(file);
  } catch {
    return;
  }
  let real: ((...args: unknown[]) => unknown) | undefined;
  const standIn = function deferred(this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      delete cache[file];
      real = require(file) as (...args: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
  const Module = require('node:module') as { new (id: string): NodeJS.Module };
  const mod = new Module(file);
  mod.filename = file;
  mod.loaded = true;
  mod.exports = standIn;
  cache[file] = mod;
}

for (const file of deferredFiles()) deferModule(file);
