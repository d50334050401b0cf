#!/usr/bin/env node
// warden's entry point. In a checkout (src/ and tsx present) it runs the TypeScript sources, so that
// what runs is always what is checked out; in the image (src/ not copied) it runs the compiled dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../node_modules/tsx/package.json', import.meta.url));
if (existsSync(source) && existsSync(tsx)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
} else {
  await import(new URL('../dist/cli.js', import.meta.url).href);
}
