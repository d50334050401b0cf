// --registry-auth-file: a docker config.json read as the docker CLI reads it, and the X-Registry-Auth
// header `docker stack deploy --with-registry-auth` sends for each image's registry.
import { describe, expect, it } from 'vitest';
import { parseRegistryAuthFile, registryOf } from '../../../src/docker/registry-auth.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const header = (h: string | undefined): unknown => (h === undefined ? undefined : JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')));

describe('registry auth', () => {
  it.each([
    ['redis', 'docker.io'],
    ['library/redis:7', 'docker.io'],
    ['docker.io/library/redis', 'docker.io'],
    ['registry.local:5000/app/api:1.4', 'registry.local:5000'],
    ['localhost/app', 'localhost'],
    ['10.0.0.5:5000/msa/api', '10.0.0.5:5000'],
  ])('%s is pulled from %s', (image, registry) => expect(registryOf(image)).toBe(registry));

  it("answers the credentials of an image's registry, Docker Hub by its index key, a URL key by its host", () => {
    const file = parseRegistryAuthFile(JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
        'https://registry.local:5000/v2/': { username: 'u', password: 'p:w' },
        '10.0.0.5:5000': { auth: b64('a:b:c'), identitytoken: 'tok' },
      },
    }), 'config.json');
    expect(file.registries).toEqual(['10.0.0.5:5000', 'docker.io', 'registry.local:5000']);
    expect(header(file.auth('redis:7'))).toEqual({ username: 'hubuser', password: 'hubpass', serveraddress: 'https://index.docker.io/v1/' });
    expect(header(file.auth('registry.local:5000/app/api:1.4'))).toEqual({ username: 'u', password: 'p:w', serveraddress: 'https://registry.local:5000/v2/' });
    expect(header(file.auth('10.0.0.5:5000/msa/api'))).toEqual({ username: 'a', password: 'b:c', serveraddress: '10.0.0.5:5000', identitytoken: 'tok' });
    expect(file.auth('quay.io/x/y')).toBeUndefined();
    expect(file.auth('redis')).toMatch(/^[A-Za-z0-9_=-]+$/);
  });

  it('warns about credential helpers it cannot run, and refuses what is not a config.json', () => {
    expect(parseRegistryAuthFile('{"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}', 'c.json').warnings).toEqual([
      'c.json: credsStore "desktop" is a credential helper program warden cannot run; put the credentials in "auths"',
      'c.json: credHelpers for gcr.io ("gcloud") is a program warden cannot run; put the credentials in "auths"',
    ]);
    expect(() => parseRegistryAuthFile('{', 'c.json')).toThrow(/^c.json: not a docker config.json/);
    expect(() => parseRegistryAuthFile('{"auths":{"r":{"auth":"bm9jb2xvbg=="}}}', 'c.json')).toThrow('the auth of r is not base64 of user:password');
  });
});
