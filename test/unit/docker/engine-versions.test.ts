import { describe, expect, it } from 'vitest';
import { MAX_API_VERSION, negotiateApiVersion } from '../../../src/docker/engine-versions.js';

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
