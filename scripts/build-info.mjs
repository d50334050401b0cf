#!/usr/bin/env node
// Writes dist/build-info.json (warden's version and the commit it was built from) after the compiler ran:
// `npm run build` calls it, and so does the image's build stage, whose context has no .git and passes the
// commit as WARDEN_REVISION. The logic is the compiled src/version.ts, so that reading and writing agree.
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
try {
  const { writeBuildInfo, BUILD_INFO_FILE } = await import('../dist/version.js');
  const info = writeBuildInfo(dist);
  process.stdout.write(`dist/${BUILD_INFO_FILE}: version ${info.version}, revision ${info.revision}\n`);
} catch (err) {
  process.stderr.write(`build-info: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
