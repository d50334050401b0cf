import { describe, expect, it } from 'vitest';
import { MAX_API_VERSION, negotiateApiVersion, parseEngineRelease, promotionMayCrashLoop } from '../../../src/docker/engine-versions.js';

describe('the Engine API version warden speaks', () => {
  it.each([
    ['1.41', '1.41'], // Docker 20.10
    ['1.45', '1.45'], // 26.1
    ['1.51', '1.51'], // 28.5
    ['1.52', MAX_API_VERSION], // newer than warden knows: the newest it was tested with
    ['1.9', undefined], // numerically, not as text
    ['1.40', undefined], // before 20.10: no task counts
    ['', undefined],
  ])('with an engine of API %s: %s', (server, speaks) => {
    expect(negotiateApiVersion(server)).toBe(speaks);
  });
});

describe('engine releases', () => {
  it.each([
    { text: '20.10.24+dfsg1', want: { major: 20, minor: 10, patch: 24 } },
    { text: '26.1.5+dfsg1', want: { major: 26, minor: 1, patch: 5 } },
    { text: '28.5.2', want: { major: 28, minor: 5, patch: 2 } },
    { text: 'v25.0', want: { major: 25, minor: 0, patch: 0 } },
    { text: '17.06.0-ce-rc2', want: { major: 17, minor: 6, patch: 0 } },
    { text: 'dev', want: undefined },
    { text: '', want: undefined },
    { text: undefined, want: undefined },
  ])('parses $text', ({ text, want }) => {
    expect(parseEngineRelease(text)).toEqual(want);
  });

  // moby/moby#47854 is fixed in 26.1.4; the 25.0 and 23.0 backports are not verified, so they count as affected.
  it.each([
    { version: '20.10.24+dfsg1', affected: true },
    { version: '23.0.15', affected: true },
    { version: '25.0.6', affected: true },
    { version: '26.1.3', affected: true },
    { version: '26.1.4', affected: false },
    { version: '26.1.5+dfsg1', affected: false },
    { version: '27.0.1', affected: false },
    { version: '28.5.2', affected: false },
    { version: undefined, affected: true },
    { version: 'unknown', affected: true },
  ])('a promoted node on $version may crash-loop: $affected', ({ version, affected }) => {
    expect(promotionMayCrashLoop(version)).toBe(affected);
  });
});
