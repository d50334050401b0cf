import { describe, expect, it } from 'vitest';
import { parseListen } from '../../../src/controller/server.js';

describe('parseListen', () => {
  it.each([
    [':9095', undefined, 9095],
    ['9095', undefined, 9095],
    ['127.0.0.1:9095', '127.0.0.1', 9095],
    ['0.0.0.0:80', '0.0.0.0', 80],
    ['[::1]:9095', '::1', 9095],
    ['localhost:9095', 'localhost', 9095],
  ])('%s', (listen, host, port) => {
    expect(parseListen(listen)).toEqual({ host, port });
  });

  it.each(['', 'localhost', ':', '127.0.0.1:', ':70000', '::1:9095', ':90x'])('refuses %j', (listen) => {
    expect(() => parseListen(listen)).toThrow(/expected \[HOST\]:PORT/);
  });
});
