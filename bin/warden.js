#!/usr/bin/env node
// warden's entry point: the compiled build when there is one (npm run build, the image),
// else the TypeScript sources through tsx (a development checkout after npm ci).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (existsSync(compiled)) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
}
