// spec.notify in the loader: each urlFile read relative to the desired-state file (or absolute), the URL
// kept secret (never in a problem, JSON, a log or util.inspect), and problems at the entry's urlFile.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadDesiredStateText, type LoadOptions } from '../../../src/desired-state/load.js';
import { NOTIFY_EVENTS } from '../../../src/desired-state/schema.js';
import { DesiredStateError, formatProblem } from '../../../src/desired-state/source.js';

const HEAD = 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata:\n  name: t\nspec:\n';
const SECRET = 'https://hooks.example.test/services/T000/B000/very-secret-token';

// Files as a map: what readFile reads, and which paths it was asked for.
function files(map: Record<string, string>): { opts: LoadOptions; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    opts: {
      readFile: async (f) => {
        asked.push(f);
        const text = map[f];
        if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${f}'`), { code: 'ENOENT' });
        return Buffer.from(text);
      },
    },
  };
}

async function problems(text: string, opts: LoadOptions): Promise<string[]> {
  try {
    await loadDesiredStateText(HEAD + text, 'conf/w.yml', opts);
  } catch (err) {
    if (err instanceof DesiredStateError) return err.problems.map(formatProblem);
    throw err;
  }
  throw new Error('expected the document to be invalid');
}

describe('spec.notify', () => {
  it('reads the URL from urlFile relative to the file, json by default with every event', async () => {
    const { opts, asked } = files({ 'conf/secrets/hook': `${SECRET}\n` });
    const { state } = await loadDesiredStateText(`${HEAD}  notify:\n    - urlFile: secrets/hook\n`, 'conf/w.yml', opts);
    expect(asked).toEqual(['conf/secrets/hook']);
    expect(state.notify).toHaveLength(1);
    const n = state.notify![0]!;
    expect(n.url.reveal()).toBe(SECRET);
    expect(n).toMatchObject({ urlFile: 'conf/secrets/hook', format: 'json', events: [...NOTIFY_EVENTS] });
  });

  it('keeps the URL out of JSON, util.inspect and strings', async () => {
    const { opts } = files({ '/run/secrets/slack': SECRET });
    const { state } = await loadDesiredStateText(`${HEAD}  notify:\n    - { urlFile: /run/secrets/slack, format: slack, events: [held, blocked] }\n`, 'conf/w.yml', opts);
    expect(state.notify![0]).toMatchObject({ urlFile: '/run/secrets/slack', format: 'slack', events: ['held', 'blocked'] });
    for (const shown of [JSON.stringify(state), inspect(state, { depth: 10 }), `${state.notify![0]!.url}`]) {
      expect(shown).not.toContain('very-secret-token');
      expect(shown).not.toContain('hooks.example.test');
    }
  });

  it.each([
    ['a missing file', {}, 'secrets/hook', 'w.yml:7:16: cannot read urlFile conf/secrets/hook: no such file'],
    ['an empty file', { 'conf/secrets/hook': '\n' }, 'secrets/hook', 'urlFile conf/secrets/hook is empty'],
    ['no URL', { 'conf/secrets/hook': 'token-very-secret' }, 'secrets/hook', 'urlFile conf/secrets/hook does not hold a URL'],
    ['another scheme', { 'conf/secrets/hook': 'ftp://very-secret@host/x' }, 'secrets/hook', 'holds a URL that is not http:// or https://'],
    ['two lines', { 'conf/secrets/hook': `${SECRET}\nvery-secret-2\n` }, 'secrets/hook', 'must hold the URL alone'],
  ])('%s is a problem at urlFile that never quotes the file', async (_name, map, ref, message) => {
    const got = await problems(`  notify:\n    - urlFile: ${ref}\n`, files(map as Record<string, string>).opts);
    expect(got).toHaveLength(1);
    expect(got[0]).toContain(message);
    expect(got[0]).toMatch(/^conf\/w\.yml:7:16: /);
    expect(got[0]).not.toContain('very-secret');
  });

  it.each([
    ['an unknown event', '    - urlFile: h\n      events: [deployed]\n', 'w.yml:8:'],
    ['an unknown format', '    - urlFile: h\n      format: teams\n', 'must be one of json, slack'],
    ['no urlFile', '    - format: slack\n', 'missing required key "urlFile"'],
    ['a url key', '    - url: https://x\n      urlFile: h\n', 'unknown key "url"'],
    ['an empty events list', '    - urlFile: h\n      events: []\n', 'list at least one event'],
  ])('%s is a schema problem', async (_name, entry, message) => {
    const got = await problems(`  notify:\n${entry}`, files({ 'conf/h': SECRET }).opts);
    expect(got.join('\n')).toContain(message);
  });

  it('confines a relative urlFile of a git source to the repository', async () => {
    const got = await problems('  notify:\n    - urlFile: ../../outside\n', { ...files({}).opts, confine: true });
    expect(got[0]).toContain('points outside the repository');
  });

  it('validate mode: a urlFile absent here is a warning, not a problem', async () => {
    const loaded = await loadDesiredStateText(`${HEAD}  notify:\n    - urlFile: /run/secrets/slack\n`, 'conf/w.yml', { ...files({}).opts, urlFiles: 'check' });
    expect(loaded.state.notify).toEqual([]);
    expect(loaded.warnings?.map(formatProblem)).toEqual(['conf/w.yml:7:16: urlFile /run/secrets/slack is not on this machine: not checked (warden reads it where it runs)']);
  });

  it('a rotated URL is a new revision', async () => {
    const text = `${HEAD}  notify:\n    - urlFile: h\n`;
    const a = await loadDesiredStateText(text, 'conf/w.yml', files({ 'conf/h': SECRET }).opts);
    const b = await loadDesiredStateText(text, 'conf/w.yml', files({ 'conf/h': `${SECRET}2` }).opts);
    expect(a.revision).not.toBe(b.revision);
  });
});
