// sops's line formats: dotenv (stores/dotenv: `KEY=value` lines, `#` comments, metadata as `sops_*` lines)
// and INI (stores/ini: sections of `key = value`, metadata in a [sops] section), read as sops reads them
// and written back as sops -d writes them.
import { typedValue, type DecryptedValue } from './cipher.js';
import { readMetadata, unflatten } from './metadata.js';
import type { Leaf, SopsDocument } from './tree.js';

/** isDotenvSops tells whether a text is a sops-encrypted dotenv file. */
export function isDotenvSops(text: string): boolean {
  return /^sops_(mac|version|lastmodified)=/m.test(text);
}

/** isIniSops tells whether a text is a sops-encrypted INI file. */
export function isIniSops(text: string): boolean {
  return /^\[sops\][ \t]*\r?$/m.test(text) && /^(mac|version|lastmodified)\s*=/m.test(text);
}

function plainText(v: DecryptedValue): string {
  const t = typedValue(v);
  return Buffer.isBuffer(t) ? t.toString('utf8') : String(t);
}

interface Line {
  key?: string;
  value: string;
}

/** dotenvDocument reads a sops dotenv file; a line with no `=` is an Error, as sops says. */
export function dotenvDocument(text: string): SopsDocument {
  const lines: Line[] = [];
  const meta: Array<[string, string]> = [];
  for (const raw of text.split('\n')) {
    if (raw.length === 0) continue;
    if (raw.startsWith('#')) {
      lines.push({ value: raw.slice(1) });
      continue;
    }
    const eq = raw.indexOf('=');
    if (eq < 0) throw new Error(`line ${lines.length + meta.length + 1} has no "="`);
    const key = raw.slice(0, eq);
    const value = raw.slice(eq + 1).replaceAll('\\n', '\n');
    if (key.startsWith('sops_')) meta.push([key.slice('sops_'.length), value]);
    else lines.push({ key, value });
  }
  const leaves: Leaf[] = lines.map((l) => ({
    path: l.key === undefined ? [] : [l.key],
    comment: l.key === undefined,
    value: l.value,
    set: (v) => void (l.value = plainText(v)),
  }));
  const render = (): Buffer =>
    Buffer.from(lines.map((l) => (l.key === undefined ? `#${l.value}\n` : `${l.key}=${l.value.replaceAll('\n', '\\n')}\n`)).join(''), 'utf8');
  return { metadata: readMetadata(unflatten(meta, false)), leaves, render };
}

interface Section {
  name: string;
  comment?: string;
  items: Array<{ key: string; value: string; comment?: string }>;
}

// stores/ini stripCommentChar.
function stripComment(line: string): string {
  return line.startsWith(';') ? line.replace(/^[; ]+/, '') : line.replace(/^[# ]+/, '');
}

// go-ini's reading, as far as sops files need it: [sections], `key = value` (trimmed, quotes removed,
// """…""" over several lines), and comment lines that belong to the section or key after them.
function parseIni(text: string): Section[] {
  const sections: Section[] = [{ name: 'DEFAULT', items: [] }];
  const lines = text.split(/\r?\n/);
  let pending: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (line.startsWith(';') || line.startsWith('#')) {
      pending.push(line);
      continue;
    }
    const comment = pending.length > 0 ? pending.map(stripComment).join('\n') : undefined;
    pending = [];
    const head = /^\[(.*)\]$/.exec(line);
    if (head) {
      sections.push({ name: head[1]!.trim(), items: [], ...(comment !== undefined ? { comment } : {}) });
      continue;
    }
    const eq = line.search(/[=:]/);
    if (eq < 0) throw new Error(`line ${i + 1} is neither a section nor key = value`);
    let value = line.slice(eq + 1).trim();
    if (value.startsWith('"""')) {
      const parts = [value.slice(3)];
      while (!parts[parts.length - 1]!.endsWith('"""') && i + 1 < lines.length) parts.push(lines[++i]!);
      value = parts.join('\n').replace(/"""$/, '');
    } else if (/^(".*"|'.*'|`.*`)$/.test(value) && value.length >= 2) {
      value = value.slice(1, -1);
    }
    sections[sections.length - 1]!.items.push({ key: line.slice(0, eq).trim(), value, ...(comment !== undefined ? { comment } : {}) });
  }
  return sections;
}

function renderIni(sections: Section[]): Buffer {
  const out: string[] = [];
  for (const s of sections) {
    if (s.name === 'DEFAULT' && s.items.length === 0) continue;
    if (s.comment !== undefined) out.push(...s.comment.split('\n').map((c) => `; ${c}`));
    out.push(`[${s.name}]`);
    // go-ini's PrettyFormat: the = signs aligned within a section.
    const width = Math.max(0, ...s.items.map((it) => it.key.length));
    for (const it of s.items) {
      if (it.comment !== undefined) out.push(...it.comment.split('\n').map((c) => `; ${c}`));
      const v = it.value.includes('\n') ? `"""${it.value}"""` : it.value;
      out.push(`${it.key.padEnd(width)} = ${v}`);
    }
    out.push('');
  }
  return Buffer.from(`${out.join('\n')}\n`.replace(/\n\n$/, '\n'), 'utf8');
}

/** iniDocument reads a sops INI file. */
export function iniDocument(text: string): SopsDocument {
  const all = parseIni(text);
  const metaSection = all.find((s) => s.name === 'sops');
  const sections = all.filter((s) => s !== metaSection);
  const leaves: Leaf[] = [];
  for (const s of sections) {
    const path = [s.name];
    if (s.comment !== undefined) leaves.push({ path, comment: true, value: s.comment, set: (v) => void (s.comment = plainText(v)) });
    for (const it of s.items) {
      leaves.push({ path: [s.name, it.key], comment: false, value: it.value, set: (v) => void (it.value = plainText(v)) });
      // sops puts a key's comment after the key in its tree.
      if (it.comment !== undefined) leaves.push({ path, comment: true, value: it.comment, set: (v) => void (it.comment = plainText(v)) });
    }
  }
  const meta = unflatten((metaSection?.items ?? []).map((it) => [it.key, it.value]), true);
  return { metadata: readMetadata(meta), leaves, render: () => renderIni(sections) };
}
